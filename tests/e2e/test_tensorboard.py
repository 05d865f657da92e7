"""`--tensorboard`: a real run leaves TensorBoard event files whose scalars read back.

The files are read with TensorFlow's own reader (`tf.compat.v1.train.summary_iterator`), as
TensorBoard reads them; the runs train on 1,000 images of the real MNIST.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import BatchEnd, EpochEnd, Evaluated, Event, StorageProblem
from mnist_tui.training.data import MnistData
from mnist_tui.training.tensorboard_log import TENSORBOARD_DIR
from mnist_tui.training.trainer import Trainer

pytestmark = pytest.mark.slow

CONFIG = TrainConfig(train_size=1000, epochs=2, seed=0, lr_schedule="cosine", tensorboard=True)


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files of `folder`: tag → [(step, value)] in file order."""
    import tensorflow as tf

    scalars: dict[str, list[tuple[int, float]]] = defaultdict(list)
    files = sorted(folder.glob("events.out.tfevents.*"))
    assert files, f"no event file in {folder}"
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                scalars[value.tag].append((event.step, value.simple_value))
    return dict(scalars)


def same(logged: list[tuple[int, float]], expected: list[tuple[int, float | None]]) -> bool:
    """Whether the logged (step, value) pairs are the expected ones (values as float32)."""
    return [step for step, _ in logged] == [step for step, _ in expected] and [
        value for _, value in logged] == pytest.approx([value for _, value in expected],
                                                       rel=1e-6)


def test_a_run_with_tensorboard_logs_its_scalars(tmp_path: Path, small_mnist: MnistData) -> None:
    events: list[Event] = []
    summary = Trainer(data=small_mnist, run_dir=tmp_path).run(CONFIG, events.append)
    assert summary["status"] == "finished"
    logs = tmp_path / TENSORBOARD_DIR
    train, validation, test = (read_scalars(logs / name)
                               for name in ("train", "validation", "test"))
    batches = [e for e in events if isinstance(e, BatchEnd)]
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    evaluated = next(e for e in events if isinstance(e, Evaluated))
    assert set(train) == {"batch_loss", "batch_accuracy", "epoch_loss", "epoch_accuracy",
                          "epoch_learning_rate"}
    assert len(batches) == 28
    assert same(train["batch_loss"], [(e.step, e.batch_loss) for e in batches])
    assert same(train["batch_accuracy"], [(e.step, e.batch_accuracy) for e in batches])
    assert same(train["epoch_loss"], [(e.epoch, e.loss) for e in epochs])
    assert same(train["epoch_accuracy"], [(e.epoch, e.accuracy) for e in epochs])
    assert same(train["epoch_learning_rate"], [(1, 0.01), (2, 0.005)]), (
        "cosine: halfway down when epoch 2 begins")
    assert set(validation) == {"epoch_loss", "epoch_accuracy"}
    assert same(validation["epoch_loss"], [(e.epoch, e.val_loss) for e in epochs])
    assert same(validation["epoch_accuracy"], [(e.epoch, e.val_accuracy) for e in epochs])
    assert set(test) == {"epoch_loss", "epoch_accuracy"}
    assert same(test["epoch_loss"], [(2, evaluated.test_loss)])
    assert same(test["epoch_accuracy"], [(2, evaluated.test_accuracy)])


def test_without_the_setting_there_is_no_log(tmp_path: Path, small_mnist: MnistData) -> None:
    config = TrainConfig(train_size=1000, epochs=1, seed=0)
    assert Trainer(data=small_mnist, run_dir=tmp_path).run(config, lambda e: None)[
        "status"] == "finished"
    assert not (tmp_path / TENSORBOARD_DIR).exists()


def test_a_log_that_cannot_be_written_is_said_once_and_the_run_goes_on(
        tmp_path: Path, small_mnist: MnistData) -> None:
    (tmp_path / TENSORBOARD_DIR).write_text("a file where the folder would go")
    events: list[Event] = []
    config = TrainConfig(train_size=1000, epochs=1, seed=0, tensorboard=True)
    summary = Trainer(data=small_mnist, run_dir=tmp_path).run(config, events.append)
    assert summary["status"] == "finished"
    problems = [e for e in events if isinstance(e, StorageProblem)]
    assert len(problems) == 1
    assert problems[0].message.startswith(
        f"cannot write the TensorBoard log {tmp_path / TENSORBOARD_DIR / 'train'}: ")
    assert problems[0].message.endswith("training goes on without it")
