"""TensorBoard logs of a run (`--tensorboard`): the numbers of its events, for a browser.

`TensorBoardLog` is one more consumer of the event stream (`tee` puts it beside the trainer's
emit, in the training thread). It writes, under `<run>/tensorboard/`, as Keras's own
TensorBoard callback lays them out, so that `tensorboard --logdir RUNS_DIR` overlays the
curves of every run:

- `train/`: `batch_loss` and `batch_accuracy` per batch (each batch's own values, on the
  run's step axis, as the monitor charts them; for a `BatchBlock`, batches that came too
  fast to log one by one, their means at its last batch), and `epoch_loss`,
  `epoch_accuracy` and `epoch_learning_rate` (the rate the epoch began with) per epoch;
- `validation/`: `epoch_loss` and `epoch_accuracy` per epoch;
- `test/`: `epoch_loss` and `epoch_accuracy` of the test evaluation, at the last epoch.

The files are TensorFlow's event files (TFRecords of `Event` protos, what `tf.summary` writes),
written with `tf.io.TFRecordWriter` and TensorFlow's own protos: a few microseconds a batch,
and no need of the `tensorboard` package, which only viewing them takes. A resumed run adds
files beside the old ones, its steps going on. A folder that cannot be written is said once
(a `StorageProblem`) and the run trains on without the log. TensorFlow is imported only when
a log is made, in the training thread.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path
from typing import Any

from mnist_tui.core.events import BatchEnd, Emit, EpochEnd, Evaluated, Event
from mnist_tui.core.storage import StorageGuard

TENSORBOARD_DIR = "tensorboard"  # in the run folder
FILE_VERSION = "brain.Event:2"  # the first record of every event file, as tf.summary writes


class TensorBoardLog:
    """Writes a run's scalars as TensorBoard event files under `folder` (see the module).

    `report` hears of a folder that cannot be written (once).
    """

    def __init__(self, folder: Path, report: Emit) -> None:
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2
        from tensorflow.core.util import event_pb2

        self._tf = tf
        self._summary = summary_pb2.Summary
        self._event = event_pb2.Event
        self.folder = Path(folder)
        self.storage = StorageGuard(report)
        self._writers: dict[str, Any] = {}
        self._epoch = 0

    def __call__(self, event: Event) -> None:
        """Log the scalars of one event (most events have none)."""
        if isinstance(event, BatchEnd):
            self._scalars("train", event.step, {"batch_loss": event.batch_loss,
                                                "batch_accuracy": event.batch_accuracy})
        elif isinstance(event, EpochEnd):
            self._epoch = event.epoch
            self._scalars("train", event.epoch, {"epoch_loss": event.loss,
                                                 "epoch_accuracy": event.accuracy,
                                                 "epoch_learning_rate": event.learning_rate})
            self._scalars("validation", event.epoch, {"epoch_loss": event.val_loss,
                                                      "epoch_accuracy": event.val_accuracy})
            self.flush()
        elif isinstance(event, Evaluated):
            self._scalars("test", max(self._epoch, 1), {"epoch_loss": event.test_loss,
                                                        "epoch_accuracy": event.test_accuracy})
            self.flush()

    def tee(self, emit: Emit) -> Emit:
        """An emit that logs each event here, then hands it on to `emit`."""

        def both(event: Event) -> None:
            self(event)
            emit(event)

        return both

    def _writer(self, name: str) -> Any:
        """The open event file of `train`, `validation` or `test`, made on first use."""
        writer = self._writers.get(name)
        if writer is None:
            folder = self.folder / name
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}."
                             f"{os.getpid()}.v2")
            writer = self._tf.io.TFRecordWriter(str(path))
            writer.write(self._event(wall_time=time.time(),
                                     file_version=FILE_VERSION).SerializeToString())
            self._writers[name] = writer
        return writer

    def _scalars(self, name: str, step: int, values: dict[str, float | None]) -> None:
        """One event of the scalars in `values` that are known, at `step`."""
        if self.storage.broken:
            return
        summary = self._summary(value=[self._summary.Value(tag=tag, simple_value=value)
                                       for tag, value in values.items() if value is not None])
        record = self._event(wall_time=time.time(), step=step, summary=summary)
        try:
            self._writer(name).write(record.SerializeToString())
        except (OSError, self._tf.errors.OpError) as exc:
            self._fault(name, exc)

    def _fault(self, name: str, exc: Exception) -> None:
        error = exc if isinstance(exc, OSError) else OSError(getattr(exc, "message", str(exc)))
        self.storage.fault(self.folder / name, error, "the TensorBoard log",
                           "training goes on without it")

    def flush(self) -> None:
        """Write what is buffered to the files (at every epoch end and at the end)."""
        for name, writer in self._writers.items():
            try:
                writer.flush()
            except (OSError, self._tf.errors.OpError) as exc:
                self._fault(name, exc)

    def close(self) -> None:
        """Flush and close every file."""
        self.flush()
        for writer in self._writers.values():
            with contextlib.suppress(OSError, self._tf.errors.OpError):
                writer.close()  # a fault there was said by flush
        self._writers.clear()
