"""`MonitorCallback` on Keras models that are not the MNIST network.

Small models on generated data, trained for real: a regression (no accuracy metric at all) and a
classifier. What a user would check: the run folder `mnist-tui watch` and `runs` read, the
events in it, charts drawn from it, and a stop sent from a watcher.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mnist_tui.core.events import (
    BatchEnd,
    EpochEnd,
    Evaluated,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
)
from mnist_tui.runs.channel import read_state, send_command
from mnist_tui.runs.compare import format_runs_table
from mnist_tui.runs.listing import list_runs
from mnist_tui.runs.reading import follow_run, read_events
from mnist_tui.tui.state.history import TrainingHistory

pytestmark = pytest.mark.slow
WAIT_SECONDS = 60.0  # a safety net against a hang, never a measure of speed


@pytest.fixture(scope="module")
def keras() -> Any:
    from mnist_tui.training.keras_runtime import import_keras

    return import_keras()


def regression_data(n: int = 320) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([1.0, -2.0, 0.5], dtype="float32") + 0.3)[:, None]


def regression_model(keras: Any) -> Any:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)], name="line_fit")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model


def test_a_regression_logs_a_run_that_charts(keras: Any, tmp_path: Path) -> None:
    from mnist_tui import MonitorCallback

    x, y = regression_data()
    callback = MonitorCallback(runs_dir=tmp_path, name="my regression", batch_size=32)
    regression_model(keras).fit(x, y, epochs=3, batch_size=32, validation_split=0.25,
                                verbose=0, callbacks=[callback])
    run_dir = callback.run_dir
    assert run_dir is not None and run_dir.parent == tmp_path
    assert run_dir.name.endswith("-my-regression")
    events = read_events(run_dir)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert (started.epochs, started.batches_per_epoch, started.total_batches) == (3, 8, 24)
    assert started.params == 3 * 8 + 8 + 8 + 1
    assert started.config["optimizer"] == "adam" and started.config["learning_rate"] == 0.01
    batches = [e for e in events if isinstance(e, BatchEnd)]
    assert [b.step for b in batches] == list(range(1, 25))
    assert all(b.accuracy is None and b.batch_accuracy is None for b in batches)
    assert batches[-1].seen == 24 * 32
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    assert all(e.val_loss is not None and e.val_accuracy is None for e in epochs)
    assert epochs[-1].loss < epochs[0].loss, "it learned"
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.summary["status"] == "finished" and final.summary["epochs_completed"] == 3
    assert final.summary["val_loss"] == pytest.approx(epochs[-1].val_loss)
    assert set(final.summary["metrics"]) >= {"loss", "mae", "val_loss", "val_mae"}
    assert not any(isinstance(e, Evaluated) for e in events)

    # What `watch` shows: the loss chart has the curve and validation points; accuracy is
    # simply absent, not an error.
    history = TrainingHistory()
    for event in events:
        history.fold(event)
    loss = history.chart("loss", smooth=True, max_points=100)
    assert len(loss.train[0]) == 24 and len(loss.val[0]) == 3
    accuracy = history.chart("accuracy", smooth=True, max_points=100)
    assert accuracy.train == ([], []) and accuracy.val == ([], [])
    assert history.finished

    # What `runs` shows.
    [info] = list_runs(tmp_path)
    assert info.status == "finished"
    row = format_runs_table([info]).splitlines()[1].split()
    assert row[3:9] == ["finished", "my", "regression", "3", "0.01", "adam"]


def test_evaluate_after_fit_amends_the_run(keras: Any, tmp_path: Path) -> None:
    """A script's `model.evaluate(..., callbacks=[callback])` after `fit`: its figures reach
    the run the callback logged (a regression: a test loss, no accuracy), the run stays
    finished, and readers see the evaluation before the one end."""
    from mnist_tui import MonitorCallback

    x, y = regression_data()
    model = regression_model(keras)
    callback = MonitorCallback(runs_dir=tmp_path, name="tested", batch_size=32)
    model.fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0,
              callbacks=[callback])
    assert callback.run_dir is not None
    summary_before = (callback.run_dir / "summary.json").read_text()
    result = model.evaluate(x[:64], y[:64], verbose=0, callbacks=[callback], return_dict=True)
    events = read_events(callback.run_dir)
    evaluated, final = events[-2:]
    assert isinstance(evaluated, Evaluated) and isinstance(final, RunFinished)
    assert evaluated.test_loss == pytest.approx(result["loss"], rel=1e-6)
    assert evaluated.confusion == () and evaluated.test_samples == 0
    assert sum(isinstance(e, (RunFinished, RunStopped, RunFailed)) for e in events) == 1
    summary = json.loads((callback.run_dir / "summary.json").read_text())
    assert summary != json.loads(summary_before)
    assert summary["status"] == "finished" and "test_accuracy" in summary
    assert summary["test_loss"] == pytest.approx(result["loss"], rel=1e-6)
    assert summary["test_accuracy"] is None, "a regression has no accuracy"
    assert summary["metrics"]["test_mae"] == pytest.approx(result["mae"], rel=1e-6)
    # Strict JSON throughout: the log holds the first end too, and every line reads.
    lines = (callback.run_dir / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines[-3:]] == [
        "run_finished", "evaluated", "run_finished"]
    # A watcher (the same reader) ends with the amended summary.
    seen: list = []
    assert follow_run(callback.run_dir, seen.append).outcome == "ended"
    assert seen[-1].summary["test_loss"] == summary["test_loss"]


def test_an_input_of_unknown_length_counts_then_knows_its_total(keras: Any,
                                                                tmp_path: Path) -> None:
    """A generator without a length: the first epoch shows a count and a rate, no total and
    no percentage; from the second on, the total is the first epoch's batches."""
    import tensorflow as tf

    from mnist_tui import MonitorCallback
    from mnist_tui.tui.screens.monitor_lines import progress_line

    x, y = regression_data(320)

    def batches() -> Any:
        for i in range(0, 320, 32):
            yield x[i:i + 32], y[i:i + 32]

    data = tf.data.Dataset.from_generator(batches, output_signature=(
        tf.TensorSpec((None, 3), tf.float32), tf.TensorSpec((None, 1), tf.float32)))
    callback = MonitorCallback(runs_dir=tmp_path, batch_size=32)
    regression_model(keras).fit(data, epochs=3, shuffle=False, verbose=0, callbacks=[callback])
    events = read_events(callback.run_dir)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.batches_per_epoch == 0 and started.total_batches == 0
    history = TrainingHistory()
    lines = {}
    for event in events:
        history.fold(event)
        if isinstance(event, BatchEnd):
            lines[event.step] = progress_line(history)
    assert lines[4].startswith("batch 4 (epoch length unknown) · epoch 1/3")
    assert "%" not in lines[4] and "ETA --:--" in lines[4] and "img/s" in lines[4]
    assert lines[14].startswith("batch 14/30 · epoch 2/3")
    assert (history.batches_per_epoch, history.total_batches) == (10, 30)
    final = events[-1]
    assert isinstance(final, RunFinished) and final.summary["train_samples"] == 320


def test_a_classifier_charts_its_accuracy(keras: Any, tmp_path: Path) -> None:
    from mnist_tui import MonitorCallback

    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy"])
    callback = MonitorCallback(runs_dir=tmp_path)
    model.fit(x, y, epochs=2, batch_size=64, validation_data=(x[:64], y[:64]), verbose=0,
              callbacks=[callback])
    events = read_events(callback.run_dir)
    batches = [e for e in events if isinstance(e, BatchEnd)]
    assert len(batches) == 8 and all(0 <= b.accuracy <= 1 for b in batches)
    epoch = next(e for e in events if isinstance(e, EpochEnd))
    assert epoch.val_accuracy is not None
    assert isinstance(events[-1], RunFinished)
    assert events[-1].summary["val_accuracy"] == pytest.approx(
        [e for e in events if isinstance(e, EpochEnd)][-1].val_accuracy)


def test_a_watcher_can_stop_a_callback_run(keras: Any, tmp_path: Path) -> None:
    """Another process's `stop` arrives through the run's control file; training ends at the
    batch where the run has read it (a helper callback waits for that, at batch 3)."""
    from mnist_tui import MonitorCallback

    monitor = MonitorCallback(runs_dir=tmp_path)

    class StopFromOutside(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if batch == 2:
                send_command(monitor.run_dir, "stop", "enough from the test")
                deadline = time.monotonic() + WAIT_SECONDS
                while not read_state(monitor.run_dir).get("stop_requested"):
                    assert time.monotonic() < deadline
                    time.sleep(0.01)

    x, y = regression_data(640)
    regression_model(keras).fit(x, y, epochs=5, batch_size=32, verbose=0,
                                callbacks=[StopFromOutside(), monitor])
    events = read_events(monitor.run_dir)
    final = events[-1]
    assert isinstance(final, RunStopped) and final.reason == "enough from the test"
    assert final.summary["stopped_early"] is True
    assert len([e for e in events if isinstance(e, BatchEnd)]) < 5 * 20


def test_a_script_that_dies_mid_fit_leaves_a_failed_run(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import numpy as np, keras
        from mnist_tui import MonitorCallback

        class Boom(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if batch == 1:
                    raise RuntimeError("boom")

        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        x = np.zeros((64, 2), "float32")
        model.fit(x, x[:, :1], epochs=2, batch_size=8, verbose=0,
                  callbacks=[MonitorCallback(runs_dir={str(tmp_path)!r}), Boom()])
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 1 and "RuntimeError: boom" in result.stderr
    [info] = list_runs(tmp_path)
    assert info.status == "failed"
    events = read_events(info.run_dir)
    assert isinstance(events[-1], RunFailed)
    assert "ended before fit() finished" in events[-1].error
    end = follow_run(info.run_dir, lambda event: None)
    assert end.outcome == "ended", "a watcher sees the end instead of waiting for ever"


def test_import_mnist_tui_stays_light() -> None:
    code = ("import sys, mnist_tui; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "[]"
    import mnist_tui

    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        mnist_tui.Nothing  # noqa: B018
