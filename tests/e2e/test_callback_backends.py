"""`MonitorCallback` under each Keras 3 backend: TensorFlow, JAX and PyTorch.

The backend is fixed when Keras is first imported, so each runs a user's script in a process
of its own (`KERAS_BACKEND=...`): a small convnet on a slice of the real MNIST through `fit`
with `test_data`, then `model.evaluate(..., callbacks=[callback])`. The run folder must hold
the strip's predictions (the model's own guesses) and the test accuracy `evaluate` returned.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mnist_tui.core.events import Evaluated, Predictions, RunFinished, ShownDigits
from mnist_tui.runs.compare import format_runs_table
from mnist_tui.runs.listing import list_runs
from mnist_tui.runs.reading import read_events
from mnist_tui.tui.state.history import TrainingHistory

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    from mnist_tui import MonitorCallback

    data = np.load(sys.argv[1])
    x = data["x_train"][:1500, ..., None].astype("float32") / 255
    y = data["y_train"][:1500]
    x_test = data["x_test"][:500, ..., None].astype("float32") / 255
    y_test = data["y_test"][:500]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dropout(0.3),
        keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    callback = MonitorCallback(runs_dir=sys.argv[2], name="backend", batch_size=100,
                               test_data=(x_test, y_test))
    model.fit(x, y, batch_size=100, epochs=2, validation_split=0.1, verbose=0,
              callbacks=[callback])
    result = model.evaluate(x_test, y_test, verbose=0, callbacks=[callback],
                            return_dict=True)
    guesses = model.predict(x_test, verbose=0).argmax(axis=1)
    print(json.dumps({"backend": keras.backend.backend(), "run_dir": str(callback.run_dir),
                      "evaluate": result, "guesses": [int(g) for g in guesses]}))
""")

BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}  # backend: module


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_fit_and_evaluate_under_each_backend(backend: str, mnist_path: Path,
                                             tmp_path: Path) -> None:
    if importlib.util.find_spec(BACKENDS[backend]) is None:
        pytest.fail(f"{BACKENDS[backend]} is not installed: `pip install -e '.[test]'` "
                    "installs every backend these tests need", pytrace=False)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(mnist_path), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "mnist-tui:" not in done.stderr, "no warning from the callback (the strip works)"
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["backend"] == backend

    run_dir = Path(out["run_dir"])
    events = read_events(run_dir)
    [shown] = [e for e in events if isinstance(e, ShownDigits)]
    predictions = [e for e in events if isinstance(e, Predictions)]
    assert len(predictions) >= 3, "the first execution, then each epoch's end at least"
    assert predictions[-1].epoch == 2 and predictions[-1].step == 28
    # The strip's last guesses are the trained model's own.
    assert list(predictions[-1].predicted) == [out["guesses"][i] for i in shown.indices]

    # evaluate's figures reach the run: an Evaluated, then the one end, like an app run.
    evaluated, finished = events[-2:]
    assert isinstance(evaluated, Evaluated) and isinstance(finished, RunFinished)
    assert sum(isinstance(e, RunFinished) for e in events) == 1
    accuracy, loss = out["evaluate"]["accuracy"], out["evaluate"]["loss"]
    assert evaluated.test_accuracy == pytest.approx(accuracy, rel=1e-6)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert summary["test_accuracy"] == pytest.approx(accuracy, rel=1e-6)
    assert summary["test_loss"] == pytest.approx(loss, rel=1e-6)
    assert finished.summary["test_accuracy"] == pytest.approx(accuracy, rel=1e-6)

    # What `runs` and `watch` show.
    [info] = list_runs(tmp_path)
    assert info.status == "finished"
    assert f"{accuracy:.1%}" in format_runs_table([info]).splitlines()[1]
    history = TrainingHistory()
    for event in events:
        history.fold(event)
    assert history.finished and history.evaluated == evaluated
    assert history.summary["test_accuracy"] == pytest.approx(accuracy, rel=1e-6)
