"""Fixtures shared by the test files, the kind markers, and a user folder of each test process.

Each test file lives in the folder of its kind, and takes that kind's marker from it:
`pytest -m unit` (pure logic on generated data), `-m tui` (Pilot and snapshot tests with fake
event sources), `-m e2e` (real Keras, TensorFlow, mnist-tui processes). The default run runs
all of them; `slow` stays on the tests that train real Keras.

Under pytest-xdist (`-n`; `--dist loadgroup` is in pyproject.toml), the tests that share a
module-scoped fixture (a trained run, say) form one group, so one worker builds it once; every
other test goes to whichever worker is free. An explicit `xdist_group` marker wins.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from mnist_tui.core.events import Event
from mnist_tui.training.data import MnistData, load_mnist
from mnist_tui.tui.state.history import TrainingHistory

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO_ROOT.parent / "shared" / "data" / "mnist.npz"
TESTS = Path(__file__).resolve().parent
KINDS = ("unit", "tui", "e2e")
# Where the app keeps what it remembers (theme, runs, logs): one fresh set of folders per test
# process, so that parallel workers (pytest-xdist) never share one and the user's own are left
# alone. Tests that look at these folders still point them at their own tmp_path.
USER_FOLDERS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
# Real runs here log every batch on its own (in this process and the mnist-tui processes the
# tests start), as the tests that act at a given batch or compare each batch with Keras need;
# the folding of fast batches is tested where it is asked for (tests/unit/test_batch_folding.py,
# tests/e2e/test_batch_folding_e2e.py: `monkeypatch.setenv(FOLD_RATE, ...)`).
FOLD_RATE = "MNIST_TUI_FOLD_RATE"
SET = {FOLD_RATE: "off"}
_HOME = pytest.StashKey[tuple[Path, dict[str, str | None]]]()  # the folder, the values it hid


def pytest_configure(config: pytest.Config) -> None:
    home = Path(tempfile.mkdtemp(prefix=f"mnist-tui-tests-{_worker()}-"))
    config.stash[_HOME] = (home, {name: os.environ.get(name) for name in (*USER_FOLDERS, *SET)})
    for name in USER_FOLDERS:
        os.environ[name] = str(home / name.removeprefix("XDG_").lower())
    os.environ.update(SET)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _HOME not in config.stash:
        return
    home, saved = config.stash[_HOME]
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(home, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the kind of its folder, and group those sharing a module fixture."""
    for item in items:
        kind = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        if kind in KINDS:
            item.add_marker(getattr(pytest.mark, kind))
        if item.get_closest_marker("xdist_group") is None and _uses_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.path.relative_to(TESTS).as_posix()))


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


@pytest.fixture
def folded_events(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Every event the app's `TrainingHistory`s fold during the test, in order."""
    folded: list[Event] = []
    fold = TrainingHistory.fold

    def spy(history: TrainingHistory, event: Event) -> None:
        folded.append(event)
        fold(history, event)

    monkeypatch.setattr(TrainingHistory, "fold", spy)
    return folded


@pytest.fixture(scope="session")
def small_mnist(mnist_path: Path) -> MnistData:
    """3,000 training and 2,000 test images of the real MNIST, for real-Keras tests."""
    full = load_mnist(mnist_path)
    return MnistData(full.x_train[:3000], full.y_train[:3000], full.x_test[:2000],
                     full.y_test[:2000], source="slice of " + full.source)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _uses_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(definitions[-1].scope == "module"
               for definitions in info.name2fixturedefs.values() if definitions)

