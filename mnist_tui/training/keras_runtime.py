"""Importing Keras and TensorFlow quietly, once, in whichever thread needs them first.

TensorFlow takes seconds to import and writes log lines to the terminal while it loads,
which would corrupt a terminal UI: everything that needs Keras imports it through here.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from mnist_tui.core import environment

_IMPORT_LOCK = threading.Lock()


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ and Python log lines, which would corrupt a terminal UI."""
    os.environ.setdefault(environment.TF_CPP_MIN_LOG_LEVEL, "3")
    os.environ.setdefault(environment.KERAS_BACKEND, "tensorflow")


def import_keras() -> Any:
    """Import Keras quietly (TensorFlow backend) and return the module.

    TensorFlow's C++ code logs a few lines to file descriptor 2 while it loads, whatever
    `TF_CPP_MIN_LOG_LEVEL` says (absl logs before it is initialised), so the import runs with
    descriptor 2 pointed at the null device.
    """
    quiet_tensorflow()
    with _IMPORT_LOCK:
        if "tensorflow" not in sys.modules:
            sys.stderr.flush()
            saved = os.dup(2)
            null = os.open(os.devnull, os.O_WRONLY)
            # TensorFlow's TFLite helpers import JAX when it is installed (for a converter
            # we never call): ~15% of the import's CPU, skipped unless Keras runs on JAX.
            skip_jax = "jax" not in sys.modules and os.environ.get(
                environment.KERAS_BACKEND) == "tensorflow"
            try:
                os.dup2(null, 2)
                if skip_jax:
                    sys.modules["jax"] = None  # type: ignore[assignment]  # ImportError
                import tensorflow  # noqa: F401
            finally:
                if skip_jax and sys.modules.get("jax", 0) is None:
                    del sys.modules["jax"]  # a later `import jax` imports it
                os.dup2(saved, 2)
                os.close(saved)
                os.close(null)
    import absl.logging
    import keras
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")
    return keras
