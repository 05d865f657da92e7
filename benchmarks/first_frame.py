"""How soon does `mnist-tui` show its form? Seconds from launch to the form on the terminal.

Each launch starts `mnist-tui` (the same Python, `-m mnist_tui`) on a fresh pseudo-terminal
of the given size, reads what it draws, and stops the clock when the form's title, a field
label and the Start button have all been drawn (escape sequences stripped). The app is then
killed. Launches run one after another in a temporary home, so no remembered theme or state
of the user's is read; the first launch of each tree (cold caches) is shown but left out of
the median.

The package is byte-compiled first, as an install leaves it (with $PYTHONDONTWRITEBYTECODE
set, an uncompiled tree would be compiled again at every launch, a third of a second).

`--tree DIR` (repeatable) launches the `mnist_tui` package found in DIR instead of this
checkout's (e.g. an export of the last commit, `git archive HEAD | tar -x -C /tmp/before`);
with several trees the launches alternate between them, so the machine's drift hits all.

    python benchmarks/first_frame.py                    # 10 launches at 120x40
    python benchmarks/first_frame.py --launches 20 --size 80x24
    python benchmarks/first_frame.py --tree /tmp/before --tree .
    python benchmarks/first_frame.py --against 86dac1f

`--against REV` exports that git revision of this repository and launches it alternately with
this checkout, then prints the ratio of this checkout's time to the revision's: the median of
the ratios of launches made one after the other, which the machine's drift (first frames of
one tree ranged 0.47-0.83 s over an evening here) hits alike. Issue 12 measured 0.57 s at
86dac1f and asked for 0.5 s: a ratio of 0.877 or less.
"""

from __future__ import annotations

import argparse
import compileall
import fcntl
import io
import os
import pty
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MARKERS = ("train the TensorFlow.js MNIST network", "Learning rate", "Start")
ESCAPES = re.compile(rb"\x1b(\[[0-9;?<>=$ ]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)")


def process_cpu(pid: int) -> float:
    """The CPU seconds (user + system) process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def launch(width: int, height: int, home: str, tree: Path,
           timeout: float = 20.0) -> tuple[float, float]:
    """Start the app of `tree` on a new pty; the seconds until every marker has been drawn,
    and the CPU seconds the app had used by then (less sensitive to a busy machine)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    env = {**os.environ, "HOME": home, "TERM": "xterm-256color", "COLUMNS": str(width),
           "LINES": str(height), "PYTHONPATH": str(tree.resolve())}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env.pop(name, None)
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "mnist_tui"], stdin=follower,
                               stdout=follower, stderr=follower, env=env, cwd=tree,
                               start_new_session=True, close_fds=True)
    os.close(follower)
    seen = b""
    try:
        while True:
            left = start + timeout - time.perf_counter()
            if left <= 0:
                raise SystemExit(f"no form within {timeout} s; the app drew: {seen[-500:]!r}")
            ready, _, _ = select.select([leader], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the app exited
                raise SystemExit(f"the app exited: {seen[-500:]!r}") from None
            seen += chunk
            text = ESCAPES.sub(b"", seen).decode("utf-8", "replace")
            if all(marker in text for marker in MARKERS):
                return time.perf_counter() - start, process_cpu(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        os.close(leader)


def export_revision(revision: str, into: Path) -> Path:
    """Extract `revision` of this repository into folder `into`; return `into`."""
    archive = subprocess.run(["git", "archive", "--format=tar", revision], cwd=ROOT,
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    """Launch the app `--launches` times (per tree, alternating); print each time and the
    median per tree."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--launches", type=int, default=10)
    parser.add_argument("--size", default="120x40", help="terminal WIDTHxHEIGHT")
    parser.add_argument("--tree", type=Path, action="append",
                        help="a folder holding the mnist_tui package to launch (repeatable; "
                             "default: this checkout)")
    parser.add_argument("--against", metavar="REV",
                        help="a git revision to launch alternately with this checkout; "
                             "prints this checkout's time as a ratio of the revision's")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        trees = args.tree or [ROOT]
        if args.against:
            trees = [export_revision(args.against, Path(scratch) / "against"), ROOT]
        run(args, trees)


def run(args: argparse.Namespace, trees: list[Path]) -> None:
    """Launch every tree in `trees` alternately; print each launch and the medians (and the
    ratio of the last tree to the first under `--against`)."""
    width, height = (int(n) for n in args.size.lower().split("x"))
    for tree in trees:  # as `pip install` leaves them; $PYTHONDONTWRITEBYTECODE would not
        compileall.compile_dir(tree / "mnist_tui", quiet=1)
    times: dict[Path, list[tuple[float, float]]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory() as home:
        for n in range(args.launches + 1):
            for tree in trees if n % 2 else trees[::-1]:
                seconds, cpu = launch(width, height, home, tree)
                print(f"launch {n} {tree}{' (warm-up, not counted)' if n == 0 else ''}: "
                      f"{seconds:.3f} s, {cpu:.2f} s CPU", flush=True)
                if n:
                    times[tree].append((seconds, cpu))
    for tree, results in times.items():
        walls = [wall for wall, _ in results]
        print(f"first frame of {tree}: median {statistics.median(walls):.3f} s (min "
              f"{min(walls):.3f}, max {max(walls):.3f}) over {len(walls)} launches at "
              f"{width}x{height}; CPU used by then, median "
              f"{statistics.median(cpu for _, cpu in results):.2f} s")
    if args.against:
        reference, ours = (times[tree] for tree in trees)
        pairs = list(zip(ours, reference, strict=True))
        wall = statistics.median(mine[0] / theirs[0] for mine, theirs in pairs)
        cpu_ratio = statistics.median(mine[1] / theirs[1] for mine, theirs in pairs)
        print(f"this checkout / {args.against}: {wall:.3f} (median of {len(pairs)} launch "
              f"pairs; of the CPU used by then: {cpu_ratio:.3f})")


if __name__ == "__main__":
    main()
