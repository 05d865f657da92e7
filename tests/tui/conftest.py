"""What every test of the app shares: a config folder of its own, so that no remembered theme
or theme file of the machine changes what is drawn, and no test's choice reaches the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$XDG_CONFIG_HOME in the test's own folder; the app's config folder within it."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "mnist-tui"
