"""The test-set evaluation at a run's end: the model's probabilities, then the figures.

`predict` runs the trained model over the test images; `evaluate_predictions` turns its
probabilities into the `Evaluated` event (loss, accuracy, confusion matrix, per-class
accuracy, the digits the summary shows). TensorFlow is imported only inside `predict`.

A `MonitorCallback` run is evaluated by Keras itself: `keras_evaluation` (the callback's own
`test_data`, with the matrix when its labels allow) or `logged_evaluation` (a script's
`model.evaluate`, known only by the logs its callbacks get).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mnist_tui.core.digit_sample import DigitSample
from mnist_tui.core.events import Evaluated
from mnist_tui.training.predictions import as_probabilities, as_uint8

if TYPE_CHECKING:
    from mnist_tui.training.strategy import Placement

FIRST_SAMPLES = 16  # test images shown in the gallery from the front of the test set
WRONG_SAMPLES = 16  # extra misclassified test images shown after them
CROSSENTROPY_EPSILON = 1e-7  # Keras clips probabilities to [eps, 1 - eps]


def evaluate_predictions(probs: np.ndarray, y_true: np.ndarray, x_test: np.ndarray,
                         seconds: float = 0.0) -> Evaluated:
    """Build the `Evaluated` event from predicted probabilities on the test set."""
    probs = np.asarray(probs, dtype=np.float32)  # float32 whatever the model computed in
    y_true = y_true.astype(np.int64)
    predicted = probs.argmax(axis=1)
    picked = np.clip(probs[np.arange(len(y_true)), y_true], CROSSENTROPY_EPSILON,
                     1.0 - CROSSENTROPY_EPSILON)
    loss = float(-np.log(picked).mean())
    accuracy = float((predicted == y_true).mean())
    confusion = np.bincount(y_true * 10 + predicted, minlength=100).reshape(10, 10)
    totals = confusion.sum(axis=1)
    per_class = np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1), 0.0)
    first = list(range(min(FIRST_SAMPLES, len(y_true))))
    wrong = [int(i) for i in np.flatnonzero(predicted != y_true) if i >= len(first)]
    samples = tuple(
        DigitSample.from_image(i, y_true[i], predicted[i], probs[i, predicted[i]], x_test[i])
        for i in first + wrong[:WRONG_SAMPLES]
    )
    return Evaluated(test_loss=loss, test_accuracy=accuracy, test_samples=len(y_true),
                     confusion=tuple(tuple(int(c) for c in row) for row in confusion),
                     per_class_accuracy=tuple(float(a) for a in per_class),
                     samples=samples, seconds=seconds)


def predict(model: Any, placement: Placement, images: Any) -> np.ndarray:
    """Class probabilities for a dataset of images, on this process alone.

    In a cluster every worker evaluates by itself (a plain forward pass over its copy of the
    weights), so the chief never waits for the others after training.
    """
    if not placement.multi_worker:
        return model.predict(images, verbose=0)
    import tensorflow as tf

    forward = tf.function(lambda batch: model(batch, training=False))
    return np.concatenate([forward(batch).numpy() for batch in images])


def logged_evaluation(logs: Mapping[str, Any], accuracy_key: str | None,
                      seconds: float = 0.0) -> Evaluated:
    """The `Evaluated` of a Keras `evaluate` known only by its logs (a script's own call):
    its loss and accuracy (NaN without an accuracy metric), no test images or matrix."""
    loss = _number(logs.get("loss"))
    accuracy = _number(logs.get(accuracy_key)) if accuracy_key else None
    return Evaluated(test_loss=math.nan if loss is None else loss,
                     test_accuracy=math.nan if accuracy is None else accuracy,
                     test_samples=0, confusion=(), per_class_accuracy=(), seconds=seconds)


def keras_evaluation(model: Any, x_test: Any, y_test: Any, *, batch_size: int | None,
                     accuracy_keys: Sequence[str]) -> tuple[Evaluated, dict[str, float]]:
    """Evaluate `model` on a script's own test set, as `model.evaluate` reports it, and its
    `Evaluated` (with the confusion matrix, per-class accuracy and digits when the labels
    name 10 classes and the model gives a score per class); also the logs `evaluate` gave.

    Two passes over the test set: Keras's `evaluate` (the loss and metrics the model was
    compiled with, exactly) and a `predict` for the matrix.
    """
    start = time.perf_counter()
    raw = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0, return_dict=True)
    logs = {k: v for k, v in ((k, _number(v)) for k, v in raw.items()) if v is not None}
    key = next((k for k in accuracy_keys if k in logs), None)
    labels = class_labels(np.asarray(y_test))
    evaluated = logged_evaluation(logs, key)
    if labels is not None:
        outputs = np.asarray(model.predict(x_test, batch_size=batch_size, verbose=0))
        if outputs.ndim == 2 and outputs.shape[1] == 10:
            probs = as_probabilities(outputs)  # a model that gives logits too
            images = np.asarray(x_test).reshape(len(labels), -1)
            full = evaluate_predictions(probs, labels, as_uint8(images))
            evaluated = replace(full, test_loss=evaluated.test_loss,
                                test_accuracy=(full.test_accuracy if key is None
                                               else evaluated.test_accuracy))
    return replace(evaluated, test_samples=len(np.asarray(y_test)),
                   seconds=time.perf_counter() - start), logs


def class_labels(y: np.ndarray) -> np.ndarray | None:
    """Integer labels 0..9 from integer, (N, 1) or one-hot (N, 10) labels; None for labels
    that name no 10 classes (a regression's targets, say)."""
    if y.ndim == 2 and y.shape[1] == 10:
        return np.asarray(y.argmax(axis=1), dtype=np.int64)
    flat = y.reshape(len(y)) if y.ndim == 2 and y.shape[1] == 1 else y
    if flat.ndim != 1 or not len(flat) or not np.all(np.equal(np.mod(flat, 1), 0)):
        return None
    labels = flat.astype(np.int64)
    return labels if labels.min() >= 0 and labels.max() <= 9 else None


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
