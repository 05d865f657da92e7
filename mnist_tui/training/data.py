"""Finding, downloading and checking the MNIST digits.

`load_mnist()` looks in one place after another (an explicit path, `$MNIST_TUI_DATA`, Keras's
cache, a download into that cache) and always hands back checked uint8 arrays or raises a
`DataError` whose text tells a user what went wrong and how to fix it. Files are read without
unpickling, so a hostile or corrupt file can at worst be refused.

Dtype policy: images and labels of any integer dtype are accepted and converted to uint8 when
their values fit (0..255 for pixels, 0..9 for labels); floats, bools and objects are refused.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_tui.core import environment
from mnist_tui.core.config import TrainConfig
from mnist_tui.core.errors import MnistTuiError

ENV_VAR = environment.DATA
KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
NPZ_NAME = "mnist.npz"
IMAGE_SIDE = 28
IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801
# Keys of the Keras layout and the matching original IDX file names, in the same order.
KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


class DataError(MnistTuiError):
    """MNIST could not be found or read; the message is complete and meant for the user."""


class _Invalid(Exception):
    """A file was read but is not MNIST; the message says what was wrong (internal)."""


@dataclass(frozen=True, eq=False, repr=False)
class MnistData:
    """The four MNIST arrays, checked: images (N, 28, 28) uint8, labels (N,) uint8 in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # where the arrays came from, for logs and messages

    @property
    def train_size(self) -> int:
        """Number of training images."""
        return len(self.y_train)

    @property
    def test_size(self) -> int:
        """Number of test images."""
        return len(self.y_test)

    def __repr__(self) -> str:
        return f"MnistData({self.train_size} train, {self.test_size} test, from {self.source})"


def default_keras_cache(env: Mapping[str, str] | None = None) -> Path:
    """Where Keras caches mnist.npz: `$KERAS_HOME/datasets`, else `~/.keras/datasets`.

    Like Keras, falls back to `/tmp/.keras` when the home folder is not writable.
    """
    home = environment.keras_home(env)
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home).expanduser() / "datasets" / NPZ_NAME


def load_mnist(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    keras_cache: Path | None = None,
    download: bool = True,
    url: str = KERAS_URL,
    sha256: str = KERAS_SHA256,
    timeout: float = 30,
) -> MnistData:
    """Load checked MNIST arrays from the first place that has them.

    Order: `path` (a Keras-layout .npz, or a folder with mnist.npz or the four IDX files,
    optionally gzipped), then `$MNIST_TUI_DATA` (same kinds), then the Keras cache file
    (`keras_cache`, default `default_keras_cache(env)`), then a download of `url` into that
    cache, checked against `sha256`. A given path or variable that is bad is an error at once;
    it never falls through to a download. `env` defaults to `os.environ`.
    """
    cache = default_keras_cache(env) if keras_cache is None else Path(keras_cache)
    if path is not None:
        return _load_given(Path(path).expanduser(), "given with --data", str(path))
    env_path = environment.data_path(env)
    if env_path:
        return _load_given(
            Path(env_path).expanduser(), f"from ${ENV_VAR}", f"{env_path} (${ENV_VAR})"
        )

    tried = [f"${ENV_VAR}: not set", f"Keras cache {cache}: not found"]
    if cache.is_file():
        try:
            return _read(cache, f"{cache} (Keras cache)")
        except _Invalid as exc:
            tried[1] = f"Keras cache {cache}: unreadable ({exc})"
    if not download:
        tried.append("download: turned off")
    else:
        try:
            _download(url, cache, sha256, timeout)
            return _read(cache, f"{cache} (downloaded from {url})")
        except (_Invalid, DataError) as exc:
            tried.append(f"download from {url}: {exc}")
    raise DataError(
        "MNIST data not found. Places tried:\n"
        + "".join(f"  - {place}\n" for place in tried)
        + _fix_hint(cache, url)
    )


def check_data_fits(config: TrainConfig, data: MnistData) -> None:
    """Raise DataError when the data holds fewer training images than the config asks for."""
    if data.x_train.shape[0] < config.train_size:
        raise DataError(
            f"{data.source} holds {data.x_train.shape[0]:,} training images but the training "
            f"size is {config.train_size:,}; use a training size of at most "
            f"{data.x_train.shape[0]:,}"
        )


def load_run_data(config: TrainConfig, path: str | Path | None = None, *,
                  data: MnistData | None = None, download: bool = True) -> MnistData:
    """MNIST for a run of `config`, checked before anything trains on it: `data` when given,
    else `load_mnist(path, download=download)`. Raises DataError when it cannot be had or
    holds fewer training images than the run's training size (`check_data_fits`).

    The one data check of every way to start a run: the trainer, headless mode (before its
    run folder is made), and `--detach` (before the background process starts).
    """
    data = data or load_mnist(path, download=download)
    check_data_fits(config, data)
    return data


def _fix_hint(cache: Path, url: str) -> str:
    return (
        "Fix it with one of:\n"
        "  - pass --data PATH: a Keras mnist.npz, or a folder with mnist.npz or the four\n"
        f"    IDX files (optionally .gz) {', '.join(IDX_NAMES[:2])},\n"
        f"    {', '.join(IDX_NAMES[2:])}\n"
        f"  - set {ENV_VAR}=PATH (same kinds of PATH)\n"
        f"  - put mnist.npz at {cache} (where Keras caches it; KERAS_HOME moves it)\n"
        "On a machine or cluster without internet, download\n"
        f"  {url}\n"
        "elsewhere and copy it to one of those places."
    )


def _load_given(path: Path, origin: str, source: str) -> MnistData:
    """Load a path the user named; anything wrong with it is a DataError, never a fallback."""
    fix = f"Check the path ({origin}), or drop it to fall back to the Keras cache or a download."
    if not path.exists():
        raise DataError(f"MNIST data path {path} ({origin}) does not exist.\n{fix}")
    try:
        return _read(path, source)
    except _Invalid as exc:
        message = f"MNIST data at {path} ({origin}) is corrupt or not MNIST: {exc}\n{fix}"
        raise DataError(message) from exc


def _read(path: Path, source: str) -> MnistData:
    """Read an .npz file or a folder; raise `_Invalid` with the reason when it is not MNIST."""
    if path.is_dir():
        if (path / NPZ_NAME).is_file():
            return _read(path / NPZ_NAME, source)
        arrays = _read_idx_folder(path)
    else:
        arrays = _read_npz(path)
    return _checked(arrays, source)


def _read_npz(path: Path) -> list[np.ndarray]:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise _Invalid(f"{path.name} is a single .npy array, not an .npz archive of {KEYS}")
        with loaded as npz:
            missing = [key for key in KEYS if key not in npz.files]
            if missing:
                raise _Invalid(f"{path.name} lacks {', '.join(missing)} (it has {npz.files})")
            return [npz[key] for key in KEYS]
    except _READ_ERRORS as exc:
        if "Object arrays" in str(exc):
            raise _Invalid(
                f"{path.name} holds pickled Python objects, which are never loaded for safety "
                "(a Keras mnist.npz holds plain integer arrays)"
            ) from exc
        if "pickled" in str(exc) or isinstance(exc, EOFError):
            reason = "neither a zip archive nor a .npy array"
        else:
            reason = str(exc)
        raise _Invalid(f"{path.name} is not a readable .npz archive ({reason})") from exc


def _read_idx_folder(folder: Path) -> list[np.ndarray]:
    files = [_find_idx(folder, name) for name in IDX_NAMES]
    missing = [name for name, file in zip(IDX_NAMES, files, strict=True) if file is None]
    if len(missing) == len(IDX_NAMES):
        raise _Invalid(f"the folder holds neither {NPZ_NAME} nor the IDX files {IDX_NAMES}")
    if missing:
        raise _Invalid(f"the folder lacks {', '.join(missing)} (or the same name with .gz)")
    magics = (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC) * 2
    return [_read_idx(file, magic) for file, magic in zip(files, magics, strict=True) if file]


def _find_idx(folder: Path, name: str) -> Path | None:
    dotted = name.replace("-idx", ".idx")  # "train-images.idx3-ubyte", a common spelling
    for candidate in (name, dotted):
        for suffix in ("", ".gz"):
            if (folder / (candidate + suffix)).is_file():
                return folder / (candidate + suffix)
    return None


def _read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Parse one IDX file (big-endian header, then unsigned bytes) and check its length."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as file:
            raw = file.read()
    except _READ_ERRORS as exc:
        raise _Invalid(f"{path.name} could not be read ({exc})") from exc
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        kind = "images" if expected_magic == IDX_IMAGES_MAGIC else "labels"
        raise _Invalid(
            f"{path.name} starts with magic number 0x{magic:08x}, "
            f"not 0x{expected_magic:08x} (IDX {kind})"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _Invalid(f"{path.name} is truncated inside its header")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise _Invalid(
            f"{path.name} is {len(raw)} bytes but its header {tuple(dims)} says {expected}"
            + (" (truncated)" if len(raw) < expected else "")
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def _checked(arrays: list[np.ndarray], source: str) -> MnistData:
    """Check shapes, dtypes, value ranges and counts; convert integer arrays to uint8."""
    x_train, y_train, x_test, y_test = (
        _as_uint8(array, key, 9 if key.startswith("y") else 255)
        for key, array in zip(KEYS, arrays, strict=True)
    )
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or x.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise _Invalid(f"x_{split} has shape {x.shape}, not (N, 28, 28)")
        if y.ndim != 1:
            raise _Invalid(f"y_{split} has shape {y.shape}, not (N,)")
        if len(x) != len(y):
            raise _Invalid(f"x_{split} has {len(x)} images but y_{split} has {len(y)} labels")
        if len(x) == 0:
            raise _Invalid(f"x_{split} holds no images")
    return MnistData(x_train, y_train, x_test, y_test, source)


def _as_uint8(array: np.ndarray, key: str, top: int) -> np.ndarray:
    if not np.issubdtype(array.dtype, np.integer):
        raise _Invalid(f"{key} has dtype {array.dtype}, not an integer type like uint8")
    if array.size and (array.min() < 0 or array.max() > top):
        raise _Invalid(f"{key} has values {array.min()}..{array.max()}, outside 0..{top}")
    return array if array.dtype == np.uint8 else array.astype(np.uint8)


def _download(url: str, dest: Path, sha256: str, timeout: float) -> None:
    """Fetch `url` to a temp file beside `dest`, check its sha256, then rename it into place."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".mnist-", suffix=".part")
    except OSError as exc:
        raise DataError(f"cannot write to {dest.parent} ({exc})") from exc
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as file, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                file.write(chunk)
        if digest.hexdigest() != sha256:
            raise DataError(
                f"checksum mismatch: got sha256 {digest.hexdigest()}, expected {sha256}"
            )
        os.replace(tmp, dest)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason: object = exc
        if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
            reason = exc.reason  # "[Errno -2] Name or service not known", without the wrapper
        raise DataError(f"failed ({reason})") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
