"""Listing the runs folder when some of what is in it is damaged.

A runs folder collects what crashes, full disks and people leave behind: an empty folder, a
`config.json` that is truncated, a folder or a symbolic link loop, a `summary.json` that is a
list. `scan_runs` never fails on any of them: it lists the readable runs and says what it
skipped, and why, so that `mnist-tui runs` and the Runs screen can tell the user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.jsonio import UnreadableJson, load_json_dict, read_json_dict
from mnist_tui.core.summary import STATUSES, RunSummary
from mnist_tui.runs.reading import process_alive
from mnist_tui.runs.writer import default_runs_dir

SHOWN = 5  # damaged folders named in a note; the rest are counted
NO_END = {"died": "its process ended without a final event",
          "incomplete": "its log has no end, and nothing tells whether its process still runs"}
"""Why a run without an end counts as failed, by its listed status."""
SWEEPS_FOLDER = "sweeps"  # the runs folder's sub-folder of sweeps (see mnist_tui.sweeps)
TRIAL_FILE = "sweep_trial.json"  # in a run folder: the sweep and trial number it is


@dataclass(frozen=True)
class RunInfo:
    """What the run list shows of one run folder."""

    run_id: str
    run_dir: Path
    config: dict[str, Any]
    summary: dict[str, Any] | None
    sweep: dict[str, Any] | None = None  # a sweep's trial: {"sweep": NAME, "trial": N, ...}

    @property
    def status(self) -> str:
        """The summary's status (finished, stopped, failed); without a summary, "running" or
        "died" when its process tells, else "incomplete"."""
        if self.summary is None:
            alive = process_alive(self.run_dir)
            return "incomplete" if alive is None else ("running" if alive else "died")
        return str(self.summary.get("status", "unknown"))

    @property
    def shown_status(self) -> str:
        """The status as tables show it: a sweep's trial stopped by its pruner is "pruned"."""
        status = self.status
        reason = str((self.summary or {}).get("reason") or "")
        if status == "stopped" and self.sweep is not None and reason.startswith("pruned"):
            return "pruned"
        return status

    def full_summary(self, ended: RunSummary | None = None, *, epochs: int | None = None,
                     epochs_completed: int = 0, params: int | None = None) -> RunSummary:
        """The run's summary for a screen: its `summary.json`, else `ended` (the summary its
        log ends with), else what its log tells of a run without an end (`epochs`,
        `epochs_completed`, `params`; "failed" with the reason when its process is gone or
        cannot be checked). Damaged keys read as missing; it names the folder it is in now.
        """
        status = self.status
        fallback = {"run_id": self.run_id, "config": self.config,
                    "status": status if status in STATUSES else "failed",
                    "reason": NO_END.get(status, ""), "epochs": epochs or self.config.get("epochs"),
                    "epochs_completed": epochs_completed, "params": params}
        known = self.summary if self.summary is not None else ended
        return replace(RunSummary.from_json(known, fallback), run_dir=str(self.run_dir))


@dataclass(frozen=True)
class Unreadable:
    """Something in the runs folder that could not be read, and why (for people)."""

    path: Path
    why: str

    def __str__(self) -> str:
        """"name (why)", as the notes list it."""
        return f"{self.path.name} ({self.why})"


@dataclass(frozen=True)
class RunListing:
    """What `scan_runs` found: the runs (newest first), the folders skipped because they
    are not readable runs, listed runs whose `summary.json` could not be read, and `problem`:
    why the runs folder itself could not be read ("" when it could, or does not exist)."""

    runs: list[RunInfo] = field(default_factory=list)
    skipped: list[Unreadable] = field(default_factory=list)
    damaged: list[Unreadable] = field(default_factory=list)
    problem: str = ""

    def notes(self) -> list[str]:
        """One sentence for each kind of problem, naming the first few folders."""
        notes = [self.problem] if self.problem else []
        if self.skipped:
            notes.append(f"skipped {_count(self.skipped, 'folder')} that "
                         f"{'is' if len(self.skipped) == 1 else 'are'} not readable runs: "
                         f"{_names(self.skipped)}")
        if self.damaged:
            notes.append(f"{_count(self.damaged, 'run')} without a readable summary "
                         f"(listed from the rest of the folder): {_names(self.damaged)}")
        return notes


def _count(items: list[Unreadable], noun: str) -> str:
    return f"{len(items)} {noun}" + ("" if len(items) == 1 else "s")


def _names(items: list[Unreadable]) -> str:
    shown = ", ".join(str(item) for item in items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _read_folder(folder: Path, listing: RunListing) -> None:
    """Add the run in `folder` to `listing`, or note why it cannot be listed."""
    try:
        config = load_json_dict(folder / "config.json")
    except UnreadableJson as exc:
        listing.skipped.append(Unreadable(folder, str(exc)))
        return
    summary = None
    try:
        summary = load_json_dict(folder / "summary.json")
    except UnreadableJson as exc:
        if (folder / "summary.json").exists() or (folder / "summary.json").is_symlink():
            listing.damaged.append(Unreadable(folder, str(exc)))
    listing.runs.append(RunInfo(folder.name, folder, config, summary,
                                read_json_dict(folder / TRIAL_FILE)))


def scan_runs(runs_dir: Path | None = None) -> RunListing:
    """The runs under `runs_dir` (newest first) and what was skipped, without ever failing.

    Plain files and hidden entries are left out silently (exports, temporary files); a
    folder without a readable `config.json`, or a link that leads nowhere, is skipped with
    a note; a run whose `summary.json` cannot be read is listed, with a note.
    """
    root = Path(runs_dir or default_runs_dir())
    try:
        entries = sorted(root.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return RunListing()
    except OSError as exc:
        return RunListing(problem=f"cannot read the runs in {root}: {exc.strerror or exc}")
    listing = RunListing()
    for entry in entries:
        if entry.name.startswith(".") or entry.name == SWEEPS_FOLDER:
            continue
        if entry.is_dir():
            _read_folder(entry, listing)
        elif entry.is_symlink():
            listing.skipped.append(Unreadable(entry, "a link that leads nowhere or loops"))
    listing.runs.sort(key=lambda run: run.run_id, reverse=True)
    return listing


def list_runs(runs_dir: Path | None = None) -> list[RunInfo]:
    """All readable runs under `runs_dir`, newest first; what is not a readable run is
    skipped (`run_listing.scan_runs` also says what, and why)."""
    return scan_runs(runs_dir).runs


class RunNotFound(MnistTuiError, LookupError):
    """No run matches what the user named; the message says what was looked for, and where."""


def resolve_run(spec: str | Path | None, runs_dir: Path | None = None) -> Path:
    """The run folder that `spec` names: a run id, a unique prefix of one, or a folder path.

    None means the latest run. Raises RunNotFound with a message for people.
    """
    root = Path(runs_dir or default_runs_dir())
    runs = list_runs(root)
    if spec is None or str(spec) == "":
        if not runs:
            raise RunNotFound(f"no runs in {root} yet")
        return runs[0].run_dir
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir() and ((path / "events.jsonl").exists() or (path / "config.json").exists()):
        return path
    if os.sep in text or path.is_absolute():
        raise RunNotFound(f"{text} is not a run folder (it has no events.jsonl)")
    exact = [r for r in runs if r.run_id == text]
    matches = exact or [r for r in runs if r.run_id.startswith(text)]
    if len(matches) == 1:
        return matches[0].run_dir
    if matches:
        shown = ", ".join(r.run_id for r in matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise RunNotFound(f"{text!r} matches {len(matches)} runs ({shown}); give more of the id")
    raise RunNotFound(f"no run {text!r} in {root} ({len(runs)} runs there; "
                      "`mnist-tui runs` lists them)")
