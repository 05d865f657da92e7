"""What does watching cost? Training throughput of the monitored trainer vs a bare `model.fit`.

Each trial is a fresh process training the same config on the same data; the kinds alternate
(bare, pipeline, headless, tui, then backwards, ...) so that the machine's drift hits them
alike. Throughput is measured the same way for all: training images over the seconds from
`on_train_begin` to `on_train_end` (validation included, evaluation on the test set excluded).

`bare` is the plain Keras script a user would write (float arrays, one batch per call);
`pipeline` is a bare `fit` on the trainer's own tf.data pipeline with the same batches per
execution, so headless/pipeline and tui/pipeline are the cost of monitoring alone.

    python benchmarks/overhead.py --pairs 3                 # bare fits vs headless trainer
    python benchmarks/overhead.py --pairs 3 --tui           # ... and the TUI in tmux, at
                                                            # 120x40 and 200x60
    python benchmarks/overhead.py --tui --sizes 80x24       # the TUI at other sizes
    python benchmarks/overhead.py --pairs 3 --checkpoints   # ... and the trainer without
                                                            # checkpoints: what they cost

`--live` adds `trainer-nolive` (the trainer without its live predictions and system load
samples: what they cost, as a paired ratio to `trainer`), and with `--tui` a `tui-nolive@SIZE`
kind per size: the same monitor, run with $MNIST_TUI_LIVE=0 (no strip, no load line), so the
two ratios to a bare fit on the same pipeline sit side by side.

`--checkpoints` adds `trainer` and `trainer-nockpt`: the same run folder and trainer, with
and without its checkpoints (`--checkpoint-seconds` sets their interval within an epoch, 30 s
by default as in a real run; 1 s makes several per epoch). It prints their throughput ratio
and how long one checkpoint took to write (the median of every `Checkpointed` event).

The TUI trial runs `mnist-tui --start` in a tmux session (tmux must be installed), once per
terminal size (`--sizes`), each size a kind of its own in the alternation. It also reports the
UI (main) thread's CPU time while the run trains, measured by `ui_probe.py` (which runs the app)
from its first batch to its last epoch's end: as CPU seconds per
5 seconds of training and as a share of one core. (`ui_thread_cpu_s` and `process_cpu_s` are
the whole process's life, start-up and summary included.) Each TUI trial has a tmux server of
its own, whose CPU time (`terminal_cpu_s`, over the app's life) is what drawing the screen cost
the terminal: on the machine that trains when the terminal runs there, elsewhere over SSH.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist.npz"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def one_bare(args: argparse.Namespace) -> dict:
    """A plain Keras script: the same model, data and split, `fit(verbose=0)`."""
    from bare_keras import bare_fit

    from mnist_tui.core.config import TrainConfig
    from mnist_tui.training.data import load_mnist

    config = TrainConfig(train_size=args.train_size, epochs=args.epochs, seed=args.seed)
    _, _, seconds = bare_fit(config, load_mnist(args.data))
    return {"images_per_s": config.train_samples * config.epochs / seconds}


def one_pipeline(args: argparse.Namespace) -> dict:
    """The trainer's own input pipeline and batches per execution, but a bare `fit`: no
    callback, no events, no log. The trainer against this is the cost of monitoring alone."""
    from bare_keras import fit_clock

    from mnist_tui.core.config import TrainConfig
    from mnist_tui.training.data import load_mnist
    from mnist_tui.training.keras_runtime import import_keras
    from mnist_tui.training.model import build_model
    from mnist_tui.training.pipeline import make_datasets
    from mnist_tui.training.trainer import STEPS_PER_EXECUTION

    keras = import_keras()
    config = TrainConfig(train_size=args.train_size, epochs=args.epochs, seed=args.seed)
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, steps_per_execution=STEPS_PER_EXECUTION)
    train, val = make_datasets(config, load_mnist(args.data))
    clock = fit_clock(keras)
    model.fit(train, epochs=config.epochs, validation_data=val, shuffle=False, verbose=0,
              callbacks=[clock])
    return {"images_per_s": config.train_samples * config.epochs / clock.seconds}


def one_headless(args: argparse.Namespace) -> dict:
    """The project's trainer with its run log and plain headless progress lines."""
    import io

    from mnist_tui.core.config import TrainConfig
    from mnist_tui.headless import HeadlessConsole
    from mnist_tui.runs.driver import execute_run
    from mnist_tui.training.data import load_mnist

    config = TrainConfig(train_size=args.train_size, epochs=args.epochs, seed=args.seed)
    console = HeadlessConsole(io.StringIO(), interactive=False)
    with tempfile.TemporaryDirectory() as runs:
        _, summary = execute_run(config, console, runs_dir=Path(runs),
                                 data=load_mnist(args.data))
    return {"images_per_s": summary["samples_per_second"]}


def _trainer(args: argparse.Namespace, checkpoints: bool, live: bool = True) -> dict:
    """The trainer into a run folder with the headless console, checkpoints on or off, live
    predictions and load samples on or off."""
    import io

    from mnist_tui.core.config import TrainConfig
    from mnist_tui.core.events import Checkpointed, Event
    from mnist_tui.headless import HeadlessConsole
    from mnist_tui.runs.writer import RunWriter, new_run_id
    from mnist_tui.training.data import load_mnist
    from mnist_tui.training.trainer import Trainer

    config = TrainConfig(train_size=args.train_size, epochs=args.epochs, seed=args.seed)
    console = HeadlessConsole(io.StringIO(), interactive=False)
    saves: list[float] = []
    with tempfile.TemporaryDirectory() as runs:
        writer = RunWriter(Path(runs), new_run_id(), config)

        def both(event: Event) -> None:
            writer.write(event)
            console(event)
            if isinstance(event, Checkpointed):
                saves.append(event.seconds)

        try:
            trainer = Trainer(run_dir=writer.run_dir, data=load_mnist(args.data),
                              checkpoints=checkpoints, live=live)
            summary = trainer.run(config, both, run_id=writer.run_id)
        finally:
            writer.close()
    return {"images_per_s": summary["samples_per_second"], "checkpoints": len(saves),
            "save_ms": 1000 * statistics.median(saves) if saves else 0.0,
            "hooks_s": trainer.hook_seconds, "train_s": summary["seconds"]}


def one_trainer(args: argparse.Namespace) -> dict:
    """The trainer with its checkpoints (see `_trainer`)."""
    return _trainer(args, checkpoints=True)


def one_trainer_nockpt(args: argparse.Namespace) -> dict:
    """The same trainer without checkpoints."""
    return _trainer(args, checkpoints=False)


def one_trainer_nolive(args: argparse.Namespace) -> dict:
    """The same trainer without live predictions and system load samples."""
    return _trainer(args, checkpoints=True, live=False)


def _thread_cpu(pid: int, tid: int) -> float:
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def one_tui(args: argparse.Namespace, size: str, live: bool = True) -> dict:
    """`mnist-tui --start` in a real tmux terminal of `size` (WIDTHxHEIGHT); throughput from
    its run summary, the UI thread's CPU while training from `ui_probe.py`'s probe. Without
    `live`, the run has no live predictions and load samples ($MNIST_TUI_LIVE=0)."""
    if shutil.which("tmux") is None:
        raise SystemExit("the --tui trial needs tmux (apt-get install tmux)")
    width, height = size.split("x")
    session = f"mnist-bench-{os.getpid()}"
    with tempfile.TemporaryDirectory() as runs:
        probe = Path(runs) / "ui-cpu.json"
        command = (f"exec env MNIST_TUI_LIVE={int(live)} "
                   f"{sys.executable} {ROOT / 'benchmarks' / 'ui_probe.py'} {probe} "
                   f"--start --data {args.data} --runs-dir {runs} --train-size "
                   f"{args.train_size} --epochs {args.epochs} --seed {args.seed}")
        # A tmux server of its own, so that its CPU time is this terminal's alone.
        tmux = ["tmux", "-L", session]
        subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", width, "-y", height,
                        command], check=True)
        try:
            pid, server = map(int, subprocess.run(
                [*tmux, "display", "-p", "-t", session, "#{pane_pid} #{pid}"],
                capture_output=True, text=True, check=True).stdout.split())
            summary_path = None
            deadline = time.monotonic() + 1800
            while summary_path is None:
                if time.monotonic() > deadline:
                    raise SystemExit("the TUI run did not finish")
                time.sleep(0.5)
                found = list(Path(runs).glob("*/summary.json"))
                summary_path = found[0] if found else None
            time.sleep(0.5)
            ui_cpu, all_cpu = _thread_cpu(pid, pid), _process_cpu(pid)
            terminal_cpu = _process_cpu(server)
            summary = json.loads(summary_path.read_text())
            training = json.loads(probe.read_text())
        finally:
            subprocess.run([*tmux, "kill-server"], check=False)
    return {"images_per_s": summary["samples_per_second"],
            "ui_cpu_per_5s": 5 * training["ui_cpu_s"] / training["wall_s"],
            "ui_thread_cpu_s": ui_cpu, "process_cpu_s": all_cpu,
            "terminal_cpu_s": terminal_cpu, "train_seconds": summary["seconds"]}


TRIALS = {"bare": one_bare, "pipeline": one_pipeline, "headless": one_headless,
          "trainer": one_trainer, "trainer-nockpt": one_trainer_nockpt,
          "trainer-nolive": one_trainer_nolive}


def run_trial(kind: str, args: argparse.Namespace) -> dict:
    """Run one trial in a fresh process (the TUI one drives its own process in tmux)."""
    if kind.startswith("tui@"):
        return one_tui(args, kind.removeprefix("tui@"))
    if kind.startswith("tui-nolive@"):
        return one_tui(args, kind.removeprefix("tui-nolive@"), live=False)
    command = [sys.executable, __file__, "--one", kind, "--data", str(args.data),
               "--train-size", str(args.train_size), "--epochs", str(args.epochs),
               "--seed", str(args.seed)]
    env = {**os.environ, "MNIST_TUI_CHECKPOINT_SECONDS": str(args.checkpoint_seconds)}
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    """Alternate the trials, then print each one, the medians and the ratios to bare fit."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=3, help="rounds of alternating trials")
    parser.add_argument("--train-size", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "MNIST_TUI_DATA", DEFAULT_DATA)))
    parser.add_argument("--tui", action="store_true", help="also time the TUI in tmux")
    parser.add_argument("--checkpoints", action="store_true",
                        help="also time the trainer with and without its checkpoints")
    parser.add_argument("--live", action="store_true",
                        help="also time the trainer (and the TUI) without its live parts")
    parser.add_argument("--checkpoint-seconds", type=float, default=30.0,
                        help="interval between checkpoints within an epoch (default 30)")
    parser.add_argument("--sizes", default="120x40,200x60",
                        help="terminal sizes of the TUI trials, WIDTHxHEIGHT, comma-separated")
    parser.add_argument("--one", choices=sorted(TRIALS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(TRIALS[args.one](args)))
        return
    sizes = [size.strip().lower() for size in args.sizes.split(",") if size.strip()]
    if any(not re.fullmatch(r"\d+x\d+", size) for size in sizes):
        parser.error(f"--sizes takes WIDTHxHEIGHT, comma-separated, not {args.sizes!r}")
    kinds = ["bare", "pipeline", "headless"] + ([f"tui@{s}" for s in sizes] if args.tui else [])
    if args.live and args.tui:
        kinds += [f"tui-nolive@{s}" for s in sizes]
    if args.checkpoints or args.live:
        kinds += ["trainer"]
    if args.checkpoints:
        kinds += ["trainer-nockpt"]
    if args.live:
        kinds += ["trainer-nolive"]
    results: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for round_no in range(1, args.pairs + 1):
        order = kinds if round_no % 2 else kinds[::-1]
        for kind in order:
            result = run_trial(kind, args)
            results[kind].append(result)
            extra = "".join(f"  {k} {v:.2f}" for k, v in result.items() if k != "images_per_s")
            print(f"round {round_no} {kind:14s} {result['images_per_s']:8.0f} images/s{extra}",
                  flush=True)
    bare = statistics.median(r["images_per_s"] for r in results["bare"])
    print(f"\nmedian images/s ({args.pairs} runs each, {args.train_size} images, "
          f"{args.epochs} epoch(s)):")
    pipeline = statistics.median(r["images_per_s"] for r in results["pipeline"])
    for kind in kinds:
        med = statistics.median(r["images_per_s"] for r in results[kind])
        ui = ""
        if kind.startswith(("tui@", "tui-nolive@")):
            per_5s = statistics.median(r["ui_cpu_per_5s"] for r in results[kind])
            paired = statistics.median(t["images_per_s"] / p["images_per_s"] for t, p in
                                       zip(results[kind], results["pipeline"], strict=True))
            terminal = statistics.median(r["terminal_cpu_s"] for r in results[kind])
            ui = (f" (paired {paired:.3f})   UI thread CPU s per 5 s of training "
                  f"{per_5s:.3f} ({per_5s / 5:.1%} of a core); the terminal (tmux) "
                  f"{terminal:.2f} CPU s over the app's life")
        print(f"  {kind:14s} {med:8.0f}   ratio to bare fit {med / bare:.3f}   "
              f"to bare fit on the same pipeline {med / pipeline:.3f}{ui}")
    if args.live:
        ratio = [a["images_per_s"] / b["images_per_s"]
                 for a, b in zip(results["trainer"], results["trainer-nolive"], strict=True)]
        print(f"  live predictions and load samples: trainer with / without "
              f"{statistics.median(ratio):.3f} (median of the {len(ratio)} pairs' ratios)")
        share = statistics.median(r["hooks_s"] / r["train_s"] for r in results["trainer"])
        hooks = statistics.median(r["hooks_s"] for r in results["trainer"])
        print(f"  the training thread's time in the live parts (measured inside the run): "
              f"{1000 * hooks:.0f} ms, {share:.2%} of training")
        for size in sizes if args.tui else []:
            ratio = [a["images_per_s"] / b["images_per_s"] for a, b in
                     zip(results[f"tui@{size}"], results[f"tui-nolive@{size}"], strict=True)]
            print(f"  TUI at {size} with / without its live parts "
                  f"{statistics.median(ratio):.3f} (median of the pairs' ratios)")
    if args.checkpoints:
        ratio = [a["images_per_s"] / b["images_per_s"]
                 for a, b in zip(results["trainer"], results["trainer-nockpt"], strict=True)]
        saves = statistics.median(r["save_ms"] for r in results["trainer"])
        count = statistics.median(r["checkpoints"] for r in results["trainer"])
        print(f"  checkpoints: with / without {statistics.median(ratio):.3f} (median of the "
              f"{len(ratio)} pairs' ratios), {count:.0f} per run, {saves:.1f} ms each")


if __name__ == "__main__":
    main()
