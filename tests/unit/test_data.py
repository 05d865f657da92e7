"""Tests for mnist_tui.training.data: reading and checking MNIST files (the lookup order and
the download are in test_data_lookup.py)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest

from mnist_tui.training.data import IDX_NAMES, DataError, load_mnist
from tests.helpers.mnist_files import (
    assert_same,
    idx_bytes,
    make_arrays,
    npz_bytes,
    write_idx_folder,
    write_npz,
)

# Reading good files


@pytest.mark.parametrize("compressed", [True, False])
def test_loads_keras_layout_npz(tmp_path: Path, compressed: bool) -> None:
    arrays = make_arrays()
    path = write_npz(tmp_path / "mnist.npz", arrays, compressed)
    data = load_mnist(path)
    assert_same(data, arrays)
    assert data.source == str(path)
    assert (data.train_size, data.test_size) == (6, 4)
    assert "6 train, 4 test" in repr(data)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dotted", [False, True])
def test_loads_idx_folder(tmp_path: Path, gz: bool, dotted: bool) -> None:
    arrays = make_arrays()
    folder = write_idx_folder(tmp_path / "idx", arrays, gz=gz, dotted=dotted)
    assert_same(load_mnist(str(folder)), arrays)


def test_loads_folder_holding_mnist_npz(tmp_path: Path) -> None:
    arrays = make_arrays()
    write_npz(tmp_path / "data" / "mnist.npz", arrays)
    assert_same(load_mnist(tmp_path / "data"), arrays)


def test_other_integer_dtypes_in_range_become_uint8(tmp_path: Path) -> None:
    arrays = make_arrays()
    wide = {key: value.astype(np.int64) for key, value in arrays.items()}
    assert_same(load_mnist(write_npz(tmp_path / "wide.npz", wide)), arrays)


# Corrupt or wrong files


def _with(**changes: np.ndarray | None) -> dict[str, np.ndarray]:
    arrays = make_arrays()
    arrays.update(changes)
    return {key: value for key, value in arrays.items() if value is not None}


NPZ_CASES = {
    "missing key": (_with(y_test=None), ["lacks y_test"]),
    "wrong image size": (
        _with(x_train=np.zeros((6, 27, 27), np.uint8)),
        ["x_train has shape (6, 27, 27), not (N, 28, 28)"],
    ),
    "labels not 1-d": (_with(y_test=np.zeros((4, 1), np.uint8)), ["y_test has shape (4, 1)"]),
    "float pixels": (
        _with(x_train=np.zeros((6, 28, 28), np.float32)),
        ["x_train has dtype float32"],
    ),
    "label 10": (_with(y_train=np.array([0, 1, 2, 3, 4, 10], np.uint8)), ["outside 0..9"]),
    "pixel 256": (_with(x_test=np.full((4, 28, 28), 256, np.int32)), ["outside 0..255"]),
    "negative pixel": (_with(x_test=np.full((4, 28, 28), -1, np.int16)), ["outside 0..255"]),
    "count mismatch": (
        _with(y_train=np.zeros(5, np.uint8)),
        ["x_train has 6 images but y_train has 5 labels"],
    ),
    "empty split": (
        _with(x_test=np.zeros((0, 28, 28), np.uint8), y_test=np.zeros(0, np.uint8)),
        ["x_test holds no images"],
    ),
    "pickled objects": (
        _with(y_train=np.array([0, 1, 2, 3, 4, "5"], dtype=object)),
        ["pickled Python objects"],
    ),
}


@pytest.mark.parametrize("case", NPZ_CASES)
def test_wrong_npz_contents_are_explained(tmp_path: Path, case: str) -> None:
    arrays, expected = NPZ_CASES[case]
    path = write_npz(tmp_path / "bad.npz", arrays)
    with pytest.raises(DataError) as info:
        load_mnist(path)
    message = str(info.value)
    assert f"MNIST data at {path} (given with --data) is corrupt or not MNIST" in message
    for text in expected:
        assert text in message


def _truncated_npz() -> bytes:
    good = npz_bytes(make_arrays(), compressed=True)
    return good[: len(good) // 2]


def _single_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 28, 28), np.uint8))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"this is not a zip file at all", "neither a zip archive nor a .npy array"),
        (b"", "neither a zip archive nor a .npy array"),
        (_truncated_npz(), "not a readable .npz archive"),
        (_single_npy(), "single .npy array"),
    ],
    ids=["garbage", "empty", "truncated", "npy"],
)
def test_unreadable_npz_files_are_explained(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "mnist.npz"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_mnist(path)
    message = str(info.value)
    assert "corrupt or not MNIST" in message
    assert expected in message
    assert "--data" in message


def _break_idx(folder: Path, case: str) -> None:
    images = folder / IDX_NAMES[0]
    labels = folder / IDX_NAMES[3]
    if case == "bad magic":
        images.write_bytes(labels.read_bytes())
    elif case == "truncated":
        images.write_bytes(images.read_bytes()[:-100])
    elif case == "extra bytes":
        labels.write_bytes(labels.read_bytes() + b"\0")
    elif case == "short header":
        images.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    elif case == "wrong side":
        images.write_bytes(idx_bytes(np.zeros((6, 27, 27), np.uint8)))
    elif case == "not gzip":
        images.unlink()
        (folder / f"{IDX_NAMES[0]}.gz").write_bytes(b"plain bytes, no gzip header")
    elif case == "truncated gzip":
        data = gzip.compress(images.read_bytes())
        images.unlink()
        (folder / f"{IDX_NAMES[0]}.gz").write_bytes(data[: len(data) // 2])
    elif case == "missing file":
        labels.unlink()


IDX_CASES = {
    "bad magic": "train-images-idx3-ubyte starts with magic number 0x00000801, not 0x00000803",
    "truncated": "(truncated)",
    "extra bytes": "t10k-labels-idx1-ubyte is 13 bytes but its header (4,) says 12",
    "short header": "truncated inside its header",
    "wrong side": "x_train has shape (6, 27, 27)",
    "not gzip": "train-images-idx3-ubyte.gz could not be read",
    "truncated gzip": "train-images-idx3-ubyte.gz could not be read",
    "missing file": "the folder lacks t10k-labels-idx1-ubyte",
}


@pytest.mark.parametrize("case", IDX_CASES)
def test_broken_idx_folders_are_explained(tmp_path: Path, case: str) -> None:
    folder = write_idx_folder(tmp_path / "idx", make_arrays())
    _break_idx(folder, case)
    with pytest.raises(DataError) as info:
        load_mnist(folder)
    message = str(info.value)
    assert "corrupt or not MNIST" in message
    assert IDX_CASES[case] in message


def test_folder_without_data_is_explained(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"neither mnist\.npz nor the IDX files"):
        load_mnist(tmp_path)



def test_real_mnist_matches_the_published_facts(mnist_path: Path) -> None:
    data = load_mnist(mnist_path)
    assert data.x_train.shape == (60000, 28, 28)
    assert data.x_test.shape == (10000, 28, 28)
    assert data.x_train.dtype == np.uint8
    assert data.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(data.y_train).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949
    ]  # fmt: skip
    assert np.bincount(data.y_test).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009
    ]  # fmt: skip
    assert int(data.x_train.sum(dtype=np.int64)) == 1567298545
    assert int(data.x_test.sum(dtype=np.int64)) == 264923200
