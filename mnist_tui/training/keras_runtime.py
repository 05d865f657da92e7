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


def _skipped_imports() -> list[str]:
    """What TensorFlow's import would pull in for nothing here, made to fail as absent:

    - JAX, which TensorFlow's TFLite helpers import when it is installed (for a converter we
      never call): ~15% of the import's CPU; kept when Keras runs on JAX;
    - IPython, which Keras's saving module imports when it is installed (to show a file's
      contents in a notebook): ~12% of the import's CPU; kept inside IPython or Jupyter,
      where it is imported already.
    """
    skipped = []
    if "jax" not in sys.modules and os.environ.get(environment.KERAS_BACKEND) == "tensorflow":
        skipped.append("jax")
    if "IPython" not in sys.modules:
        skipped.append("IPython")
    return skipped


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
            skipped = _skipped_imports()
            try:
                os.dup2(null, 2)
                for name in skipped:
                    sys.modules[name] = None  # type: ignore[assignment]  # ImportError
                import tensorflow  # noqa: F401
            finally:
                for name in skipped:
                    if name in sys.modules and sys.modules[name] is None:
                        del sys.modules[name]  # a later import imports it
                os.dup2(saved, 2)
                os.close(saved)
                os.close(null)
    import absl.logging
    import keras
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")
    return keras
