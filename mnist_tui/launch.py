"""Starting a front end for the entry commands: the Textual app (`run_tui`) or a run in the
background without it (`detach_headless`); shared by `mnist-tui` and its subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_tui.core import environment
from mnist_tui.core.config import TrainConfig
from mnist_tui.core.errors import EXIT_BAD_INPUT, EXIT_OK
from mnist_tui.core.jsonio import dumps_strict
from mnist_tui.terminal import served_to_browser, stray_output_to, terminal_on_stdout

if TYPE_CHECKING:
    from mnist_tui.runs.detach import DetachedRun
    from mnist_tui.runs.resume import ResumePlan


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
