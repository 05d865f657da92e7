"""The `mnist-tui` command: parses flags into a `TrainConfig` and picks a front end."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mnist_tui import __version__
from mnist_tui.config import (
    FIELD_NAMES,
    FIELD_SPECS,
    ConfigError,
    TrainConfig,
    load_toml,
    parse_values,
)

EXIT_BAD_INPUT = 2

EPILOG = """\
keys in the app: Enter starts training from the form; p pauses, s stops (the test evaluation
still runs), q quits (asks first); ctrl+p opens the command palette.

exit codes with --headless: 0 finished, 1 failed, diverged or stopped early, 2 bad input or data.
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
        hyper.add_argument(flag, dest=name, metavar=name.upper().replace("_", "-") if not
                           spec.choices else "NAME", default=None,
                           help=f"{spec.help}{extra}; default {shown}")
    hyper.add_argument("--config", metavar="FILE", type=Path,
                       help="TOML file with any of the settings above (flags win)")
    mode = parser.add_argument_group("how to run")
    mode.add_argument("--headless", action="store_true",
                      help="train without the terminal UI: progress on stderr, JSON summary "
                           "on stdout")
    mode.add_argument("--start", action="store_true", help="skip the form and start training")
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
    config, errors = parse_values(values)
    if errors:
        raise ConfigError({"--" + k.replace("_", "-"): v for k, v in errors.items()})
    return config


@contextlib.contextmanager
def stray_output_to(log_path: Path) -> Iterator[None]:
    """Send what C++ libraries write to file descriptor 2 into `log_path` while the UI runs.

    Textual draws on `sys.__stderr__`; it gets a private duplicate of the terminal, so
    TensorFlow's log lines can never land on the screen.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved_fd = os.dup(2)
    ui_stream = os.fdopen(os.dup(2), "w", encoding=sys.__stderr__.encoding or "utf-8",
                          errors="replace")
    old_dunder, old_stderr = sys.__stderr__, sys.stderr
    with open(log_path, "a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 2)
        sys.__stderr__ = sys.stderr = ui_stream
        try:
            yield
        finally:
            ui_stream.flush()
            sys.__stderr__, sys.stderr = old_dunder, old_stderr
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            ui_stream.close()


def run_tui(config: TrainConfig, args: argparse.Namespace) -> int:
    """Run the Textual app; print a short summary afterwards so it stays in the scrollback."""
    import platformdirs

    from mnist_tui.tui.app import MnistApp
    from mnist_tui.tui.summary import format_summary_text

    log_path = Path(platformdirs.user_log_dir("mnist-tui")) / "stderr.log"
    app = MnistApp(config, start=args.start, runs_dir=args.runs_dir, data_path=args.data,
                   theme=args.theme)
    with stray_output_to(log_path):
        app.run()
    summary = getattr(app, "final_summary", None)
    if summary:
        print(format_summary_text(summary))
    return 0 if app.return_code in (None, 0) else int(app.return_code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `mnist-tui` and `python -m mnist_tui`; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        sys.stderr.write("mnist-tui: invalid settings:\n")
        for name, message in exc.errors.items():
            sys.stderr.write(f"  {name}: {message}\n")
        return EXIT_BAD_INPUT
    if args.headless:
        from mnist_tui.headless import run_headless

        return run_headless(config, runs_dir=args.runs_dir, data_path=args.data)
    if not (sys.stdin.isatty() and sys.__stdout__.isatty()):
        sys.stderr.write("mnist-tui: the app needs a terminal; use --headless to train "
                         "without one\n")
        return EXIT_BAD_INPUT
    return run_tui(config, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
