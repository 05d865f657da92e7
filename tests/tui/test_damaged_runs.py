"""Damaged run folders never crash `runs`, `watch`, the Runs screen, compare or the exports.

The runs folder is built for real: complete runs written by `RunWriter` (`record_run`), then
damaged the ways crashes, full disks and people damage them: a log cut mid-line, garbage and
non-UTF-8 bytes in a log, a missing, truncated, binary or folder `config.json`, an empty
folder, symbolic link loops, a `summary.json` that is a list or holds the wrong kinds.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input

from mnist_tui.cli import main
from mnist_tui.core.config import TrainConfig
from mnist_tui.runs.listing import scan_runs
from mnist_tui.runs.reading import process_alive, read_events
from mnist_tui.runs.writer import write_process_file
from mnist_tui.tui.screens.compare import CompareScreen, ExportScreen
from mnist_tui.tui.screens.runs import RunsScreen, RunSummaryScreen
from tests.helpers.fake_runs import wait_for
from tests.helpers.recorded_runs import dead_pid, make_unreadable, record_run
from tests.helpers.runs_app import Host, cells, compared, listed, notes

CONFIG = TrainConfig(train_size=1000, epochs=1, seed=1)  # 14 batches
GOOD = "20250105-090000-aaaaaa"
TRUNCATED = "20250104-090000-bbbbbb"  # the log cut mid-line, its process dead, no summary
GARBLED = "20250103-090000-cccccc"  # garbage and non-UTF-8 lines amid a complete log
SUMMARY_LIST = "20250102-090000-dddddd"  # summary.json holds a list
ODD_SUMMARY = "20250102-080000-eeeeee"  # summary.json holds strings where numbers go
LOG_IS_FOLDER = "20250101-090000-ffffff"  # events.jsonl is a folder, its process dead
LISTED = [GOOD, TRUNCATED, GARBLED, SUMMARY_LIST, ODD_SUMMARY, LOG_IS_FOLDER]
SKIPPED = {
    "20250106-000000-nocnfg": "no config.json",
    "20250106-000001-badcfg": "config.json is not JSON",
    "20250106-000002-bincfg": "config.json is not UTF-8 text",
    "20250106-000003-dircfg": "config.json is a folder",
    "20250106-000004-empty0": "no config.json",
    "20250106-000005-loopcf": "config.json cannot be read (Too many levels of symbolic links)",
    "loop": "a link that leads nowhere or loops",
}


def _died(run_dir: Path) -> None:
    """Record a process that has ended as the run's writer."""
    write_process_file(run_dir, dead_pid())


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for run_id in [*LISTED, *list(SKIPPED)[:3]]:
        _died(record_run(root, run_id, CONFIG))  # its writer was this process: say it ended
    log = root / TRUNCATED / "events.jsonl"
    text = log.read_text(encoding="utf-8")
    log.write_text(text[:len(text) - len(text.splitlines()[-1]) // 2 - 1], encoding="utf-8")
    (root / TRUNCATED / "summary.json").unlink()
    log = root / GARBLED / "events.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    lines[3:3] = [b"this is not json\n", b'{"type":"batch_end","step":"x"}\n',
                  b"\xff\xfe\x00\x81 binary \xc3\x28\n", b'{"type":"epoch_end","loss":"low",'
                  b'"epoch":1,"step":1,"accuracy":0.1,"val_loss":null,"val_accuracy":null,'
                  b'"seconds":1}\n', b"\n"]
    log.write_bytes(b"".join(lines))
    (root / SUMMARY_LIST / "summary.json").write_text("[1, 2, 3]\n")
    odd = json.loads((root / ODD_SUMMARY / "summary.json").read_text())
    odd.update(params="many", samples_per_second="fast", val_accuracy="high", seconds=[1])
    (root / ODD_SUMMARY / "summary.json").write_text(json.dumps(odd))
    folder_log = root / LOG_IS_FOLDER / "events.jsonl"
    folder_log.unlink()
    folder_log.mkdir()
    (root / LOG_IS_FOLDER / "summary.json").unlink()
    no_config, bad, binary, as_folder, empty, loop_config, loop = SKIPPED
    (root / no_config / "config.json").unlink()
    config = root / bad / "config.json"
    config.write_text(config.read_text()[:30])
    (root / binary / "config.json").write_bytes(b'{"model": "\xff\xfe cnn"}')
    (root / as_folder / "config.json").mkdir(parents=True)
    (root / empty).mkdir()
    (root / loop_config).mkdir()
    os.symlink(root / loop_config / "config.json", root / loop_config / "config.json")
    os.symlink(root / loop, root / loop)
    (root / "exported.csv").write_text("a stray file is not a run\n")
    return root


def test_scan_lists_what_it_can_and_says_why_it_skipped_the_rest(runs_dir: Path) -> None:
    listing = scan_runs(runs_dir)
    assert [run.run_id for run in listing.runs] == LISTED
    assert {item.path.name: item.why for item in listing.skipped} == SKIPPED
    assert [(item.path.name, item.why) for item in listing.damaged] == [
        (SUMMARY_LIST, "summary.json holds an array, not a JSON object")]
    by_id = {run.run_id: run for run in listing.runs}
    assert by_id[SUMMARY_LIST].summary is None
    assert by_id[TRUNCATED].status == "died"


def test_runs_prints_the_table_and_names_what_it_skipped(
        runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    out, err = capsys.readouterr()
    rows = out.splitlines()[1:]
    assert [row.split()[0] for row in rows] == LISTED
    skipped, damaged = err.splitlines()
    assert skipped.startswith("mnist-tui runs: skipped 7 folders that are not readable runs: "
                              "20250106-000000-nocnfg (no config.json), "
                              "20250106-000001-badcfg (config.json is not JSON), ")
    assert skipped.endswith(" and 2 more")
    assert damaged == ("mnist-tui runs: 1 run without a readable summary (listed from the "
                       "rest of the folder): 20250102-090000-dddddd (summary.json holds an "
                       "array, not a JSON object)")


def test_runs_as_csv_on_stdout(runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--runs-dir", str(runs_dir), "--csv", "-"]) == 0
    out, err = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["id"] for row in rows] == LISTED
    odd = rows[LISTED.index(ODD_SUMMARY)]
    assert odd["val_accuracy"] == "high"  # CSV carries what the file says, as it says it
    assert "skipped 7 folders" in err


@pytest.mark.parametrize(("run_id", "code", "said"), [
    (GOOD, 0, "finished: validation accuracy 94.0%"),
    (GARBLED, 0, "finished: validation accuracy 94.0%"),
    (SUMMARY_LIST, 0, "finished"),
    (ODD_SUMMARY, 0, "finished"),
    (TRUNCATED, 1, "the run's process ended without a final event"),
    (LOG_IS_FOLDER, 1, "the run's process ended before it logged any event"),
])
def test_watch_headless_replays_a_damaged_run_to_its_end(
        runs_dir: Path, run_id: str, code: int, said: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--headless", "--runs-dir", str(runs_dir), run_id]) == code
    out, err = capsys.readouterr()
    assert said in err
    if code == 0:
        assert json.loads(out)["status"] == "finished"


def test_watch_of_a_folder_that_is_no_run_says_so(
        runs_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "--headless", str(runs_dir / "20250106-000004-empty0")]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_the_events_of_damaged_logs(runs_dir: Path) -> None:
    assert read_events(runs_dir / LOG_IS_FOLDER) == []
    kinds = [type(event) for event in read_events(runs_dir / GOOD)]
    assert [type(event) for event in read_events(runs_dir / GARBLED)] == kinds
    assert [type(event) for event in read_events(runs_dir / TRUNCATED)] == kinds[:-1]


@pytest.mark.parametrize("pid", [-1, 0, "12", 2**40, True, None, 3.5])
def test_a_garbled_process_file_tells_nothing(tmp_path: Path, pid: Any) -> None:
    (tmp_path / "process.json").write_text(json.dumps(
        {"pid": pid, "host": socket.gethostname(), "start_ticks": None}))
    assert process_alive(tmp_path) is None


async def test_the_runs_screen_lists_the_readable_runs_and_says_what_it_skipped(
        runs_dir: Path) -> None:
    app = Host(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await listed(pilot, app)
        assert cells(app, 1) == LISTED
        said = notes(app)
        assert any(note.startswith("Skipped 7 folders that are not readable runs: ")
                   for note in said), said
        assert any("1 run without a readable summary" in note for note in said), said
        for row in range(len(LISTED)):  # every damaged run opens on its summary
            app.screen.query_one(DataTable).move_cursor(row=row)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RunSummaryScreen))
            assert app.screen.summary["run_id"] == LISTED[row]
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))


async def test_compare_and_export_damaged_runs(runs_dir: Path, tmp_path: Path) -> None:
    app = Host(runs_dir)
    out = tmp_path / "metrics.csv"
    async with app.run_test(size=(120, 40)) as pilot:
        await listed(pilot, app)
        for _ in LISTED:
            await pilot.press("space", "down")
        screen = await compared(pilot, app)
        grid = screen.query_one("#compare-table", DataTable)
        assert grid.row_count == len(LISTED)
        await pilot.press("x")
        assert isinstance(app.screen, ExportScreen)
        app.screen.query_one("#export-path", Input).value = str(out)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    per_run = {run_id: sum(row["run_id"] == run_id for row in rows) for run_id in LISTED}
    complete = 14 + 1 + 1  # batches, the epoch, the test evaluation (the cut line was the end)
    assert per_run == {**dict.fromkeys(LISTED, complete), LOG_IS_FOLDER: 0}


def test_a_runs_folder_that_cannot_be_read_is_bad_input(
        runs_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    make_unreadable(monkeypatch, runs_dir)
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 2
    assert capsys.readouterr().err == (
        f"mnist-tui runs: cannot read the runs in {runs_dir}: Permission denied\n")
