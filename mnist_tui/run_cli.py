"""The subcommands on runs already made: `mnist-tui runs` (the table, CSV), `watch` (follow
one), `resume` (go on from its checkpoint) and `draw` (digits read by its model)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mnist_tui.core.errors import EXIT_BAD_INPUT, EXIT_OK, MnistTuiError
from mnist_tui.core.fields import FIELD_SPECS, parse_field
from mnist_tui.launch import detach_headless, run_tui
from mnist_tui.terminal import has_terminal, stray_output_to, terminal_on_stdout

COMMANDS = ("runs", "watch", "resume", "draw")


def run_command(name: str, argv: Sequence[str]) -> int:
    """Run the subcommand `name` (one of `COMMANDS`) with its arguments; its exit code."""
    return {"runs": runs_command, "watch": watch_command, "resume": resume_command,
            "draw": draw_command}[name](argv)


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
