"""The trainer with real Keras on a small slice of the real MNIST."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import (
    BatchEnd,
    EpochEnd,
    Evaluated,
    Event,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
)
from mnist_tui.training.data import MnistData
from mnist_tui.training.trainer import STEPS_PER_EXECUTION, Trainer, evaluate_predictions
from tests.helpers.trainer_runs import collect_run, float_images

pytestmark = pytest.mark.slow


def _of(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_trainer_reports_what_plain_fit_computes(small_mnist):
    """The monitor does not change the training: same seed, same metrics as a bare fit.

    The bare fit is the seed's plain script: float NumPy arrays, one batch per execution. The
    trainer feeds uint8 images scaled in its dataset, in the order Keras draws for arrays, and
    runs STEPS_PER_EXECUTION batches per execution; the numbers must not move.
    """
    import keras

    from mnist_tui.training.model import build_model

    config = TrainConfig(train_size=2000, epochs=2, seed=3)
    trainer = Trainer(data=small_mnist)
    events, summary = collect_run(trainer, config)

    keras.utils.set_random_seed(3)
    model = build_model(config)
    x = float_images(small_mnist.x_train[:2000])
    y = small_mnist.y_train[:2000].astype(np.int32)
    history = model.fit(x, y, batch_size=64, epochs=2, validation_split=0.15, shuffle=True,
                        verbose=0).history
    epochs = _of(events, EpochEnd)
    assert [e.loss for e in epochs] == pytest.approx(history["loss"], rel=1e-6)
    assert [e.accuracy for e in epochs] == pytest.approx(history["accuracy"], rel=1e-6)
    assert [e.val_loss for e in epochs] == pytest.approx(history["val_loss"], rel=1e-6)
    assert [e.val_accuracy for e in epochs] == pytest.approx(history["val_accuracy"], rel=1e-6)
    test_loss, test_acc = model.evaluate(float_images(small_mnist.x_test),
                                         small_mnist.y_test.astype(np.int32), verbose=0)
    evaluated = _of(events, Evaluated)[0]
    assert evaluated.test_accuracy == pytest.approx(test_acc, abs=1e-3)
    assert evaluated.test_loss == pytest.approx(test_loss, rel=1e-3)
    assert summary["status"] == "finished"
    assert summary["val_accuracy"] == pytest.approx(history["val_accuracy"][-1], rel=1e-6)


def test_event_sequence_and_batch_counts(small_mnist):
    config = TrainConfig(train_size=1000, epochs=2, batch_size=100, seed=1)
    events, summary = collect_run(Trainer(data=small_mnist), config)
    started = _of(events, RunStarted)[0]
    batches = _of(events, BatchEnd)
    assert started.total_batches == 18 == len(batches)  # ceil(850 / 100) = 9 per epoch
    assert [b.step for b in batches] == list(range(1, 19))
    assert [b.batch for b in batches[:9]] == list(range(1, 10))
    assert batches[-1].seen == 2 * 850
    assert batches[8].seen == 850  # the last batch of an epoch holds the 50 left over
    assert [type(e).__name__ for e in events[-3:]] == ["Phase", "Evaluated", "RunFinished"]
    assert summary["epochs_completed"] == 2 and summary["params"] == 33_194
    # Keras reports running means; the batch's own values average back to them.
    first_epoch = batches[:9]
    sizes = [100] * 8 + [50]
    mean = sum(b.batch_loss * n for b, n in zip(first_epoch, sizes, strict=True)) / 850
    assert mean == pytest.approx(first_epoch[-1].loss, rel=1e-4)


def test_stop_ends_after_the_execution_and_still_evaluates(small_mnist):
    control = RunControl()

    def hook(event: Event) -> None:
        if isinstance(event, BatchEnd) and event.step == 5:
            control.stop("stopped by test")

    config = TrainConfig(train_size=3000, epochs=3, seed=2)
    events, summary = collect_run(Trainer(data=small_mnist), config, control, hook)
    # The stop takes effect when the execution holding batch 5 ends; its batches are reported.
    assert len(_of(events, BatchEnd)) == STEPS_PER_EXECUTION
    assert _of(events, Evaluated), "a stopped run is still evaluated on the test set"
    assert isinstance(events[-1], RunStopped) and events[-1].reason == "stopped by test"
    assert summary["status"] == "stopped" and summary["stopped_early"] is True
    assert summary["epochs_completed"] == 0
    assert summary["test_accuracy"] is not None


@pytest.mark.parametrize("steps_per_execution", [1, 8])
def test_pause_holds_the_training_thread_until_resumed(small_mnist, steps_per_execution):
    """Also inside an execution of several batches: the next reports wait for the resume."""
    control = RunControl()
    seen_during_pause: list[int] = []
    batches: list[int] = []

    def release() -> None:
        before = len(batches)
        time.sleep(0.5)
        seen_during_pause.append(len(batches) - before)
        control.resume()

    def hook(event: Event) -> None:
        if isinstance(event, BatchEnd):
            batches.append(event.step)
            if event.step == 3:
                control.pause()
                threading.Thread(target=release).start()

    config = TrainConfig(train_size=1000, seed=4)
    trainer = Trainer(data=small_mnist, steps_per_execution=steps_per_execution)
    events, _ = collect_run(trainer, config, control, hook)
    assert seen_during_pause == [0]
    assert batches == list(range(1, config.total_batches + 1))
    assert control.paused_seconds >= 0.4
    assert isinstance(events[-1], RunFinished)


def test_nan_loss_fails_the_run_with_a_reason(small_mnist, monkeypatch):
    import keras

    import mnist_tui.training.run_model as model_module  # the name the trainer calls

    def exploding(config: TrainConfig, **kwargs):
        model = real_build(config, **kwargs)
        # An absurd step size blows the weights up to inf after one update: the loss is NaN.
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e38),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    real_build = model_module.build_model
    monkeypatch.setattr(model_module, "build_model", exploding)
    config = TrainConfig(train_size=1000, epochs=3, seed=5)
    events, summary = collect_run(Trainer(data=small_mnist), config)
    assert isinstance(events[-1], RunFailed)
    assert "nan" in events[-1].error.lower() and "learning rate" in events[-1].error
    batches = _of(events, BatchEnd)
    assert len(batches) < config.batches_per_epoch, "training stops at the first NaN batch"
    assert not np.isfinite(batches[-1].loss)
    assert all(np.isfinite(b.loss) for b in batches[:-1])
    assert not _of(events, Evaluated)
    assert summary["status"] == "failed"


def test_an_exception_becomes_run_failed(small_mnist):
    bad = MnistData(small_mnist.x_train[:150], small_mnist.y_train[:150], small_mnist.x_test,
                    small_mnist.y_test, source="too small")
    events, summary = collect_run(Trainer(data=bad), TrainConfig(train_size=3000))
    assert isinstance(events[-1], RunFailed)
    assert summary["status"] == "failed" and events[-1].error


def test_evaluate_predictions_confusion_and_samples():
    rng = np.random.default_rng(0)
    y = np.arange(40) % 10
    probs = np.full((40, 10), 0.01)
    predicted = y.copy()
    predicted[[3, 17, 25]] = (y[[3, 17, 25]] + 1) % 10
    probs[np.arange(40), predicted] = 0.91
    images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    evaluated = evaluate_predictions(probs, y, images)
    assert evaluated.test_accuracy == pytest.approx(37 / 40)
    confusion = np.array(evaluated.confusion)
    assert confusion.sum() == 40 and np.trace(confusion) == 37
    assert confusion[3, 4] == 1 and confusion[7, 8] == 1 and confusion[5, 6] == 1
    assert evaluated.per_class_accuracy[3] == pytest.approx(3 / 4)
    wrong = [s.index for s in evaluated.samples if not s.correct]
    assert wrong == [3, 17, 25]
    assert np.array_equal(evaluated.samples[0].image(), images[0])
    expected_loss = -(37 * np.log(0.91) + 3 * np.log(0.01)) / 40
    assert evaluated.test_loss == pytest.approx(expected_loss)
