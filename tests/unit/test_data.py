"""Tests for mnist_tui.training.data: reading, checking, lookup order and download of MNIST."""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mnist_tui.training.data import (
    IDX_NAMES,
    KEYS,
    DataError,
    MnistData,
    default_keras_cache,
    load_mnist,
)


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


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A Keras cache file location that does not exist yet."""
    return tmp_path / "keras" / "datasets" / "mnist.npz"


@pytest.fixture
def server() -> Iterator[SimpleNamespace]:
    """A local HTTP server: put bytes in `.files[path]`; `.hits` lists the paths requested."""
    files: dict[str, bytes] = {}
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_port}", files=files, hits=hits)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


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


# Lookup order


def test_explicit_path_beats_env_and_cache(tmp_path: Path, cache: Path) -> None:
    explicit = write_npz(tmp_path / "explicit.npz", make_arrays(n_train=3))
    from_env = write_npz(tmp_path / "env.npz", make_arrays(n_train=4))
    write_npz(cache, make_arrays(n_train=5))
    data = load_mnist(explicit, env={"MNIST_TUI_DATA": str(from_env)}, keras_cache=cache)
    assert data.train_size == 3


def test_env_beats_cache(tmp_path: Path, cache: Path) -> None:
    from_env = write_npz(tmp_path / "env.npz", make_arrays(n_train=4))
    write_npz(cache, make_arrays(n_train=5))
    data = load_mnist(env={"MNIST_TUI_DATA": str(from_env)}, keras_cache=cache)
    assert data.train_size == 4
    assert data.source == f"{from_env} ($MNIST_TUI_DATA)"


def test_env_defaults_to_os_environ(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_idx_folder(tmp_path / "idx", make_arrays(n_train=7), gz=True)
    monkeypatch.setenv("MNIST_TUI_DATA", str(folder))
    assert load_mnist(keras_cache=cache, download=False).train_size == 7


def test_cache_beats_download(cache: Path, server: SimpleNamespace) -> None:
    write_npz(cache, make_arrays(n_train=5))
    data = load_mnist(env={"MNIST_TUI_DATA": ""}, keras_cache=cache, url=f"{server.url}/x.npz")
    assert data.train_size == 5
    assert data.source == f"{cache} (Keras cache)"
    assert server.hits == []


def test_keras_cache_follows_keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_keras_cache({"KERAS_HOME": str(tmp_path)}) == (
        tmp_path / "datasets" / "mnist.npz"
    )
    assert default_keras_cache({}).parts[-3:] == (".keras", "datasets", "mnist.npz")
    write_npz(tmp_path / "datasets" / "mnist.npz", make_arrays(n_train=8))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("MNIST_TUI_DATA", raising=False)
    assert load_mnist(download=False).train_size == 8


@pytest.mark.parametrize("where", ["explicit", "env"])
def test_bad_given_path_does_not_fall_through(
    tmp_path: Path, cache: Path, server: SimpleNamespace, where: str
) -> None:
    write_npz(cache, make_arrays())
    server.files["/mnist.npz"] = npz_bytes(make_arrays())
    missing = tmp_path / "nowhere" / "mnist.npz"
    explicit = missing if where == "explicit" else None
    env = {"MNIST_TUI_DATA": str(missing)} if where == "env" else {}
    with pytest.raises(DataError) as info:
        load_mnist(explicit, env=env, keras_cache=cache, url=f"{server.url}/mnist.npz")
    message = str(info.value)
    assert f"MNIST data path {missing}" in message
    assert "does not exist" in message
    assert ("--data" if where == "explicit" else "$MNIST_TUI_DATA") in message
    assert server.hits == []


# Download


def test_download_fills_the_cache(cache: Path, server: SimpleNamespace) -> None:
    arrays = make_arrays()
    body = npz_bytes(arrays)
    server.files["/mnist.npz"] = body
    url = f"{server.url}/mnist.npz"
    sha = hashlib.sha256(body).hexdigest()
    data = load_mnist(env={}, keras_cache=cache, url=url, sha256=sha)
    assert_same(data, arrays)
    assert data.source == f"{cache} (downloaded from {url})"
    assert cache.read_bytes() == body
    assert [p.name for p in cache.parent.iterdir()] == ["mnist.npz"]  # no temp file left
    load_mnist(env={}, keras_cache=cache, url=url, sha256=sha)
    assert server.hits == ["/mnist.npz"]  # the second load used the cache


def test_download_replaces_a_corrupt_cache(cache: Path, server: SimpleNamespace) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"half a download")
    body = npz_bytes(make_arrays())
    server.files["/mnist.npz"] = body
    sha = hashlib.sha256(body).hexdigest()
    load_mnist(env={}, keras_cache=cache, url=f"{server.url}/mnist.npz", sha256=sha)
    assert cache.read_bytes() == body


def test_checksum_mismatch_keeps_nothing(cache: Path, server: SimpleNamespace) -> None:
    server.files["/mnist.npz"] = npz_bytes(make_arrays())
    with pytest.raises(DataError) as info:
        load_mnist(env={}, keras_cache=cache, url=f"{server.url}/mnist.npz", sha256="0" * 64)
    message = str(info.value)
    assert "checksum mismatch" in message
    assert f"expected {'0' * 64}" in message
    assert list(cache.parent.iterdir()) == []


def test_http_error_is_reported(cache: Path, server: SimpleNamespace) -> None:
    with pytest.raises(DataError, match="HTTP Error 404"):
        load_mnist(env={}, keras_cache=cache, url=f"{server.url}/missing.npz")


def test_offline_error_lists_places_and_fixes(cache: Path) -> None:
    url = closed_port_url()
    with pytest.raises(DataError) as info:
        load_mnist(env={}, keras_cache=cache, url=url, timeout=5)
    message = str(info.value)
    for text in [
        "MNIST data not found. Places tried:",
        "$MNIST_TUI_DATA: not set",
        f"Keras cache {cache}: not found",
        f"download from {url}: failed",
        "pass --data PATH",
        "set MNIST_TUI_DATA=PATH",
        f"put mnist.npz at {cache}",
        "without internet",
        "t10k-labels-idx1-ubyte",
    ]:
        assert text in message
    assert not cache.exists()


def test_download_turned_off_and_corrupt_cache(cache: Path, server: SimpleNamespace) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"garbage")
    with pytest.raises(DataError) as info:
        load_mnist(env={}, keras_cache=cache, download=False, url=f"{server.url}/mnist.npz")
    message = str(info.value)
    assert f"Keras cache {cache}: unreadable" in message
    assert "download: turned off" in message
    assert server.hits == []


# The real file


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
