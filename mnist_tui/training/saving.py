"""Saving a run's trained model in its folder, in a thread of its own.

The trainer starts the save as soon as the weights are final and evaluates the test set
meanwhile (neither changes the model), so the run's end waits for the longer of the two,
not for both.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any


class ModelSave:
    """`model.save(path)` under way in a background thread; `outcome` waits for it."""

    def __init__(self, model: Any, path: Path) -> None:
        self.path = path
        self._done: Future[None] = Future()
        threading.Thread(target=self._save, args=(model,), name="mnist-tui-save",
                         daemon=True).start()

    def _save(self, model: Any) -> None:
        try:
            model.save(self.path)
            self._done.set_result(None)
        except BaseException as exc:  # raised again in the thread that waits, see `outcome`
            self._done.set_exception(exc)

    def outcome(self) -> tuple[str | None, str | None]:
        """Wait for the save: (the model's path, None), or (None, why it could not be
        written) with no half-written file left. Any other fault is raised here."""
        try:
            self._done.result()
        except OSError as exc:
            with contextlib.suppress(OSError):  # no half-written model left to load
                self.path.unlink(missing_ok=True)
            return None, f"could not save the model: {exc}"
        return str(self.path), None
