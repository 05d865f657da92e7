"""Tests for mnist_tui.training.data: where MNIST is looked for (a given path, the
environment, the Keras cache) and its download (checksum, errors, the offline message)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from mnist_tui.training.data import DataError, default_keras_cache, load_mnist
from tests.helpers.mnist_files import (
    assert_same,
    closed_port_url,
    make_arrays,
    npz_bytes,
    write_idx_folder,
    write_npz,
)


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
