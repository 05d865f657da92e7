"""How fast is the trainer? The project's trainer vs the same network in a plain PyTorch loop.

Each trial is a fresh process training the same config (the seed's defaults unless told:
60,000 images, 1 epoch, batch 64, RMSprop 0.01, validation split 0.15) on the same data slice;
the kinds alternate (trainer, torch, torch, trainer, ...) so that the machine's drift hits them
alike. Throughput is measured the same way for all: training images over the seconds from the
first batch to the end of the last epoch's validation pass (loading, building and the test
evaluation excluded). Peak memory is the trial process's `ru_maxrss`.

    python benchmarks/speed.py                          # 3 pairs, the seed's defaults
    python benchmarks/speed.py --pairs 5 --train-size 20000
    python benchmarks/speed.py --kinds trainer,torch,keras   # also a bare Keras `fit`
    python benchmarks/speed.py --kinds trainer,trainer@1     # steps_per_execution 16 vs 1

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
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _config(args: argparse.Namespace) -> Any:
    from mnist_tui.config import TrainConfig

    return TrainConfig(train_size=args.train_size, epochs=args.epochs, seed=args.seed,
                       batch_size=args.batch_size, strategy=args.strategy)


def one_trainer(args: argparse.Namespace) -> dict[str, Any]:
    """The project's `Trainer`, as the headless and TUI front ends run it.

    `trainer@N` runs it with `steps_per_execution` N instead of its own choice.
    """
    from mnist_tui.data import load_mnist
    from mnist_tui.events import BatchEnd, EpochEnd, Phase
    from mnist_tui.training import Trainer

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
            "batch_events": batch_events,
            "fit_return_lag_s": marks.get("evaluating", 0.0) - marks.get("last_epoch_end", 0.0)}


def one_torch(args: argparse.Namespace) -> dict[str, Any]:
    """The same network and optimizer in a plain PyTorch loop (see torch_reference.py)."""
    from torch_reference import train_torch

    from mnist_tui.data import load_mnist

    return train_torch(_config(args), load_mnist(args.data), threads=args.threads)


def one_keras(args: argparse.Namespace) -> dict[str, Any]:
    """A plain Keras script: the project's model, NumPy arrays, `fit(verbose=0)`."""
    import numpy as np
    from bare_keras import bare_fit, float_images

    from mnist_tui.data import load_mnist

    config = _config(args)
    data = load_mnist(args.data)
    model, history, seconds = bare_fit(config, data)
    _, test_acc = model.evaluate(float_images(data.x_test), data.y_test.astype(np.int32),
                                 batch_size=1024, verbose=0)
    return {"images_per_s": config.train_samples * config.epochs / seconds, "seconds": seconds,
            "test_accuracy": float(test_acc), "val_accuracy": history["val_accuracy"][-1]}


TRIALS = {"trainer": one_trainer, "torch": one_torch, "keras": one_keras}


def run_trial(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """One trial in a fresh process; its last stdout line is the result as JSON."""
    kind, _, steps = kind.partition("@")
    command = [sys.executable, __file__, "--one", kind, "--data", str(args.data),
               *(["--steps", steps] if steps else []),
               "--train-size", str(args.train_size), "--epochs", str(args.epochs),
               "--batch-size", str(args.batch_size), "--seed", str(args.seed),
               "--threads", str(args.threads), "--strategy", args.strategy]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {kind} trial failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    parser.add_argument("--kinds", default="trainer,torch",
                        help=f"comma-separated trials to alternate, of {', '.join(KINDS)}; "
                        "trainer@N sets its steps_per_execution to N")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "MNIST_TUI_DATA", DEFAULT_DATA)))
    parser.add_argument("--one", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = TRIALS[args.one](args)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted({k.partition("@")[0] for k in kinds} - set(KINDS))
    if unknown:
        parser.error(f"unknown kinds {', '.join(unknown)}; known: {', '.join(KINDS)}")
    if "torch" in kinds:
        from torch_reference import torch_available

        if not torch_available():
            print("PyTorch is not installed: skipping the PyTorch side (it is an optional "
                  "extra: pip install 'mnist-tui[bench]' or pip install torch==2.13.0)",
                  flush=True)
            kinds.remove("torch")
    if not kinds:
        return
    print(f"{args.train_size:,} images, {args.epochs} epoch(s), batch {args.batch_size}, "
          f"seed {args.seed}, {os.cpu_count()} CPUs, strategy {args.strategy}", flush=True)
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for round_no in range(1, args.pairs + 1):
        for kind in kinds if round_no % 2 else kinds[::-1]:
            result = run_trial(kind, args)
            results[kind].append(result)
            extra = "".join(f"  {k} {v:.4g}" for k, v in result.items() if k != "images_per_s")
            print(f"round {round_no} {kind:8s} {result['images_per_s']:7.0f} images/s{extra}",
                  flush=True)
    base = kinds[0]
    base_speed = _median(results[base], "images_per_s")
    print(f"\nmedians of {args.pairs} trial(s) each:")
    for kind in kinds:
        speed = _median(results[kind], "images_per_s")
        print(f"  {kind:8s} {speed:7.0f} images/s   test accuracy "
              f"{_median(results[kind], 'test_accuracy') * 100:.2f}%   peak "
              f"{_median(results[kind], 'peak_mb'):.0f} MB   {base}/{kind} "
              f"{base_speed / speed:.3f}")
    if "torch" in kinds and base != "torch":
        ratios = [a["images_per_s"] / b["images_per_s"]
                  for a, b in zip(results[base], results["torch"], strict=True)]
        print(f"  {base}/torch per round: " + ", ".join(f"{r:.3f}" for r in ratios)
              + f"  (median {statistics.median(ratios):.3f})")


if __name__ == "__main__":
    main()
