"""The Runs screen in a tiny host app: the table, comparing, opening, deleting, exporting.

The run folders are written by `recorded_runs.record_run` (three learning rates).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Digits, Input

from mnist_tui.core.config import TrainConfig
from mnist_tui.tui.screens import compare as compare_screen
from mnist_tui.tui.screens import runs as runs_screen
from mnist_tui.tui.screens.compare import CompareChart, CompareScreen, ExportScreen
from mnist_tui.tui.screens.dialogs import ConfirmScreen
from mnist_tui.tui.screens.runs import RunsScreen, RunSummaryScreen
from tests.helpers.fake_runs import wait_for
from tests.helpers.recorded_runs import make_unreadable, record_run
from tests.helpers.runs_app import Host, cells, compared, listed, notes, table, title

RATES = {"20250101-090000-aaaaaa": 0.001, "20250102-090000-bbbbbb": 0.01,
         "20250103-090000-cccccc": 0.1}
ACCURACY = {0.001: 0.912, 0.01: 0.964, 0.1: 0.981}


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    for run_id, rate in RATES.items():
        record_run(root, run_id, TrainConfig(train_size=1000, epochs=2, learning_rate=rate,
                                             seed=1), test_accuracy=ACCURACY[rate])
    return root


async def test_the_table_lists_runs_newest_first(runs_dir: Path) -> None:
    app = Host(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await listed(pilot, app)
        assert isinstance(app.screen, RunsScreen)
        assert cells(app, 1) == sorted(RATES, reverse=True)
        assert cells(app, 6) == ["0.1", "0.01", "0.001"]
        assert cells(app, 9) == ["float32"] * 3
        assert cells(app, 11) == ["98.1%", "96.4%", "91.2%"]
        assert "3 runs in" in str(app.screen.query_one("#runs-title").render())


async def test_an_empty_runs_folder(tmp_path: Path) -> None:
    app = Host(tmp_path / "nothing")
    async with app.run_test(size=(80, 24)) as pilot:
        await listed(pilot, app)
        assert table(app).row_count == 0
        assert app.screen.query_one("#runs-empty").display
        await pilot.press("c", "o", "d", "x")  # nothing to act on: no crash, no dialog
        assert isinstance(app.screen, RunsScreen)


async def test_compare_three_runs(runs_dir: Path) -> None:
    app = Host(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await listed(pilot, app)
        await pilot.press("c")
        assert isinstance(app.screen, RunsScreen), "one run is not a comparison"
        await pilot.press("space", "down", "space", "down", "space")
        assert cells(app, 0) == ["●", "●", "●"]
        assert "3 selected" in str(app.screen.query_one("#runs-title").render())
        screen = await compared(pilot, app)
        loss = screen.query_one("#compare-loss", CompareChart)
        accuracy = screen.query_one("#compare-accuracy", CompareChart)
        assert len(loss.curves) == len(accuracy.curves) == 3
        assert len({curve.colour for curve in loss.curves}) == 3, "one colour each"
        for curve in loss.curves:
            assert curve.x[-1] == pytest.approx(2.0, abs=0.05), "x is in epochs"
            assert curve.val_x == [1.0, 2.0]
        # The faster learning rate's loss falls faster (the recorded curves depend on it).
        ends = [curve.y[len(curve.y) // 4] for curve in loss.curves]
        assert ends[0] < ends[1] < ends[2]
        grid = screen.query_one("#compare-table", DataTable)
        labels = [str(column.label) for column in grid.columns.values()]
        assert labels[:3] == ["", "run", "learning rate"]
        assert "optimizer" not in labels, "only the settings that differ"
        rows = [[str(c) for c in grid.get_row_at(i)] for i in range(grid.row_count)]
        assert [row[1:3] for row in rows] == [[run_id, str(RATES[run_id])]
                                              for run_id in sorted(RATES, reverse=True)]
        assert [row[labels.index("test acc")] for row in rows] == ["98.1%", "96.4%", "91.2%"]
        smoothed = [list(curve.y) for curve in loss.curves]
        await pilot.press("e")
        assert [list(curve.y) for curve in loss.curves] != smoothed, "raw curves now"
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_export_the_compared_runs(runs_dir: Path, tmp_path: Path) -> None:
    app = Host(runs_dir)
    out = tmp_path / "exported.csv"
    async with app.run_test(size=(120, 40)) as pilot:
        await listed(pilot, app)
        await pilot.press("down", "space", "down", "space", "c")
        await pilot.press("x")
        assert isinstance(app.screen, ExportScreen)
        field = app.screen.query_one("#export-path", Input)
        assert field.value.endswith(".csv")
        field.value = str(out)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {row["run_id"] for row in rows} == {"20250102-090000-bbbbbb",
                                                "20250101-090000-aaaaaa"}
    assert len(rows) == 2 * (2 * 14 + 2 + 1)  # batches, epochs, the test evaluation


async def test_export_cancelled_writes_nothing(runs_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = Host(runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await listed(pilot, app)
        await pilot.press("x")
        assert isinstance(app.screen, ExportScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
    assert not list(tmp_path.glob("*.csv"))


async def test_open_a_run_shows_its_summary(runs_dir: Path) -> None:
    app = Host(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await listed(pilot, app)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunSummaryScreen))
        await pilot.pause()
        screen = app.screen
        assert screen.summary["run_id"] == "20250102-090000-bbbbbb"
        assert screen.query_one("#test-accuracy", Digits).value == "96.4%"
        assert screen.evaluated is not None and screen.evaluated.test_accuracy == 0.964
        assert str(runs_dir / "20250102-090000-bbbbbb") in str(
            screen.query_one("#summary-run-dir").render())
        await pilot.press("r", "e")  # the live summary's keys are not this screen's
        assert app.screen is screen and app.calls == []
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_delete_asks_first(runs_dir: Path) -> None:
    app = Host(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await listed(pilot, app)
        await pilot.press("down", "d")
        assert isinstance(app.screen, ConfirmScreen)
        assert "20250102-090000-bbbbbb" in app.screen.question
        await pilot.press("n")
        assert (runs_dir / "20250102-090000-bbbbbb").is_dir()
        assert table(app).row_count == 3
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: table(app).row_count == 2)
        assert not (runs_dir / "20250102-090000-bbbbbb").exists()
        assert cells(app, 1) == ["20250103-090000-cccccc", "20250101-090000-aaaaaa"]


async def test_a_running_run_is_watched_not_deleted(tmp_path: Path) -> None:
    from mnist_tui.runs.writer import RunWriter

    root = tmp_path / "runs"
    RunWriter(root, "20250101-000000-live00", TrainConfig())  # this process writes it
    app = Host(root)
    async with app.run_test(size=(120, 40)) as pilot:
        await listed(pilot, app)
        assert cells(app, 3) == ["running"]
        await pilot.press("d")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("enter")  # a running run opens in the live monitor
        assert app.watched == [root / "20250101-000000-live00"]
    assert (root / "20250101-000000-live00").is_dir()


async def test_a_diverged_run_puts_the_loss_on_a_log_axis(tmp_path: Path) -> None:
    """One loss in the millions would flatten the others; the axis becomes logarithmic, and
    the figure can be drawn again and again (a resize) without touching the data twice."""
    root = tmp_path / "runs"
    record_run(root, "20250101-000000-aaaaaa", TrainConfig(train_size=1000, learning_rate=0.01))
    record_run(root, "20250102-000000-bbbbbb", TrainConfig(train_size=1000, learning_rate=9.0),
               diverge=True)
    app = Host(root)
    async with app.run_test(size=(100, 30)) as pilot:
        await listed(pilot, app)
        await pilot.press("space", "down", "space", "c")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await wait_for(pilot, lambda: screen.histories is not None)
        loss = screen.query_one("#compare-loss", CompareChart)
        figure = loss.plt.build()
        assert "1k┤" in figure and "100┤" in figure and " 10┤" in figure, "decades label it"
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert loss.plt.build() and loss.render()  # drawn again: no math domain error
        accuracy = screen.query_one("#compare-accuracy", CompareChart)
        assert "1k┤" not in accuracy.plt.build(), "accuracy stays linear"


async def test_a_runs_folder_that_cannot_be_read_says_so(
        runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_unreadable(monkeypatch, runs_dir)
    app = Host(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await listed(pilot, app)
        assert title(app) == f"cannot read the runs in {runs_dir}: Permission denied"
        assert any(note == f"Cannot read the runs in {runs_dir}: Permission denied"
                   for note in notes(app))
        assert table(app).row_count == 0 and isinstance(app.screen, RunsScreen)


async def test_a_run_that_cannot_be_read_is_not_opened(
        runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(run_dir: Path) -> Any:
        raise OSError(f"{run_dir}/events.jsonl: input/output error")

    app = Host(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await listed(pilot, app)
        monkeypatch.setattr(runs_screen, "load_history", unreadable)
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("cannot read the run:" in n for n in notes(app)))
        assert isinstance(app.screen, RunsScreen)


async def test_compared_runs_that_cannot_be_read_say_so(
        runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(run_dir: Path) -> Any:
        raise OSError(f"{run_dir}/events.jsonl: input/output error")

    monkeypatch.setattr(compare_screen, "load_history", unreadable)
    app = Host(runs_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await listed(pilot, app)
        await pilot.press("space", "down", "space", "c")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        await wait_for(pilot, lambda: "loading" not in title(app))
        assert "cannot read the runs:" in title(app) and "input/output error" in title(app)
        assert any("input/output error" in note for note in notes(app))
        assert screen.histories is None
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


@pytest.mark.parametrize("in_browser", [False, True])
async def test_x_exports_to_a_file_in_a_terminal_and_downloads_in_a_browser(
        runs_dir: Path, in_browser: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets._footer import FooterKey

    monkeypatch.setattr(Host, "is_web", property(lambda self: in_browser))
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(Host, "deliver_binary", lambda self, data, *, save_filename, **_: (
        sent.append((save_filename, data.read().decode()[:40])), "key")[1], raising=False)
    app = Host(runs_dir)
    async with app.run_test(size=(160, 40)) as pilot:
        await listed(pilot, app)
        shown = [key.description for key in app.screen.query(FooterKey)]
        assert ("Download CSV" in shown) is in_browser
        assert ("Export CSV" in shown) is not in_browser
        await pilot.press("space", "x")
        await pilot.pause()
        if in_browser:
            assert not isinstance(app.screen, ExportScreen)
            assert len(sent) == 1 and sent[0][0].endswith(".csv")
        else:
            assert isinstance(app.screen, ExportScreen) and not sent
