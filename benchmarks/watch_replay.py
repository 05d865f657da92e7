"""How long does `mnist-tui watch` take over a long run? Seconds to the summary, or to catch up.

    python benchmarks/watch_replay.py                         # 200 epochs, TUI and headless
    python benchmarks/watch_replay.py --tree /tmp/before21 --tree .
    python benchmarks/watch_replay.py --fold --launches 5
    python benchmarks/watch_replay.py --live 20

A synthetic 200-epoch run of the default settings is written first (`synthetic_run.py`:
159,607 events, one line per batch as every log was before batches were folded; `--fold`
writes it through the producers' `BatchFolding` instead). Then, per launch and tree:

- TUI: `python -m mnist_tui watch RUN` on a fresh 120x40 pseudo-terminal, timed from the
  launch until the summary screen has been drawn ("Test accuracy" and "Confusion matrix",
  escape sequences stripped);
- headless: `python -m mnist_tui watch RUN --headless`, timed from the launch until it
  exits after printing the summary (its progress goes to a pipe: plain lines).

`--live SECONDS` watches a live run instead: a writer process logs the 200 epochs at once,
then goes on at `--rate` batches a second for SECONDS; each watcher is launched as the
backlog is in the log and timed until it shows the step the writer had reached at the
launch (the TUI's progress line "batch N/M"; headless, the backlog's last epoch line).

`--tree DIR` (repeatable) launches the `mnist_tui` package found in DIR (e.g. a worktree
of the revision before, `git worktree add --detach /tmp/before21 REV`); several trees
alternate, so the machine's drift hits all. Prints each launch, the median per tree and
kind, and with two trees the median of the launch-by-launch ratios of the last to the first.
"""

from __future__ import annotations

import argparse
import compileall
import fcntl
import math
import os
import pty
import re
import resource
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from synthetic_run import write_run  # noqa: E402

ESCAPES = re.compile(rb"\x1b(\[[0-9;?<>=$ ]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|.)")
SUMMARY_MARKERS = ("Test accuracy", "Confusion matrix")
BATCH = re.compile(r"batch ([0-9,]+)/")


def _env(tree: Path, home: str, runs_dir: Path) -> dict[str, str]:
    env = {**os.environ, "HOME": home, "TERM": "xterm-256color", "COLUMNS": "120",
           "LINES": "40", "PYTHONPATH": str(tree.resolve()), "MNIST_TUI_RUNS_DIR": str(runs_dir)}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env.pop(name, None)
    return env


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPU: dict[str, float] = {}  # the CPU seconds of the last watcher when it was done


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """The CPU seconds (user + system) process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tui_until(tree: Path, home: str, run_dir: Path, done: str | int,
              timeout: float = 120.0) -> float:
    """Launch the TUI watching `run_dir` on a pty; seconds until the summary is drawn
    (`done` "summary") or its progress line shows step `done` or more."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "mnist_tui", "watch", str(run_dir)],
                               stdin=follower, stdout=follower, stderr=follower,
                               env=_env(tree, home, run_dir.parent), cwd=tree,
                               start_new_session=True, close_fds=True)
    os.close(follower)
    seen = b""
    try:
        while True:
            left = start + timeout - time.perf_counter()
            if left <= 0:
                raise SystemExit(f"not done within {timeout} s; it drew: {seen[-800:]!r}")
            ready, _, _ = select.select([leader], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 1 << 20)
            except OSError:
                raise SystemExit(f"the app exited: {seen[-800:]!r}") from None
            seen = seen[-200_000:] + chunk
            text = ESCAPES.sub(b"", seen[-(len(chunk) + 4000):]).decode("utf-8", "replace")
            if done == "summary":
                full = ESCAPES.sub(b"", seen).decode("utf-8", "replace")
                if all(marker in full for marker in SUMMARY_MARKERS):
                    CPU["last"] = process_cpu(process.pid)
                    return time.perf_counter() - start
            else:
                steps = [int(m.replace(",", "")) for m in BATCH.findall(text)]
                if steps and max(steps) >= int(done):
                    CPU["last"] = process_cpu(process.pid)
                    return time.perf_counter() - start
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        os.close(leader)


def headless_until(tree: Path, home: str, run_dir: Path, done: str | int,
                   timeout: float = 120.0) -> float:
    """`watch --headless` of `run_dir`: seconds until it exits (`done` "summary") or has
    printed the line of epoch `done`."""
    start = time.perf_counter()
    children_before = _children_cpu()
    process = subprocess.Popen([sys.executable, "-m", "mnist_tui", "watch", str(run_dir),
                                "--headless"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=_env(tree, home, run_dir.parent),
                               cwd=tree, start_new_session=True, text=True)
    try:
        if done == "summary":
            out, err = process.communicate(timeout=timeout)
            CPU["last"] = _children_cpu() - children_before
            if '"status"' not in out:
                raise SystemExit(f"no summary printed: {out[-300:]!r} {err[-300:]!r}")
            return time.perf_counter() - start
        assert process.stderr is not None
        mark = f"epoch {done}/"
        for line in process.stderr:
            if line.startswith(mark):
                CPU["last"] = process_cpu(process.pid)
                return time.perf_counter() - start
        raise SystemExit("the watcher ended before it caught up")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def live_writer(runs_dir: Path, args: argparse.Namespace) -> subprocess.Popen[str]:
    """A process that logs the backlog, prints "live STEP EPOCHS", then goes on for --live s."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
            "from pathlib import Path; from synthetic_run import write_run; "
            f"write_run(Path({str(runs_dir)!r}), epochs={args.epochs}, rate={args.rate}, "
            f"fold={args.fold}, live_seconds={args.live}, "
            f"live_started=lambda: print('live', {args.epochs}, flush=True))")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def main() -> None:
    """Write the run, launch the watchers, print the times."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--launches", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--fold", action="store_true", help="write the run folded")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="batches a second of the synthetic run (default 100)")
    parser.add_argument("--kinds", default="tui,headless")
    parser.add_argument("--live", type=float, default=0.0, metavar="SECONDS",
                        help="watch a live run (it goes on this long after the backlog)")
    parser.add_argument("--tree", type=Path, action="append")
    args = parser.parse_args()
    trees = args.tree or [ROOT]
    for tree in trees:  # as `pip install` leaves them
        compileall.compile_dir(tree / "mnist_tui", quiet=1)
    kinds = args.kinds.split(",")
    times: dict[tuple[Path, str], list[float]] = {(t, k): [] for t in trees for k in kinds}
    cpus: dict[tuple[Path, str], list[float]] = {(t, k): [] for t in trees for k in kinds}
    bpe = 797
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as home:
        finished = None
        if not args.live:
            finished = write_run(Path(scratch) / "runs", epochs=args.epochs, fold=args.fold,
                                 rate=args.rate)
            log = finished / "events.jsonl"
            print(f"run: {finished} ({log.stat().st_size / 1e6:.1f} MB)", flush=True)
        for n in range(args.launches):
            for kind in kinds:
                for tree in trees if n % 2 else trees[::-1]:
                    if finished is not None:
                        until = tui_until if kind == "tui" else headless_until
                        seconds = until(tree, home, finished, "summary")
                    else:
                        seconds = _live_launch(Path(scratch) / f"live{n}{kind}{len(str(tree))}",
                                               args, tree, home, kind, bpe)
                    times[(tree, kind)].append(seconds)
                    cpus[(tree, kind)].append(CPU.get("last", math.nan))
                    print(f"launch {n} {kind} {tree}: {seconds:.3f} s, "
                          f"{CPU.get('last', math.nan):.2f} s CPU", flush=True)
    what = "catch up with a live run" if args.live else "reach the summary"
    for (tree, kind), results in times.items():
        print(f"{kind} {tree}: median {statistics.median(results):.3f} s to {what} (min "
              f"{min(results):.3f}, max {max(results):.3f}, {len(results)} launches); CPU "
              f"used by then, median {statistics.median(cpus[(tree, kind)]):.2f} s")
    if len(trees) == 2:
        for kind in kinds:
            pairs = zip(times[(trees[1], kind)], times[(trees[0], kind)], strict=True)
            ratio = statistics.median(b / a for b, a in pairs)
            cpu_pairs = zip(cpus[(trees[1], kind)], cpus[(trees[0], kind)], strict=True)
            cpu_ratio = statistics.median(b / a for b, a in cpu_pairs)
            print(f"{kind}: {trees[1]} / {trees[0]} = {ratio:.3f} (median of launch pairs; "
                  f"of the CPU used: {cpu_ratio:.3f})")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


def _live_launch(runs_dir: Path, args: argparse.Namespace, tree: Path, home: str, kind: str,
                 bpe: int) -> float:
    """Start a live writer, watch it from when its backlog is logged; the catch-up time."""
    writer = live_writer(runs_dir, args)
    try:
        assert writer.stdout is not None
        line = writer.stdout.readline().split()
        if not line or line[0] != "live":
            raise SystemExit("the live writer failed")
        run_dir = next(runs_dir.iterdir())
        if kind == "tui":
            return tui_until(tree, home, run_dir, args.epochs * bpe)
        return headless_until(tree, home, run_dir, args.epochs)
    finally:
        writer.kill()
        writer.wait()


if __name__ == "__main__":
    main()
