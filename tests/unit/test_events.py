"""Events: every type survives a trip through its JSON line; bad lines are a ValueError."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.event_json import event_from_dict, event_from_json
from mnist_tui.core.events import (
    EVENT_TYPES,
    TERMINAL_TYPES,
    BatchBlock,
    BatchEnd,
    Checkpointed,
    DigitSample,
    EpochEnd,
    Evaluated,
    Event,
    LearningRateChanged,
    Phase,
    Predictions,
    RunFailed,
    RunFinished,
    RunResumed,
    RunStarted,
    RunStopped,
    ShownDigits,
    SliceValidated,
    StorageProblem,
    SystemLoad,
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
    BatchBlock(step=900, epoch=2, batch=103, loss=0.4, accuracy=0.88, batch_loss=0.35,
               batch_accuracy=0.9, seen=57_600, elapsed=18.25, count=500, batch_loss_min=0.1,
               batch_loss_max=0.7, batch_loss_last=0.3, batch_accuracy_min=0.8,
               batch_accuracy_max=1.0, batch_accuracy_last=0.91, time=3.0),
    BatchBlock(step=40, epoch=1, batch=40, loss=1.9, accuracy=None, batch_loss=1.8,
               batch_accuracy=None, seen=2_560, elapsed=0.5, count=16, batch_loss_min=1.5,
               batch_loss_max=2.2, batch_loss_last=1.6),
    EpochEnd(epoch=1, step=797, loss=0.31, accuracy=0.9, val_loss=0.1, val_accuracy=0.97,
             seconds=14.2),
    EpochEnd(epoch=2, step=1594, loss=0.2, accuracy=None, val_loss=None, val_accuracy=None,
             seconds=13.0),
    SliceValidated(epoch=1, batch=16, batches_per_epoch=80, step=16, point=1, points=4,
                   val_loss=1.2, val_accuracy=0.61, slice_size=900, seconds=0.04),
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
    StorageProblem(path="/runs/20250101-120000-abcd/events.jsonl",
                   message="cannot write the run log: the disk is full", time=9.0),
    Checkpointed(epoch=2, batch=13, step=810, seconds=0.004),
    RunResumed(step=810, epoch=2, batch=13, seen=51_832, elapsed=16.5, epochs=3,
               total_batches=2391, batches_per_epoch=797),
    ShownDigits(indices=(0, 42), labels=(7, 4),
                pixels=tuple(sample.pixels for sample in SAMPLES)),
    Predictions(step=160, epoch=1, predicted=(7, 9), confidence=(0.99, 0.51)),
    LearningRateChanged(step=320, epoch=1, previous=0.01, rate=0.002),
    LearningRateChanged(step=797, epoch=1, previous=0.002, rate=0.001, by="plateau"),
    SystemLoad(process_cpu=187.5, machine_cpu=96.0, cpus=2, memory=812_000_000,
               peak_memory=901_000_000),
    SystemLoad(process_cpu=12.0, machine_cpu=9.5, cpus=16, memory=2_000_000_000,
               peak_memory=2_100_000_000, gpu_utilization=88.0, gpu_memory=3_000_000_000,
               gpu_memory_total=80_000_000_000),
]


def test_shown_digits_give_back_their_images() -> None:
    shown = next(e for e in EVENTS if isinstance(e, ShownDigits))
    assert np.array_equal(shown.image(1), SAMPLES[1].image())


@pytest.mark.parametrize("line", [
    '{"type":"batch_block","step":9,"epoch":1,"batch":9,"loss":1,"accuracy":null,'
    '"batch_loss":1,"batch_accuracy":null,"seen":9,"elapsed":1,"count":"8",'
    '"batch_loss_min":1,"batch_loss_max":1,"batch_loss_last":1}',
    '{"type":"batch_block","step":9,"epoch":1,"batch":9,"loss":1,"accuracy":null,'
    '"batch_loss":1,"batch_accuracy":null,"seen":9,"elapsed":1,"batch_loss_min":1,'
    '"batch_loss_max":1,"batch_loss_last":1}',
    '{"type":"predictions","step":1,"epoch":1,"predicted":[1,2],"confidence":[0.5]}',
    '{"type":"predictions","step":1,"epoch":1,"predicted":["7"],"confidence":[0.5]}',
    '{"type":"shown_digits","indices":[1],"labels":[1,2],"pixels":["AA=="]}',
])
def test_garbled_live_events_are_refused(line: str) -> None:
    with pytest.raises(ValueError, match="bad"):
        event_from_json(line)


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
        BatchBlock: "batch_block",
        EpochEnd: "epoch_end",
        SliceValidated: "slice_validated",
        Evaluated: "evaluated",
        RunFinished: "run_finished",
        RunStopped: "run_stopped",
        RunFailed: "run_failed",
        StorageProblem: "storage_problem",
        Checkpointed: "checkpointed",
        RunResumed: "run_resumed",
        ShownDigits: "shown_digits",
        Predictions: "predictions",
        LearningRateChanged: "learning_rate_changed",
        SystemLoad: "system_load",
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


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def strict_loads(text: str) -> object:
    """`json.loads` as JavaScript's JSON.parse would: NaN and Infinity are refused."""
    return json.loads(text, parse_constant=_no_constants)


def test_nan_loss_is_strict_json_and_survives_as_nan() -> None:
    """A diverged run logs NaN losses: written as null and named, they come back as NaN."""
    event = BatchEnd(step=3, epoch=1, batch=3, loss=float("nan"), accuracy=0.1,
                     batch_loss=float("nan"), batch_accuracy=0.1, seen=192, elapsed=0.2,
                     time=5.0)
    line = event.to_json()
    data = strict_loads(line)
    assert isinstance(data, dict)
    assert data["loss"] is None and data["batch_loss"] is None
    assert data["nonfinite"] == {"loss": "NaN", "batch_loss": "NaN"}
    back = event_from_json(line)
    assert isinstance(back, BatchEnd)
    assert math.isnan(back.loss) and math.isnan(back.batch_loss)
    assert (back.step, back.accuracy, back.seen, back.time) == (3, 0.1, 192, 5.0)


def test_infinite_loss_survives() -> None:
    event = EpochEnd(epoch=1, step=10, loss=float("inf"), accuracy=0.1, val_loss=float("-inf"),
                     val_accuracy=None, seconds=1.0)
    line = event.to_json()
    assert strict_loads(line)["nonfinite"] == {  # type: ignore[index]
        "loss": "Infinity", "val_loss": "-Infinity"}
    back = event_from_json(line)
    assert back == event
    assert back.val_accuracy is None  # missing stays missing: only named values are restored


def test_a_nan_in_a_summary_is_named_there_and_restored() -> None:
    event = RunFailed(error="the loss became nan", summary={
        "status": "failed", "train_loss": float("nan"), "val_loss": None,
        "metrics": {"loss": float("inf")}})
    data = strict_loads(event.to_json())
    assert isinstance(data, dict)
    assert data["summary"]["nonfinite"] == {"train_loss": "NaN"}
    assert data["summary"]["metrics"] == {"loss": None, "nonfinite": {"loss": "Infinity"}}
    back = event_from_json(event.to_json())
    assert isinstance(back, RunFailed)
    assert math.isnan(back.summary["train_loss"]) and back.summary["val_loss"] is None
    assert back.summary["metrics"] == {"loss": math.inf}
    assert "nonfinite" not in back.summary


def test_lines_written_before_strict_json_still_read() -> None:
    """Logs of earlier versions hold NaN and Infinity literals, which Python's json reads."""
    old = ('{"type":"batch_end","time":5.0,"step":3,"epoch":1,"batch":3,"loss":NaN,'
           '"accuracy":0.1,"batch_loss":NaN,"batch_accuracy":0.1,"seen":192,"elapsed":0.2}')
    back = event_from_json(old)
    assert isinstance(back, BatchEnd)
    assert math.isnan(back.loss) and math.isnan(back.batch_loss) and back.seen == 192
    old_epoch = ('{"type":"epoch_end","time":6.0,"epoch":1,"step":3,"loss":Infinity,'
                 '"accuracy":0.1,"val_loss":-Infinity,"val_accuracy":null,"seconds":1.0}')
    assert event_from_json(old_epoch) == EpochEnd(
        epoch=1, step=3, loss=math.inf, accuracy=0.1, val_loss=-math.inf, val_accuracy=None,
        seconds=1.0, time=6.0)


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
    # Whole JSON objects whose fields are of the wrong kind: garbage a screen would trip on.
    ('{"type":"batch_end","step":"3","epoch":1,"batch":3,"loss":0.5,"accuracy":0.1,'
     '"batch_loss":0.5,"batch_accuracy":0.1,"seen":192,"elapsed":0.2}', "bad batch_end event"),
    ('{"type":"epoch_end","epoch":1,"step":3,"loss":"low","accuracy":0.1,"val_loss":null,'
     '"val_accuracy":null,"seconds":1.0}', "bad epoch_end event"),
    ('{"type":"phase","phase":"training","message":7}', "bad phase event"),
    ('{"type":"evaluated","test_loss":0.1,"test_accuracy":0.9,"test_samples":1,'
     '"confusion":[[1,2]],"per_class_accuracy":[]}', "bad evaluated event"),
    ('{"type":"evaluated","test_loss":0.1,"test_accuracy":0.9,"test_samples":1,'
     '"confusion":[],"per_class_accuracy":[],"samples":[{"index":0,"label":1,"predicted":1,'
     '"confidence":0.5,"pixels":"AA=="}]}', "bad evaluated event"),
    ('{"type":"run_finished","summary":[1,2]}', "bad run_finished event"),
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
