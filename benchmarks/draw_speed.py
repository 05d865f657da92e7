"""How long does the draw screen take to read a drawing? Milliseconds per update.

A drag is replayed as the canvas sees it: one brush segment per mouse move (a ring of 40
moves, then a vertical stroke of 20), and after each move the reading worker's job, which is
`DigitReader.read` (MNIST's preprocessing and one forward pass of the run's model). The
brush and the half-block picture of the canvas are timed too: those run in the UI thread on
every mouse move. Needs a run with a saved model.

    python benchmarks/draw_speed.py                         # the latest run with a model
    python benchmarks/draw_speed.py RUN --runs-dir /tmp/drawruns
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time
from pathlib import Path

from mnist_tui.runs.digit_reader import DigitReader, find_model_run
from mnist_tui.training.drawing import blank_canvas, paint
from mnist_tui.tui.widgets.digits import render_digit


def moves() -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The segments of a drawn ring and then a stroke down its middle."""
    ring = [(14 + 6 * math.sin(t), 14 + 9 * math.cos(t))
            for t in (2 * math.pi * i / 40 for i in range(41))]
    line = [(14.0, 4.0 + i) for i in range(21)]
    return list(itertools.pairwise(ring)) + list(itertools.pairwise(line))


def main() -> None:
    """Print the median and worst times of a read, a brush segment and a canvas picture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", help="run id or folder (default: the latest with "
                                               "a model)")
    parser.add_argument("--runs-dir", type=Path)
    args = parser.parse_args()
    run_dir = find_model_run(args.run, args.runs_dir)
    start = time.perf_counter()
    reader = DigitReader.load(run_dir)
    print(f"model {reader.path}: loaded (TensorFlow imported) in "
          f"{time.perf_counter() - start:.1f} s")
    canvas = blank_canvas()
    reader.read(canvas)  # a first call builds Keras's predict function
    reads, brushes, pictures = [], [], []
    for a, b in moves():
        start = time.perf_counter()
        paint(canvas, a, b)
        brushes.append(time.perf_counter() - start)
        start = time.perf_counter()
        render_digit(canvas)
        pictures.append(time.perf_counter() - start)
        reads.append(reader.read(canvas).seconds)
    for name, times in (("read (worker)", reads), ("brush segment (UI)", brushes),
                        ("canvas picture (UI)", pictures)):
        print(f"{name:20} median {statistics.median(times) * 1000:6.2f} ms, "
              f"worst {max(times) * 1000:6.2f} ms over {len(times)} updates")


if __name__ == "__main__":
    main()
