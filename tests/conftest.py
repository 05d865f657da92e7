"""Fixtures shared by the test files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mnist_tui.training.data import MnistData, load_mnist

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist.npz"


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """The real MNIST file: `$MNIST_TUI_TEST_DATA`, else `<repo>/../shared/data/mnist.npz`.

    Fails (rather than skips) when it is missing, so a CI without the data is noticed.
    """
    path = Path(os.environ.get("MNIST_TUI_TEST_DATA") or DEFAULT_MNIST)
    if not path.is_file():
        pytest.fail(
            f"real MNIST not found at {path}. Set MNIST_TUI_TEST_DATA to a Keras-layout "
            "mnist.npz, or put one at <repo>/../shared/data/mnist.npz.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def small_mnist(mnist_path: Path) -> MnistData:
    """3,000 training and 2,000 test images of the real MNIST, for real-Keras tests."""
    full = load_mnist(mnist_path)
    return MnistData(full.x_train[:3000], full.y_train[:3000], full.x_test[:2000],
                     full.y_test[:2000], source="slice of " + full.source)
