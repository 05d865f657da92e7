"""A simulated GPU: the app's monitor and run log at 2,000 batches a second, for a minute.

    python benchmarks/gpu_rate.py                      # 2,000 batches/s for 60 s, folded
    python benchmarks/gpu_rate.py --seconds 20 --exact # every batch its own event (before)

The emit side of a real run without TensorFlow: a producer thread makes every batch's
`BatchEnd` with the translator's own `FitProgress` (16 batches per execution, as the ring
buffer reports them, at `--rate` batches a second of wall time), hands them to the run's
`BatchFolding` (the producers' folding; `--exact` leaves it out, as before issue 21) and on
to `RunWriter.write` and the app's emit, as `execute_run` does; between executions the real
`LoadHook` samples the system load once a second, the 32 shown digits get `Predictions`
every 2 s, and each 797 batches end an epoch. The app is the real `MnistApp` (headless, 120x40),
which starts this run as it would start training: its UI thread folds the events into the
monitor's history and redraws the monitor on its timers.

Prints: the log's bytes per hour of training; the UI thread's CPU time (`time.thread_time`
in the app's thread, from the first batch folded to the end of training) as a share of one
core; the producer thread's; and whether the monitor kept up: sampled every 0.1 s, its
batch count was never below the count the producer had reached a second before.
Targets (issue 21): at most 20 MB an hour at 2,000 batches a second, the UI thread under
10% of a core, kept up.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from mnist_tui.core.batch_folding import BatchFolding  # noqa: E402
from mnist_tui.core.config import TrainConfig  # noqa: E402
from mnist_tui.core.control import RunControl  # noqa: E402
from mnist_tui.core.events import (  # noqa: E402
    TERMINAL_TYPES,
    BatchEnd,
    Emit,
    EpochEnd,
    Event,
    Phase,
    Predictions,
    RunFinished,
    RunStarted,
)
from mnist_tui.core.summary import RunSummary  # noqa: E402
from mnist_tui.runs.writer import RunWriter, new_run_id  # noqa: E402
from mnist_tui.training.batch_metrics import FitProgress  # noqa: E402
from mnist_tui.training.predictions import choose_digits  # noqa: E402
from mnist_tui.training.system_load import LoadHook  # noqa: E402

STEPS_PER_EXECUTION = 16
PREDICT_SECONDS = 2.0


class SimulatedGpu:
    """A runner for `MnistApp` (like `execute_run`) that trains nothing, fast."""

    def __init__(self, rate: float, seconds: float, exact: bool) -> None:
        self.rate = rate
        self.seconds = seconds
        self.exact = exact
        self.samples: list[tuple[float, int]] = [(0.0, 0)]  # (monotonic, step) per execution
        self.log: Path | None = None
        self.train_seconds = 0.0
        self.producer_cpu = 0.0
        self.events = 0

    def __call__(self, config: TrainConfig, emit: Emit, control: RunControl,
                 **_: Any) -> tuple[Path, RunSummary]:
        runs_dir = Path(tempfile.mkdtemp(prefix="gpu-rate-"))
        run_id = new_run_id()
        writer = RunWriter(runs_dir, run_id, config, report=emit)
        self.log = writer.run_dir / "events.jsonl"

        def both(event: Event) -> None:
            self.events += 1
            writer.write(event)
            emit(event)

        out: Emit = both if self.exact else BatchFolding(both)
        bpe = config.batches_per_epoch
        out(Phase(phase="training", message="training on a simulated GPU"))
        out(RunStarted(run_id=run_id, config=config.to_dict(), total_batches=config.total_batches,
                       batches_per_epoch=bpe, epochs=config.epochs,
                       train_samples=config.train_samples, val_samples=config.val_samples,
                       test_samples=10_000, params=33_194, data_source="simulated"))
        rng = np.random.default_rng(0)
        shown = choose_digits(rng.integers(0, 256, (2000, 28, 28), dtype=np.uint8),
                              np.arange(2000) % 10)
        out(shown)
        load = LoadHook(out)
        progress = FitProgress(lambda: control.paused_seconds)
        cpu0 = time.thread_time()
        began = time.monotonic()
        next_predictions = began + PREDICT_SECONDS
        epoch = 0
        step = 0
        while True:
            epoch += 1
            progress.begin_epoch(epoch - 1)
            loss_sum = acc_sum = 0.0
            done = 0
            while done < bpe:
                # One execution: its batches' running means, reported one by one.
                for _ in range(min(STEPS_PER_EXECUTION, bpe - done)):
                    done += 1
                    step += 1
                    loss = 2.3 * np.exp(-step / 3000) + 0.05 + 0.01 * np.sin(step)
                    loss_sum += loss
                    acc_sum += 1 - loss / 2.4
                    size = config.batch_size
                    seen = min(done * size, config.train_samples)
                    out(progress.batch_end(done, seen, loss_sum / done, acc_sum / done))
                now = time.monotonic()
                self.samples.append((now, step))
                load.after_execution(_Fit(progress))  # type: ignore[arg-type]
                if now >= next_predictions:
                    next_predictions = now + PREDICT_SECONDS
                    out(Predictions(step=step, epoch=epoch,
                                    predicted=tuple(shown.labels),
                                    confidence=tuple(0.9 for _ in shown.labels)))
                if now - began >= self.seconds or control.stop_requested:
                    break
                wait = began + step / self.rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            progress.end_epoch(bpe)
            out(EpochEnd(epoch=epoch, step=step, loss=loss_sum / done, accuracy=acc_sum / done,
                         val_loss=0.1, val_accuracy=0.97, seconds=1.0, learning_rate=0.01))
            if time.monotonic() - began >= self.seconds or control.stop_requested:
                break
        self.train_seconds = time.monotonic() - began
        self.producer_cpu = time.thread_time() - cpu0
        summary = RunSummary(run_id=run_id, config=config.to_dict(), epochs=config.epochs,
                             status="finished", epochs_completed=epoch, batches=step,
                             seconds=self.train_seconds)
        out(RunFinished(summary=summary))
        writer.close()
        return writer.run_dir, summary


class _Fit:
    """What `LoadHook` reads of the callback that runs it."""

    def __init__(self, progress: FitProgress) -> None:
        self.progress = progress
        self.model = None


class UiProbe:
    """The UI thread's CPU time from the first batch folded to the end of training, and its
    batch count every 0.1 s."""

    def __init__(self) -> None:
        self.start: tuple[float, float] | None = None  # (thread_time, monotonic)
        self.cpu = self.wall = 0.0
        self.steps: list[tuple[float, int]] = []

    def install(self) -> None:
        from mnist_tui.tui.state.session import RunSession

        fold = RunSession.fold
        probe = self

        def probed(session: RunSession, event: Event) -> None:
            fold(session, event)
            if probe.start is None and isinstance(event, BatchEnd):
                probe.start = (time.thread_time(), time.monotonic())
            elif probe.start is not None and isinstance(event, TERMINAL_TYPES):
                probe.cpu = time.thread_time() - probe.start[0]
                probe.wall = time.monotonic() - probe.start[1]

        RunSession.fold = probed  # type: ignore[method-assign]


async def drive(gpu: SimulatedGpu, probe: UiProbe, size: tuple[int, int]) -> None:
    """Run the app on the simulated GPU until the run's summary is up."""
    from mnist_tui.tui.app import MnistApp
    from mnist_tui.tui.screens.summary import SummaryScreen

    config = TrainConfig(epochs=1000)
    app = MnistApp(config, start=True, runner=gpu)
    async with app.run_test(size=size) as pilot:
        while not isinstance(app.screen, SummaryScreen):
            if probe.start is not None:
                probe.steps.append((time.monotonic(), app.history.step))
            await pilot.pause(0.1)


def kept_up(gpu: SimulatedGpu, probe: UiProbe, lag: float = 1.0) -> tuple[bool, int]:
    """Whether the monitor's count was never below the producer's of `lag` s before; the
    largest shortfall seen (batches)."""
    times = [t for t, _ in gpu.samples]
    worst = 0
    end = gpu.samples[-1][0]
    for when, step in probe.steps:
        if when - lag > end:
            break
        k = bisect.bisect_right(times, when - lag) - 1
        if k >= 0:
            worst = max(worst, gpu.samples[k][1] - step)
    return worst <= 0, worst


def main() -> None:
    """Run it and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="batches a second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--exact", action="store_true",
                        help="no folding: one event per batch, as before issue 21")
    parser.add_argument("--size", default="120x40")
    args = parser.parse_args()
    gpu = SimulatedGpu(args.rate, args.seconds, args.exact)
    probe = UiProbe()
    probe.install()
    width, height = (int(n) for n in args.size.split("x"))
    load_before = os.getloadavg()[0]
    asyncio.run(drive(gpu, probe, (width, height)))
    assert gpu.log is not None
    size = gpu.log.stat().st_size
    with gpu.log.open(encoding="utf-8") as fh:
        logged = fh.readlines()
    lines = len(logged)
    first = next(k for k, line in enumerate(logged) if '"type":"batch_' in line)
    training = sum(len(line.encode()) for line in logged[first:])  # less the run's start
    steps = gpu.samples[-1][1]
    ok, worst = kept_up(gpu, probe)
    per_hour = training / gpu.train_seconds * 3600
    ui_share = probe.cpu / probe.wall if probe.wall else float("nan")
    print(f"{'exact' if args.exact else 'folded'} events, {steps:,} batches in "
          f"{gpu.train_seconds:.1f} s ({steps / gpu.train_seconds:,.0f} batches/s asked "
          f"{args.rate:,.0f}); {gpu.events:,} events made, {lines:,} lines logged")
    print(f"log: {size / 1e6:.2f} MB ({(size - training) / 1e3:.0f} kB of it before the "
          f"first batch: settings, shown digits); it grows {per_hour / 1e6:.1f} MB per hour of "
          f"training (target at most 20 MB/h at 2,000 batches/s)")
    print(f"UI thread: {probe.cpu:.2f} s CPU in {probe.wall:.1f} s = {ui_share:.1%} of a core "
          f"(target under 10%)")
    print(f"producer thread (batches, folding, writer): {gpu.producer_cpu:.2f} s CPU = "
          f"{gpu.producer_cpu / gpu.train_seconds:.1%} of a core")
    print(f"monitor kept up (within 1 s of the producer): {'yes' if ok else 'no'}; "
          f"largest shortfall {max(worst, 0):,} batches over {len(probe.steps)} samples")
    print(f"load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
