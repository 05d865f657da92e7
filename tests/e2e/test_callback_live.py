"""`MonitorCallback`'s live strip (`test_data=`) and system load, on a slice of the real MNIST."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mnist_tui.core.events import (
    Evaluated,
    Event,
    Phase,
    Predictions,
    RunFinished,
    RunStarted,
    ShownDigits,
    SystemLoad,
)
from mnist_tui.runs.reading import read_events
from mnist_tui.training.data import MnistData
from tests.helpers.trainer_runs import float_images

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def keras() -> Any:
    from mnist_tui.training.keras_runtime import import_keras

    return import_keras()


def _of(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def _dense_model(keras: Any, inputs: tuple[int, ...], rescale: bool = False) -> Any:
    layers = [keras.Input(inputs)]
    layers += [keras.layers.Rescaling(1 / 255)] if rescale else []
    layers += [keras.layers.Flatten(), keras.layers.Dense(32, activation="relu"),
               keras.layers.Dense(10, activation="softmax")]
    model = keras.Sequential(layers)
    # Named: Keras numbers unnamed optimizers ("adam_2"), which other tests' names would see.
    model.compile(optimizer=keras.optimizers.Adam(name="live_adam"),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_test_data_gives_a_strip_of_live_predictions(keras: Any, small_mnist: MnistData,
                                                     tmp_path: Path) -> None:
    from mnist_tui import MonitorCallback

    x_test, y_test = float_images(small_mnist.x_test), small_mnist.y_test
    keras.utils.set_random_seed(0)
    model = _dense_model(keras, (28, 28, 1))
    callback = MonitorCallback(runs_dir=tmp_path, name="live", test_data=(x_test, y_test))
    model.fit(float_images(small_mnist.x_train[:2000]), small_mnist.y_train[:2000],
              batch_size=64, epochs=2, verbose=0, callbacks=[callback])
    events = read_events(callback.run_dir)
    [started] = _of(events, RunStarted)
    [shown] = _of(events, ShownDigits)
    assert events.index(started) < events.index(shown)
    assert len(shown.indices) == 32 and set(shown.labels) == set(range(10))
    assert list(shown.labels) == [int(y_test[i]) for i in shown.indices]
    predictions = _of(events, Predictions)
    assert len(predictions) >= 3  # the first batch, then each epoch's end at least
    assert events.index(predictions[0]) > events.index(shown)
    assert all(len(p.predicted) == len(p.confidence) == 32 for p in predictions)
    assert predictions[-1].step == 64 and predictions[-1].epoch == 2
    # The strip's guesses are the model's own on those test images.
    probs = model.predict(x_test[list(shown.indices)], verbose=0)
    assert list(predictions[-1].predicted) == list(probs.argmax(axis=1))
    assert predictions[-1].confidence == pytest.approx(probs.max(axis=1), abs=1e-3)
    assert np.mean(np.array(predictions[-1].predicted) == np.array(shown.labels)) >= 0.5
    assert _of(events, SystemLoad) and isinstance(events[-1], RunFinished)
    assert events[-1].summary["peak_memory"] > 0


def test_uint8_test_images_reach_the_model_as_they_are(keras: Any, small_mnist: MnistData,
                                                       tmp_path: Path) -> None:
    """A model that takes uint8 28x28 images (and scales them itself) gets them so; one-hot
    labels name the classes."""
    from mnist_tui import MonitorCallback

    model = _dense_model(keras, (28, 28), rescale=True)
    one_hot = np.eye(10, dtype=np.float32)[small_mnist.y_test]
    callback = MonitorCallback(runs_dir=tmp_path, test_data=(small_mnist.x_test, one_hot))
    model.fit(small_mnist.x_train[:640], small_mnist.y_train[:640], batch_size=64, epochs=1,
              verbose=0, callbacks=[callback])
    events = read_events(callback.run_dir)
    [shown] = _of(events, ShownDigits)
    assert list(shown.labels) == [int(small_mnist.y_test[i]) for i in shown.indices]
    predictions = _of(events, Predictions)
    assert predictions
    probs = model.predict(small_mnist.x_test[list(shown.indices)], verbose=0)
    assert list(predictions[-1].predicted) == list(probs.argmax(axis=1))


def test_without_test_data_there_is_no_strip(keras: Any, small_mnist: MnistData,
                                             tmp_path: Path) -> None:
    from mnist_tui import MonitorCallback

    model = _dense_model(keras, (28, 28, 1))
    callback = MonitorCallback(runs_dir=tmp_path)
    model.fit(float_images(small_mnist.x_train[:640]), small_mnist.y_train[:640],
              batch_size=64, epochs=1, verbose=0, callbacks=[callback])
    events = read_events(callback.run_dir)
    assert not _of(events, ShownDigits) and not _of(events, Predictions)
    assert len(_of(events, SystemLoad)) >= 2, "at the start and at the end"
    assert events[-1].summary["peak_memory"] > 0


def test_test_images_that_cannot_be_shown_are_refused_at_once(keras: Any) -> None:
    from mnist_tui import MonitorCallback

    with pytest.raises(ValueError, match="28x28"):
        MonitorCallback(test_data=(np.zeros((5, 3)), np.arange(5)))


def test_a_model_that_cannot_take_the_test_digits_warns_and_trains_on(
        keras: Any, small_mnist: MnistData, tmp_path: Path) -> None:
    from mnist_tui import MonitorCallback

    model = _dense_model(keras, (784,))  # flat inputs: the 28x28 test digits do not fit
    callback = MonitorCallback(runs_dir=tmp_path, name="flat",
                               test_data=(small_mnist.x_test, small_mnist.y_test))
    x = small_mnist.x_train[:320].reshape(320, 784).astype("float32") / 255
    with pytest.warns(UserWarning, match="cannot predict the test digits"):
        model.fit(x, small_mnist.y_train[:320], batch_size=64, epochs=1, verbose=0,
                  callbacks=[callback])
    events = read_events(callback.run_dir)
    assert not _of(events, Predictions)
    assert isinstance(events[-1], RunFinished)


def test_evaluate_test_evaluates_the_test_set_at_the_end_of_fit(
        keras: Any, small_mnist: MnistData, tmp_path: Path) -> None:
    """`evaluate_test=True`: the app's order (evaluating, `Evaluated`, the end), Keras's own
    figures, and the confusion matrix and digits the summary screen shows."""
    from mnist_tui import MonitorCallback

    x_test, y_test = float_images(small_mnist.x_test[:1000]), small_mnist.y_test[:1000]
    keras.utils.set_random_seed(0)
    model = _dense_model(keras, (28, 28, 1))
    callback = MonitorCallback(runs_dir=tmp_path, test_data=(x_test, y_test), batch_size=100,
                               evaluate_test=True)
    model.fit(float_images(small_mnist.x_train[:1500]), small_mnist.y_train[:1500],
              batch_size=100, epochs=2, verbose=0, callbacks=[callback])
    events = read_events(callback.run_dir)
    phase, evaluated, finished = events[-3:]
    assert isinstance(phase, Phase) and phase.phase == "evaluating"
    assert isinstance(evaluated, Evaluated) and isinstance(finished, RunFinished)
    keras_figures = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert evaluated.test_accuracy == pytest.approx(keras_figures["accuracy"], rel=1e-6)
    assert evaluated.test_loss == pytest.approx(keras_figures["loss"], rel=1e-5)
    assert evaluated.test_samples == 1000
    confusion = np.array(evaluated.confusion)
    assert confusion.shape == (10, 10) and confusion.sum() == 1000
    assert confusion.sum(axis=1).tolist() == np.bincount(y_test, minlength=10).tolist()
    assert np.trace(confusion) / 1000 == pytest.approx(evaluated.test_accuracy, abs=1e-6)
    assert evaluated.samples and evaluated.samples[0].label == int(y_test[0])
    assert finished.summary["test_accuracy"] == evaluated.test_accuracy
    assert finished.summary["status"] == "finished"


def test_evaluate_test_needs_test_data(keras: Any) -> None:
    from mnist_tui import MonitorCallback

    with pytest.raises(ValueError, match=r"evaluate_test=True needs .* test_data="):
        MonitorCallback(evaluate_test=True)
