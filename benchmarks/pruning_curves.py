"""How each pruner setting would have done on the benchmark's sweep: a benchmark, not a test.

Trains the 12 trials of `sweep_pruning.py`'s grid (learning rate × optimizer × dropout, 6,000
training images, 3 epochs, seed 0) once, in this process, each reporting at every report
point (`core.report_points`: 4 per epoch, within an epoch on the validation slice) with a
pruner that never prunes, so every trial's whole curve is known. Then it replays the same
curves, in the same order, through Optuna's own pruners for several settings (a seeded trial
trains the same batches whatever the pruner, so a pruned trial's curve is the start of its
whole one) and prints for each: the trials pruned, the batches trained (the saving), and the
best validation accuracy of the trials left to finish. `sweep_pruning.py` then measures the
setting chosen in a real sweep. Run it on a quiet machine and say the load:

    python benchmarks/pruning_curves.py --data /path/to/mnist.npz
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

GRID = {"learning_rate": "0.001, 0.003, 0.01", "optimizer": "adam,rmsprop", "dropout": "0, 0.3",
        "train_size": "6000", "epochs": "3", "seed": "0"}


def curves(data_path: str) -> tuple[list[dict[int, float]], dict[int, int], int]:
    """Every trial's reported figures (step → value), each step's batches trained in the
    run, and the batches of a whole trial."""
    import optuna

    from mnist_tui.core.control import RunControl
    from mnist_tui.core.report_points import point_batches, step_place
    from mnist_tui.core.search_space import parse_search
    from mnist_tui.core.sweep_plan import SweepPlan
    from mnist_tui.sweeps.study import create_sweep, load_study
    from mnist_tui.sweeps.trial import train_trial
    from mnist_tui.training.data import load_run_data
    from mnist_tui.training.warmup import STEPS_PER_EXECUTION

    space, errors = parse_search(GRID)
    assert not errors, errors
    plan = SweepPlan("curves", space, 12, pruning="median", seed=0)
    config = space.base
    data = load_run_data(config, data_path)
    found: list[dict[int, float]] = []
    with tempfile.TemporaryDirectory(prefix="mnist-tui-curves-") as tmp:
        study, plan = load_study(create_sweep(plan, Path(tmp), ""))
        study.pruner = optuna.pruners.NopPruner()
        for number in range(plan.trials):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trial = study.ask()
            result = train_trial(trial, plan, Path(tmp), RunControl(), data=data)
            study.tell(trial, result.value)
            values = study.trials[trial.number].intermediate_values
            found.append(dict(values))
            print(f"trial {number} {trial.params}: {result.value:.4f}", flush=True)
    per_epoch = config.batches_per_epoch
    inside = point_batches(per_epoch, plan.points, STEPS_PER_EXECUTION)
    batches = {}
    for step in range(1, plan.points * config.epochs + 1):
        epoch, point = step_place(step, plan.points)
        batches[step] = (epoch - 1) * per_epoch + inside.get(point, per_epoch)
    return found, batches, per_epoch * config.epochs


def replay(found: list[dict[int, float]], batches: dict[int, int], whole: int,
           pruner: Any) -> tuple[int, int, float]:
    """The trials in order through `pruner`: (pruned, batches trained, best finished)."""
    import optuna

    study = optuna.create_study(direction="maximize", pruner=pruner)
    pruned = trained = 0
    best = 0.0
    for values in found:
        trial = study.ask()
        cut = None
        for step in sorted(values):
            trial.report(values[step], step)
            if step < max(values) and trial.should_prune():
                cut = step
                break
        if cut is None:
            study.tell(trial, values[max(values)])
            trained += whole
            best = max(best, values[max(values)])
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            trained += batches[cut]
            pruned += 1
    return pruned, trained, best


def main() -> None:
    """Train the curves once, then replay them through each setting."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("MNIST_TUI_DATA"))
    parser.add_argument("--keep", type=Path, default=None,
                        help="a JSON file keeping the curves: read when it is there, else "
                             "written after training them")
    args = parser.parse_args()
    if not args.data and not (args.keep and args.keep.exists()):
        sys.exit("give --data or set MNIST_TUI_DATA")
    import optuna

    load = os.getloadavg()
    print(f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}", flush=True)
    if args.keep and args.keep.exists():
        kept = json.loads(args.keep.read_text())
        found = [{int(k): v for k, v in c.items()} for c in kept["curves"]]
        batches = {int(k): v for k, v in kept["batches"].items()}
        whole = kept["whole"]
    else:
        found, batches, whole = curves(args.data)
        if args.keep:
            args.keep.write_text(json.dumps({"curves": found, "batches": batches,
                                             "whole": whole}))
    unpruned = max(v[max(v)] for v in found)
    print(f"\nbest without pruning: {unpruned * 100:.2f}%, {whole * len(found):,} batches")
    print("pruner                                   pruned  batches  saving  best    vs none")
    settings: list[tuple[str, Any]] = []
    for startup in (2, 3, 4):
        for warmup in (0, 2, 3, 4, 5, 6):
            settings.append((f"median startup {startup} warmup {warmup}",
                             optuna.pruners.MedianPruner(n_startup_trials=startup,
                                                         n_warmup_steps=warmup)))
    steps = max(batches)
    settings.append(("hyperband", optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=steps, reduction_factor=3)))
    for name, pruner in settings:
        pruned, trained, best = replay(found, batches, whole, pruner)
        saving = 1 - trained / (whole * len(found))
        print(f"{name:40} {pruned:6} {trained:8,} {saving:6.0%}  {best * 100:.2f}%  "
              f"{(best - unpruned) * 100:+.2f}")


if __name__ == "__main__":
    main()
