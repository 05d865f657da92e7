"""The plain Keras script a user would write for the seed's network: the benchmarks' baseline.

Float NumPy arrays scaled to 0..1, one batch per call into TensorFlow, `fit(verbose=0)` with
a callback that only times it (no batch hooks, so Keras's dispatch is unchanged).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mnist_tui.core.config import TrainConfig
from mnist_tui.training.data import MnistData


def float_images(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) images → float32 (N, 28, 28, 1) in 0..1, as the seed feeds them."""
    return (x.astype(np.float32) / 255.0)[..., np.newaxis]


def fit_clock(keras: Any) -> Any:
    """A callback with no batch hooks that times `fit` from its begin to its end (`seconds`)."""

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            self.start = time.perf_counter()

        def on_train_end(self, logs: Any = None) -> None:
            self.seconds = time.perf_counter() - self.start

    return Clock()


def bare_fit(config: TrainConfig, data: MnistData) -> tuple[Any, dict[str, list[float]], float]:
    """Train `config` as the plain script does; the model, its history and fit's seconds."""
    from mnist_tui.training.keras_runtime import import_keras
    from mnist_tui.training.model import build_model

    keras = import_keras()
    x = float_images(data.x_train[: config.train_size])
    y = data.y_train[: config.train_size].astype(np.int32)
    split = config.train_samples
    keras.utils.set_random_seed(config.seed)
    model = build_model(config)
    clock = fit_clock(keras)
    history = model.fit(x[:split], y[:split], batch_size=config.batch_size,
                        epochs=config.epochs, validation_data=(x[split:], y[split:]),
                        shuffle=True, verbose=0, callbacks=[clock]).history
    return model, history, clock.seconds
