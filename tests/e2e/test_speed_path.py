"""The fast training path: the uint8 input pipeline, several batches per execution with every
batch still reported, and results of the same kind as the seed's plain NumPy `fit`."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import BatchEnd, EpochEnd, Evaluated, Event, RunFailed, RunStopped
from mnist_tui.training.keras_runtime import import_keras
from mnist_tui.training.pipeline import eval_dataset, make_datasets, train_dataset
from mnist_tui.training.trainer import Trainer
from tests.helpers.trainer_runs import collect_run, float_images

pytestmark = pytest.mark.slow
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _batches(events: list[Event]) -> list[BatchEnd]:
    return [e for e in events if isinstance(e, BatchEnd)]


def _labels(dataset) -> np.ndarray:
    return np.concatenate([y.numpy() for _, y in dataset])


def test_pipeline_scales_in_the_graph_as_the_seed_does(small_mnist):
    images = small_mnist.x_test[:300]
    batches = [x.numpy() for x in eval_dataset(images, batch_size=128)]
    assert [b.shape for b in batches] == [(128, 28, 28, 1), (128, 28, 28, 1), (44, 28, 28, 1)]
    assert batches[0].dtype == np.float32
    np.testing.assert_array_equal(np.concatenate(batches), float_images(images))


@pytest.mark.parametrize("keras_order", [True, False], ids=["keras-order", "tf.data-shuffle"])
def test_training_data_is_every_image_once_per_epoch(keras_order):
    import tensorflow as tf

    keras = import_keras()
    images = np.zeros((300, 28, 28), dtype=np.uint8)

    def epochs(count: int, seed: int | None) -> list[np.ndarray]:
        if seed is None:
            tf.random.set_seed(None)
        else:
            keras.utils.set_random_seed(seed)
        dataset = train_dataset(images, np.arange(300), 64, keras_order=keras_order)
        orders = []
        for _ in range(count):  # each pass over the dataset is one epoch
            batches = [y.numpy() for _, y in dataset]
            assert [len(y) for y in batches] == [64, 64, 64, 64, 44]
            assert batches[0].dtype == np.int32
            orders.append(np.concatenate(batches))
        return orders

    first, second = epochs(2, seed=7)
    assert sorted(first) == list(range(300)) == sorted(second)
    assert list(first) != list(range(300)), "shuffled"
    assert list(epochs(1, seed=7)[0]) == list(first), "the same seed, the same order"
    # Keras's own order for arrays, under a global seed, repeats its permutation every epoch
    # (so does a plain `fit`, which the trainer matches); tf.data's shuffle draws a new one.
    assert (list(first) == list(second)) is keras_order
    unseeded = epochs(2, seed=None)
    assert list(unseeded[0]) != list(unseeded[1]), "without a seed, a new order every epoch"


def test_datasets_hold_out_the_end_and_run_without_the_autotuner(small_mnist):
    # The autotuner's thread made `fit` return seconds after its last callback.
    config = TrainConfig(train_size=1000, batch_size=100)
    train, val = make_datasets(config, small_mnist)
    assert list(_labels(val)) == list(small_mnist.y_train[850:1000])
    assert sorted(_labels(train)) == sorted(small_mnist.y_train[:850])
    assert train.options().autotune.enabled is False
    assert val.options().autotune.enabled is False


def test_every_batch_is_reported_under_steps_per_execution(small_mnist):
    """Four batches per execution report exactly what one batch per execution reports."""
    config = TrainConfig(train_size=1000, epochs=2, batch_size=100, seed=1)
    fast, summary = collect_run(Trainer(data=small_mnist, steps_per_execution=4), config)
    slow, _ = collect_run(Trainer(data=small_mnist, steps_per_execution=1), config)
    batches = _batches(fast)
    assert [b.step for b in batches] == list(range(1, 19))
    assert [b.batch for b in batches] == list(range(1, 10)) * 2
    assert [b.seen for b in batches][8::9] == [850, 1700]
    for got, want in zip(batches, _batches(slow), strict=True):
        assert (got.step, got.epoch, got.batch, got.seen) == (want.step, want.epoch,
                                                              want.batch, want.seen)
        assert got.loss == pytest.approx(want.loss, rel=1e-6)
        assert got.accuracy == pytest.approx(want.accuracy, rel=1e-6)
        assert got.batch_loss == pytest.approx(want.batch_loss, rel=1e-5)
    epochs = [e for e in fast if isinstance(e, EpochEnd)]
    assert [batches[8].loss, batches[17].loss] == pytest.approx([e.loss for e in epochs])
    assert summary["status"] == "finished" and summary["batches"] == 18


def test_without_a_recorder_the_bridge_reports_one_event_per_execution():
    """Under a distribution strategy: one BatchEnd per execution, counts still true."""
    import_keras()
    from mnist_tui.training.bridge import BridgeCallback

    config = TrainConfig(train_size=1000, batch_size=100)  # 850 images: 9 batches
    events: list[Event] = []
    bridge = BridgeCallback(config, events.append, RunControl())
    bridge.set_model(SimpleNamespace(stop_training=False))
    bridge.on_train_begin()
    bridge.on_epoch_begin(0)
    # Keras passes each execution's first step + 3, even past the epoch's last batch.
    for batch, loss in ((3, 2.0), (7, 1.5), (11, 1.4)):
        bridge.on_train_batch_end(batch, {"loss": loss, "accuracy": 0.5})
    batches = _batches(events)
    assert [(b.step, b.batch, b.seen) for b in batches] == [(4, 4, 400), (8, 8, 800),
                                                            (9, 9, 850)]
    assert batches[1].batch_loss == pytest.approx((1.5 * 800 - 2.0 * 400) / 400)
    assert batches[2].batch_loss == pytest.approx((1.4 * 850 - 1.5 * 800) / 50)


def test_a_stop_ends_the_execution_and_reports_its_batches(small_mnist):
    control = RunControl()

    def hook(event: Event) -> None:
        if isinstance(event, BatchEnd) and event.step == 5:
            control.stop("stopped by test")

    config = TrainConfig(train_size=3000, epochs=2, seed=2)
    events, summary = collect_run(Trainer(data=small_mnist, steps_per_execution=4), config, control,
                           hook)
    assert [b.step for b in _batches(events)] == list(range(1, 9))
    assert any(isinstance(e, Evaluated) for e in events)
    assert isinstance(events[-1], RunStopped) and summary["batches"] == 8


def test_nan_under_steps_per_execution_ends_at_the_first_nan_batch(small_mnist, monkeypatch):
    import keras

    import mnist_tui.training.run_model as model_module  # the name the trainer calls

    def exploding(config: TrainConfig, **kwargs):
        model = real_build(config, **kwargs)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e38),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      steps_per_execution=4)
        return model

    real_build = model_module.build_model
    monkeypatch.setattr(model_module, "build_model", exploding)
    events, summary = collect_run(Trainer(data=small_mnist), TrainConfig(train_size=1000, seed=5))
    batches = _batches(events)
    assert isinstance(events[-1], RunFailed) and "nan" in events[-1].error.lower()
    assert 1 <= len(batches) <= 4 and not math.isfinite(batches[-1].loss)
    assert all(math.isfinite(b.loss) for b in batches[:-1])
    assert summary["batches"] == len(batches)


def test_without_keras_order_results_are_of_the_same_kind(small_mnist, monkeypatch):
    """Should a Keras release move the adapter the pipeline borrows, the tf.data shuffle that
    replaces it learns as well as the seed's way, `fit` on float NumPy arrays.

    The orders of the images then differ, so the runs differ; Adam at 0.001 keeps small runs
    steady enough to compare (measured over seeds 0-5: 0.86-0.90, at most 0.018 apart; the
    seed's RMSprop at 0.01 swings from 0.6 to 0.95 on 3,000 images).
    """
    import mnist_tui.training.pipeline as pipeline
    from mnist_tui.training.model import build_model

    monkeypatch.setattr(pipeline, "_keras_array_adapter", lambda: None)
    keras = import_keras()
    config = TrainConfig(train_size=3000, epochs=3, seed=0, optimizer="adam",
                         learning_rate=0.001)
    _, summary = collect_run(Trainer(data=small_mnist), config)
    keras.utils.set_random_seed(0)
    model = build_model(config)
    x = float_images(small_mnist.x_train[:3000])
    y = small_mnist.y_train[:3000].astype(np.int32)
    history = model.fit(x, y, batch_size=64, epochs=3, validation_split=0.15, shuffle=True,
                        verbose=0).history
    _, plain_accuracy = model.evaluate(float_images(small_mnist.x_test),
                                       small_mnist.y_test.astype(np.int32), verbose=0)
    assert summary["val_loss"] != pytest.approx(history["val_loss"][-1], rel=1e-6), (
        "another order of images, another run")
    assert summary["params"] == 33_194
    assert summary["test_accuracy"] > 0.83 and plain_accuracy > 0.83
    assert summary["test_accuracy"] == pytest.approx(plain_accuracy, abs=0.03)


def test_the_pytorch_reference_is_the_same_network_and_optimizer():
    """The benchmark's PyTorch side: 33,194 weights, and Keras's RMSprop step exactly."""
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from torch_reference import build_torch_model, keras_rmsprop
    finally:
        sys.path.remove(str(BENCHMARKS))
    keras = import_keras()
    model = build_torch_model(TrainConfig())
    assert sum(p.numel() for p in model.parameters()) == 33_194

    start = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    grads = [np.array([0.1, -0.2, 0.0], np.float32), np.array([1.0, 3e-4, -2.0], np.float32)]
    weight = torch.nn.Parameter(torch.tensor(start))
    optimizer = keras_rmsprop([weight], lr=0.01)
    variable = keras.Variable(start)
    reference = keras.optimizers.RMSprop(learning_rate=0.01)
    for grad in grads:
        weight.grad = torch.tensor(grad)
        optimizer.step()
        reference.apply_gradients([(keras.ops.convert_to_tensor(grad), variable)])
    np.testing.assert_allclose(weight.detach().numpy(), np.asarray(variable), rtol=1e-6)
