"""Validation within an epoch, on a fixed slice of the validation images: a `FitHook`.

A sweep's trial reports its validation figure to the pruner a few times per epoch
(`core.report_points`), so that a bad trial can be stopped before its first epoch ends.
At each report point within an epoch `SliceValidationHook` runs the model (inference: no
dropout, no random numbers drawn, the weights untouched, so a seeded run trains exactly as
without it) over the first `slice_size` validation images and emits a `SliceValidated`
event with the loss and accuracy; whoever listens (the trial's pruning) decides what to do.
The epoch's end is reported from its `EpochEnd` (the whole validation set), not here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import Emit, SliceValidated
from mnist_tui.core.report_points import ReportPoints, point_batches
from mnist_tui.training.batch_metrics import FitState
from mnist_tui.training.data import MnistData
from mnist_tui.training.evaluation import CROSSENTROPY_EPSILON
from mnist_tui.training.predictions import as_probabilities, compiled_forward


def validation_slice(config: TrainConfig, data: MnistData, size: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The first `size` validation images of `config` and their labels (all of them when
    the validation split holds fewer): the images `make_datasets` validates on."""
    start = config.train_samples
    end = min(start + size, config.train_size)
    return data.x_train[start:end], data.y_train[start:end]


def scaled(images: np.ndarray) -> np.ndarray:
    """uint8 images as the model takes them: float32 (N, 28, 28, 1) in 0..1, scaled exactly
    as `pipeline.scale_images` scales the training images."""
    return (images.astype(np.float32) / np.float32(255.0))[..., np.newaxis]


def loss_and_accuracy(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Keras's sparse categorical cross-entropy (probabilities clipped as it does) and the
    accuracy of class probabilities against integer labels."""
    y = labels.astype(np.int64)
    picked = np.clip(probs[np.arange(len(y)), y], CROSSENTROPY_EPSILON,
                     1.0 - CROSSENTROPY_EPSILON)
    return float(-np.log(picked).mean()), float((probs.argmax(axis=1) == y).mean())


class SliceValidationHook:
    """A `FitHook` that measures the validation figure on a fixed slice at each report
    point within an epoch, and emits it as `SliceValidated`.

    `points` says how many report points an epoch has and the slice's size; the points fall
    on execution ends (`point_batches`), known once the model's `steps_per_execution` is.
    """

    def __init__(self, config: TrainConfig, data: MnistData, points: ReportPoints,
                 emit: Emit) -> None:
        self.points = points
        self.emit = emit
        self.batches_per_epoch = config.batches_per_epoch
        self.images, self.labels = validation_slice(config, data, points.slice_size)
        self.seconds = 0.0  # what the measurements took, all together
        self._at: dict[int, int] | None = None  # batch of the epoch → point
        self._forward: Callable[[], np.ndarray] | None = None

    def prepare(self, model: Any) -> None:
        """Trace the forward pass before training (once), and place the points."""
        per_execution = int(getattr(model, "steps_per_execution", 1) or 1)
        found = point_batches(self.batches_per_epoch, self.points.points, per_execution)
        self._at = {batch: point for point, batch in found.items()}
        if len(self.labels) and self._at:
            self._forward = compiled_forward(model, scaled(self.images))
            self._forward()

    def after_execution(self, fit: FitState) -> None:
        """At a report point: measure the slice and emit it."""
        if self._at is None:
            self.prepare(fit.model)
        progress = fit.progress
        point = (self._at or {}).get(progress.epoch_batches)
        if point is None or self._forward is None:
            return
        began = time.perf_counter()
        loss, accuracy = loss_and_accuracy(as_probabilities(self._forward()), self.labels)
        seconds = time.perf_counter() - began
        self.seconds += seconds
        self.emit(SliceValidated(
            epoch=progress.epoch, batch=progress.epoch_batches,
            batches_per_epoch=self.batches_per_epoch, step=progress.step, point=point,
            points=self.points.points, val_loss=loss, val_accuracy=accuracy,
            slice_size=len(self.labels), seconds=seconds))

    def epoch_end(self, fit: FitState) -> None:
        """Nothing: the epoch's end is reported from its `EpochEnd`."""
