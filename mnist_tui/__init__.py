"""mnist-tui: train the TensorFlow.js MNIST CNN with Keras and watch it learn in the terminal.

`from mnist_tui import MonitorCallback` gives the Keras callback that logs any `model.fit` as a
run for `mnist-tui watch`; it is loaded on first use, so `import mnist_tui` stays light (no
TensorFlow).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["MonitorCallback", "__version__"]


def __getattr__(name: str) -> Any:
    """Load `MonitorCallback` (and with it Keras) only when it is asked for."""
    if name == "MonitorCallback":
        from mnist_tui.callback import MonitorCallback

        return MonitorCallback
    raise AttributeError(f"module 'mnist_tui' has no attribute {name!r}")
