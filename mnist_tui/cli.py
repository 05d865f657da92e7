"""The `mnist-tui` command: parses flags into a `TrainConfig` and picks a front end.

`mnist-tui [flags]` trains; `mnist-tui runs` lists the runs, `mnist-tui watch [RUN]` follows
one that another process writes, `mnist-tui resume RUN` goes on with a stopped or killed
one and `mnist-tui draw [RUN]` reads digits drawn by hand (subcommands are recognised as the
first argument only).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_tui import __version__
from mnist_tui.core import environment
from mnist_tui.core.config import FIELD_NAMES, ConfigError, TrainConfig, load_toml, parse_values
from mnist_tui.core.errors import EXIT_BAD_INPUT, EXIT_OK, MnistTuiError
from mnist_tui.core.fields import FIELD_SPECS, parse_field
from mnist_tui.core.jsonio import dumps_strict
from mnist_tui.core.presets import PRESETS
from mnist_tui.terminal import (
    has_terminal,
    served_to_browser,
    stray_output_to,
    terminal_on_stdout,
)

if TYPE_CHECKING:
    from mnist_tui.runs.detach import DetachedRun
    from mnist_tui.runs.resume import ResumePlan

SUBCOMMANDS = ("runs", "watch", "resume", "draw", "sweep", "serve")

EPILOG = """\
keys in the app: Enter starts training from the form; p pauses, s stops (the test evaluation
still runs), q quits (asks first); ctrl+o lists past runs (compare, open, resume, delete, export);
ctrl+p opens the command palette.

other commands: `mnist-tui runs` lists past runs; `mnist-tui watch [RUN]` follows a run that
another process writes (one started with --detach, or by `nohup mnist-tui --headless`);
`mnist-tui resume RUN` goes on with a stopped, died or killed run from its checkpoint;
`mnist-tui draw [RUN]` lets you draw digits for a trained model to read;
`mnist-tui serve` serves the app to a browser (private: a token in the URL it prints).

exit codes with --headless: 0 finished, 1 failed, diverged or stopped early, 2 bad input or data,
143 stopped by SIGTERM. SIGTERM (in the app too) stops like s: the batch ends, the test set is
evaluated, the model saved; a second SIGTERM or Ctrl+C quits at once, the log closed. A terminal
that goes away (SIGHUP) ends the app, never its run: `mnist-tui watch` picks it up.
MNIST is looked for in: --data, $MNIST_TUI_DATA, ~/.keras/datasets/mnist.npz, then downloaded.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one flag per TrainConfig field, plus the front-end options."""
    parser = argparse.ArgumentParser(
        prog="mnist-tui",
        description="Train the TensorFlow.js MNIST CNN with Keras and watch it learn.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mnist-tui {__version__}")
    hyper = parser.add_argument_group("hyperparameters (defaults are the TensorFlow.js example's)")
    defaults = TrainConfig()
    for name in FIELD_NAMES:
        spec = FIELD_SPECS[name]
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        extra = f" (one of {', '.join(spec.choices)})" if spec.choices else ""
        shown = "random" if default is None else default
        metavar = "NAME" if spec.choices else name.upper().replace("_", "-")
        switch: dict[str, Any] = {}
        if spec.kind == "bool":  # `--tensorboard` alone says yes
            metavar, switch = "yes|no", {"nargs": "?", "const": "true"}
        hyper.add_argument(flag, dest=name, metavar=metavar, default=None,
                           help=f"{spec.help}{extra}; default {shown}", **switch)
    hyper.add_argument("--config", metavar="FILE", type=Path,
                       help="TOML file with any of the settings above (flags win)")
    hyper.add_argument("--preset", choices=tuple(PRESETS), help="start from these settings "
                       "(accurate: 99%%+ in 3 epochs); --config and flags win over it")
    mode = parser.add_argument_group("how to run")
    mode.add_argument("--headless", action="store_true",
                      help="train without the terminal UI: progress on stderr, JSON summary "
                           "on stdout")
    mode.add_argument("--start", action="store_true", help="skip the form and start training")
    mode.add_argument("--preload", action=argparse.BooleanOptionalAction, default=True,
                      help="train in a process of its own, started while the form is shown "
                           "(TensorFlow imported, MNIST loaded, the model traced), so Enter "
                           "goes straight to training, and a killed app leaves the run "
                           "training (default: yes; --no-preload trains in the app's own "
                           "process, and holds no memory for a run not yet started)")
    mode.add_argument("--detach", action="store_true",
                      help="train in a background process of its own that outlives the "
                           "terminal; the app watches it, --headless prints where it runs")
    mode.add_argument("--detach-runs", action="store_true",
                      help="every run (and resume) of the app trains in a background process "
                           "of its own, the Detach box fixed; what `mnist-tui serve` does, so "
                           "closing a browser tab leaves its run training")
    mode.add_argument("--data", metavar="PATH",
                      help="MNIST as a Keras-layout .npz or a folder of the four IDX files")
    mode.add_argument("--runs-dir", metavar="DIR", type=Path,
                      help="where run folders are written (default: the user data dir)")
    mode.add_argument("--theme", metavar="NAME", help="colour theme of the app")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Merge defaults, the --config file and the flags; raise ConfigError listing every problem.

    Messages name the flag (`--learning-rate: learning rate must be > 0 ...`).
    """
    values: dict[str, Any] = {}
    if args.config is not None:
        values.update({k.replace("-", "_"): v for k, v in load_toml(args.config).items()})
    values.update({name: getattr(args, name) for name in FIELD_NAMES
                   if getattr(args, name) is not None})
    config, errors = parse_values(values, base=PRESETS[getattr(args, "preset", None) or "seed"])
    if errors:
        raise ConfigError({"--" + k.replace("_", "-"): v for k, v in errors.items()})
    return config


def wants_preload(args: argparse.Namespace, runs_detached: bool) -> bool:
    """Whether the app starts a run process while its form is shown: asked for (the main
    command's default), and a run will start from the form (not `--start`, `watch` or
    `resume`, whose arguments have no `preload`) in this app (not `--detach`, nor a browser
    tab's app, whose runs are all detached)."""
    return (bool(getattr(args, "preload", False)) and not getattr(args, "start", False)
            and not getattr(args, "detach", False) and not runs_detached)


def run_tui(config: TrainConfig | None, args: argparse.Namespace, *,
            watch: Path | None = None, resume: ResumePlan | None = None) -> int:
    """Run the Textual app; print a short summary afterwards so it stays in the scrollback.

    `watch` opens the app on that run folder (`mnist-tui watch`), `resume` resumes that run
    in it (`mnist-tui resume`); `args` are the training flags, or the subcommand's.
    """
    import platformdirs

    from mnist_tui.tui.app import MnistApp
    from mnist_tui.tui.leaving import run_app

    browser = served_to_browser()
    app_class = MnistApp
    if getattr(args, "detach_runs", False) or browser:  # a tab closed leaves its run going
        from mnist_tui.tui.out_of_process import OutOfProcessApp

        app_class = OutOfProcessApp
    log_path = Path(platformdirs.user_log_dir("mnist-tui")) / "stderr.log"
    app = app_class(config, start=getattr(args, "start", False), runs_dir=args.runs_dir,
                    data_path=getattr(args, "data", None), theme=args.theme, watch=watch,
                    detach=getattr(args, "detach", False), resume=resume,
                    notify=None if config is not None else getattr(args, "notify", None),
                    preload=wants_preload(args, app_class is not MnistApp))
    if browser:  # stdin and stdout are textual-serve's pipes: no terminal to look after
        app.run()
        return app.return_code or EXIT_OK
    with terminal_on_stdout(), stray_output_to(log_path):
        code = run_app(app)  # SIGHUP leaves the run going, SIGTERM stops it (see tui.leaving)
    if app.hung_up:
        return code  # nobody is there to read a summary
    summary = getattr(app, "final_summary", None)
    if summary:
        from mnist_tui.tui.screens.summary_text import format_summary_text  # not before the form

        print(format_summary_text(summary))
    if getattr(app, "left_running", None):
        print(app.left_running)
    return code


def build_runs_parser() -> argparse.ArgumentParser:
    """The parser of `mnist-tui runs`."""
    parser = argparse.ArgumentParser(
        prog="mnist-tui runs", description="List the runs, newest first.")
    parser.add_argument("--runs-dir", metavar="DIR", type=Path,
                        help="where the run folders are (default: the user data dir)")
    parser.add_argument("--csv", metavar="FILE",
                        help="also write the table as CSV to FILE ('-' for stdout only)")
    return parser


def build_watch_parser() -> argparse.ArgumentParser:
    """The parser of `mnist-tui watch`."""
    parser = argparse.ArgumentParser(
        prog="mnist-tui watch",
        description="Follow a run that another process writes: a replay of what is logged, "
                    "then new events as they come, then the summary. Watching never writes "
                    "into the run's folder; p and s pause and stop the run (any run "
                    "of mnist-tui or MonitorCallback); quitting leaves the run going.")
    parser.add_argument("run", metavar="RUN", nargs="?",
                        help="run id, a unique prefix of one, or a run folder (default: the "
                             "latest run)")
    _add_run_options(parser)
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options `watch` and `resume` share: --runs-dir, --headless, --theme, --notify."""
    parser.add_argument("--runs-dir", metavar="DIR", type=Path,
                        help="where the run folders are (default: the user data dir)")
    parser.add_argument("--headless", action="store_true",
                        help="no terminal UI: progress on stderr, JSON summary on stdout")
    parser.add_argument("--theme", metavar="NAME", help="colour theme of the app")
    parser.add_argument("--notify", metavar="yes|no", nargs="?", const=True, type=_notify_flag,
                        help=f"{FIELD_SPECS['notify'].help}; default: the run's setting")


def _notify_flag(text: str) -> bool:
    """--notify's value, checked as the setting is."""
    try:
        return bool(parse_field("notify", text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def runs_command(argv: Sequence[str]) -> int:
    """`mnist-tui runs`: print the runs table (and write it as CSV if asked)."""
    from mnist_tui.runs.compare import format_runs_table, write_runs_csv
    from mnist_tui.runs.listing import scan_runs
    from mnist_tui.runs.writer import default_runs_dir

    args = build_runs_parser().parse_args(argv)
    root = args.runs_dir or default_runs_dir()
    listing = scan_runs(root)
    runs = listing.runs
    for note in listing.notes():
        sys.stderr.write(f"mnist-tui runs: {note}\n")
    if listing.problem:
        return EXIT_BAD_INPUT
    if args.csv == "-":
        write_runs_csv(runs, sys.stdout)
        return EXIT_OK
    if args.csv:
        try:
            with open(args.csv, "w", encoding="utf-8", newline="") as out:
                write_runs_csv(runs, out)
        except OSError as exc:
            sys.stderr.write(f"mnist-tui runs: cannot write {args.csv}: {exc}\n")
            return EXIT_BAD_INPUT
    if not runs:
        sys.stderr.write(f"no runs in {root} yet\n")
        return EXIT_OK
    print(format_runs_table(runs))
    if args.csv:
        sys.stderr.write(f"wrote {len(runs)} runs to {args.csv}\n")
    return EXIT_OK


def watch_command(argv: Sequence[str]) -> int:
    """`mnist-tui watch [RUN]`: follow a run in the app, or headless without a terminal."""
    from mnist_tui.runs.listing import RunNotFound, resolve_run

    args = build_watch_parser().parse_args(argv)
    try:
        run_dir = resolve_run(args.run, args.runs_dir)
    except RunNotFound as exc:
        from mnist_tui.sweeps.study import SweepError, find_sweep, storage_url

        try:  # a sweep's name: its screen
            place = find_sweep(args.run or "", args.runs_dir, storage_url(None) or None)
        except SweepError:
            sys.stderr.write(f"mnist-tui watch: {exc}\n")
            return EXIT_BAD_INPUT
        from mnist_tui.sweep_cli import watch_sweep

        return watch_sweep(place, args)
    if args.headless or not has_terminal():
        from mnist_tui.headless import watch_headless

        return watch_headless(run_dir)
    return run_tui(None, args, watch=run_dir)


def build_resume_parser() -> argparse.ArgumentParser:
    """The parser of `mnist-tui resume`."""
    parser = argparse.ArgumentParser(
        prog="mnist-tui resume",
        description="Go on with a stopped, died or killed run from its last checkpoint, in "
                    "its own folder, to its configured epochs (or to --epochs N, also for a "
                    "finished run). The charts continue its history.")
    parser.add_argument("run", metavar="RUN",
                        help="run id, a unique prefix of one, or a run folder")
    parser.add_argument("--epochs", metavar="N",
                        help="train to N epochs in all (at least what the run has begun)")
    _add_run_options(parser)
    parser.add_argument("--detach", action="store_true",
                        help="go on in a background process of its own")
    parser.add_argument("--data", metavar="PATH",
                        help="MNIST as a Keras-layout .npz or a folder of the four IDX files")
    return parser


def resume_command(argv: Sequence[str]) -> int:
    """`mnist-tui resume RUN`: go on with a run from its checkpoint, in the app, headless or
    in the background; a run that cannot go on is refused (exit 2) with the reason."""
    from mnist_tui.runs.listing import resolve_run
    from mnist_tui.runs.resume import begin_resume, parse_epochs, plan_resume, resume_detached

    args = build_resume_parser().parse_args(argv)
    try:
        epochs = None if args.epochs is None else parse_epochs(args.epochs)
        plan = plan_resume(resolve_run(args.run, args.runs_dir), epochs)
    except MnistTuiError as exc:
        sys.stderr.write(f"mnist-tui resume: {exc}\n")
        return EXIT_BAD_INPUT
    terminal = has_terminal()
    if args.detach and (args.headless or not terminal):
        return detach_headless(plan.config, args, lambda: resume_detached(plan, args.data))
    if args.headless:
        from mnist_tui.headless import run_headless

        return run_headless(plan.config, data_path=args.data, writer=begin_resume(plan))
    if not terminal:
        sys.stderr.write("mnist-tui resume: the app needs a terminal; use --headless to "
                         "resume without one\n")
        return EXIT_BAD_INPUT
    if args.detach:
        return run_tui(None, args, watch=resume_detached(plan, args.data).run_dir)
    return run_tui(plan.config, args, resume=plan)


def build_draw_parser() -> argparse.ArgumentParser:
    """The parser of `mnist-tui draw`."""
    parser = argparse.ArgumentParser(prog="mnist-tui draw", description="Draw digits with "
                                     "the mouse or the keys; a trained model reads them.")
    parser.add_argument("run", metavar="RUN", nargs="?", help="run id, a unique prefix of "
                        "one, or a run folder (default: the latest run with a saved model)")
    parser.add_argument("--runs-dir", metavar="DIR", type=Path,
                        help="where the run folders are (default: the user data dir)")
    parser.add_argument("--data", metavar="PATH", help="MNIST, for its test digits")
    parser.add_argument("--theme", metavar="NAME", help="colour theme of the app")
    return parser


def draw_command(argv: Sequence[str]) -> int:
    """`mnist-tui draw [RUN]`: the draw screen on a run's model; exit 2 without one."""
    import platformdirs

    from mnist_tui.runs.digit_reader import find_model_run

    args = build_draw_parser().parse_args(argv)
    try:
        run_dir = find_model_run(args.run, args.runs_dir)
    except MnistTuiError as exc:
        sys.stderr.write(f"mnist-tui draw: {exc}\n")
        return EXIT_BAD_INPUT
    if not has_terminal():
        sys.stderr.write("mnist-tui draw: drawing needs a terminal\n")
        return EXIT_BAD_INPUT
    from mnist_tui.tui.screens.draw import DrawApp

    with terminal_on_stdout(), stray_output_to(
            Path(platformdirs.user_log_dir("mnist-tui")) / "stderr.log"):
        DrawApp(run_dir, data_path=args.data, theme=args.theme).run()
    return EXIT_OK


def detach_headless(config: TrainConfig, args: argparse.Namespace,
                    start: Callable[[], DetachedRun] | None = None) -> int:
    """`--detach` without the app: start the run in the background, say where, return at once.

    Data that is given (--data, $MNIST_TUI_DATA) is checked first, so bad data exits 2 here
    rather than in the background. `start` starts it (default: a new run of `config`).
    """
    from mnist_tui.runs.detach import start_detached
    from mnist_tui.training.data import DataError, load_run_data

    try:
        load_run_data(config, args.data, download=False)
    except DataError as exc:
        if args.data is not None or environment.data_path():
            sys.stderr.write(f"mnist-tui: {exc}\n")
            return EXIT_BAD_INPUT
    try:
        run = start() if start else start_detached(config, runs_dir=args.runs_dir,
                                                   data_path=args.data)
    except OSError as exc:  # a detached run lives in its folder: without one it cannot start
        sys.stderr.write(f"mnist-tui: cannot start a background run: cannot write its folder "
                         f"{exc.filename or args.runs_dir or ''}: {exc.strerror or exc}\n")
        return EXIT_BAD_INPUT
    where = f" --runs-dir {args.runs_dir}" if args.runs_dir else ""
    sys.stderr.write(f"training in the background (pid {run.pid}); its output goes to "
                     f"{run.run_dir / 'output.log'}\nfollow it with: mnist-tui watch "
                     f"{run.run_id}{where}\n")
    print(dumps_strict({"run_id": run.run_id, "run_dir": str(run.run_dir), "pid": run.pid}))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `mnist-tui` and `python -m mnist_tui`; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        if argv[0] == "sweep":
            from mnist_tui.sweep_cli import sweep_command

            return sweep_command(argv[1:])
        if argv[0] == "serve":
            from mnist_tui.serve_cli import serve_command

            return serve_command(argv[1:])
        return {"runs": runs_command, "watch": watch_command, "resume": resume_command,
                "draw": draw_command}[argv[0]](argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        sys.stderr.write("mnist-tui: invalid settings:\n")
        for name, message in exc.errors.items():
            sys.stderr.write(f"  {name}: {message}\n")
        if any("," in str(v) or ".." in str(v) for v in vars(args).values()):
            sys.stderr.write("several values in a setting make a sweep: mnist-tui sweep "
                             "--learning-rate 1e-4..1e-1:log ...\n")
        return EXIT_BAD_INPUT
    terminal = has_terminal()
    if args.detach and (args.headless or not terminal):
        return detach_headless(config, args)
    if args.headless:
        from mnist_tui.headless import run_headless

        return run_headless(config, runs_dir=args.runs_dir, data_path=args.data)
    if not terminal and not served_to_browser():
        sys.stderr.write("mnist-tui: the app needs a terminal; use --headless to train "
                         "without one, or `mnist-tui serve` to use it in a browser\n")
        return EXIT_BAD_INPUT
    return run_tui(config, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
