"""Live test predictions: the digits chosen for the strip, and the hook that predicts them."""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.event_json import event_from_json
from mnist_tui.core.events import (
    EpochEnd,
    Event,
    Predictions,
    RunFinished,
    RunStarted,
    ShownDigits,
    SystemLoad,
)
from mnist_tui.training import predictions as live_predictions
from mnist_tui.training import trainer as training
from mnist_tui.training.data import MnistData
from mnist_tui.training.predictions import (
    HARD_EVERY,
    SHOWN_DIGITS,
    PredictionHook,
    choose_digits,
    shown_images,
)
from tests.helpers.trainer_runs import collect_run, float_images


def _of(events: list[Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def _decoded(shown: ShownDigits) -> np.ndarray:
    return np.stack([shown.image(k) for k in range(len(shown.indices))])


# --- choosing the digits --------------------------------------------------------------------

def test_the_choice_is_fixed_covers_every_class_and_matches_the_test_set(small_mnist):
    x, y = small_mnist.x_test, small_mnist.y_test
    shown = choose_digits(x, y)
    again = choose_digits(x.copy(), y.copy())
    assert (again.indices, again.labels, again.pixels) == (shown.indices, shown.labels,
                                                           shown.pixels)
    assert len(shown.indices) == SHOWN_DIGITS == len(set(shown.indices))
    assert set(shown.labels) == set(range(10))
    assert list(shown.labels) == [int(y[i]) for i in shown.indices]
    np.testing.assert_array_equal(_decoded(shown), x[list(shown.indices)])
    # What an 80-column strip shows first already mixes the classes.
    assert len(set(shown.labels[:8])) == 8
    # Its JSON form comes back whole.
    assert event_from_json(shown.to_json()) == shown


def test_every_third_digit_is_an_atypical_one_of_its_class(small_mnist):
    """The hard ones are far from their class's mean shape: less like it than any typical one
    of the same class shown."""
    x, y = small_mnist.x_test, small_mnist.y_test
    shown = choose_digits(x, y)
    flat = x.reshape(len(x), -1).astype(np.float64)

    def likeness(i: int) -> float:
        mean = flat[y == y[i]].mean(axis=0)
        return float(flat[i] @ mean / (np.linalg.norm(flat[i]) * np.linalg.norm(mean)))

    hard = [k for k in range(len(shown.indices)) if k % HARD_EVERY == 1]
    assert 1 in hard and len(hard) >= 8  # one among the first 8
    for k in hard:
        same_class = [j for j in range(len(shown.indices))
                      if j % HARD_EVERY != 1 and shown.labels[j] == shown.labels[k]]
        assert all(likeness(shown.indices[k]) < likeness(shown.indices[j])
                   for j in same_class)


def test_floats_in_0_to_1_with_a_channel_axis_give_the_same_digits(small_mnist):
    x, y = small_mnist.x_test, small_mnist.y_test
    shown = choose_digits(x, y)
    as_floats = choose_digits(float_images(x), y.astype(np.int64))
    assert (as_floats.indices, as_floats.labels, as_floats.pixels) == (
        shown.indices, shown.labels, shown.pixels)
    with_channel = choose_digits(x[..., np.newaxis], y)
    assert with_channel.indices == shown.indices
    one_hot = choose_digits(x, np.eye(10, dtype=np.float32)[y])
    assert one_hot.indices == shown.indices and one_hot.labels == shown.labels


def test_small_test_sets_and_counts(small_mnist):
    x, y = small_mnist.x_test[:20], small_mnist.y_test[:20]
    everything = choose_digits(x, y)
    assert sorted(everything.indices) == list(range(20))
    few = choose_digits(small_mnist.x_test, small_mnist.y_test, count=5)
    assert len(few.indices) == 5 and len(set(few.labels)) == 5
    assert choose_digits(x, y, count=0).indices == ()
    only_ones = y == 1
    ones = choose_digits(x[only_ones], y[only_ones])
    assert set(ones.labels) == {1} and len(ones.indices) == int(only_ones.sum())


def test_images_that_are_not_28x28_are_refused():
    with pytest.raises(ValueError, match="28x28"):
        choose_digits(np.zeros((10, 32, 32), np.uint8), np.arange(10))
    with pytest.raises(ValueError, match="labels"):
        choose_digits(np.zeros((10, 28, 28), np.uint8), np.arange(9))


def test_shown_images_are_scaled_as_the_pipeline_scales(small_mnist):
    shown = choose_digits(small_mnist.x_test, small_mnist.y_test)
    images = shown_images(shown)
    assert images.shape == (SHOWN_DIGITS, 28, 28, 1) and images.dtype == np.float32
    np.testing.assert_array_equal(images, float_images(small_mnist.x_test[list(shown.indices)]))


# --- the hook, with a stand-in forward pass ------------------------------------------------

class _Clock:
    """A `FitProgress` stand-in: the step, the epoch and the seconds of training."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.step = 0
        self.epoch = 1

    def train_seconds(self) -> float:
        return self.seconds


MODEL = object()  # the model a fit trains (a stand-in: the forward pass is faked)


def _fit(clock: _Clock, step: int = 0, epoch: int = 1) -> Any:
    clock.step, clock.epoch = step, epoch
    return SimpleNamespace(model=MODEL, progress=clock)


def test_the_hook_predicts_at_once_then_every_interval_of_training(small_mnist, monkeypatch):
    shown = choose_digits(small_mnist.x_test, small_mnist.y_test, count=4)
    probs = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], np.float32)
    calls: list[int] = []

    def fake_forward(model: Any, inputs: np.ndarray) -> Any:
        assert inputs.shape == (4, 28, 28, 1)
        calls.append(1)
        return lambda: probs

    monkeypatch.setattr(live_predictions, "compiled_forward", fake_forward)
    events: list[Event] = []
    hook = PredictionHook(shown, events.append, interval=2.0)
    clock = _Clock()
    for step in range(1, 101):  # 100 executions, 0.5 s of training each
        hook.after_execution(_fit(clock, step))
        clock.seconds += 0.5
    steps = [e.step for e in events]
    assert steps == list(range(1, 101, 4))  # the first at once, then every 2 s
    assert len(calls) == 1, "traced once, for one model"
    assert events[0].predicted == (1, 0, 1, 0)
    assert events[0].confidence == pytest.approx((0.9, 0.8, 0.7, 0.6))
    # An epoch end always predicts, unless the weights are those just predicted with.
    hook.epoch_end(_fit(clock, 101, 1))
    hook.epoch_end(_fit(clock, 101, 1))
    assert [e.step for e in events[-2:]] == [97, 101]
    hook.after_execution(_fit(clock, 102, 2))  # the epoch end restarted the interval
    assert events[-1].step == 101


def test_a_slow_forward_pass_keeps_to_its_share_of_training(small_mnist, monkeypatch):
    """With a `share` (a script's callback), a forward pass of 0.125 s stretches the 2 s
    interval to 12.5 s: the strip takes 1% of the training time, whatever the backend."""
    shown = choose_digits(small_mnist.x_test, small_mnist.y_test, count=2)
    clock = SimpleNamespace(now=0.0)

    def slow_forward(model: Any, inputs: np.ndarray) -> Any:
        def run() -> np.ndarray:
            clock.now += 0.125  # what the pass takes, on the clock the hook reads
            return np.array([[0.1, 0.9], [0.8, 0.2]], np.float32)
        return run

    monkeypatch.setattr(live_predictions, "compiled_forward", slow_forward)
    monkeypatch.setattr(live_predictions.time, "perf_counter", lambda: clock.now)
    events: list[Event] = []
    hook = PredictionHook(shown, events.append, interval=2.0, share=0.01)
    training = _Clock()
    for step in range(1, 101):  # 100 executions, 0.5 s of training each
        hook.after_execution(_fit(training, step))
        training.seconds += 0.5
    assert [e.step for e in events] == [1, 26, 51, 76]  # every 12.5 s


def test_a_model_that_cannot_take_the_images_stops_the_hook_not_training(small_mnist,
                                                                         monkeypatch):
    def broken(model: Any, inputs: np.ndarray) -> Any:
        def run() -> np.ndarray:
            raise ValueError("expected shape (None, 784)")
        return run

    monkeypatch.setattr(live_predictions, "compiled_forward", broken)
    events: list[Event] = []
    hook = PredictionHook(choose_digits(small_mnist.x_test, small_mnist.y_test), events.append)
    hook.predict(object(), 1, 1)
    hook.predict(object(), 2, 1)
    assert events == [] and "784" in hook.failure


def test_prepare_traces_before_training_and_a_failure_stops_the_hook_there(small_mnist,
                                                                            monkeypatch):
    runs: list[str] = []

    def forward(model: Any, inputs: np.ndarray) -> Any:
        def run() -> np.ndarray:
            runs.append(model)
            if model == "broken":
                raise ValueError("expected shape (None, 784)")
            return np.full((len(inputs), 10), 0.1, np.float32)
        return run

    monkeypatch.setattr(live_predictions, "compiled_forward", forward)
    events: list[Event] = []
    shown = choose_digits(small_mnist.x_test, small_mnist.y_test, count=4)
    hook = PredictionHook(shown, events.append)
    hook.prepare("model")
    assert runs == ["model"] and events == [], "traced and run once, nothing reported"
    hook.predict("model", 1, 1)
    assert len(events) == 1 and hook.failure == ""
    broken = PredictionHook(shown, events.append)
    broken.prepare("broken")
    broken.predict("broken", 1, 1)
    assert "784" in broken.failure and len(events) == 1 and runs.count("broken") == 1


def test_logits_become_probabilities():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, 1.0]], np.float32)
    probs = live_predictions.as_probabilities(logits)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert list(probs.argmax(axis=1)) == [0, 1]
    softmax = np.array([[0.2, 0.8]], np.float32)
    np.testing.assert_array_equal(live_predictions.as_probabilities(softmax), softmax)


# --- real Keras ------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_run_predicts_its_shown_digits_better_as_it_trains(small_mnist: MnistData,
                                                             monkeypatch):
    monkeypatch.setattr(training, "PredictionHook",
                        functools.partial(PredictionHook, interval=0.05))
    config = TrainConfig(train_size=3000, epochs=2, seed=0)
    events, summary = collect_run(training.Trainer(data=small_mnist), config)
    assert isinstance(events[-1], RunFinished)
    [shown] = _of(events, ShownDigits)
    assert events.index(shown) > events.index(_of(events, RunStarted)[0])
    predictions = _of(events, Predictions)
    assert len(predictions) >= 4
    assert events.index(predictions[0]) > events.index(shown)
    steps = [p.step for p in predictions]
    assert steps == sorted(set(steps))
    epoch_ends = {e.step for e in _of(events, EpochEnd)}
    assert epoch_ends <= set(steps), "every epoch end has its predictions"
    right = [np.mean(np.array(p.predicted) == np.array(shown.labels)) for p in predictions]
    assert right[-1] >= right[0] and right[-1] >= 0.5, right
    assert all(0.0 < c <= 1.0 for p in predictions for c in p.confidence)
    assert summary["peak_memory"] > 0
    loads = _of(events, SystemLoad)
    assert len(loads) >= 2 and all(load.memory > 0 for load in loads)
    assert summary["peak_memory"] >= max(load.memory for load in loads)


@pytest.mark.slow
def test_predicting_leaves_a_seeded_run_bit_identical(small_mnist: MnistData, monkeypatch):
    """A forward pass after every execution draws no random numbers: with dropout on (a
    seeded random generator in the graph), the run's numbers and weights are exactly those of
    a run without predictions."""
    monkeypatch.setattr(training, "PredictionHook",
                        functools.partial(PredictionHook, interval=0.0))
    config = TrainConfig(train_size=2000, epochs=2, seed=5, dropout=0.3)
    runs = []
    for live in (True, False):
        trainer = training.Trainer(data=small_mnist, live=live)
        events, _ = collect_run(trainer, config)
        runs.append((events, trainer.model.get_weights()))
    (with_live, weights_live), (without, weights_plain) = runs
    assert len(_of(with_live, Predictions)) >= 4 and not _of(without, Predictions)

    def figures(events: list[Event]) -> list[tuple]:
        return [(e.loss, e.accuracy, e.val_loss, e.val_accuracy) for e in _of(events, EpochEnd)]

    assert figures(with_live) == figures(without)
    for a, b in zip(weights_live, weights_plain, strict=True):
        np.testing.assert_array_equal(a, b)
