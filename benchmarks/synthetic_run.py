"""A synthetic run folder, as long as you like, written without TensorFlow.

    python benchmarks/synthetic_run.py RUNS_DIR                  # 200 epochs, old-style log
    python benchmarks/synthetic_run.py RUNS_DIR --fold           # through BatchFolding
    python benchmarks/synthetic_run.py RUNS_DIR --epochs 20 --rate 2000 --fold

Writes one finished run of the default settings (797 batches an epoch) through the real
`RunWriter`: the phases, `RunStarted`, every batch of every epoch with a falling loss, the
epoch ends, the test evaluation and `RunFinished`. Without `--fold` every batch is one exact
`BatchEnd`, as every log was before batches were folded: 200 epochs are 159,607 events
(~40 MB), the log issue 21 timed `watch` with. With `--fold` the batches go through the
producers' `BatchFolding` at `--rate` batches a second of training (the folding reads the
events' `elapsed`, so the log is the same every time). Prints the run folder.

`write_run` is what `watch_replay.py` calls; `--live SECONDS` keeps the run going after the
given epochs, one more batch every 1/rate s for that long (a live run to follow), and ends it.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnist_tui.core.batch_folding import BatchFolding  # noqa: E402
from mnist_tui.core.config import TrainConfig  # noqa: E402
from mnist_tui.core.events import (  # noqa: E402
    BatchEnd,
    Emit,
    EpochEnd,
    Evaluated,
    Phase,
    RunFinished,
    RunStarted,
)
from mnist_tui.core.summary import RunSummary  # noqa: E402
from mnist_tui.runs.writer import RunWriter  # noqa: E402

RUN_ID = "20261202-000000-synthetic"


def _evaluated(accuracy: float) -> Evaluated:
    right = round(accuracy * 1000)
    confusion = tuple(tuple(right if i == j else (1000 - right if j == (i + 1) % 10 else 0)
                            for j in range(10)) for i in range(10))
    return Evaluated(test_loss=0.03, test_accuracy=accuracy, test_samples=10_000,
                     confusion=confusion, per_class_accuracy=(accuracy,) * 10, seconds=0.9)


def write_run(runs_dir: Path, *, epochs: int = 200, rate: float = 100.0, fold: bool = False,
              run_id: str = RUN_ID, live_seconds: float = 0.0,
              live_started: Callable[[], None] | None = None) -> Path:
    """Write the run (see the module) into `runs_dir / run_id`; return its folder.

    With `live_seconds`, after `epochs` epochs it goes on at `rate` batches a second of wall
    time (calling `live_started` first) for that long, then ends.
    """
    config = TrainConfig(epochs=epochs + (1 if live_seconds else 0))
    writer = RunWriter(runs_dir, run_id, config)
    emit: Emit = BatchFolding(writer.write) if fold else writer.write
    bpe, size = config.batches_per_epoch, config.batch_size
    emit(Phase(phase="loading_data", message="loading MNIST"))
    emit(Phase(phase="building_model", message="importing TensorFlow, building the model"))
    emit(RunStarted(run_id=run_id, config=config.to_dict(), total_batches=config.total_batches,
                    batches_per_epoch=bpe, epochs=config.epochs,
                    train_samples=config.train_samples, val_samples=config.val_samples,
                    test_samples=10_000, params=33_194, data_source="synthetic"))
    emit(Phase(phase="training", message=f"training on {config.train_samples:,} images"))
    step = seen = 0
    clock = 0.0
    began = time.time()
    live_began = 0.0

    def one_epoch(epoch: int, live: bool) -> None:
        nonlocal step, seen, clock
        total = acc_total = 0.0
        for batch in range(1, bpe + 1):
            if live and clock - live_from >= live_seconds:
                break
            step += 1
            seen += min(size, config.train_samples - (batch - 1) * size)
            clock += 1.0 / rate
            loss = 2.3 * math.exp(-step / 400) + 0.03 + 0.02 * math.sin(step)
            acc = min(1.0, 1.0 - loss / 2.4)
            total += loss
            acc_total += acc
            if live:  # this batch ends (its clock - live_from) s after the live part began
                delay = clock - live_from - (time.monotonic() - live_began)
                if delay > 0:
                    time.sleep(delay)
            emit(BatchEnd(step=step, epoch=epoch, batch=batch, loss=total / batch,
                          accuracy=acc_total / batch, batch_loss=loss, batch_accuracy=acc,
                          seen=seen, elapsed=clock, time=began + clock))
        emit(EpochEnd(epoch=epoch, step=step, loss=total / bpe, accuracy=acc_total / bpe,
                      val_loss=total / bpe * 0.9, val_accuracy=min(1.0, acc_total / bpe + 0.01),
                      seconds=bpe / rate, learning_rate=config.learning_rate,
                      time=began + clock))

    live_from = 0.0
    for epoch in range(1, epochs + 1):
        one_epoch(epoch, False)
    if live_seconds:
        if live_started is not None:
            live_started()  # the backlog is in the log: the epoch end flushed it
        live_began, live_from = time.monotonic(), clock
        one_epoch(epochs + 1, True)
    emit(Phase(phase="evaluating", message="evaluating on 10,000 test images"))
    emit(_evaluated(0.992))
    summary = RunSummary(run_id=run_id, config=config.to_dict(), epochs=config.epochs,
                         train_samples=config.train_samples, status="finished",
                         epochs_completed=config.epochs, val_accuracy=0.991, val_loss=0.03,
                         test_accuracy=0.992, test_loss=0.03, seconds=clock,
                         samples_per_second=seen / clock, batches=step, seen=seen, params=33_194)
    emit(RunFinished(summary=summary))
    writer.close()
    return writer.run_dir


def main() -> None:
    """Write the run; print its folder and the size of its log."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0,
                        help="batches a second of training (default 100, a CPU's)")
    parser.add_argument("--fold", action="store_true",
                        help="fold the batches as the producers do (default: one line each)")
    parser.add_argument("--run-id", default=RUN_ID)
    args = parser.parse_args()
    run_dir = write_run(args.runs_dir, epochs=args.epochs, rate=args.rate, fold=args.fold,
                        run_id=args.run_id)
    log = run_dir / "events.jsonl"
    with open(log, encoding="utf-8") as fh:
        lines = sum(1 for _ in fh)
    print(f"{run_dir}: {lines:,} events, {log.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
