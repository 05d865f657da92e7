"""The `mnist-tui` command: parses flags into a `TrainConfig` and picks a front end.

`mnist-tui [flags]` trains; `mnist-tui runs` lists the runs, `mnist-tui watch [RUN]` follows
one that another process writes, `mnist-tui resume RUN` goes on with a stopped or killed
one and `mnist-tui draw [RUN]` reads digits drawn by hand (`run_cli`), `mnist-tui sweep`
searches (`sweep_cli`) and `mnist-tui serve` serves the app to a browser (`serve_cli`);
subcommands are recognised as the first argument only. `launch` starts the front end.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnist_tui import __version__
from mnist_tui.core.config import FIELD_NAMES, ConfigError, TrainConfig, load_toml, parse_values
from mnist_tui.core.errors import EXIT_BAD_INPUT
from mnist_tui.core.fields import FIELD_SPECS
from mnist_tui.core.presets import PRESETS
from mnist_tui.launch import detach_headless, run_tui
from mnist_tui.terminal import has_terminal, served_to_browser

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
        from mnist_tui.run_cli import run_command

        return run_command(argv[0], argv[1:])
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
