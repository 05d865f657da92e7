"""The app's Keras callback, and the in-graph recorder that lets it report every batch.

`BridgeCallback` is the one translation of `fit` into events (`translator.KerasTranslator`)
configured for the app's runs: the size of the fit from its `TrainConfig`, the accuracy
Keras logs as "accuracy", the learning rate in every `EpochEnd`, a NaN or infinite loss ends
the run (advice in the message), and the run's checkpoints, epoch rules, resume position and
cluster placement.

With `steps_per_execution` N, Keras runs N batches per call into TensorFlow and calls
`on_train_batch_end` once, with the last batch's index and running means. So that the monitor
still sees every batch, `record_batch_metrics` makes the model's train step also write each
batch's running loss and accuracy into a small ring buffer inside the graph; the bridge reads
it once per execution and emits one `BatchEnd` per batch, in order, with the values Keras
computed for that batch. Without a recorder (distributed strategies) it emits one `BatchEnd`
per execution. How control, checkpoints and epoch ends go: see `translator.py`.

This module imports Keras: `trainer.py` imports it inside `Trainer._run`, after
`import_keras()` has imported TensorFlow quietly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import Emit
from mnist_tui.training.batch_metrics import FitHook
from mnist_tui.training.checkpoint import Checkpointer, Position
from mnist_tui.training.translator import FitShape, KerasTranslator

if TYPE_CHECKING:
    from mnist_tui.training.epoch_rules import EpochRules
    from mnist_tui.training.strategy import Placement

RECORDED = ("loss", "accuracy")


class BatchRecorder:
    """A ring buffer of (loss, accuracy) per batch, written by the train step in the graph."""

    def __init__(self, capacity: int) -> None:
        import tensorflow as tf

        self.capacity = capacity
        # Plain tf.Variables held here, not by the model: not weights, never saved.
        self.rows = tf.Variable(tf.fill((capacity, len(RECORDED)), math.nan), trainable=False)
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)

    def record(self, logs: dict[str, Any]) -> None:
        """Graph-side: store this batch's running metrics (NaN for a missing one)."""
        import tensorflow as tf

        row = tf.stack([tf.cast(logs[k], tf.float32) if k in logs else tf.constant(math.nan)
                        for k in RECORDED])
        self.rows[self.count % self.capacity].assign(row)
        self.count.assign_add(1)

    def read(self, first: int, n: int) -> np.ndarray:
        """The rows of batches `first` .. `first + n - 1` (counted from 0 over the whole run)."""
        rows = self.rows.numpy()
        return rows[[(first + j) % self.capacity for j in range(n)]]


def record_batch_metrics(model: Any) -> BatchRecorder | None:
    """Make `model`'s train step record every batch's metrics; None when N is 1.

    Only for the default strategy: under a distribution strategy the step runs per replica.
    """
    steps = int(getattr(model, "steps_per_execution", 1) or 1)
    if steps <= 1:
        return None
    recorder = BatchRecorder(steps)
    step = type(model).train_step

    def train_step(data: Any) -> Any:
        logs = step(model, data)
        recorder.record(logs)
        return logs

    model.train_step = train_step
    model.train_function = None  # made again from the recording step
    return recorder


class BridgeCallback(KerasTranslator):
    """The app's Keras callback: `KerasTranslator` configured with the run's `TrainConfig`.

    `recorder` (from `record_batch_metrics`) gives every batch of an execution; `placement`
    makes every worker of a cluster agree on stopping; `checkpointer` keeps the run's
    checkpoint; `start` is the checkpoint a resumed run goes on from; `rules` are applied at
    every whole epoch's end; `hooks` run between executions and at whole epochs' ends. After
    `fit` the trainer reads `last_logs`, `nan_message`, `train_seconds`, `stopped_by_cluster`,
    `hook_seconds`, `step`, `seen` and `epochs_completed`.
    """

    def __init__(self, config: TrainConfig, emit: Emit, control: RunControl,
                 recorder: BatchRecorder | None = None,
                 placement: Placement | None = None, *,
                 checkpointer: Checkpointer | None = None,
                 start: Position | None = None, rules: EpochRules | None = None,
                 hooks: Sequence[FitHook] = ()) -> None:
        super().__init__(
            emit, control,
            FitShape(batches_per_epoch=config.batches_per_epoch, batch_size=config.batch_size,
                     train_samples=config.train_samples),
            hooks=hooks, epoch_rates=True,
            nan_advice=f"try a lower learning rate than {config.learning_rate}",
            recorder=recorder, placement=placement, checkpointer=checkpointer, start=start,
            rules=rules)
        self.config = config
