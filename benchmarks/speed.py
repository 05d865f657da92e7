"""How fast is the trainer? The project's trainer vs the same network in a plain PyTorch loop.

Each trial is a fresh process training the same config (the seed's defaults unless told:
60,000 images, 1 epoch, batch 64, RMSprop 0.01, validation split 0.15) on the same data slice;
the kinds alternate (trainer, torch, torch, trainer, ...) so that the machine's drift hits them
alike, and each round trains with its own seed (--seed, then the next ones), the same for every
kind, so that the accuracies are medians over seeds. Throughput is measured the same way for
all: training images over the seconds from the first batch to the end of the last epoch's
validation pass (loading, building and the test evaluation excluded). Peak memory is the trial
process's `ru_maxrss`.

    python benchmarks/speed.py                          # 3 pairs, the seed's defaults
    python benchmarks/speed.py --pairs 5 --train-size 20000
    python benchmarks/speed.py --kinds trainer,torch,keras   # also a bare Keras `fit`
    python benchmarks/speed.py --kinds trainer,trainer@1     # steps_per_execution 16 vs 1
    python benchmarks/speed.py --kinds trainer,trainer@bf16,torch,torch@bf16   # each precision
    python benchmarks/speed.py --kinds trainer,trainer@onednn,torch   # Eigen vs oneDNN kernels

A kind's suffixes, after "@": a number sets the trainer's steps_per_execution; a precision
(bf16 or bfloat16, fp32 or float32, auto for the trainer and keras) trains in it: the
trainer's `--precision` (see mnist_tui/training/model.py) or PyTorch's `torch.autocast` to
bfloat16; `onednn` (trainer and keras) turns TensorFlow's oneDNN kernels on
(TF_ENABLE_ONEDNN_OPTS=1), which TensorFlow's x86 build does by itself only on CPUs with
AVX-512 VNNI/BF16 or AMX: elsewhere it runs its Eigen kernels.

On a shared machine a trial during which other work kept more than `--busy` cores busy is run
again, up to `--retries` times (see `run_trial`); each trial prints that load as `others_cores`.

PyTorch is an optional extra (`pip install 'mnist-tui[bench]'`, which pins torch==2.13.0);
without it the PyTorch side is skipped with a note and the other kinds still run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist.npz"
KINDS = ("trainer", "torch", "keras")
ONEDNN = "onednn"
PRECISION_SUFFIXES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp32": "float32",
                      "float32": "float32", "auto": "auto"}
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _config(args: argparse.Namespace) -> Any:
    from mnist_tui.core.config import TrainConfig

    return TrainConfig(train_size=args.train_size, epochs=args.epochs, seed=args.seed,
                       batch_size=args.batch_size, strategy=args.strategy,
                       precision=args.precision)


def parse_kind(kind: str) -> tuple[str, int | None, str]:
    """A kind as (base, steps_per_execution or None, precision): "trainer@bf16@1" →
    ("trainer", 1, "bfloat16"). Raises ValueError saying what is wrong."""
    base, *suffixes = [part for part in kind.split("@") if part.lower() != ONEDNN]
    if base not in KINDS:
        raise ValueError(f"unknown kind {base!r} in {kind!r}; known: {', '.join(KINDS)}")
    steps, precision = None, "float32"
    for suffix in suffixes:
        if suffix.isdigit() and int(suffix) >= 1 and base == "trainer":
            steps = int(suffix)
        elif suffix.lower() in PRECISION_SUFFIXES and not (base == "torch" and
                                                            suffix.lower() == "auto"):
            precision = PRECISION_SUFFIXES[suffix.lower()]
        else:
            raise ValueError(
                f"{kind!r}: unknown suffix {suffix!r}; a kind takes @bf16 or @fp32 (and the "
                "trainer and keras @auto and @onednn), and the trainer @N, N ≥ 1 batches per "
                "execution")
    if uses_onednn(kind) and base == "torch":
        raise ValueError(f"{kind!r}: @onednn is TensorFlow's kernels, for trainer and keras")
    return base, steps, precision


def uses_onednn(kind: str) -> bool:
    """Whether the kind asks for TensorFlow's oneDNN kernels (`@onednn`)."""
    return ONEDNN in (part.lower() for part in kind.split("@")[1:])


def one_trainer(args: argparse.Namespace) -> dict[str, Any]:
    """The project's `Trainer`, as the headless and TUI front ends run it.

    `trainer@N` runs it with `steps_per_execution` N instead of its own choice.
    """
    from mnist_tui.core.events import BatchEnd, EpochEnd, Phase
    from mnist_tui.training.data import load_mnist
    from mnist_tui.training.trainer import Trainer

    config = _config(args)
    data = load_mnist(args.data)
    marks: dict[str, float] = {}
    batch_events = 0

    def emit(event: Any) -> None:
        nonlocal batch_events
        if isinstance(event, BatchEnd):
            batch_events += 1
        elif isinstance(event, EpochEnd):
            marks["last_epoch_end"] = time.perf_counter()
        elif isinstance(event, Phase) and event.phase == "evaluating":
            marks["evaluating"] = time.perf_counter()

    summary = Trainer(data=data, steps_per_execution=args.steps).run(config, emit,
                                                                      run_id="bench")
    if summary["status"] != "finished":
        raise SystemExit(f"the trainer did not finish: {summary['reason']}")
    return {"images_per_s": summary["samples_per_second"], "seconds": summary["seconds"],
            "test_accuracy": summary["test_accuracy"], "val_accuracy": summary["val_accuracy"],
            "bf16": summary.get("precision") == "bfloat16", "batch_events": batch_events,
            "fit_return_lag_s": marks.get("evaluating", 0.0) - marks.get("last_epoch_end", 0.0)}


def one_torch(args: argparse.Namespace) -> dict[str, Any]:
    """The same network and optimizer in a plain PyTorch loop (see torch_reference.py)."""
    from torch_reference import train_torch

    from mnist_tui.training.data import load_mnist

    return train_torch(_config(args), load_mnist(args.data), threads=args.threads)


def one_keras(args: argparse.Namespace) -> dict[str, Any]:
    """A plain Keras script: the project's model, NumPy arrays, `fit(verbose=0)`."""
    import numpy as np
    from bare_keras import bare_fit, float_images

    from mnist_tui.training.data import load_mnist

    config = _config(args)
    data = load_mnist(args.data)
    model, history, seconds = bare_fit(config, data)
    _, test_acc = model.evaluate(float_images(data.x_test), data.y_test.astype(np.int32),
                                 batch_size=1024, verbose=0)
    return {"images_per_s": config.train_samples * config.epochs / seconds, "seconds": seconds,
            "test_accuracy": float(test_acc), "val_accuracy": history["val_accuracy"][-1]}


TRIALS = {"trainer": one_trainer, "torch": one_torch, "keras": one_keras}


def busy_seconds() -> float | None:
    """CPU seconds the whole machine has been busy since boot, time stolen by the hypervisor
    included (Linux's /proc/stat); None where that cannot be read."""
    try:
        ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_trial(kind: str, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """One trial in a fresh process; its last stdout line is the result as JSON.

    `others_cores` is how many cores everything else on the machine kept busy, on average,
    while the trial ran: on a shared machine a trial that met other work is retried
    (`--busy`), since PyTorch's OpenMP threads slow down several times over when a core is
    taken, and TensorFlow's thread pool much less.
    """
    base, steps, precision = parse_kind(kind)
    command = [sys.executable, __file__, "--one", base, "--data", str(args.data),
               *(["--steps", str(steps)] if steps else []), "--precision", precision,
               "--train-size", str(args.train_size), "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size), "--seed", str(seed),
               "--threads", str(args.threads), "--strategy", args.strategy]
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1"} if uses_onednn(kind) else None
    attempt = 0
    while True:
        attempt += 1
        busy, children, start = busy_seconds(), _children_seconds(), time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"the {kind} trial failed:\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        after = busy_seconds()
        if busy is None or after is None:
            return result
        result["others_cores"] = max(0.0, after - busy - (_children_seconds() - children)) / (
            time.perf_counter() - start)
        if result["others_cores"] <= args.busy or attempt > args.retries:
            return result
        print(f"  ({kind}: other work kept {result['others_cores']:.2f} cores busy; again)",
              flush=True)


def _median(results: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in results)


def main() -> None:
    """Alternate the trials, print each, then medians, ratios, accuracies and peak memory."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=3, help="rounds of alternating trials")
    parser.add_argument("--train-size", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch's intra-op threads")
    parser.add_argument("--strategy", default="default", help="the trainer's --strategy")
    parser.add_argument("--busy", type=float, default=0.2,
                        help="retry a trial while other work kept more than this many cores "
                             "busy (default 0.2)")
    parser.add_argument("--retries", type=int, default=3, help="at most this many retries "
                        "of a trial (default 3); the last one counts whatever the load")
    parser.add_argument("--kinds", default="trainer,torch",
                        help=f"comma-separated trials to alternate, of {', '.join(KINDS)}; "
                        "@bf16 trains in bfloat16, trainer@N sets its steps_per_execution")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "MNIST_TUI_DATA", DEFAULT_DATA)))
    parser.add_argument("--one", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--precision", default="float32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = TRIALS[args.one](args)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    for name, low in (("pairs", 1), ("busy", 0), ("retries", 0)):
        if getattr(args, name) < low:
            parser.error(f"--{name} must be at least {low}, got {getattr(args, name)}")
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    try:
        parsed = {kind: parse_kind(kind) for kind in kinds}
    except ValueError as exc:
        parser.error(str(exc))
    if any(base == "torch" for base, _, _ in parsed.values()):
        from torch_reference import torch_available

        if not torch_available():
            print("PyTorch is not installed: skipping the PyTorch side (it is an optional "
                  "extra: pip install 'mnist-tui[bench]' or pip install torch==2.13.0)",
                  flush=True)
            kinds = [kind for kind in kinds if parsed[kind][0] != "torch"]
    if not kinds:
        return
    seeds = list(range(args.seed, args.seed + args.pairs))
    print(f"{args.train_size:,} images, {args.epochs} epoch(s), batch {args.batch_size}, "
          f"seeds {seeds[0]}-{seeds[-1]} (one a round), {os.cpu_count()} CPUs, strategy "
          f"{args.strategy}", flush=True)
    width = max(len(kind) for kind in kinds)
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for round_no, seed in enumerate(seeds, start=1):
        for kind in kinds if round_no % 2 else kinds[::-1]:
            result = run_trial(kind, args, seed)
            results[kind].append(result)
            extra = "".join(f"  {k} {v:.4g}" for k, v in result.items() if k != "images_per_s")
            print(f"round {round_no} {kind:{width}s} {result['images_per_s']:7.0f} "
                  f"images/s{extra}", flush=True)
    base = kinds[0]
    base_speed = _median(results[base], "images_per_s")
    print(f"\nmedians of {args.pairs} trial(s) each:")
    for kind in kinds:
        speed = _median(results[kind], "images_per_s")
        print(f"  {kind:{width}s} {speed:7.0f} images/s   test accuracy "
              f"{_median(results[kind], 'test_accuracy') * 100:.2f}%   peak "
              f"{_median(results[kind], 'peak_mb'):.0f} MB   {base}/{kind} "
              f"{base_speed / speed:.3f}")
    for kind in kinds:
        for torch_kind in kinds:
            if parsed[kind][0] == "torch" or parsed[torch_kind][0] != "torch":
                continue
            ratios = [a["images_per_s"] / b["images_per_s"]
                      for a, b in zip(results[kind], results[torch_kind], strict=True)]
            print(f"  {kind}/{torch_kind} per round: " + ", ".join(f"{r:.3f}" for r in ratios)
                  + f"  (median {statistics.median(ratios):.3f})")

if __name__ == "__main__":
    main()
