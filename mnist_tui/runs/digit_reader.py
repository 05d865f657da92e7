"""Reading drawn digits with a run's trained model: which run, its model, the test digits.

`DigitReader.load` imports Keras (quietly, through `keras_runtime.import_keras`), so it belongs in
a worker thread; reading one digit is a preprocessing (`drawing.preprocess`) and one forward
pass (`predict_on_batch`: a few milliseconds on a CPU, where `predict` takes ~70).
`Latest` is the mailbox between a UI and that worker: only the newest drawing waits, so a
fast drag never queues a backlog of stale ones.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.events import RunStarted
from mnist_tui.runs.listing import RunNotFound, list_runs, resolve_run
from mnist_tui.runs.reading import follow
from mnist_tui.runs.writer import default_runs_dir
from mnist_tui.training.data import DataError, MnistData, load_mnist
from mnist_tui.training.drawing import SIDE, preprocess

MODEL_FILE = "model.keras"
T = TypeVar("T")


class ModelError(MnistTuiError):
    """A run's model is missing or cannot be used; the message says which and why."""


def model_file(run_dir: Path) -> Path:
    """Where a run keeps its trained model."""
    return Path(run_dir) / MODEL_FILE


def find_model_run(spec: str | None, runs_dir: Path | None = None) -> Path:
    """The run folder to draw with: the one `spec` names (see `runs.resolve_run`), or else
    the latest run with a saved model. Raises `RunNotFound` or `ModelError`, for people."""
    if spec:
        run_dir = resolve_run(spec, runs_dir)
        if not model_file(run_dir).is_file():
            raise ModelError(f"run {run_dir.name} has no saved model ({model_file(run_dir)} "
                             "does not exist): it has not finished, or its model could not "
                             "be saved. `mnist-tui runs` lists the runs.")
        return run_dir
    root = Path(runs_dir or default_runs_dir())
    runs = list_runs(root)
    if not runs:
        raise RunNotFound(f"no runs in {root} yet; train one first, e.g. "
                          "`mnist-tui --headless --train-size 6000`")
    for run in runs:
        if model_file(run.run_dir).is_file():
            return run.run_dir
    raise ModelError(f"none of the {len(runs)} runs in {root} has a saved model "
                     f"({MODEL_FILE}); train one to the end first, e.g. "
                     "`mnist-tui --headless --train-size 6000`")


@dataclass(frozen=True)
class Reading:
    """What the model made of one drawing: `seen` is the preprocessed 28x28 image it read,
    `probabilities` its 10 class probabilities (None for a blank drawing, which is not
    read), `seconds` the time preprocessing and the forward pass took."""

    probabilities: np.ndarray | None
    seen: np.ndarray
    seconds: float

    @property
    def predicted(self) -> int | None:
        """The most probable digit, or None for a blank drawing."""
        return None if self.probabilities is None else int(np.argmax(self.probabilities))


class DigitReader:
    """A run's trained model, ready to read drawings (see `load`)."""

    def __init__(self, model: Any, path: Path) -> None:
        self.model = model
        self.path = path
        self._input_shape = (1, *model.input_shape[1:])

    @classmethod
    def load(cls, run_dir: Path) -> DigitReader:
        """Load `run_dir`'s model.keras (imports Keras: call it in a worker thread).

        Raises `ModelError` when the file is missing, unreadable, or not a model of 28x28
        images into 10 classes.
        """
        from mnist_tui.training.keras_runtime import import_keras

        path = model_file(run_dir)
        if not path.is_file():
            raise ModelError(f"no saved model at {path}")
        keras = import_keras()
        try:
            model = keras.models.load_model(path)
        except Exception as exc:  # Keras raises many kinds for a damaged file
            raise ModelError(f"cannot read the model {path}: {type(exc).__name__}: "
                             f"{exc}") from exc
        inputs, outputs = getattr(model, "input_shape", None), getattr(model, "output_shape", None)
        if (not isinstance(inputs, tuple) or None in inputs[1:]
                or int(np.prod(inputs[1:])) != SIDE * SIDE or outputs != (None, 10)):
            raise ModelError(f"{path} is not a model of 28x28 images into 10 classes "
                             f"(its input is {inputs}, its output {outputs})")
        return cls(model, path)

    def read(self, drawing: np.ndarray) -> Reading:
        """Preprocess a 28x28 drawing (0 paper, 1 ink) as MNIST was, and read it."""
        start = time.perf_counter()
        seen = preprocess(drawing)
        if not seen.any():
            return Reading(None, seen, time.perf_counter() - start)
        output = self.model.predict_on_batch(seen.reshape(self._input_shape))
        probabilities = np.asarray(output, dtype=np.float64).reshape(10)
        return Reading(probabilities, seen, time.perf_counter() - start)


class Latest(Generic[T]):
    """A one-slot mailbox between threads: `put` replaces whatever waits, `take` waits for
    it. After `close`, `take` returns None at once."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: T | None = None
        self._closed = False

    def put(self, item: T) -> None:
        """Leave `item` for the taker, dropping an older one not taken yet."""
        with self._condition:
            self._item = item
            self._condition.notify()

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item (and empty the slot); None when closed or after `timeout` s."""
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return None if self._closed else item

    @property
    def closed(self) -> bool:
        """Whether `close` was called: nothing more will come."""
        return self._closed

    def close(self) -> None:
        """Wake the taker for good."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()


def data_source(run_dir: Path) -> str | None:
    """The MNIST file or folder the run trained on, as its log's `run_started` names it."""
    for event in follow(run_dir, wait=False):
        if isinstance(event, RunStarted):
            # "PATH", or "PATH (how it was found)": the Keras cache, $MNIST_TUI_DATA, ...
            return re.sub(r" \([^()]*\)$", "", event.data_source) or None
    return None


def load_test_digits(run_dir: Path | None, data_path: str | Path | None = None) -> MnistData:
    """The MNIST test images: from `data_path`, else from where the run found its data,
    else the usual lookup without a download. Raises `DataError` saying what was tried."""
    if data_path is not None:
        return load_mnist(data_path, download=False)
    source = data_source(run_dir) if run_dir is not None else None
    if source and Path(source).exists():
        try:
            return load_mnist(source, download=False)
        except DataError:
            pass  # moved or damaged since the run: the usual places may still have it
    return load_mnist(None, download=False)
