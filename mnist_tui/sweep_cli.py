"""`mnist-tui sweep`: a hyperparameter sweep from flags and a TOML file, or joined, or resumed.

`mnist-tui sweep --learning-rate 1e-4..1e-1:log --optimizer adam,rmsprop --trials 20` makes a
sweep (its folder under the runs folder, its Optuna study in a journal file there unless
`--storage URL`) and runs it: in the app's sweep screen, headless (a line per trial on
stderr, the result as JSON on stdout) or detached. `--join NAME --storage URL` adds workers to
a sweep from another machine; `--resume NAME` finishes a stopped sweep's budget.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnist_tui.core.config import FIELD_NAMES, ConfigError, TrainConfig
from mnist_tui.core.errors import EXIT_BAD_INPUT, EXIT_OK, MnistTuiError
from mnist_tui.core.fields import FIELD_SPECS
from mnist_tui.core.jsonio import TOMLDecodeError, dumps_strict, load_toml
from mnist_tui.core.presets import PRESETS
from mnist_tui.core.report_points import MAX_POINTS
from mnist_tui.core.search_space import parse_search
from mnist_tui.core.sweep_plan import (
    OBJECTIVES,
    PRUNERS,
    REPORT_POINTS,
    SweepPlan,
    check_sweep_name,
    default_trials,
    new_sweep_name,
    parse_sweep_settings,
)
from mnist_tui.terminal import has_terminal, stray_output_to, terminal_on_stdout

SWEEP_KEYS = ("trials", "pruning", "objective", "parallel", "name", "report_points")


def build_sweep_parser() -> argparse.ArgumentParser:
    """The parser of `mnist-tui sweep`: every training flag (taking several values) and the
    sweep's own."""
    parser = argparse.ArgumentParser(
        prog="mnist-tui sweep",
        description="Search hyperparameters: any training flag takes a list (0.003,0.01), a "
                    "range (1e-4..1e-1:log, 0..0.5, 16..64:step:16) or several choices "
                    "(adam,rmsprop). Each trial is a normal run.")
    hyper = parser.add_argument_group("hyperparameters (one value, a list or a range)")
    defaults = TrainConfig()
    for name in FIELD_NAMES:
        spec = FIELD_SPECS[name]
        shown = "random" if getattr(defaults, name) is None else getattr(defaults, name)
        hyper.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                           metavar="VALUES", help=f"{spec.help}; default {shown}")
    hyper.add_argument("--config", metavar="FILE", type=Path,
                       help="TOML file: settings (lists, ranges as strings) and a [sweep] table "
                            "(trials, pruning, objective, parallel, name, report_points); "
                            "flags win")
    hyper.add_argument("--preset", choices=tuple(PRESETS), help="start from these settings")
    sweep = parser.add_argument_group("the sweep")
    sweep.add_argument("--trials", metavar="N", help="trials in all (default: the grid's "
                       "size when every field is a list, else 20)")
    sweep.add_argument("--pruning", metavar="|".join(PRUNERS),
                       help="stop poor trials early (default median)")
    sweep.add_argument("--objective", metavar="|".join(OBJECTIVES),
                       help="what the sweep optimises (default val_accuracy)")
    sweep.add_argument("--parallel", metavar="P", help="trials at once on this machine, each "
                       "in a process with its share of the cores (default 1)")
    sweep.add_argument("--report-points", metavar="N", dest="report_points",
                       help="how often a trial reports to the pruner, per epoch: at the end of "
                            "each Nth of it, within the epoch on the first 1,000 validation "
                            f"images (1 to {MAX_POINTS}; 1: at epoch ends only; default "
                            f"{REPORT_POINTS})")
    sweep.add_argument("--name", metavar="NAME", help="the sweep's name (default: sweep- and "
                       "the time)")
    sweep.add_argument("--storage", metavar="URL", help="an Optuna storage (postgresql://..., "
                       "mysql://...) instead of the journal file in the sweep's folder")
    sweep.add_argument("--join", metavar="NAME", help="add workers to the sweep NAME (with "
                       "--storage on another machine)")
    sweep.add_argument("--resume", metavar="NAME", help="finish a stopped sweep's budget")
    mode = parser.add_argument_group("how to run")
    mode.add_argument("--headless", action="store_true",
                      help="no app: a line per trial on stderr, the result as JSON on stdout")
    mode.add_argument("--detach", action="store_true",
                      help="run in a background process that outlives the terminal")
    mode.add_argument("--data", metavar="PATH", help="MNIST (as for training)")
    mode.add_argument("--runs-dir", metavar="DIR", type=Path, help="where runs are kept")
    mode.add_argument("--theme", metavar="NAME", help="colour theme of the app")
    return parser


def _toml_values(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A TOML file's settings and its [sweep] table; raises ConfigError for a bad file."""
    try:
        data = load_toml(path)
    except FileNotFoundError:
        raise ConfigError({"--config": f"config file {path} does not exist"}) from None
    except (OSError, UnicodeDecodeError, TOMLDecodeError) as exc:
        raise ConfigError({"--config": f"cannot read config file {path}: {exc}"}) from None
    sweep = data.pop("sweep", {})
    if isinstance(data.get("train"), dict):
        data = data["train"]
    if not isinstance(sweep, dict):
        raise ConfigError({"--config": "[sweep] must be a table"})
    unknown = [k for k in data if k.replace("-", "_") not in FIELD_SPECS]
    unknown += [f"sweep.{k}" for k in sweep if k not in SWEEP_KEYS]
    if unknown:
        raise ConfigError({"--config": f"config file {path} has unknown settings: "
                           f"{', '.join(unknown)}; known: {', '.join(FIELD_NAMES)} and, "
                           f"under [sweep], {', '.join(SWEEP_KEYS)}"})
    return {k.replace("-", "_"): v for k, v in data.items()}, sweep


def plan_from_args(args: argparse.Namespace) -> tuple[SweepPlan, int]:
    """The sweep's plan and its parallel workers from flags over the TOML file; raises
    ConfigError naming every flag that is wrong."""
    values, table = _toml_values(args.config) if args.config else ({}, {})
    values.update({n: getattr(args, n) for n in FIELD_NAMES if getattr(args, n) is not None})
    for key in SWEEP_KEYS:
        if getattr(args, key, None) is not None:
            table[key] = getattr(args, key)
    space, errors = parse_search(values, PRESETS[args.preset or "seed"])
    problems = {"--" + k.replace("_", "-"): v for k, v in errors.items()}
    settings, bad = parse_sweep_settings(table)
    problems.update({"--" + k.replace("_", "-"): v for k, v in bad.items()})
    name = str(table.get("name") or new_sweep_name())
    if check_sweep_name(name):
        problems["--name"] = check_sweep_name(name)
    if not problems and not space.is_sweep:
        problems["sweep"] = ("a sweep needs a field with several values, e.g. "
                             "--learning-rate 1e-4..1e-1:log or --optimizer adam,rmsprop")
    trials, trials_problem = default_trials(space, settings["trials"])
    if trials_problem and "--trials" not in problems:
        problems["--trials"] = trials_problem.split(": ", 1)[1]
    if problems:
        raise ConfigError(problems)
    plan = SweepPlan(name, space, trials, settings["pruning"] or "median",
                     settings["objective"] or "val_accuracy", seed=space.base.seed,
                     points=settings["report_points"] or REPORT_POINTS)
    return plan, int(settings["parallel"] or 1)


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def sweep_command(argv: Sequence[str]) -> int:
    """`mnist-tui sweep ...`: make (or join, or resume) a sweep and run it."""
    from mnist_tui.sweeps.study import SweepError, create_sweep, find_sweep, storage_url

    args = build_sweep_parser().parse_args(argv)
    try:
        if args.join or args.resume:
            plan = None
            given = [n for n in FIELD_NAMES if getattr(args, n) is not None]
            if given or args.config or args.trials:
                raise ConfigError({"--join" if args.join else "--resume":
                                   "a sweep joined or resumed keeps its own settings; give "
                                   "no hyperparameters, --config or --trials with it"})
            _, bad = parse_sweep_settings({"parallel": args.parallel})
            if bad:
                raise ConfigError({"--parallel": bad["parallel"]})
            parallel = int(args.parallel or 1)
            place = find_sweep(args.join or args.resume, args.runs_dir,
                               storage_url(args.storage))
        else:
            plan, parallel = plan_from_args(args)
            place = create_sweep(plan, args.runs_dir, storage_url(args.storage))
    except ConfigError as exc:
        _say("mnist-tui sweep: invalid settings:")
        for name, message in exc.errors.items():
            _say(f"  {name}: {message}")
        return EXIT_BAD_INPUT
    except (SweepError, MnistTuiError) as exc:
        _say(f"mnist-tui sweep: {exc}")
        return EXIT_BAD_INPUT
    return run_place(place, args, parallel, plan)


def run_place(place: Any, args: argparse.Namespace, parallel: int,
              plan: SweepPlan | None) -> int:
    """Run the sweep at `place`: detached, headless, or in the app."""
    from mnist_tui.sweeps.launch import prepare_resume, run_sweep, start_detached_sweep
    from mnist_tui.sweeps.progress import format_status, read_status

    try:
        if args.resume:
            for line in prepare_resume(place):
                _say(line)
        if plan is not None:
            _say(f"sweep {plan.name}: {plan.trials} trials of {plan.space.describe()}; "
                 f"{'grid' if plan.space.is_grid else 'TPE'}; pruning {plan.describe_pruning()}; "
                 f"study in {place.describe_storage()}")
        if not args.detach and not args.headless and has_terminal():
            start_detached_sweep(place, parallel=parallel, runs_dir=args.runs_dir,
                                 data_path=args.data)
            return watch_sweep(place, args)
        if args.detach:
            pid = start_detached_sweep(place, parallel=parallel, runs_dir=args.runs_dir,
                                       data_path=args.data)
            where = f" --runs-dir {args.runs_dir}" if args.runs_dir else ""
            _say(f"sweeping in the background (pid {pid}); its output goes to "
                 f"{place.folder / 'output.log'}\nfollow it with: mnist-tui watch "
                 f"{place.name}{where}")
            print(dumps_strict({"sweep": place.name, "folder": str(place.folder), "pid": pid}))
            return EXIT_OK
        index = os.getpid() if args.join else 0
        code = run_sweep(place, parallel=parallel, runs_dir=args.runs_dir,
                         data_path=args.data, say=_say, first_index=index)
        status = read_status(place, importance=True)
    except MnistTuiError as exc:
        _say(f"mnist-tui sweep: {exc}")
        return EXIT_BAD_INPUT
    _say(format_status(status))
    print(dumps_strict(status_json(status)))
    return code


def status_json(status: Any) -> dict[str, Any]:
    """What `mnist-tui sweep --headless` prints on stdout: the sweep, its best trial, each."""
    best = next((r for r in status.rows if r.number == status.best), None)
    return {"sweep": status.plan.name, "trials": status.plan.trials, "ended": status.ended,
            "objective": status.plan.objective,
            "best": None if best is None else {"trial": best.number, "value": best.value,
                                               "params": best.params, "run_id": best.run_id},
            "rows": [{"trial": r.number, "state": r.state, "value": r.value,
                      "epochs": r.epochs, "params": r.params, "run_id": r.run_id,
                      "reason": r.reason} for r in status.rows]}


def watch_sweep(place: Any, args: argparse.Namespace) -> int:
    """`mnist-tui watch SWEEP`: the sweep screen; without a terminal (or --headless), where
    the sweep stands as a table."""
    from mnist_tui.sweeps.progress import format_status, read_status

    if getattr(args, "headless", False) or not has_terminal():
        _say(format_status(read_status(place, importance=True)))
        return EXIT_OK
    import platformdirs

    from mnist_tui.tui.app import MnistApp
    from mnist_tui.tui.leaving import run_app

    app = MnistApp(None, runs_dir=args.runs_dir, theme=getattr(args, "theme", None),
                   data_path=getattr(args, "data", None), sweep=place)
    log_path = Path(platformdirs.user_log_dir("mnist-tui")) / "stderr.log"
    with terminal_on_stdout(), stray_output_to(log_path):
        code = run_app(app)
    if not app.hung_up:
        status = read_status(place, importance=True)
        print(format_status(status))
        if not status.complete:
            print(f"the sweep goes on in the background; follow it with: mnist-tui watch "
                  f"{place.name}")
    return code
