"""Every environment variable mnist-tui reads: its name, what it is for, and how it is read.

Each function reads one knob from `environ` (default `os.environ`, read at the call, so a
test's mapping or `monkeypatch.setenv` is seen). Values that need checking come back as the
text given, stripped; the module that uses them checks them and says what is wrong in its
own words (`checkpoint.checkpoint_seconds`, `strategy.read_tf_config`, ...).

Some are only ever written: as defaults before TensorFlow loads,
TF_CPP_MIN_LOG_LEVEL and KERAS_BACKEND (see `training.keras_runtime`), and for a sweep's workers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

RUNS_DIR = "MNIST_TUI_RUNS_DIR"  # where run folders are kept (default: the user data dir)
DATA = "MNIST_TUI_DATA"  # where MNIST is when --data does not say (an .npz or an IDX folder)
KERAS_HOME = "KERAS_HOME"  # Keras's own: its `datasets` folder caches mnist.npz
CHECKPOINT_SECONDS = "MNIST_TUI_CHECKPOINT_SECONDS"  # at most this long between checkpoints
CPU_DEVICES = "MNIST_TUI_CPU_DEVICES"  # logical CPU devices to make (the mirrored strategy)
TF_CONFIG = "TF_CONFIG"  # TensorFlow's own: the cluster of a multi-worker run, this task's place
LIVE = "MNIST_TUI_LIVE"  # "0": no live predictions or load samples (to measure their cost)
FOLD_RATE = "MNIST_TUI_FOLD_RATE"  # batches a second logged one by one; "off": never fold
CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"  # CUDA's own: which GPUs TensorFlow sees
TF_CPP_MIN_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"  # written: TensorFlow's C++ log lines, "3" = none
KERAS_BACKEND = "KERAS_BACKEND"  # written: "tensorflow"
TF_NUM_INTRAOP_THREADS = "TF_NUM_INTRAOP_THREADS"  # written for a sweep's worker: its cores
TF_NUM_INTEROP_THREADS = "TF_NUM_INTEROP_THREADS"  # written for a sweep's workers, with the above
SWEEP_STORAGE = "MNIST_TUI_SWEEP_STORAGE"  # a sweep's Optuna storage URL without --storage
SWEEP_HEARTBEAT = "MNIST_TUI_SWEEP_HEARTBEAT"  # seconds between a sweep trial's heartbeats
WARM_NICE = "MNIST_TUI_WARM_NICE"  # how much lower the run process's CPU priority is until Enter


def _read(name: str, environ: Mapping[str, str] | None) -> str:
    """The variable's value, stripped of surrounding blanks; "" when it is not set."""
    return (os.environ if environ is None else environ).get(name, "").strip()


def runs_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """`$MNIST_TUI_RUNS_DIR` as a path (`~` expanded); None when it is not set."""
    raw = (os.environ if environ is None else environ).get(RUNS_DIR, "")
    return Path(raw).expanduser() if raw else None


def data_path(environ: Mapping[str, str] | None = None) -> str | None:
    """`$MNIST_TUI_DATA` as given; None when it is not set (or empty)."""
    return (os.environ if environ is None else environ).get(DATA) or None


def keras_home(environ: Mapping[str, str] | None = None) -> str | None:
    """`$KERAS_HOME` as given; None when it is not set (or empty)."""
    return (os.environ if environ is None else environ).get(KERAS_HOME) or None


def checkpoint_seconds_text(environ: Mapping[str, str] | None = None) -> str:
    """`$MNIST_TUI_CHECKPOINT_SECONDS` as given (stripped; "" when not set)."""
    return _read(CHECKPOINT_SECONDS, environ)


def sweep_heartbeat_text(environ: Mapping[str, str] | None = None) -> str:
    """`$MNIST_TUI_SWEEP_HEARTBEAT` as given (stripped; "" when not set)."""
    return _read(SWEEP_HEARTBEAT, environ)


def cpu_devices_text(environ: Mapping[str, str] | None = None) -> str:
    """`$MNIST_TUI_CPU_DEVICES` as given (stripped; "" when not set)."""
    return _read(CPU_DEVICES, environ)


def tf_config_text(environ: Mapping[str, str] | None = None) -> str:
    """`$TF_CONFIG` as given ("" when not set)."""
    return (os.environ if environ is None else environ).get(TF_CONFIG, "")


def fold_rate_text(environ: Mapping[str, str] | None = None) -> str:
    """`$MNIST_TUI_FOLD_RATE` as given (stripped; "" when not set)."""
    return _read(FOLD_RATE, environ)


def warm_nice_text(environ: Mapping[str, str] | None = None) -> str:
    """`$MNIST_TUI_WARM_NICE` as given (stripped; "" when not set)."""
    return _read(WARM_NICE, environ)


def live(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a run shows live predictions and load samples: unless `$MNIST_TUI_LIVE` is 0."""
    return (os.environ if environ is None else environ).get(LIVE) != "0"


def first_visible_gpu(environ: Mapping[str, str] | None = None) -> int:
    """The first GPU number in `$CUDA_VISIBLE_DEVICES` (TensorFlow's GPU:0); 0 when it lists
    none (not set, or names such as UUIDs)."""
    first = _read(CUDA_VISIBLE_DEVICES, environ).split(",")[0].strip()
    return int(first) if first.isdigit() else 0
