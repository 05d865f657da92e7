"""Every screen at every terminal size people use: snapshots from 80x24 to 200x60.

Each screen is fed as in test_tui_snapshots.py (a scripted run with fixed values, recorded
run folders, a fake model for the draw screen), so nothing depends on the clock, Keras or
the machine. Looked at as images before being accepted: nothing overlaps or is cut in the
middle of a box, no text is wrapped a letter a line, and a larger terminal shows more.

Regenerate after an intended change with `pytest tests/tui/test_screen_sizes.py
--snapshot-update`, then look at every changed SVG.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input

from mnist_tui.core.config import TrainConfig
from mnist_tui.runs import digit_reader
from mnist_tui.runs.digit_reader import Reading
from mnist_tui.runs.writer import RunWriter, write_process_file
from mnist_tui.training.drawing import preprocess
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens import compare as compare_screen
from mnist_tui.tui.screens.compare import CompareScreen, ExportScreen
from mnist_tui.tui.screens.dialogs import ConfirmScreen, ErrorScreen
from mnist_tui.tui.screens.draw import DrawApp, DrawScreen
from mnist_tui.tui.screens.form import FormScreen
from mnist_tui.tui.screens.monitor import MonitorScreen
from mnist_tui.tui.screens.rate_dialog import RateScreen
from mnist_tui.tui.widgets.size_notice import SizeNotice
from tests.helpers.recorded_runs import record_run
from tests.helpers.runs_app import compared, listed
from tests.tui.test_tui_snapshots import (
    CONFIG,
    MID_RUN_STEP,
    RUN_ID,
    ScriptedRunner,
    digit_image,
    failed_run,
    form_ready,
    live_extras,
    mid_run_app,
    run_events,
    settle,
    steady_cursor,
    summary_app,
)

SIZES = [pytest.param(size, id=f"{size[0]}x{size[1]}")
         for size in ((80, 24), (100, 30), (120, 40), (160, 50), (200, 60))]
RATES = {"20250101-090000-aaaaaa": 0.001, "20250102-090000-bbbbbb": 0.01,
         "20250103-090000-cccccc": 0.1}
ACCURACY = {0.001: 0.912, 0.01: 0.964, 0.1: 0.981}
PROBABILITIES = np.array([0.002, 0.004, 0.031, 0.012, 0.001, 0.003, 0.0005, 0.93, 0.0065,
                          0.0095], dtype=np.float32)

Run = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture(autouse=True)
def _own_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run folders under ./runs, the same everywhere (the config folder: conftest.py)."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def recorded() -> Path:
    """Three finished runs of different learning rates in ./runs."""
    root = Path("runs")
    for run_id, rate in RATES.items():
        record_run(root, run_id, TrainConfig(train_size=1000, epochs=2, learning_rate=rate,
                                             seed=1), test_accuracy=ACCURACY[rate])
    return root


@pytest.mark.parametrize("size", SIZES)
def test_form(snap_compare: Any, size: tuple[int, int]) -> None:
    """The form as it opens."""
    app = MnistApp()

    async def ready(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: form_ready(app))
        steady_cursor(app)

    assert snap_compare(app, terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_form_with_a_sweep(snap_compare: Any, size: tuple[int, int]) -> None:
    """Three learning rates: Trials and Pruning show, Start says the sweep, and the actions
    row still fits (at 80 columns without the presets' label)."""
    app = MnistApp()

    async def sweep(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: form_ready(app))
        screen = app.screen
        assert isinstance(screen, FormScreen)
        steady_cursor(app)
        field = screen.field("learning_rate")
        assert isinstance(field, Input)
        field.focus()
        field.value = "0.001, 0.01, 0.1"
        await settle(pilot, lambda: "sweep" in str(screen.query_one("#start", Button).label))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=sweep)


@pytest.mark.parametrize("size", SIZES)
def test_monitor(snap_compare: Any, size: tuple[int, int]) -> None:
    """Mid-run: the header with the rate and the best epoch, the load line, both charts,
    the test digits strip, the log."""
    app, monitor_mid_run = mid_run_app(live_extras())
    assert snap_compare(app, terminal_size=size, run_before=monitor_mid_run)


@pytest.mark.parametrize("size", SIZES)
def test_monitor_zoomed(snap_compare: Any, size: tuple[int, int]) -> None:
    """`+` twice: the charts show the last 40 batches."""
    app, monitor_mid_run = mid_run_app(live_extras())

    async def zoomed(pilot: Pilot[Any]) -> None:
        await monitor_mid_run(pilot)
        await pilot.press("plus", "plus")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=zoomed)


@pytest.mark.parametrize("size", SIZES)
def test_rate_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    """`l` over the monitor, a bad rate typed and its message."""
    app, monitor_mid_run = mid_run_app(live_extras())

    async def bad_rate(pilot: Pilot[Any]) -> None:
        await monitor_mid_run(pilot)
        await pilot.press("l")
        await settle(pilot, lambda: isinstance(app.screen, RateScreen))
        steady_cursor(app)
        app.screen.query_one(Input).value = "-1"
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=bad_rate)


@pytest.mark.parametrize("size", SIZES)
def test_quit_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    """q during a run asks before stopping it."""
    app, monitor_mid_run = mid_run_app()

    async def ask_to_quit(pilot: Pilot[Any]) -> None:
        await monitor_mid_run(pilot)
        await pilot.press("q")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen))

    assert snap_compare(app, terminal_size=size, run_before=ask_to_quit)


@pytest.mark.parametrize("size", SIZES)
def test_error_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    """A failed run's message over the form."""
    app = MnistApp(CONFIG, start=True, runner=ScriptedRunner(failed_run(CONFIG)),
                   runs_dir=Path("runs"))

    async def failed(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: isinstance(app.screen, ErrorScreen))
        await settle(pilot, lambda: app.run_dir is not None)
        steady_cursor(app)

    assert snap_compare(app, terminal_size=size, run_before=failed)


@pytest.mark.parametrize("size", SIZES)
def test_summary(snap_compare: Any, size: tuple[int, int]) -> None:
    """The summary as it opens."""
    app, summary_shown = summary_app()
    assert snap_compare(app, terminal_size=size, run_before=summary_shown)


def runs_app(recorded: Path) -> tuple[MnistApp, Run]:
    """The app with its runs (ctrl+o) listed: three runs, as a user opens them."""
    app = MnistApp(runs_dir=recorded)

    async def shown(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: form_ready(app))
        await pilot.press("ctrl+o")
        await listed(pilot, app)  # type: ignore[arg-type]
        await pilot.pause()

    return app, shown


@pytest.mark.parametrize("size", SIZES)
def test_runs(snap_compare: Any, size: tuple[int, int], recorded: Path) -> None:
    """The runs table, three runs."""
    app, shown = runs_app(recorded)
    assert snap_compare(app, terminal_size=size, run_before=shown)


def compare_app(recorded: Path) -> tuple[MnistApp, Run]:
    """The runs screen with all three runs compared."""
    app, listed_runs = runs_app(recorded)

    async def shown(pilot: Pilot[Any]) -> None:
        await listed_runs(pilot)
        await pilot.press("space", "down", "space", "down", "space")
        await compared(pilot, app)  # type: ignore[arg-type]
        assert isinstance(app.screen, CompareScreen)

    return app, shown


@pytest.mark.parametrize("size", SIZES)
def test_compare(snap_compare: Any, size: tuple[int, int], recorded: Path) -> None:
    """Three runs compared: their curves and settings side by side."""
    app, shown = compare_app(recorded)
    assert snap_compare(app, terminal_size=size, run_before=shown)


@pytest.mark.parametrize("size", SIZES)
def test_export_dialog(snap_compare: Any, size: tuple[int, int], recorded: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`x` on the comparison: where to write the CSV (a fixed name, not the clock's)."""
    monkeypatch.setattr(compare_screen, "default_export_path",
                        lambda: Path("/home/me/mnist-tui-metrics-20250104-090000.csv"))
    app, shown = compare_app(recorded)

    async def export(pilot: Pilot[Any]) -> None:
        await shown(pilot)
        await pilot.press("x")
        await settle(pilot, lambda: isinstance(app.screen, ExportScreen))
        steady_cursor(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=export)


class FixedReader:
    """Stands in for a run's model: reads every drawing as a 7, 93%."""

    path = Path("runs/model.keras")

    def read(self, drawing: np.ndarray) -> Reading:
        """The drawing after MNIST's preprocessing, with fixed probabilities."""
        seen = preprocess(drawing)
        return Reading(PROBABILITIES if seen.any() else None, seen, 0.004)


@pytest.mark.parametrize("size", [*SIZES, pytest.param((72, 23), id="72x23-its-minimum")])
def test_draw(snap_compare: Any, size: tuple[int, int],
              monkeypatch: pytest.MonkeyPatch) -> None:
    """A 7 on the canvas, its ten probabilities, what the network sees where it fits."""
    monkeypatch.setattr(digit_reader.DigitReader, "load", staticmethod(lambda _: FixedReader()))
    run_dir = Path("runs") / RUN_ID
    app = DrawApp(run_dir, theme="mnist-dark")

    async def drawn(pilot: Pilot[Any]) -> None:
        screen = app.screen
        assert isinstance(screen, DrawScreen)
        await settle(pilot, lambda: screen.model_ready)
        canvas = screen.query_one("#draw-canvas")
        canvas.load(digit_image(7))  # type: ignore[attr-defined]
        await settle(pilot, lambda: screen.shown_version == canvas.version)  # type: ignore
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=drawn)


@pytest.mark.parametrize("size", SIZES)
def test_watch(snap_compare: Any, size: tuple[int, int]) -> None:
    """`mnist-tui watch` on a run another process is writing, 120 batches in."""
    writer = RunWriter(Path("runs"), RUN_ID, CONFIG)
    for event in [*run_events(CONFIG, MID_RUN_STEP), *live_extras()]:
        writer.write(event)
    writer.close()  # the log as it is so far; the run goes on as far as anyone can tell
    write_process_file(writer.run_dir, os.getpid())  # alive: this process "writes" it
    app = MnistApp(watch=writer.run_dir, runs_dir=Path("runs"))

    async def following(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: isinstance(app.screen, MonitorScreen)
                     and app.history.step == MID_RUN_STEP)
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        # The monitor is pushed once the backlog is read; its charts may first draw before
        # their final layout (the next chart tick redraws them): let the layout settle.
        await pilot.pause(0.3)
        screen.update_now()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=following)


def test_a_terminal_too_small_says_what_it_needs(snap_compare: Any) -> None:
    """60x16: one line saying the size the monitor needs, over the screen."""
    app, monitor_mid_run = mid_run_app(live_extras())
    assert snap_compare(app, terminal_size=(60, 16), run_before=monitor_mid_run)


async def test_the_screen_comes_back_when_the_terminal_grows() -> None:
    app, monitor_mid_run = mid_run_app(live_extras())
    async with app.run_test(size=(100, 30)) as pilot:
        await monitor_mid_run(pilot)
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        await pilot.resize_terminal(60, 16)
        await settle(pilot, lambda: bool(screen.query(SizeNotice)) and notice(screen).display)
        assert str(notice(screen).render()) == ("60x16 is too small: this screen needs 70x20 "
                                                "or more")
        assert notice(screen).region.size == screen.size, "it covers the whole screen"
        await pilot.resize_terminal(120, 40)
        await settle(pilot, lambda: not notice(screen).display)
        assert app.screen is screen and screen.query_one("#charts").region.width == 120
        await pilot.press("l")  # and it answers its keys as before
        await settle(pilot, lambda: isinstance(app.screen, RateScreen))


def notice(screen: Any) -> SizeNotice:
    """The size notice mounted on `screen`."""
    return screen.query_one(SizeNotice)
