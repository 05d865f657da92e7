"""Tiny MNIST-shaped data sets written as the files users have: Keras-layout .npz, IDX folders
(plain or gzipped), and a URL where nothing listens; for the data loading tests."""

from __future__ import annotations

import gzip
import io
import socket
from pathlib import Path

import numpy as np

from mnist_tui.training.data import IDX_NAMES, KEYS, MnistData


def make_arrays(n_train: int = 6, n_test: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """Tiny MNIST-shaped arrays; `n_train` tells data sets apart in the lookup tests."""
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }


def npz_bytes(arrays: dict[str, np.ndarray], compressed: bool = True) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def write_npz(path: Path, arrays: dict[str, np.ndarray], compressed: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(npz_bytes(arrays, compressed))
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic 0x0000080N, big-endian dims, then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(dim.to_bytes(4, "big") for dim in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(
    folder: Path, arrays: dict[str, np.ndarray], gz: bool = False, dotted: bool = False
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in zip(KEYS, IDX_NAMES, strict=True):
        data = idx_bytes(arrays[key])
        if dotted:
            name = name.replace("-idx", ".idx")
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def assert_same(data: MnistData, arrays: dict[str, np.ndarray]) -> None:
    for key in KEYS:
        value = getattr(data, key)
        assert value.dtype == np.uint8, key
        np.testing.assert_array_equal(value, arrays[key], err_msg=key)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens, so connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist.npz"
