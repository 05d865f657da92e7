"""Work a run needs before it trains, done while the form is on screen.

From Enter to the first batch a run used to import TensorFlow (~4 s), load MNIST, build the
model and trace its training step (~1-2 s, in TensorFlow's first trace of the process).
`start_warmup` (the app calls it once its form is drawn) starts one background thread that
loads and checks MNIST, imports Keras and TensorFlow quietly, and then prepares a model for
the settings the form holds (`Warmup.want`, once they have stayed put for `SETTLE_SECONDS`):
built and compiled, with its training and validation steps traced on empty datasets, so that
nothing is computed and no variable moves. The trainer takes what is ready (`current()`):
the data, and the prepared model when the run's settings are the ones it was made for.

A seeded run computes what it always did, bit for bit: the trainer seeds, builds a fresh
model exactly as an unprepared run does (the same random draws in the same order, so the
datasets after it shuffle alike) and copies its initial values, the dropout layers' seed
states too, into the prepared model (`PreparedModel.start_from`); the traced steps are
functions of the variables, not of their values.

While a run trains the warmup does nothing (`Warmup.hold`): no CPU taken from the run, and
no random draw of its between the run's seed and its datasets. After the run it prepares
again, so "train again" starts as fast. Only the default strategy is prepared for.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mnist_tui.core import environment
from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import ShownDigits
from mnist_tui.training.data import DataError, MnistData, load_mnist
from mnist_tui.training.keras_runtime import import_keras

STEPS_PER_EXECUTION = 16  # batches per call into TensorFlow (default strategy); see bridge.py
SETTLE_SECONDS = 0.5  # settings unchanged this long before a model is prepared for them


@dataclass(frozen=True)
class PreparedModel:
    """A compiled model whose training and validation steps are traced, never run.

    `key` is what it was prepared for (`model_key`); `recorder` is the ring buffer its
    training step writes every batch's metrics into (`bridge.record_batch_metrics`);
    `forward` its forward pass of the warmup's `shown` digits, traced (None: not made).
    """

    key: tuple[Any, ...]
    model: Any
    recorder: Any
    forward: Any = None  # `predictions.compiled_forward` of the shown digits, traced

    def start_from(self, fresh: Any) -> None:
        """Give the model the initial values of `fresh`, a model built for the same
        settings (weights and the dropout layers' seed states, in the same order)."""
        mine, theirs = self.model.variables, fresh.variables
        if [(v.shape, v.dtype) for v in mine] != [(v.shape, v.dtype) for v in theirs]:
            raise ValueError("a prepared model and a fresh one differ in their variables")
        for target, source in zip(mine, theirs, strict=True):
            target.assign(source)


def model_key(config: TrainConfig, steps: int, precision: str) -> tuple[Any, ...]:
    """What a prepared model must match: every setting but the seed (the learning rate's
    schedule depends on the epochs and sizes too), the steps per execution, the precision."""
    return (replace(config, seed=None), steps, precision)


class Warmup:
    """The background thread that gets a run ready ahead of it (see the module's docstring).

    `data_path` is where MNIST is looked up, as a run would (`load_mnist`; never a download:
    that waits for a run to ask for it).
    """

    def __init__(self, data_path: str | Path | None = None, *,
                 settle: float = SETTLE_SECONDS) -> None:
        self.data_path = data_path
        self.settle = settle
        self.error = ""  # why the data or the preparation failed, if it did (the run says)
        self.prepared_count = 0  # models prepared so far
        self.on_prepared: Callable[[TrainConfig], None] | None = None  # told of each, if set
        self.taken_count = 0  # of them, trained by a run
        self._data: MnistData | None = None
        self.shown: ShownDigits | None = None  # the live strip's digits of the loaded data
        self._data_loaded = threading.Event()
        self._imported = threading.Event()
        self._changed = threading.Condition()
        self._wanted: TrainConfig | None = None
        self._wanted_at = 0.0
        self._prepared: PreparedModel | None = None
        self._preparing: tuple[Any, ...] | None = None
        self._held: TrainConfig | None = None  # the settings (seed aside) of a run holding it
        self._holds = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> Warmup:
        """Start the thread (once); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="mnist-tui-warmup",
                                            daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float = 30.0) -> None:
        """Stop preparing, and wait up to `timeout` s for the thread to end (a preparation
        under way stops at its next step). A process must not exit while the thread lives:
        TensorFlow then aborts it ("terminate called without an active exception")."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def want(self, config: TrainConfig) -> None:
        """The settings the next run will likely have: prepare a model for them."""
        with self._changed:
            if self._wanted != config:
                self._wanted, self._wanted_at = config, time.monotonic()
                self._changed.notify_all()

    def data(self, data_path: str | Path | None) -> MnistData | None:
        """MNIST as loaded from `data_path` (waits for the load under way); None when it
        was looked up elsewhere or could not be loaded (the run then loads it itself)."""
        if data_path != self.data_path or self._thread is None:
            return None
        self._data_loaded.wait()
        return self._data

    def shown_for(self, data: MnistData) -> ShownDigits | None:
        """The live strip's digits chosen ahead (`predictions.choose_digits`) when `data` is
        the data loaded here; None otherwise."""
        return self.shown if data is self._data else None

    @property
    def ready(self) -> bool:
        """Whether the data is loaded and TensorFlow imported (the model may come later)."""
        return self._data_loaded.is_set() and self._imported.is_set()

    @contextlib.contextmanager
    def hold(self, config: TrainConfig | None) -> Iterator[None]:
        """Keep the warmup from working while a run of `config` trains (None: a run that
        cannot use a prepared model): a preparation under way stops at its next step, and
        the run takes what it made if it was for these settings."""
        with self._changed:
            self._holds += 1
            self._held = None if config is None else replace(config, seed=None)
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._holds -= 1
                if not self._holds:
                    self._held = None
                    self._wanted_at = time.monotonic()  # let the run's end settle first
                self._changed.notify_all()

    def take(self, key: tuple[Any, ...]) -> PreparedModel | None:
        """The model prepared for `key` (waiting for it if it is being prepared), once;
        None when there is none."""
        with self._changed:
            while self._preparing is not None:
                self._changed.wait()
            prepared, self._prepared = self._prepared, None
        if prepared is None or prepared.key != key:
            return None
        self.taken_count += 1
        return prepared

    def peek(self) -> PreparedModel | None:
        """The model ready to be taken, if any (left there)."""
        with self._changed:
            return self._prepared

    def _load(self) -> None:
        try:
            self._data = load_mnist(self.data_path, download=False)
        except DataError as exc:
            self.error = str(exc)
        finally:
            self._data_loaded.set()

    def _work(self) -> None:
        # MNIST loads while TensorFlow imports (reading and inflating the file mostly
        # releases the GIL); it touches no TensorFlow, so its thread may outlive this one.
        threading.Thread(target=self._load, name="mnist-tui-warmup-data", daemon=True).start()
        import_keras()
        from mnist_tui.training import bridge, model, pipeline  # noqa: F401 (their imports)
        from mnist_tui.training.strategy import StrategyError, make_placement

        self._imported.set()
        if environment.tf_config_text():
            return  # a cluster's strategy must be made before any other TensorFlow work
        try:
            make_placement("default")  # first, as a run does ($MNIST_TUI_CPU_DEVICES)
        except StrategyError as exc:
            self.error = str(exc)
            return
        self._data_loaded.wait()
        if self._data is not None and len(self._data.y_test):
            from mnist_tui.training.predictions import choose_digits

            self.shown = choose_digits(self._data.x_test, self._data.y_test)
        while True:
            config = self._next()
            if config is None:
                return
            try:
                self._prepare(config)
            except Exception as exc:  # the run builds its own and reports what fails
                self.error = f"{type(exc).__name__}: {exc}"
            finally:
                with self._changed:
                    self._preparing = None
                    self._changed.notify_all()

    def _next(self) -> TrainConfig | None:
        """Wait for settings to prepare for (None: closed)."""
        from mnist_tui.training.precision import resolve_precision

        with self._changed:
            while True:
                if self._closed:
                    return None
                wanted = self._wanted
                if wanted is not None and not self._holds and wanted.strategy == "default":
                    key = model_key(wanted, STEPS_PER_EXECUTION,
                                    resolve_precision(wanted.precision))
                    if self._prepared is None or self._prepared.key != key:
                        left = self._wanted_at + self.settle - time.monotonic()
                        if left <= 0:
                            self._preparing = key
                            return wanted
                        self._changed.wait(left)
                        continue
                self._changed.wait()

    def _go_on(self) -> bool:
        """Whether to take the next step of a preparation: not once a run is waiting."""
        with self._changed:
            return not self._closed and not self._holds

    def _prepare(self, config: TrainConfig) -> None:
        """Build and trace a model for `config`. When a run asks for it before it is all
        traced, it gets it as it is (the run traces the rest, as without a warmup); a run
        of other settings drops it."""
        key = self._preparing
        assert key is not None
        model, recorder, forward = build_and_trace(config, key[2], self._go_on, self.shown)
        with self._changed:
            if self._closed or (self._holds and self._held != key[0]):
                return
            self._prepared = PreparedModel(key, model, recorder, forward)
            self.prepared_count += 1
        if self.on_prepared is not None:
            self.on_prepared(config)


def build_and_trace(config: TrainConfig, precision: str, go_on: Any = lambda: True,
                    shown: ShownDigits | None = None) -> tuple[Any, Any, Any]:
    """A compiled model for `config`, its batch recorder and its forward pass of `shown`
    (the live strip's digits; None when not made), with its training step, that forward
    pass and its validation step traced (the steps on empty datasets: nothing computed; the
    forward pass draws no random number and changes no variable). Before each, stops when
    `go_on()` says so; what is not traced is traced by the run, as without a warmup. (The
    test-set evaluation is not prepared: its trace needs the whole test set run through the
    model, long enough for Enter to wait on it.)"""
    import tensorflow as tf

    from mnist_tui.training.bridge import record_batch_metrics
    from mnist_tui.training.model import build_model
    from mnist_tui.training.pipeline import EVAL_BATCH_SIZE, empty_dataset
    from mnist_tui.training.predictions import compiled_forward, shown_images

    model = build_model(config, steps_per_execution=STEPS_PER_EXECUTION, precision=precision)
    recorder = record_batch_metrics(model)
    forward = None
    # In the order a run needs them: the forward pass comes before the first batch, the
    # validation step only at the first epoch's end.
    for step, batch_size in (("train", config.batch_size), ("forward", 0),
                             ("test", EVAL_BATCH_SIZE)):
        if not go_on():
            break
        if step == "forward":
            if shown is not None:
                forward = compiled_forward(model, shown_images(shown))
                forward()
            continue
        getattr(model, f"make_{step}_function")()
        with contextlib.suppress(StopIteration, tf.errors.OutOfRangeError):
            getattr(model, f"{step}_function")(iter(empty_dataset(batch_size)))
    return model, recorder, forward


def start_import() -> threading.Thread:
    """Import Keras and TensorFlow (quietly) in a background thread, so that a headless run
    loads MNIST meanwhile; the run's own `import_keras` then waits for it, if it must.

    The quiet import points file descriptor 2 at the null device for its duration: whatever
    must be said meanwhile is written to a duplicate of it (see `headless.run_headless`).
    """
    thread = threading.Thread(target=import_keras, name="mnist-tui-import", daemon=True)
    thread.start()
    return thread


_CURRENT: Warmup | None = None
_CURRENT_LOCK = threading.Lock()


def start_warmup(data_path: str | Path | None = None) -> Warmup:
    """Start this process's warmup (once; a later call returns the same one)."""
    global _CURRENT
    with _CURRENT_LOCK:
        if _CURRENT is None:
            _CURRENT = Warmup(data_path).start()
            atexit.register(_CURRENT.close)
        return _CURRENT


def current() -> Warmup | None:
    """This process's warmup, if one was started."""
    return _CURRENT
