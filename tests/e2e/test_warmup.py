"""The warmup: MNIST and TensorFlow ready, and a model traced, before the run is asked for;
a run on a prepared model computes what a run without one does, bit for bit, in this
process's warmup and in the app's run process."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import (
    BatchEnd,
    EpochEnd,
    Evaluated,
    Event,
    Predictions,
    ShownDigits,
)
from mnist_tui.runs.driver import execute_run
from mnist_tui.runs.reading import read_events
from mnist_tui.runs.warm_process import WarmProcess
from mnist_tui.training.trainer import Trainer
from mnist_tui.training.warmup import Warmup

pytestmark = pytest.mark.xdist_group("warmup")


@pytest.fixture
def warmup() -> Iterator[Warmup]:
    """A warmup of its own (not the process's), closed after the test."""
    made = Warmup(os.environ["MNIST_TUI_TEST_DATA"], settle=0).start()
    yield made
    made.close()


def _run(trainer: Trainer, config: TrainConfig) -> list[Event]:
    events: list[Event] = []
    trainer.run(config, events.append)
    return events


def _prepared(warmup: Warmup, config: TrainConfig, timeout: float = 120) -> None:
    warmup.want(config)
    deadline = time.monotonic() + timeout
    while warmup.peek() is None:
        assert time.monotonic() < deadline, f"nothing prepared ({warmup.error or 'no error'})"
        time.sleep(0.05)


def _figures(events: list[Event]) -> list[tuple[float, ...]]:
    return [(e.loss, e.accuracy) for e in events if isinstance(e, BatchEnd)] + [
        (e.loss, e.accuracy, e.val_loss, e.val_accuracy) for e in events
        if isinstance(e, EpochEnd)]


def test_a_seeded_run_on_a_prepared_model_is_the_run_without_one(warmup: Warmup) -> None:
    """Dropout too: its layers' seed states come from the fresh seeded build."""
    path = os.environ["MNIST_TUI_TEST_DATA"]
    config = TrainConfig(train_size=2000, epochs=2, seed=3, dropout=0.2)
    plain = Trainer(data_path=path, live=False)
    plain_events = _run(plain, config)

    _prepared(warmup, config)
    assert warmup.data(path) is not None and warmup.ready
    prepared_model = warmup.peek().model
    warmed = Trainer(data_path=path, live=False, warmup=warmup)
    warmed_events = _run(warmed, config)

    assert warmed.model is prepared_model, warmed_events[-1]
    assert warmup.peek() is None, "a prepared model is used once"
    assert _figures(warmed_events) == _figures(plain_events)  # exactly, batch by batch
    for mine, theirs in zip(warmed.model.weights, plain.model.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    accuracy = [e.test_accuracy for e in warmed_events + plain_events
                if isinstance(e, Evaluated)]
    assert accuracy[0] == accuracy[1]


def test_other_settings_are_not_trained_on_the_prepared_model(warmup: Warmup) -> None:
    path = os.environ["MNIST_TUI_TEST_DATA"]
    _prepared(warmup, TrainConfig(train_size=1000, epochs=1, seed=1))
    prepared_model = warmup.peek().model
    other = TrainConfig(train_size=1000, epochs=1, seed=1, batch_size=100)
    trainer = Trainer(data_path=path, live=False, warmup=warmup)
    events = _run(trainer, other)
    assert trainer.model is not prepared_model
    assert sum(isinstance(e, BatchEnd) for e in events) == other.total_batches == 9


def test_train_again_finds_its_model_prepared_after_the_run(warmup: Warmup) -> None:
    """Nothing is prepared while a run trains; once it ends, its settings are, again."""
    path = os.environ["MNIST_TUI_TEST_DATA"]
    config = TrainConfig(train_size=1000, epochs=1, seed=2)
    _prepared(warmup, config)
    first = warmup.peek().model
    during: list[object] = []

    def emit(event: Event) -> None:
        if isinstance(event, BatchEnd):
            during.append(warmup.peek())

    Trainer(data_path=path, live=False, warmup=warmup).run(config, emit)
    assert during and all(seen is None for seen in during), "nothing prepared during the run"
    _prepared(warmup, config)
    again = warmup.peek().model
    assert again is not first
    trainer = Trainer(data_path=path, live=False, warmup=warmup)
    _run(trainer, config)
    assert trainer.model is again


def test_a_seeded_run_in_the_run_process_is_the_run_in_this_thread(tmp_path: Path) -> None:
    """The app's run process (`WarmProcess`), its model prepared ahead for the settings,
    trains what `execute_run` in this process trains, batch by batch, and the same test
    accuracy; the run folder is the process's."""
    path = os.environ["MNIST_TUI_TEST_DATA"]
    config = TrainConfig(train_size=2000, epochs=2, seed=3, dropout=0.2)
    warm = WarmProcess.start(path)
    try:
        warm.want(config)
        deadline = time.monotonic() + 300
        while warm.prepared != config:
            assert warm.alive and time.monotonic() < deadline, "nothing prepared"
            time.sleep(0.1)
        run = warm.run(config, runs_dir=tmp_path / "process")
        sent = list(run.events())
        assert run.wait(60) == 0
    finally:
        warm.close()
    in_thread: list[Event] = []
    _, summary = execute_run(config, in_thread.append, runs_dir=tmp_path / "thread",
                             data_path=path)

    assert "models prepared ahead 1, trained 1" in run.output()
    assert json.loads((run.run_dir / "process.json").read_text())["pid"] == run.pid
    assert _figures(sent) == _figures(read_events(run.run_dir)) == _figures(in_thread)
    # The live strip: the digits chosen ahead and the forward pass traced ahead show what
    # the run in this thread shows (predictions come on a clock: compared where both have one).
    shown = [[e.indices for e in events if isinstance(e, ShownDigits)]
             for events in (sent, in_thread)]
    assert shown[0] == shown[1] and len(shown[0]) == 1
    mine = {e.step: (e.predicted, e.confidence) for e in sent if isinstance(e, Predictions)}
    theirs = {e.step: (e.predicted, e.confidence) for e in in_thread
              if isinstance(e, Predictions)}
    assert config.total_batches in mine.keys() & theirs.keys()  # the last epoch's end
    assert all(mine[step] == theirs[step] for step in mine.keys() & theirs.keys())
    process_summary = json.loads((run.run_dir / "summary.json").read_text())
    assert process_summary["status"] == summary.status == "finished"
    assert process_summary["test_accuracy"] == summary.test_accuracy
