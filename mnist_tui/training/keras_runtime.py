"""Importing Keras and TensorFlow quietly, once, in whichever thread needs them first.

TensorFlow takes seconds to import and writes log lines to the terminal while it loads,
which would corrupt a terminal UI: everything that needs Keras imports it through here.

It also turns on TensorFlow's oneDNN kernels on every x86 CPU. TensorFlow's x86 build turns
them on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX; elsewhere (an AVX2-only AMD EPYC,
say) it runs its Eigen kernels, which trained the seed's network at about 0.55x the speed
(MaxPoolGrad recomputes every argmax, im2col packs each convolution's patches; see the
README's speed section and `benchmarks/speed.py`'s `@eigen` kinds). A value the user set wins.
"""

from __future__ import annotations

import os
import platform
import sys
import threading
from typing import Any

from mnist_tui.core import environment

_IMPORT_LOCK = threading.Lock()


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ and Python log lines, which would corrupt a terminal UI."""
    os.environ.setdefault(environment.TF_CPP_MIN_LOG_LEVEL, "3")
    os.environ.setdefault(environment.KERAS_BACKEND, "tensorflow")


def fast_kernels() -> None:
    """Ask for TensorFlow's oneDNN kernels on any x86 CPU (see the module), before it loads."""
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault(environment.TF_ENABLE_ONEDNN_OPTS, "1")


def import_keras() -> Any:
    """Import Keras quietly (TensorFlow backend) and return the module.

    TensorFlow's C++ code logs a few lines to file descriptor 2 while it loads, whatever
    `TF_CPP_MIN_LOG_LEVEL` says (absl logs before it is initialised), so the import runs with
    descriptor 2 pointed at the null device.
    """
    quiet_tensorflow()
    fast_kernels()
    with _IMPORT_LOCK:
        if "tensorflow" not in sys.modules:
            sys.stderr.flush()
            saved = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, 2)
                import tensorflow  # noqa: F401
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                os.close(null)
    import absl.logging
    import keras
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")
    return keras
