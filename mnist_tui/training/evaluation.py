"""The test-set evaluation at a run's end: the model's probabilities, then the figures.

`predict` runs the trained model over the test images; `evaluate_predictions` turns its
probabilities into the `Evaluated` event (loss, accuracy, confusion matrix, per-class
accuracy, the digits the summary shows). TensorFlow is imported only inside `predict`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mnist_tui.core.digit_sample import DigitSample
from mnist_tui.core.events import Evaluated

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
