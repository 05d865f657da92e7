"""A sweep's folder, its Optuna storage and its study.

The folder is `RUNS/sweeps/NAME/`: `sweep.json` (the plan and where the study is kept),
`journal.log` (the study, in Optuna's journal file, when no storage URL was given) and the
workers' `worker-*.log`. The plan is also kept in the study itself (a study attribute), so a
worker on another machine that joins with `--join NAME --storage URL` has all it needs.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_tui.core import environment
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.jsonio import UnreadableJson, load_json_dict, write_json_atomic
from mnist_tui.core.search_space import Choices
from mnist_tui.core.sweep_plan import SweepPlan, check_sweep_name
from mnist_tui.runs.listing import SWEEPS_FOLDER
from mnist_tui.runs.writer import default_runs_dir

if TYPE_CHECKING:
    import optuna

PLAN_FILE = "sweep.json"
JOURNAL_FILE = "journal.log"
PLAN_ATTR = "mnist_tui_plan"


class SweepError(MnistTuiError):
    """A sweep that cannot be made, found or joined; the message says why, for people."""


@dataclass(frozen=True)
class SweepPlace:
    """Where a sweep is: its folder on this machine and the storage of its study."""

    folder: Path
    storage_url: str  # "" for the journal file in the folder

    @property
    def name(self) -> str:
        """The sweep's name (its folder's and its study's)."""
        return self.folder.name

    @property
    def journal(self) -> Path:
        """The journal file, used when there is no storage URL."""
        return self.folder / JOURNAL_FILE

    def describe_storage(self) -> str:
        """Where the study is kept, for people (a URL's password hidden)."""
        if not self.storage_url:
            return f"journal file {self.journal}"
        return f"storage {hide_password(self.storage_url)}"


def hide_password(url: str) -> str:
    """`postgresql://user:secret@host/db` → `postgresql://user:***@host/db`."""
    head, sep, tail = url.partition("://")
    if not sep or "@" not in tail:
        return url
    cred, at, rest = tail.partition("@")
    user = cred.split(":", 1)[0]
    return f"{head}://{user}{':***' if ':' in cred else ''}{at}{rest}"


def sweeps_dir(runs_dir: Path | None = None) -> Path:
    """Where sweep folders are kept: `sweeps/` in the runs folder."""
    return Path(runs_dir or default_runs_dir()) / SWEEPS_FOLDER


def storage_url(asked: str | None) -> str:
    """The storage URL asked for (--storage, else $MNIST_TUI_SWEEP_STORAGE), "" for none."""
    import os

    return (asked or os.environ.get(environment.SWEEP_STORAGE, "")).strip()


def open_storage(place: SweepPlace) -> optuna.storages.BaseStorage:
    """The Optuna storage of a sweep: its journal file, or the URL's database (SQLAlchemy
    URLs: postgresql://, mysql://, sqlite://), with a heartbeat (`heartbeat.py`). Raises
    SweepError when it cannot be opened."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    from mnist_tui.sweeps.heartbeat import (
        GRACE_BEATS,
        BeatingJournalStorage,
        heartbeat_seconds,
        quietly,
        rerun_stale,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = place.storage_url
    beat = heartbeat_seconds()
    try:
        if "://" not in url:  # the sweep's journal file, or one somewhere shared
            if not url:
                place.folder.mkdir(parents=True, exist_ok=True)
            path = Path(url).expanduser() if url else place.journal
            return BeatingJournalStorage(JournalFileBackend(str(path)), heartbeat_interval=beat,
                                         grace_period=beat * GRACE_BEATS,
                                         stale_trial_callback=rerun_stale)
        with quietly():
            return optuna.storages.RDBStorage(
                url, engine_kwargs={"pool_pre_ping": True}, heartbeat_interval=beat,
                grace_period=beat * GRACE_BEATS, heartbeat_stale_trial_callback=rerun_stale)
    except (ImportError, ModuleNotFoundError) as exc:
        raise SweepError(f"cannot open {place.describe_storage()}: its database driver is "
                         f"missing ({exc}); install it, e.g. pip install psycopg[binary] "
                         "for PostgreSQL") from None
    except Exception as exc:  # SQLAlchemy's and the drivers' own errors have no common base
        raise SweepError(f"cannot open {place.describe_storage()}: {exc}") from None


def make_sampler(plan: SweepPlan, worker: int = 0) -> optuna.samplers.BaseSampler:
    """TPE seeded by the plan's seed (worker k: seed + k, so workers propose apart); a grid
    sweep's trials are queued when it is made, so its sampler never proposes."""
    import optuna

    seed = None if plan.seed is None else plan.seed + worker
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials(plan))


def startup_trials(plan: SweepPlan) -> int:
    """A third of the budget, 2 to 10: the trials TPE samples at random before it models,
    and the trials that finish before the median pruner prunes."""
    return max(2, min(10, plan.trials // 3))


def make_pruner(plan: SweepPlan) -> optuna.pruners.BasePruner:
    """median: below the median of earlier trials at the same report point; hyperband (its
    resource: report points, `plan.points` per epoch); none."""
    import optuna

    if plan.pruning == "median":
        # From the first report point on, once a third of the budget has finished: the
        # median of two or three pruned the benchmark's best trial (benchmarks/pruning_curves.py).
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials(plan),
                                           n_warmup_steps=0)
    if plan.pruning == "hyperband":
        steps = max(plan.space.base.epochs, 1) * plan.points
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=steps,
                                              reduction_factor=3)
    return optuna.pruners.NopPruner()


def grid_points(plan: SweepPlan) -> list[dict[str, Any]]:
    """Every combination of a grid sweep, in a fixed order shuffled by the seed, cut to the
    budget: what the sweep queues when it is made."""
    names = list(plan.space.params)
    lists = [p.values for p in plan.space.params.values() if isinstance(p, Choices)]
    points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*lists)]
    random.Random(plan.seed).shuffle(points)
    return points[:plan.trials]


def create_sweep(plan: SweepPlan, runs_dir: Path | None, url: str) -> SweepPlace:
    """Make the sweep's folder and its study (refused when the name is taken), queue a
    grid's points, keep the plan in both; return where it is."""
    problem = check_sweep_name(plan.name)
    if problem:
        raise SweepError(problem)
    place = SweepPlace(sweeps_dir(runs_dir) / plan.name, url)
    if (place.folder / PLAN_FILE).exists():
        raise SweepError(f"a sweep named {plan.name} already exists in {place.folder.parent}; "
                         "pick another name, or go on with it: mnist-tui sweep --resume "
                         f"{plan.name}")
    import optuna

    place.folder.mkdir(parents=True, exist_ok=True)
    storage = open_storage(place)
    try:
        study = optuna.create_study(storage=storage, study_name=plan.name,
                                    direction="maximize" if plan.direction == "maximize"
                                    else "minimize")
    except optuna.exceptions.DuplicatedStudyError:
        raise SweepError(f"the storage already holds a study named {plan.name}; pick another "
                         f"name, or add workers to it: mnist-tui sweep --join {plan.name} "
                         "--storage URL") from None
    study.set_user_attr(PLAN_ATTR, plan.to_json())
    if plan.space.is_grid:
        for point in grid_points(plan):
            study.enqueue_trial(point, skip_if_exists=False)
    write_json_atomic(place.folder / PLAN_FILE, {"plan": plan.to_json(), "storage": url})
    return place


def find_sweep(name: str, runs_dir: Path | None, url: str | None = None) -> SweepPlace:
    """The sweep called `name` (or the folder it names): from its folder here, or, with a
    storage URL, from the study there (its folder made here for its workers' logs)."""
    path = Path(name).expanduser()
    folder = path if (path / PLAN_FILE).exists() else sweeps_dir(runs_dir) / name
    if (folder / PLAN_FILE).exists():
        try:
            kept = load_json_dict(folder / PLAN_FILE)
        except UnreadableJson as exc:
            raise SweepError(f"sweep {name}: {exc}") from None
        return SweepPlace(folder, url or str(kept.get("storage") or ""))
    if not url:
        raise SweepError(f"no sweep {name!r} in {sweeps_dir(runs_dir)}; to join a sweep kept "
                         "in a database, give its --storage URL")
    problem = check_sweep_name(name)
    if problem:
        raise SweepError(problem)
    return SweepPlace(folder, url)


def load_study(place: SweepPlace) -> tuple[optuna.Study, SweepPlan]:
    """The sweep's study and its plan (read from the study). Raises SweepError."""
    import optuna

    storage = open_storage(place)
    try:
        study = optuna.load_study(study_name=place.name, storage=storage)
    except KeyError:
        raise SweepError(f"{place.describe_storage()} holds no sweep named {place.name}") from None
    try:
        plan = SweepPlan.from_json(study.user_attrs[PLAN_ATTR])
    except (KeyError, ValueError, TypeError) as exc:
        raise SweepError(f"study {place.name} in {place.describe_storage()} is not a sweep of "
                         f"mnist-tui (its plan cannot be read: {exc})") from None
    if not (place.folder / PLAN_FILE).exists():  # joined from elsewhere: a folder here too
        place.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(place.folder / PLAN_FILE,
                          {"plan": plan.to_json(), "storage": place.storage_url})
    return study, plan
