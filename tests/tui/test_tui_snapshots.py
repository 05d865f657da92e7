"""Snapshots (pytest-textual-snapshot) of states the size matrix does not show, at 80x24 and 120x40.

`test_screen_sizes.py` holds every screen at five sizes; this module adds the form with
inline errors, the monitor without its live extras and the summary scrolled to its digits.

The app is fed a scripted run: a fixed list of events with fixed values, so nothing on screen
depends on the clock or on Keras. Elapsed time, ETA and images/s come from the events' own
`elapsed` (the history reads no wall clock), the run id and folder are fixed, the digit samples
are drawn here, and each test has its own config directory so no remembered theme leaks in.

Regenerate after an intended change of the UI with `pytest tests/test_tui_snapshots.py
--snapshot-update`, then look at the SVGs (or the HTML report of a failing run) before
accepting them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import (
    BatchEnd,
    DigitSample,
    Emit,
    EpochEnd,
    Evaluated,
    Event,
    LearningRateChanged,
    Phase,
    Predictions,
    RunFailed,
    RunFinished,
    RunStarted,
    ShownDigits,
    SystemLoad,
)
from mnist_tui.training.model import preview_model
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.form import FormScreen
from mnist_tui.tui.screens.monitor import MonitorScreen
from mnist_tui.tui.screens.summary import SummaryScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
CONFIG = TrainConfig(train_size=6000, epochs=2, seed=0)  # 80 batches per epoch, 160 in all
RUN_ID = "20250101-120000-snap"
RUN_DIR = f"runs/{RUN_ID}"  # relative: the same on every machine
SECONDS_PER_BATCH = 0.025  # pinned elapsed: 64 images / 0.025 s = 2,560 images/s
MID_RUN_STEP = 120  # the monitor snapshots: epoch 2 of 2, 75%
FAIL_STEP = 37
DEADLINE = 30.0  # seconds; only guards against a hang, never asserts a speed

# Seven-segment strokes (row0, col0, row1, col1) on a 28x28 canvas, and each digit's segments.
SEGMENTS = {
    "a": (4, 8, 6, 20), "b": (4, 18, 14, 20), "c": (13, 18, 24, 20), "d": (22, 8, 24, 20),
    "e": (13, 8, 24, 10), "f": (4, 8, 14, 10), "g": (13, 8, 15, 20),
}
DIGIT_SEGMENTS = ["abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg",
                  "abcdfg"]


def digit_image(digit: int) -> np.ndarray:
    """A 28x28 uint8 image of `digit` drawn with seven-segment strokes (0 paper, 255 ink)."""
    image = np.zeros((28, 28), dtype=np.uint8)
    for segment in DIGIT_SEGMENTS[digit]:
        row0, col0, row1, col1 = SEGMENTS[segment]
        image[row0:row1, col0:col1] = 255
    return image


def make_evaluated() -> Evaluated:
    """A fixed test evaluation: 98.0% right, a plausible confusion matrix, 8 digits (2 wrong)."""
    pairs = [(7, 7), (2, 2), (1, 1), (0, 0), (4, 9), (1, 1), (4, 4), (5, 3)]  # (true, predicted)
    samples = tuple(DigitSample.from_image(i, true, predicted, 0.99 - i * 0.04,
                                           digit_image(true))
                    for i, (true, predicted) in enumerate(pairs))
    confusion = np.diag([970, 1122, 1008, 990, 960, 870, 940, 1005, 950, 985])
    for (true, predicted), count in {(4, 9): 14, (5, 3): 12, (7, 2): 9, (9, 4): 11,
                                     (8, 3): 7, (2, 7): 6, (6, 0): 5}.items():
        confusion[true, predicted] = count
    per_class = tuple(float(confusion[i, i] / confusion[i].sum()) for i in range(10))
    return Evaluated(test_loss=0.0642, test_accuracy=0.9800, test_samples=10_000,
                     confusion=tuple(tuple(int(v) for v in row) for row in confusion),
                     per_class_accuracy=per_class, samples=samples, seconds=1.5, time=0.0)


def batch_values(step: int) -> tuple[float, float]:
    """The fixed per-batch loss and accuracy of a step: a learning curve with some noise."""
    loss = 2.3 * math.exp(-step / 25) + 0.12 + 0.06 * math.sin(step * 1.7)
    return loss, min(0.995, 1.0 - loss / 2.5 + 0.02 * math.cos(step * 2.3))


def run_events(config: TrainConfig, last_step: int) -> list[Event]:
    """The events of a run of `config` up to batch `last_step`: phases, batches, epoch ends."""
    params = preview_model(config).total_params
    bpe = config.batches_per_epoch
    events: list[Event] = [
        Phase(phase="loading_data", message="loading MNIST…", time=0.0),
        Phase(phase="building_model", message="building the model…", time=0.0),
        RunStarted(run_id=RUN_ID, config=config.to_dict(), total_batches=bpe * config.epochs,
                   batches_per_epoch=bpe, epochs=config.epochs,
                   train_samples=config.train_samples, val_samples=config.val_samples,
                   test_samples=10_000, params=params, data_source="mnist.npz", time=0.0),
        Phase(phase="training", message="training…", time=0.0),
    ]
    seen = 0
    for step in range(1, last_step + 1):
        epoch, batch = (step - 1) // bpe + 1, (step - 1) % bpe + 1
        seen += min(config.batch_size, config.train_samples - (batch - 1) * config.batch_size)
        values = [batch_values(s) for s in range(step - batch + 1, step + 1)]
        loss = sum(v[0] for v in values) / batch
        accuracy = sum(v[1] for v in values) / batch
        events.append(BatchEnd(step=step, epoch=epoch, batch=batch, loss=loss,
                               accuracy=accuracy, batch_loss=values[-1][0],
                               batch_accuracy=values[-1][1], seen=seen,
                               elapsed=step * SECONDS_PER_BATCH, time=0.0))
        if batch == bpe:
            events.append(EpochEnd(epoch=epoch, step=step, loss=loss, accuracy=accuracy,
                                   val_loss=loss * 0.8, val_accuracy=min(0.99, accuracy + 0.015),
                                   seconds=bpe * SECONDS_PER_BATCH + 0.3, time=0.0))
    return events


def make_summary(config: TrainConfig, **changes: Any) -> dict[str, Any]:
    """The fixed summary of the scripted run (as the trainer reports it)."""
    seconds = config.total_batches * SECONDS_PER_BATCH
    summary: dict[str, Any] = {
        "run_id": RUN_ID, "status": "finished", "reason": "",
        "params": preview_model(config).total_params, "epochs": config.epochs,
        "epochs_completed": config.epochs, "stopped_early": False, "val_loss": 0.0712,
        "val_accuracy": 0.9784, "test_loss": 0.0642, "test_accuracy": 0.9800,
        "seconds": seconds, "samples_per_second": config.train_samples * config.epochs / seconds,
        "train_samples": config.train_samples, "config": config.to_dict(), "run_dir": RUN_DIR,
    }
    summary.update(changes)
    return summary


def finished_run(config: TrainConfig) -> list[Event]:
    """A whole run: every batch, the test evaluation, RunFinished."""
    return [*run_events(config, config.total_batches),
            Phase(phase="evaluating", message="evaluating on the test set…", time=0.0),
            make_evaluated(), RunFinished(summary=make_summary(config), time=0.0)]


def failed_run(config: TrainConfig) -> list[Event]:
    """A run whose loss turns NaN at batch `FAIL_STEP`."""
    return [*run_events(config, FAIL_STEP - 1),
            RunFailed(error=f"the loss became NaN at batch {FAIL_STEP} (epoch 1); try a "
                            "smaller learning rate", detail="Traceback: (folded away)",
                      summary=make_summary(config, status="failed", reason="the loss became "
                                           "NaN", epochs_completed=0), time=0.0)]


class ScriptedRunner:
    """Stands in for `execute_run`: emits fixed events, then returns or holds.

    With `hold=True` it waits, after its events, until the run is stopped (the app stops it
    when it closes), so a screenshot catches the run mid-way.
    """

    def __init__(self, events: Iterable[Event], *, hold: bool = False) -> None:
        self.events = list(events)
        self.hold = hold
        self.emitted = threading.Event()

    def __call__(self, config: TrainConfig, emit: Emit, control: RunControl | None = None,
                 **_: Any) -> tuple[Path, dict[str, Any]]:
        """Emit the script; return (run_dir, summary) like `execute_run`."""
        for event in self.events:
            emit(event)
        self.emitted.set()
        deadline = time.monotonic() + DEADLINE
        while self.hold and control is not None and not control.stop_requested:
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        return Path(RUN_DIR), make_summary(config)


async def settle(pilot: Pilot[Any], predicate: Callable[[], bool]) -> None:
    """Let the app run until `predicate()` holds (failing after `DEADLINE`)."""
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("the app never reached the expected state")
        await pilot.pause(0.01)


def form_ready(app: MnistApp) -> bool:
    """Whether the form is on screen and mounted (it focuses its first field when it is),
    its lazily mounted preview too."""
    return (isinstance(app.screen, FormScreen) and app.screen.focused is not None
            and app.screen.preview_ready)


def steady_cursor(app: MnistApp) -> None:
    """Stop the input cursors blinking, so a screenshot never catches one mid-blink."""
    for field in app.screen.query(Input):
        field.cursor_blink = False


SHOWN_LABELS = (7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6, 9, 0, 1, 5)  # the test set's first 16
SHOWN_GUESSES = (7, 2, 1, 0, 9, 1, 4, 9, 3, 9, 0, 6, 9, 0, 1, 5)  # two wrong: 4 → 9, 5 → 3
MB = 1024**2


def live_extras() -> list[Event]:
    """What a run of the app also reports: its test digits and their latest guesses, its
    system load, a learning rate set by the user at batch 100."""
    shown = ShownDigits(indices=tuple(range(16)), labels=SHOWN_LABELS,
                        pixels=tuple(DigitSample.from_image(0, d, d, 1.0, digit_image(d)).pixels
                                     for d in SHOWN_LABELS), time=0.0)
    return [
        shown,
        LearningRateChanged(step=100, epoch=2, previous=0.01, rate=0.003, time=0.0),
        Predictions(step=MID_RUN_STEP, epoch=2, predicted=SHOWN_GUESSES,
                    confidence=tuple(0.99 - 0.03 * k for k in range(16)), time=0.0),
        SystemLoad(process_cpu=187.0, machine_cpu=96.0, cpus=2, memory=812 * MB,
                   peak_memory=901 * MB, gpu_utilization=88.0, gpu_memory=3 * 1024 * MB,
                   gpu_memory_total=80 * 1024 * MB, time=0.0),
    ]


def mid_run_app(extras: Iterable[Event] = ()
                ) -> tuple[MnistApp, Callable[[Pilot[Any]], Awaitable[None]]]:
    """The app started on a run held at `MID_RUN_STEP` (its events, then `extras`), and a
    wait for the monitor to show it."""
    runner = ScriptedRunner([*run_events(CONFIG, MID_RUN_STEP), *extras], hold=True)
    app = MnistApp(CONFIG, start=True, runner=runner, runs_dir=Path("runs"))

    async def monitor_mid_run(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: runner.emitted.is_set() and isinstance(app.screen,
                                                                             MonitorScreen))
        await settle(pilot, lambda: app.history is not None and app.history.step == MID_RUN_STEP)
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        screen.update_now()  # draw now, not when the redraw timers next come round
        await pilot.pause()

    return app, monitor_mid_run



@pytest.mark.parametrize("size", SIZES)
def test_form_with_invalid_values(snap_compare: Any, size: tuple[int, int]) -> None:
    """A negative learning rate and a batch size in words: each field shows its inline error."""
    app = MnistApp()

    async def type_bad_values(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: form_ready(app))
        screen = app.screen
        assert isinstance(screen, FormScreen)
        steady_cursor(app)
        for name, value in (("batch_size", "sixty"), ("learning_rate", "-0.5")):
            field = screen.field(name)
            assert isinstance(field, Input)
            field.focus()
            field.value = value
        await settle(pilot, lambda: set(screen.errors) == {"batch_size", "learning_rate"})
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=type_bad_values)


@pytest.mark.parametrize("size", SIZES)
def test_monitor_mid_run(snap_compare: Any, size: tuple[int, int]) -> None:
    """Batch 120 of 160, epoch 2/2, one validation point on each chart, the log so far."""
    app, monitor_mid_run = mid_run_app()
    assert snap_compare(app, terminal_size=size, run_before=monitor_mid_run)







def summary_app() -> tuple[MnistApp, Callable[[Pilot[Any]], Awaitable[None]]]:
    """The app after a whole scripted run, and a wait for its summary screen to settle."""
    app = MnistApp(CONFIG, start=True, runner=ScriptedRunner(finished_run(CONFIG)),
                   runs_dir=Path("runs"))

    async def summary_shown(pilot: Pilot[Any]) -> None:
        await settle(pilot, lambda: isinstance(app.screen, SummaryScreen))
        await settle(pilot, lambda: app.run_dir is not None)  # the worker has returned
        await pilot.pause()

    return app, summary_shown



@pytest.mark.parametrize("size", SIZES)
def test_summary_scrolled_to_the_digits(snap_compare: Any, size: tuple[int, int]) -> None:
    """Scrolled down: the test digits with their predictions, the wrong ones marked."""
    app, summary_shown = summary_app()

    async def scrolled(pilot: Pilot[Any]) -> None:
        await summary_shown(pilot)
        screen = app.screen
        screen.query_one("#summary-body").scroll_to_widget(screen.query_one("#gallery-title"),
                                                           animate=False, top=True)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=scrolled)
