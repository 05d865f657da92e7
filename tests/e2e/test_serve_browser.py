"""`mnist-tui serve` in a real browser: headless Chromium (Debian's) on a real server process.

A person opens the printed URL, fills the form, starts a short run, watches the monitor and
reads the summary's test accuracy; downloads the metrics and the model; has two tabs with a
run each and closes one mid-run. Screenshots of the form, the monitor and the summary are
saved ($MNIST_TUI_BROWSER_SHOTS keeps them). Skipped, saying why, without chromium.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from rich.console import Console
from textual.renderables.digits import Digits

from mnist_tui.core.formatting import format_percent
from tests.helpers.browser import Browser, Tab, browser_missing, served, shots_folder
from tests.helpers.live_processes import wait_until

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(browser_missing() is not None,
                                 reason=browser_missing() or ""),
              pytest.mark.xdist_group("browser")]  # one Chromium at a time: 2 cores here


@pytest.fixture
def env(mnist_path: Path) -> dict[str, str]:
    return {**os.environ, "MNIST_TUI_DATA": str(mnist_path), "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    chromium = Browser(downloads, shots_folder(tmp_path))
    try:
        yield chromium
    finally:
        chromium.quit()


def digit_rows(text: str) -> list[list[str]]:
    """The rows Textual's Digits widget draws `text` with, in its thin and bold fonts."""
    fonts = []
    for style in ("", "bold"):
        console = Console(width=80, color_system=None, legacy_windows=False)
        with console.capture() as captured:
            console.print(Digits(text, style=style))
        fonts.append([line.rstrip() for line in captured.get().splitlines()])
    return fonts


def shows_digits(screen: str, text: str) -> bool:
    """Whether the screen draws `text` in big digits (all three rows, one above the other)."""
    lines = screen.splitlines()
    for rows in digit_rows(text):
        for i in range(len(lines) - 2):
            column = lines[i].find(rows[0])
            if column >= 0 and all(lines[i + k][column:].startswith(rows[k]) for k in (1, 2)):
                return True
    return False


def start_run(tab: Tab, train_size: str, epochs: str, shot: str | None = None) -> None:
    """Fill the form's training images and epochs (screenshot `shot`), and press Enter."""
    tab.wait_for(r"train the TensorFlow\.js MNIST network", "the form")
    tab.set_field("Training images", train_size)
    tab.set_field("Epochs", epochs)
    if shot:
        wait_until(lambda: "required" not in tab.text(), "the form valid again")
        tab.screenshot(shot)
    tab.enter()


def run_folders(runs_dir: Path) -> list[Path]:
    return sorted(path for path in runs_dir.iterdir() if (path / "config.json").is_file())


def summary_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_a_run_from_the_browser_form_to_its_summary_and_downloads(
        tmp_path: Path, env: dict[str, str], browser: Browser) -> None:
    runs_dir = tmp_path / "runs"
    with served(runs_dir, env) as server:
        tab = browser.open(server.url or "")
        tab.wait_for(r"train the TensorFlow\.js MNIST network", "the form")
        assert "Detach" in tab.text()
        start_run(tab, "3000", "2", shot="1-form")
        # The monitor, part way: batches done out of the run's total.
        found = tab.wait_for(r"batch (\d+)/(\d+) · epoch", "the monitor's progress")
        while not 0 < int(found.group(1)) < int(found.group(2)):
            found = tab.wait_for(r"batch (\d+)/(\d+) · epoch", "the monitor's progress")
        tab.screenshot("2-monitor")
        # The run is a process of its own (not the app's), in the server's runs folder.
        (run_dir,) = run_folders(runs_dir)
        apps = server.app_processes()
        assert len(apps) == 1
        run_pid = json.loads((run_dir / "process.json").read_text())["pid"]
        assert run_pid != apps[0].pid and psutil.Process(run_pid).ppid() == apps[0].pid

        tab.wait_for(rf"Training finished · run {run_dir.name}", "the summary")
        tab.wait_for(r"x Download CSV +m Download model", "the downloads in the footer")
        tab.screenshot("3-summary")
        summary = summary_of(run_dir)
        assert summary["status"] == "finished" and summary["epochs_completed"] == 2
        accuracy = format_percent(summary["test_accuracy"])
        screen = tab.text()
        assert "Test accuracy" in screen
        assert shows_digits(screen, accuracy), (accuracy, screen)

        # Downloads: the run's metrics as CSV and its model, saved by the browser.
        tab.keys("x")
        csv_file = browser.downloads / f"mnist-tui-{run_dir.name}.csv"
        wait_until(csv_file.is_file, "the browser saved the CSV")
        with open(csv_file, encoding="utf-8") as saved:
            rows = list(csv.DictReader(saved))
        assert {row["run_id"] for row in rows} == {run_dir.name}
        assert len(rows) > 2 * 3000 * 0.85 // 64  # a row per batch, and the epochs'
        tab.keys("m")
        model = browser.downloads / f"mnist-tui-{run_dir.name}.keras"
        wait_until(lambda: model.is_file()
                   and model.stat().st_size == (run_dir / "model.keras").stat().st_size,
                   "the browser saved the model")
        assert model.read_bytes() == (run_dir / "model.keras").read_bytes()


def test_two_tabs_run_apart_and_a_tab_closed_mid_run_leaves_its_run_training(
        tmp_path: Path, env: dict[str, str], browser: Browser) -> None:
    runs_dir = tmp_path / "runs"
    with served(runs_dir, env) as server:
        first = browser.open(server.url or "")
        start_run(first, "6000", "2")
        wait_until(lambda: len(run_folders(runs_dir)) == 1, "the first tab's run began")
        (first_run,) = run_folders(runs_dir)
        second = browser.open(server.url or "", new_tab=True)
        start_run(second, "2000", "1")
        wait_until(lambda: len(run_folders(runs_dir)) == 2, "the second tab's run began")
        (second_run,) = [run for run in run_folders(runs_dir) if run != first_run]
        # Each run's process has started (its folder comes first, then the process).
        wait_until(lambda: all((run / "process.json").is_file()
                               for run in (first_run, second_run)), "both runs' processes")

        # Two tabs: two app processes, each the parent of one run.
        apps = server.app_processes()
        assert len(apps) == 2
        parents = {psutil.Process(json.loads((run / "process.json").read_text())["pid"])
                   .ppid() for run in (first_run, second_run)}
        assert parents == {app.pid for app in apps}

        # The first tab closes while its run trains: its app process ends, the run goes on.
        first.wait_for(r"batch [1-9]\d*/\d+ · epoch 1/2", "the first run training")
        first.close()
        wait_until(lambda: len(server.app_processes()) == 1, "the closed tab's app ended")
        assert not (first_run / "summary.json").exists()  # closed mid-run indeed
        wait_until(lambda: (first_run / "summary.json").is_file(), "the first run ended")
        first_summary = summary_of(first_run)
        assert first_summary["status"] == "finished"
        assert first_summary["epochs_completed"] == 2 and first_summary["test_accuracy"] > 0.5

        # The other tab saw its own run through to its own summary.
        second.wait_for(rf"Training finished · run {second_run.name}", "the second summary")
        second.screenshot("4-second-tab-summary")
        second_summary = summary_of(second_run)
        assert second_summary["status"] == "finished"
        assert second_summary["config"]["train_size"] == 2000
        assert first_summary["config"]["train_size"] == 6000
        assert len(server.app_processes()) == 1


def test_the_extra_tab_is_told_the_server_is_full_until_a_tab_leaves(
        tmp_path: Path, env: dict[str, str], browser: Browser) -> None:
    with served(tmp_path / "runs", env, "--max-apps", "1") as server:
        first = browser.open(server.url or "")
        first.wait_for(r"train the TensorFlow\.js MNIST network", "the form")
        second = browser.open(server.url or "", new_tab=True)
        assert "no room for another app" in second.page_text()
        assert "--max-apps 1" in second.page_text()
        second.screenshot("5-full")
        assert len(server.app_processes()) == 1
        # The first tab goes to another page: its app ends (even if the browser keeps the
        # page in its back-forward cache), and its place is the second tab's.
        first.focus().driver.get("about:blank")
        wait_until(lambda: server.app_processes() == [], "the app of the page left ended")
        second.focus().driver.refresh()
        second.wait_for(r"train the TensorFlow\.js MNIST network", "the form")
        assert len(server.app_processes()) == 1
