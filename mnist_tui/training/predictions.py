"""Live test predictions: a fixed set of test digits the model guesses while it trains.

`choose_digits` picks the digits once per run, from the test set alone (no model exists yet):
per class the most typical images (nearest their class's mean image in shape) and some
atypical ones (far from it: the shapes a half-trained network gets wrong), interleaved so
that any first few mix classes and hold a hard one. The choice is deterministic: the same
test set gives the same digits in every run.

`PredictionHook` is a `batch_metrics.FitHook`: in the training thread, between two calls into
the backend, it runs one forward pass of those digits (a few milliseconds: a traced
`tf.function` under TensorFlow, Keras's own `predict_on_batch` under JAX and PyTorch) every
`interval` seconds of training and at every epoch end, and emits a `Predictions` event.
Inference draws no random numbers and changes no weights, so a seeded run trains exactly as
it would without it.
"""

from __future__ import annotations

import base64
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from mnist_tui.core.events import Emit, Predictions, ShownDigits
from mnist_tui.training.batch_metrics import FitState

SHOWN_DIGITS = 32  # the most the strip can show; a forward pass of this many images
PREDICT_SECONDS = 2.0  # seconds of training between two predictions, at least
PREDICT_SHARE = 0.01  # the most of the training time a script's strip may take (see below)
IMAGE_PIXELS = 28 * 28
HARD_EVERY = 3  # every third digit shown (the 2nd, 5th, 8th, ...) is an atypical one
HARD_QUANTILE = 0.97  # atypical digits come from the farthest 3% of their class, ...
HARD_SKIP = 0.002  # ... leaving out the farthest 0.2% (often not a digit one can read)
CLASS_ORDER_SEED = 10  # a fixed shuffle of the classes, so the strip does not read 0 1 2 3
CONFIDENCE_DIGITS = 4  # decimals kept of each confidence in the log


def _flat_images(x: np.ndarray) -> np.ndarray:
    """The images as (N, 784); ValueError when they are not 28x28 (with a channel axis or
    without)."""
    if x.ndim < 2 or int(np.prod(x.shape[1:])) != IMAGE_PIXELS:
        raise ValueError(f"live predictions need 28x28 test images, got shape {x.shape}")
    return x.reshape(len(x), IMAGE_PIXELS)


def _class_labels(y: np.ndarray) -> np.ndarray:
    """Integer labels from integer, (N, 1) or one-hot (N, classes) labels."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.asarray(y.argmax(axis=1), dtype=np.int64)
    return np.asarray(y.reshape(len(y)), dtype=np.int64)


def as_uint8(images: np.ndarray) -> np.ndarray:
    """Images as uint8 0..255: uint8 as they are, floats in 0..1 scaled (floats reaching
    above 1.5 are taken to be 0..255 already)."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    values = images.astype(np.float32)
    scale = 1.0 if values.size and float(values.max()) > 1.5 else 255.0
    return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)


def _typical_and_hard(flat: np.ndarray, members: np.ndarray) -> tuple[deque[int], deque[int]]:
    """One class's test positions, most typical first, and its atypical ones, hardest first.

    Distances are in shape (cosine similarity to the class's mean image), so a thick or
    faint stroke alone does not make a digit atypical.
    """
    images = flat[members].astype(np.float32)
    norms = np.linalg.norm(images, axis=1)
    norms[norms == 0] = 1.0
    mean = images.mean(axis=0)
    mean /= max(float(np.linalg.norm(mean)), 1e-12)
    similarity = (images @ mean) / norms
    order = np.argsort(-similarity, kind="stable")  # most typical first
    n = len(order)
    first = min(int(n * HARD_SKIP), max(n - 1, 0))
    last = max(int(np.ceil(n * (1.0 - HARD_QUANTILE))), first + 1)
    far = order[::-1]  # least typical first
    hard = np.concatenate([far[first:last], far[:first]])  # the very farthest last of all
    typical = order[: n - last] if n > last else order[:0]
    return (deque(int(members[i]) for i in typical), deque(int(members[i]) for i in hard))


def choose_digits(x_test: np.ndarray, y_test: np.ndarray,
                  count: int = SHOWN_DIGITS) -> ShownDigits:
    """The fixed digits of a run's strip (the same for every run on the same test set).

    `x_test`: 28x28 images, uint8 or floats in 0..1, with a trailing channel axis or not;
    `y_test`: their labels (integers, or one-hot rows). The classes take turns (in a fixed
    shuffled order), so every class is shown when `count` allows; every third digit (the
    2nd, 5th, 8th, ...) is an atypical one of its class. Fewer than `count` digits only when
    the test set holds fewer.
    """
    x = np.asarray(x_test)
    labels = _class_labels(y_test)
    if len(labels) != len(x):
        raise ValueError(f"{len(x)} test images but {len(labels)} labels")
    flat = _flat_images(x)
    classes = np.unique(labels)
    classes = classes[np.random.default_rng(CLASS_ORDER_SEED).permutation(len(classes))]
    pools = [_typical_and_hard(flat, np.flatnonzero(labels == c)) for c in classes]
    want = min(max(count, 0), len(labels))
    picked: list[int] = []
    while len(picked) < want and any(t or h for t, h in pools):
        for typical, hard in pools:
            if len(picked) >= want:
                break
            first, second = (hard, typical) if len(picked) % HARD_EVERY == 1 else (typical, hard)
            if first or second:
                picked.append((first or second).popleft())
    images = as_uint8(flat[picked]) if picked else np.zeros((0, IMAGE_PIXELS), np.uint8)
    return ShownDigits(indices=tuple(picked), labels=tuple(int(labels[i]) for i in picked),
                       pixels=tuple(base64.b64encode(row.tobytes()).decode("ascii")
                                    for row in images))


def shown_images(shown: ShownDigits) -> np.ndarray:
    """The shown digits as the trainer's model takes them: float32 (N, 28, 28, 1) in 0..1,
    scaled exactly as `pipeline.scale_images` scales the training images."""
    pixels = np.zeros((len(shown.indices), 28, 28), np.uint8)
    for k in range(len(shown.indices)):
        pixels[k] = shown.image(k)
    return (pixels.astype(np.float32) / np.float32(255.0))[..., np.newaxis]


def as_probabilities(outputs: np.ndarray) -> np.ndarray:
    """Rows of class probabilities: a softmax output as it is; logits (a row with a negative
    value or not summing to 1) through a softmax."""
    out = np.asarray(outputs, dtype=np.float32).reshape(len(outputs), -1)
    if out.size and (float(out.min()) < 0.0 or
                     not np.allclose(out.sum(axis=1), 1.0, atol=1e-2)):
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        out = shifted / shifted.sum(axis=1, keepdims=True)
    return out


class PredictionHook:
    """A `FitHook` that predicts the shown digits every `interval` s and at epoch ends.

    `interval` counts seconds of training (pauses excluded); the first prediction comes at
    the first execution's end, so the strip fills at once. With a `share` (a script's
    `MonitorCallback`: any model, any backend), a forward pass that takes more than `share`
    of `interval` (a big model, PyTorch's uncompiled pass on a busy CPU) stretches the
    interval, so that the strip keeps to that share of the training time.
    `inputs` are the shown digits as the model takes them (a `MonitorCallback` user's own
    test rows, in their dtype and shape); by default the trainer's: `shown_images(shown)`.
    A model that cannot predict them (the wrong input shape) stops the hook, never the
    training: `failure` then says why.
    """

    def __init__(self, shown: ShownDigits, emit: Emit,
                 interval: float = PREDICT_SECONDS, *, inputs: Any = None,
                 share: float | None = None) -> None:
        self.shown = shown
        self.emit = emit
        self.interval = interval
        self.share = share
        self.inputs = shown_images(shown) if inputs is None else np.asarray(inputs)
        self.failure = ""  # why predicting failed ("" while it works)
        self._last_seconds: float | None = None  # training seconds at the last prediction
        self._last_step = -1
        self._cost = 0.0  # seconds the latest forward pass took
        self._forward: Callable[[], Any] | None = None
        self._model: Any = None

    def prepare(self, model: Any) -> None:
        """Trace the forward pass before training starts (tens of milliseconds, once), so
        that training pays only for the predictions themselves."""
        if self.failure or not len(self.inputs):
            return
        try:
            self._forward_of(model)()
        except Exception as exc:  # a user's model that cannot take the images
            self.failure = f"{type(exc).__name__}: {exc}"

    def use_forward(self, model: Any, forward: Callable[[], Any]) -> None:
        """Predict with `forward`, a `compiled_forward` of these inputs through `model`
        traced ahead (`warmup.py`), while the model is `model`."""
        self._model, self._forward = model, forward

    def after_execution(self, fit: FitState) -> None:
        """Predict when `interval` seconds of training have gone by since the last time."""
        seconds = fit.progress.train_seconds()
        wait = max(self.interval, self._cost / self.share) if self.share else self.interval
        if self._last_seconds is not None and seconds - self._last_seconds < wait:
            return
        self._last_seconds = seconds
        self.predict(fit.model, fit.progress.step, fit.progress.epoch)

    def epoch_end(self, fit: FitState) -> None:
        """Predict at every epoch end (unless the weights are those just predicted with)."""
        self._last_seconds = fit.progress.train_seconds()
        if fit.progress.step != self._last_step:
            self.predict(fit.model, fit.progress.step, fit.progress.epoch)

    def predict(self, model: Any, step: int, epoch: int) -> None:
        """Emit one `Predictions` event for the shown digits."""
        if self.failure or not len(self.inputs):
            return
        try:
            forward = self._forward_of(model)
            began = time.perf_counter()
            probs = as_probabilities(forward())
            self._cost = time.perf_counter() - began
        except Exception as exc:  # a user's model that cannot take the images
            self.failure = f"{type(exc).__name__}: {exc}"
            return
        predicted = probs.argmax(axis=1)
        confidence = probs[np.arange(len(probs)), predicted]
        self._last_step = step
        self.emit(Predictions(
            step=step, epoch=epoch, predicted=tuple(int(p) for p in predicted),
            confidence=tuple(round(float(c), CONFIDENCE_DIGITS) for c in confidence)))

    def _forward_of(self, model: Any) -> Callable[[], Any]:
        """A compiled forward pass of the inputs through `model` (traced at its first call)."""
        if self._forward is None or self._model is not model:
            self._model = model
            self._forward = compiled_forward(model, self.inputs)
        return self._forward


def compiled_forward(model: Any, inputs: np.ndarray) -> Callable[[], np.ndarray]:
    """A function returning `model`'s float32 outputs on `inputs` (inference: dropout off,
    no random numbers drawn, no gradients), compiled once where the backend allows.

    Under TensorFlow (the app, and a `MonitorCallback` there): one traced `tf.function` over
    a constant input, a plain forward pass that also works inside a distribution strategy
    (a cluster's chief predicts alone). Under any other Keras backend (JAX, PyTorch): Keras's
    own `predict_on_batch`, which JAX compiles once (`jit`) and PyTorch runs under
    `torch.no_grad()`.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        def predict() -> np.ndarray:
            out = model.predict_on_batch(inputs)
            return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float32)

        return predict
    return _tf_forward(model, inputs)


def _tf_forward(model: Any, inputs: np.ndarray) -> Callable[[], np.ndarray]:
    """The TensorFlow forward pass: traced once into one graph over a constant input."""
    import tensorflow as tf

    images = tf.constant(inputs)

    @tf.function(autograph=False, reduce_retracing=True)
    def forward() -> Any:
        out = model(images, training=False)
        return tf.cast(out, tf.float32)

    def run() -> np.ndarray:
        result: np.ndarray = forward().numpy()
        return result

    return run
