"""Events: every type survives a trip through its JSON line; bad lines are a ValueError."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mnist_tui.config import TrainConfig
from mnist_tui.events import (
    EVENT_TYPES,
    TERMINAL_TYPES,
    BatchEnd,
    DigitSample,
    EpochEnd,
    Evaluated,
    Event,
    Phase,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
    event_from_dict,
    event_from_json,
)


def digit_image(seed: int) -> np.ndarray:
    """A generated 28x28 uint8 image using the whole 0..255 range."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)
    image[0, 0], image[27, 27] = 0, 255
    return image


def confusion_matrix() -> tuple[tuple[int, ...], ...]:
    rng = np.random.default_rng(3)
    matrix = rng.integers(0, 5, size=(10, 10)) + np.eye(10, dtype=int) * 980
    return tuple(tuple(int(v) for v in row) for row in matrix)


SAMPLES = (
    DigitSample.from_image(index=0, label=7, predicted=7, confidence=0.99, image=digit_image(0)),
    DigitSample.from_image(index=42, label=4, predicted=9, confidence=0.51, image=digit_image(1)),
)

SUMMARY = {"run_id": "20250101-120000-abcd", "status": "finished", "test_accuracy": 0.98,
           "epochs_completed": 1, "val_accuracy": None, "history": [0.5, 0.25]}

EVENTS: list[Event] = [
    Phase(phase="loading_data", message="loading MNIST", time=1.5),
    RunStarted(run_id="20250101-120000-abcd", config=TrainConfig(seed=3).to_dict(),
               total_batches=797, batches_per_epoch=797, epochs=1, train_samples=51_000,
               val_samples=9_000, test_samples=10_000, params=33_194, data_source="mnist.npz",
               strategy="default", devices=("CPU:0", "GPU:0"), time=2.0),
    BatchEnd(step=1, epoch=1, batch=1, loss=2.31, accuracy=0.09, batch_loss=2.31,
             batch_accuracy=0.09, seen=64, elapsed=0.05, time=2.1),
    BatchEnd(step=2, epoch=1, batch=2, loss=2.2, accuracy=None, batch_loss=2.09,
             batch_accuracy=None, seen=128, elapsed=0.1),
    EpochEnd(epoch=1, step=797, loss=0.31, accuracy=0.9, val_loss=0.1, val_accuracy=0.97,
             seconds=14.2),
    EpochEnd(epoch=2, step=1594, loss=0.2, accuracy=None, val_loss=None, val_accuracy=None,
             seconds=13.0),
    Evaluated(test_loss=0.07, test_accuracy=0.979, test_samples=10_000,
              confusion=confusion_matrix(), per_class_accuracy=tuple(0.9 + i / 100
                                                                     for i in range(10)),
              samples=SAMPLES, seconds=1.25),
    Evaluated(test_loss=0.07, test_accuracy=0.979, test_samples=10, confusion=(),
              per_class_accuracy=()),
    RunFinished(summary=SUMMARY),
    RunStopped(reason="stopped by user", summary=SUMMARY),
    RunStopped(reason="interrupted (Ctrl+C)"),
    RunFailed(error="the loss became NaN at step 12", detail="Traceback ...\n  line 2",
              summary={"status": "failed"}),
    RunFailed(error="out of memory"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_json_round_trip(event: Event) -> None:
    line = event.to_json()
    assert "\n" not in line
    back = event_from_json(line)
    assert type(back) is type(event)
    assert back == event
    assert event_from_dict(event.to_dict()) == event


def test_every_type_is_covered_by_the_round_trip() -> None:
    assert {type(e) for e in EVENTS} == set(EVENT_TYPES.values())


def test_type_names() -> None:
    expected = {
        Phase: "phase",
        RunStarted: "run_started",
        BatchEnd: "batch_end",
        EpochEnd: "epoch_end",
        Evaluated: "evaluated",
        RunFinished: "run_finished",
        RunStopped: "run_stopped",
        RunFailed: "run_failed",
    }
    for cls, name in expected.items():
        assert name == cls.TYPE
        assert EVENT_TYPES[name] is cls
    for event in EVENTS:
        assert json.loads(event.to_json())["type"] == expected[type(event)]
    assert set(TERMINAL_TYPES) == {RunFinished, RunStopped, RunFailed}


def test_time_defaults_to_now() -> None:
    event = Phase(phase="training", message="")
    assert event.time > 1_600_000_000


def test_digit_sample_gives_back_its_pixels() -> None:
    image = digit_image(5)
    sample = DigitSample.from_image(index=3, label=1, predicted=2, confidence=0.4, image=image)
    assert sample.image().dtype == np.uint8
    assert sample.image().shape == (28, 28)
    np.testing.assert_array_equal(sample.image(), image)
    assert not sample.correct
    back = event_from_json(Evaluated(test_loss=0.1, test_accuracy=0.9, test_samples=1,
                                     confusion=(), per_class_accuracy=(),
                                     samples=(sample,)).to_json())
    assert isinstance(back, Evaluated)
    np.testing.assert_array_equal(back.samples[0].image(), image)


def test_digit_sample_from_float_image() -> None:
    image = np.zeros((28, 28), dtype=np.float32)
    image[5, 6] = 1.0
    image[7, 8] = 0.5
    sample = DigitSample.from_image(index=0, label=3, predicted=3, confidence=1.0,
                                    image=image.reshape(28, 28, 1))
    pixels = sample.image()
    assert pixels[5, 6] == 255
    assert pixels[7, 8] == 128
    assert pixels.sum() == 255 + 128
    assert sample.correct


def test_nan_loss_survives_as_nan() -> None:
    """A diverged run logs NaN losses; they must come back as NaN, not fail or turn into null."""
    event = BatchEnd(step=3, epoch=1, batch=3, loss=float("nan"), accuracy=0.1,
                     batch_loss=float("nan"), batch_accuracy=0.1, seen=192, elapsed=0.2,
                     time=5.0)
    line = event.to_json()
    assert '"loss":NaN' in line
    back = event_from_json(line)
    assert isinstance(back, BatchEnd)
    assert math.isnan(back.loss) and math.isnan(back.batch_loss)
    assert (back.step, back.accuracy, back.seen, back.time) == (3, 0.1, 192, 5.0)


def test_infinite_loss_survives() -> None:
    event = EpochEnd(epoch=1, step=10, loss=float("inf"), accuracy=0.1, val_loss=float("-inf"),
                     val_accuracy=None, seconds=1.0)
    back = event_from_json(event.to_json())
    assert back == event


@pytest.mark.parametrize(("line", "phrase"), [
    ('{"type":"no_such_event","time":1}', "unknown event type 'no_such_event'"),
    ('{"time":1}', "unknown event type None"),
    ('{"type":["batch_end"]}', "unknown event type"),
    ('{"type":7}', "unknown event type"),
    ("not json at all", "not a JSON event line"),
    ('{"type":"phase","phase":"training"', "not a JSON event line"),
    ("", "not a JSON event line"),
    ("[1, 2, 3]", "must be a JSON object, got list"),
    ('"batch_end"', "must be a JSON object, got str"),
    ("null", "must be a JSON object"),
    ("NaN", "must be a JSON object, got float"),
    ('{"type":"batch_end","step":1}', "bad batch_end event"),
    ('{"type":"evaluated","test_loss":0.1,"test_accuracy":0.9,"test_samples":1,'
     '"confusion":[],"per_class_accuracy":[],"samples":[1]}', "bad evaluated event"),
    ('{"type":"evaluated","test_loss":0.1,"test_accuracy":0.9,"test_samples":1,'
     '"confusion":[],"per_class_accuracy":[],"samples":[{"pixels":"AA=="}]}',
     "bad evaluated event"),
    ('{"type":"evaluated","test_loss":0.1,"test_accuracy":0.9,"test_samples":1,'
     '"confusion":[],"per_class_accuracy":[],"samples":5}', "bad evaluated event"),
])
def test_bad_lines_are_value_errors(line: str, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase.replace("[", r"\[")):
        event_from_json(line)


@pytest.mark.parametrize("data", [None, 3, "x", ["type", "phase"]])
def test_event_from_dict_needs_a_dict(data: object) -> None:
    with pytest.raises(ValueError, match="must be a JSON object"):
        event_from_dict(data)  # type: ignore[arg-type]


def test_unknown_keys_are_ignored() -> None:
    """A newer writer may add fields; an older reader still reads the event."""
    line = '{"type":"phase","phase":"training","message":"go","time":1.0,"added_later":true}'
    assert event_from_json(line) == Phase(phase="training", message="go", time=1.0)
