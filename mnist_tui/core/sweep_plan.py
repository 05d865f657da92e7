"""What a sweep is asked to do: its space, its budget of trials, its objective and pruning.

`SweepPlan` is written once into the sweep's folder (`sweep.json`) by whoever creates the
sweep; every worker that joins reads it, so they all search the same space the same way.
`parse_sweep_settings` checks the sweep's own settings as typed (trials, pruning, objective,
parallel, report points) with the form's kind of message.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from mnist_tui.core.kinds import is_int
from mnist_tui.core.report_points import MAX_POINTS, ReportPoints
from mnist_tui.core.search_space import MAX_TRIALS, SearchSpace, parse_trials

PRUNERS = ("median", "hyperband", "none")
OBJECTIVES = ("val_accuracy", "val_loss")
MAX_PARALLEL = 64
REPORT_POINTS = 4  # a trial reports to the pruner at 25%, 50%, 75% and the end of each epoch
SLICE_SIZE = 1000  # validation images measured at the points within an epoch
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def new_sweep_name() -> str:
    """A sortable sweep name: `sweep-` and the local start time."""
    return "sweep-" + time.strftime("%Y%m%d-%H%M%S")


def check_sweep_name(name: str) -> str:
    """What is wrong with a sweep name ("" when nothing): it names a folder and a study."""
    if not NAME_PATTERN.match(name):
        return (f"a sweep name is 1 to 64 letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit, got {name!r}")
    return ""


@dataclass(frozen=True)
class SweepPlan:
    """One sweep: what varies, how many trials, what is maximised, what is pruned."""

    name: str
    space: SearchSpace
    trials: int
    pruning: str = "median"  # one of PRUNERS
    objective: str = "val_accuracy"  # one of OBJECTIVES
    seed: int | None = None  # seeds the sampler (the same sweep proposes the same trials)
    created: float = field(default_factory=time.time)
    points: int = REPORT_POINTS  # reports to the pruner per epoch (`core.report_points`)

    @property
    def report_points(self) -> ReportPoints:
        """When the trials report to the pruner, and on how many validation images."""
        return ReportPoints(self.points, SLICE_SIZE)

    def describe_pruning(self) -> str:
        """The pruning for people: "median, 4 checks an epoch", "hyperband, at epoch ends",
        "none"."""
        if self.pruning == "none":
            return "none"
        when = "at epoch ends" if self.points <= 1 else f"{self.points} checks an epoch"
        return f"{self.pruning}, {when}"

    @property
    def direction(self) -> str:
        """Optuna's word for the objective: accuracy is maximised, loss minimised."""
        return "maximize" if self.objective == "val_accuracy" else "minimize"

    def to_json(self) -> dict[str, Any]:
        """The JSON form written to the sweep's `sweep.json`."""
        return {"name": self.name, "space": self.space.to_json(), "trials": self.trials,
                "pruning": self.pruning, "objective": self.objective, "seed": self.seed,
                "created": self.created, "points": self.points}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepPlan:
        """Read `to_json`'s form back; raises ValueError (or KeyError, TypeError) if damaged."""
        plan = cls(str(data["name"]), SearchSpace.from_json(data["space"]),
                   parse_trials(data["trials"]), str(data.get("pruning", "median")),
                   str(data.get("objective", "val_accuracy")), data.get("seed"),
                   float(data.get("created", 0.0)),
                   data.get("points", 1))  # a sweep made before: at epoch ends only
        problems = check_settings(plan.trials, plan.pruning, plan.objective, 1, plan.points)
        if problems:
            raise ValueError("; ".join(problems.values()))
        return plan


def check_settings(trials: Any, pruning: Any, objective: Any, parallel: Any,
                   report_points: Any = REPORT_POINTS) -> dict[str, str]:
    """Every problem with a sweep's own settings, as setting → message."""
    errors: dict[str, str] = {}
    if not is_int(report_points) or not 1 <= report_points <= MAX_POINTS:
        errors["report_points"] = (f"report points per epoch must be a whole number from 1 "
                                   f"(epoch ends only) to {MAX_POINTS}, got {report_points!r}")
    if not is_int(trials) or not 1 <= trials <= MAX_TRIALS:
        errors["trials"] = f"trials must be a whole number from 1 to {MAX_TRIALS}, got {trials!r}"
    if pruning not in PRUNERS:
        errors["pruning"] = f"pruning must be one of {', '.join(PRUNERS)}, got {pruning!r}"
    if objective not in OBJECTIVES:
        errors["objective"] = (f"objective must be one of {', '.join(OBJECTIVES)}, "
                               f"got {objective!r}")
    if not is_int(parallel) or not 1 <= parallel <= MAX_PARALLEL:
        errors["parallel"] = (f"parallel must be a whole number from 1 to {MAX_PARALLEL}, "
                              f"got {parallel!r}")
    return errors


def parse_sweep_settings(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """`trials`, `pruning`, `objective`, `parallel`, `report_points` as typed or read from
    TOML (each may be missing: None): their values and every problem, as setting → message."""
    parsed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key in ("trials", "parallel", "report_points"):
        raw = values.get(key)
        if raw is None:
            parsed[key] = None
            continue
        try:
            number = int(raw.strip()) if isinstance(raw, str) else raw
        except ValueError:
            number = raw
        parsed[key] = number
    for key in ("pruning", "objective"):
        raw = values.get(key)
        parsed[key] = raw.strip().lower().replace("-", "_") if isinstance(raw, str) else raw
    given = {k: v for k, v in parsed.items() if v is not None}
    errors = check_settings(given.get("trials", 1), given.get("pruning", "median"),
                            given.get("objective", "val_accuracy"), given.get("parallel", 1),
                            given.get("report_points", REPORT_POINTS))
    for key in errors:  # a bad typed value is quoted as typed
        if isinstance(values.get(key), str):
            errors[key] = errors[key].rsplit(", got ", 1)[0] + f", got {values[key]!r}"
    return parsed, errors


def default_trials(space: SearchSpace, asked: int | None) -> tuple[int, str]:
    """The trial budget: what was asked, else the grid's size, else 20; and a problem ("" if
    none): a grid has no room for more trials than combinations."""
    size = space.grid_size
    if asked is None:
        return (size if size is not None else 20), ""
    if size is not None and asked > size:
        return asked, (f"trials: the grid has {size} combinations, so at most {size} trials, "
                       f"got {asked}; give a range to search more")
    return asked, ""
