"""What median pruning saves in a sweep, and what --parallel 2 gives: a benchmark, not a test.

Runs the same 12-trial grid sweep (learning rate × optimizer × dropout, 6,000 training
images, 3 epochs, seed 0) through `mnist-tui sweep --headless`:

1. without pruning, --parallel 1;
2. with median pruning, --parallel 1;
3. without pruning, --parallel 2 (for trials per minute only).

and prints the best validation accuracy with and without pruning, the batches trained each
way (summed from the trials' run folders) and the saving as a ratio, and the trials per
minute with --parallel 1 and 2. `--against TREE` also runs the pruned sweep from another
checkout (TREE on PYTHONPATH), right after this tree's, and prints the ratio of their wall
times. Run it on a quiet machine and say the load:

    python benchmarks/sweep_pruning.py --data /path/to/mnist.npz [--no-parallel] [--against TREE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GRID = ["--learning-rate", "0.001, 0.003, 0.01", "--optimizer", "adam,rmsprop",
        "--dropout", "0, 0.3"]
SETTINGS = ["--train-size", "6000", "--epochs", "3", "--seed", "0"]


def sweep(runs: Path, data: str, pruning: str, parallel: int, tree: str | None = None
          ) -> dict[str, Any]:
    """One sweep through the CLI (of `tree`, else this environment's): its JSON result, the
    wall time and the batches trained."""
    command = [sys.executable, "-m", "mnist_tui", "sweep", "--headless", "--runs-dir",
               str(runs), "--data", data, *SETTINGS, *GRID, "--pruning", pruning,
               "--parallel", str(parallel),
               "--name", f"{pruning}-p{parallel}{'-other' if tree else ''}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if tree:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [tree, env.get("PYTHONPATH")]))
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"sweep failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout)
    batches = 0
    slice_seconds = train_seconds = 0.0
    for row in result["rows"]:
        summary = json.loads((runs / row["run_id"] / "summary.json").read_text())
        batches += int(summary.get("batches") or 0)
        train_seconds += float(summary.get("seconds") or 0.0)
        for line in (runs / row["run_id"] / "events.jsonl").read_text().splitlines():
            event = json.loads(line)
            if event.get("type") == "slice_validated":
                slice_seconds += float(event["seconds"])
    return {"result": result, "seconds": seconds, "batches": batches,
            "slice_seconds": slice_seconds, "train_seconds": train_seconds}


def main() -> None:
    """Run the sweeps and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("MNIST_TUI_DATA"), required=False,
                        help="MNIST (default: $MNIST_TUI_DATA)")
    parser.add_argument("--no-parallel", action="store_true",
                        help="skip the --parallel 2 sweep (pruning figures only)")
    parser.add_argument("--against", metavar="TREE",
                        help="also run the pruned sweep from this checkout, side by side")
    args = parser.parse_args()
    if not args.data:
        sys.exit("give --data or set MNIST_TUI_DATA")
    load = os.getloadavg()
    print(f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on "
          f"{os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="mnist-tui-sweep-bench-") as tmp:
        runs = Path(tmp)
        plain = sweep(runs, args.data, "none", 1)
        print(f"no pruning, --parallel 1: {plain['seconds']:.0f} s", flush=True)
        pruned = sweep(runs, args.data, "median", 1)
        print(f"median pruning, --parallel 1: {pruned['seconds']:.0f} s", flush=True)
        other = None if not args.against else sweep(runs, args.data, "median", 1, args.against)
        if other is not None:
            print(f"median pruning, --parallel 1, {args.against}: {other['seconds']:.0f} s "
                  f"(this tree / that one: {pruned['seconds'] / other['seconds']:.3f}; "
                  f"batches {pruned['batches']:,} / {other['batches']:,}; best "
                  f"{pruned['result']['best']['value']:.4f} / "
                  f"{other['result']['best']['value']:.4f})", flush=True)
        two = None if args.no_parallel else sweep(runs, args.data, "none", 2)
        if two is not None:
            print(f"no pruning, --parallel 2: {two['seconds']:.0f} s", flush=True)
    best = {k: v["result"]["best"]["value"] for k, v in (("none", plain), ("median", pruned))}
    pruned_rows = [r for r in pruned["result"]["rows"] if r["state"] == "pruned"]
    print()
    for row in pruned["result"]["rows"]:
        print(f"  trial {row['trial']} {row['params']}: {row['state']} {row['value']} "
              f"{row['reason']}")
    print()
    print(f"best val accuracy without pruning: {best['none'] * 100:.2f}%")
    print(f"best val accuracy with median pruning: {best['median'] * 100:.2f}% "
          f"({(best['median'] - best['none']) * 100:+.2f} points; "
          f"{len(pruned_rows)} of 12 trials pruned)")
    saving = 1 - pruned["batches"] / plain["batches"]
    print(f"batches trained: {plain['batches']:,} without, {pruned['batches']:,} with pruning "
          f"(saving {saving:.0%}, ratio {plain['batches'] / pruned['batches']:.2f}x)")
    print(f"validation slices within epochs: {pruned['slice_seconds']:.1f} s of "
          f"{pruned['train_seconds']:.0f} s training with pruning "
          f"({pruned['slice_seconds'] / max(pruned['train_seconds'], 1e-9):.1%})")
    for name, run in (("--parallel 1", plain), ("--parallel 2", two)):
        if run is not None:
            print(f"trials per minute, {name}: {12 / run['seconds'] * 60:.2f}")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
