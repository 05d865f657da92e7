"""Writing a run folder that can fail: a full disk, a read-only one, a path that is no folder.

A run is worth more than its files: when the run folder cannot be written, training goes
on. `StorageGuard` holds what a writer needs for that: the first fault becomes one
`StorageProblem` event, handed to the front ends (the app shows a notification, headless
prints it on stderr) rather than to the file that failed, and the writer then stops writing.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

from mnist_tui.core.events import Emit, Event, StorageProblem

REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "part of the path is a file, not a folder",
    errno.ENOENT: "the folder does not exist",
}
"""Plain words for the errors a full, read-only or misnamed runs folder gives."""


def describe_fault(exc: OSError) -> str:
    """Why a write failed, in plain words (the system's own text for an unusual error)."""
    return REASONS.get(exc.errno or 0) or exc.strerror or str(exc)


def say_on_stderr(event: Event) -> None:
    """Report a `StorageProblem` on stderr: for a writer without a front end (a Keras script,
    a detached run, whose stderr is its output log)."""
    if isinstance(event, StorageProblem):
        sys.stderr.write(f"mnist-tui: {event.message}\n")
        sys.stderr.flush()


class StorageGuard:
    """A run folder's health: fine until the first fault, which is reported once to `report`
    (stderr when None); after it, the writer writes nothing more."""

    def __init__(self, report: Emit | None = None) -> None:
        self.report: Emit = report or say_on_stderr
        self.problem: StorageProblem | None = None

    @property
    def broken(self) -> bool:
        """Whether a write has failed (nothing more is written)."""
        return self.problem is not None

    def fault(self, path: Path, exc: OSError, what: str, consequence: str) -> None:
        """Note that writing `what` at `path` failed with `exc`; say so the first time only.

        `consequence` ends the sentence: what happens to the run now.
        """
        if self.problem is not None:
            return
        self.problem = StorageProblem(
            path=str(path),
            message=f"cannot write {what} {path}: {describe_fault(exc)}; {consequence}")
        self.report(self.problem)
