"""How long from Enter on the form to the first batch? Two source trees, side by side.

By default the reference is the revision before issue 21 (`--before-rev`, 51bc7fb: a git
worktree of it is made under /tmp the first time) and the measured tree is this one with
`--preload` (the run process started while the form is shown).

Each launch starts the real `mnist-tui` (`python -m mnist_tui`, the package of one tree) on a
fresh pseudo-terminal (120x40, TERM=xterm-256color) with its own temporary runs folder,
waits for the form's first frame, holds the form for `--hold` seconds, presses Enter, and
stops the clock at the first `batch_end` line in the run's `events.jsonl` (and notes when
`run_started` came). While the form is held, it checks that the form answers keys: every
`--probe-every` seconds it presses Tab or shift+Tab (the focus goes from the Model select to
the Epochs field and back; the settings a run would have never change) and times the
keypress until the form's status line names the field newly focused. Launches alternate
between the trees, round after round, so the machine's drift hits both; then `--frames`
more launches per tree (also alternating) time the form's first frame alone, as
`first_frame.py` does.

    MNIST_TUI_DATA=/work/shared/data/mnist.npz python benchmarks/enter_to_batch.py
    python benchmarks/enter_to_batch.py /tmp/before21b . --rounds 4
    python benchmarks/enter_to_batch.py . .        # one tree, without and with --preload

The first tree is the reference: every ratio is the second tree's time over the first's,
the median of the per-round ratios (the keys' ratio: of the two trees' median latencies).
MNIST comes from `--data` (default `$MNIST_TUI_DATA`).
Each tree is byte-compiled first (as an install leaves it). Figures depend on the machine's
load: the script prints the load average at its start and end.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import fcntl
import json
import os
import pty
import select
import shlex
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from first_frame import ESCAPES, MARKERS, launch

TAB, BACK_TAB, ENTER = b"\t", b"\x1b[Z", b"\r"
# What the form's status line says once a key moved the focus there: Tab from the Model
# select to the Epochs field, shift+Tab back.
PROBES = ((TAB, "Epochs: passes over"), (BACK_TAB, "Model: cnn: the seed"))


@dataclass
class Launch:
    """What one launch measured (seconds)."""

    first_frame: float
    key_latencies: list[float] = field(default_factory=list)
    run_started: float = float("nan")  # from Enter
    first_batch: float = float("nan")  # from Enter


class App:
    """`mnist-tui` of one tree on a pseudo-terminal: what it draws, keys to it, its runs."""

    def __init__(self, tree: Path, size: tuple[int, int], home: str, runs: Path,
                 data: str, flags: list[str], extra_env: dict[str, str]) -> None:
        width, height = size
        self.leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        env = {**os.environ, "HOME": home, "TERM": "xterm-256color", "COLUMNS": str(width),
               "LINES": str(height), "PYTHONPATH": str(tree.resolve()),
               "MNIST_TUI_RUNS_DIR": str(runs), "MNIST_TUI_DATA": data, **extra_env}
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            env.pop(name, None)
        self.runs = runs
        self.start = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, "-m", "mnist_tui", *flags],
                                        stdin=follower,
                                        stdout=follower, stderr=follower, env=env, cwd=tree,
                                        start_new_session=True, close_fds=True)
        os.close(follower)
        self.seen = b""

    def read(self, until: float) -> bytes:
        """What the app draws until `until` (perf_counter) or the next chunk, whichever first."""
        left = until - time.perf_counter()
        if left > 0 and select.select([self.leader], [], [], left)[0]:
            try:
                chunk = os.read(self.leader, 65536)
            except OSError:
                raise SystemExit(f"the app exited: {self.text()[-500:]}") from None
            self.seen += chunk
            return chunk
        return b""

    def text(self, since: int = 0) -> str:
        """What it drew from byte `since` on, without escape sequences."""
        return ESCAPES.sub(b"", self.seen[since:]).decode("utf-8", "replace")

    def wait_for(self, texts: tuple[str, ...], since: int, timeout: float) -> float:
        """Read until every one of `texts` was drawn after byte `since`; the time then."""
        deadline = time.perf_counter() + timeout
        while not all(text in self.text(since) for text in texts):
            if time.perf_counter() > deadline:
                raise SystemExit(f"not drawn within {timeout} s: {texts}; the app drew "
                                 f"{self.text(since)[-500:]!r}")
            self.read(deadline)
        return time.perf_counter()

    def drain(self, seconds: float) -> None:
        """Keep reading what it draws for `seconds`."""
        until = time.perf_counter() + seconds
        while time.perf_counter() < until:
            self.read(until)

    def press(self, keys: bytes) -> float:
        """Send `keys`; the time they were sent."""
        os.write(self.leader, keys)
        return time.perf_counter()

    def event_times(self, kinds: tuple[str, ...], timeout: float) -> dict[str, float]:
        """Poll the run's log until a line of every kind in `kinds` is there (a `batch_block`
        is a `batch_end`); when each was
        first seen (perf_counter), reading the terminal meanwhile so the app never blocks."""
        found: dict[str, float] = {}
        deadline = time.perf_counter() + timeout
        while len(found) < len(kinds):
            if time.perf_counter() > deadline:
                raise SystemExit(f"no {kinds} in the run's log within {timeout} s; the app "
                                 f"drew {self.text()[-800:]!r}")
            for log in self.runs.glob("*/events.jsonl"):
                for line in log.read_text(errors="replace").splitlines():
                    try:
                        kind = json.loads(line).get("type")
                    except ValueError:
                        continue  # a line being written
                    if kind == "batch_block":  # a folded first batch counts as one
                        kind = "batch_end"
                    if kind in kinds and kind not in found:
                        found[kind] = time.perf_counter()
            self.read(time.perf_counter() + 0.005)
        return found

    def close(self) -> None:
        """Kill the app and its children, and a run process of its own session."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        os.close(self.leader)
        for info in self.runs.glob("*/process.json"):
            with contextlib.suppress(ValueError, KeyError, OSError):
                os.kill(int(json.loads(info.read_text())["pid"]), signal.SIGKILL)


def measure(tree: Path, args: argparse.Namespace, home: str, flags: list[str],
            extra_env: dict[str, str]) -> Launch:
    """One launch of `tree`: first frame, keys while the form is held, Enter → first batch."""
    with tempfile.TemporaryDirectory(prefix="enter-to-batch-") as runs:
        app = App(tree, args.size, home, Path(runs), args.data, flags, extra_env)
        try:
            framed = app.wait_for(MARKERS, 0, 30)
            result = Launch(first_frame=framed - app.start)
            app.drain(0.2)
            hold_end = framed + args.hold
            while time.perf_counter() + 2 * args.probe_every < hold_end:
                for keys, shown in PROBES:  # the focus ends where it began: on Model
                    mark = len(app.seen)
                    sent = app.press(keys)
                    result.key_latencies.append(app.wait_for((shown,), mark, 20) - sent)
                    app.drain(max(0.0, sent + args.probe_every - time.perf_counter()))
            app.drain(max(0.0, hold_end - time.perf_counter()))
            entered = app.press(ENTER)
            seen = app.event_times(("run_started", "batch_end"), args.timeout)
            result.run_started = seen["run_started"] - entered
            result.first_batch = seen["batch_end"] - entered
            return result
        finally:
            app.close()


def before_tree(rev: str) -> Path:
    """A git worktree of revision `rev` of this repository (made once, under /tmp)."""
    repo = Path(__file__).resolve().parent.parent
    full = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                          capture_output=True, text=True, check=True).stdout.strip()
    tree = Path(tempfile.gettempdir()) / f"enter-to-batch-{full[:12]}"
    if not (tree / "mnist_tui").is_dir():
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), full],
                       check=True, capture_output=True)
    return tree


def ratio(pairs: list[tuple[float, float]]) -> float:
    """The median of the per-round ratios new / old."""
    return statistics.median(new / old for old, new in pairs)


def main() -> None:
    """Launch both trees alternately; print every launch, the medians and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path, nargs="?",
                        help="the reference tree (holds mnist_tui/; default: --before-rev's)")
    parser.add_argument("after", type=Path, nargs="?", default=Path("."),
                        help="the tree measured against it (default: the current folder)")
    parser.add_argument("--before-rev", default="51bc7fb",
                        help="the revision whose worktree is the reference when no tree is "
                             "named (default: 51bc7fb, the last before issue 21)")
    parser.add_argument("--before-flags", default="", help="mnist-tui's flags for the first tree")
    parser.add_argument("--after-flags", default="--preload",
                        help="mnist-tui's flags for the second tree (default: --preload)")
    parser.add_argument("--before-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the first tree's launches")
    parser.add_argument("--after-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the second tree's launches")
    parser.add_argument("--rounds", type=int, default=4, help="Enter launches per tree")
    parser.add_argument("--frames", type=int, default=10,
                        help="extra launches per tree that time the first frame alone")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds the form is held")
    parser.add_argument("--probe-every", type=float, default=0.5,
                        help="seconds between two keypresses while the form is held")
    parser.add_argument("--size", default="120x40", help="terminal WIDTHxHEIGHT")
    parser.add_argument("--data", default=os.environ.get("MNIST_TUI_DATA", ""),
                        help="MNIST for the runs (default: $MNIST_TUI_DATA)")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    if not args.data:
        parser.error("say where MNIST is: --data PATH or $MNIST_TUI_DATA")
    width, height = (int(n) for n in args.size.lower().split("x"))
    args.size = (width, height)
    before = args.before or before_tree(args.before_rev)
    trees = [before.resolve(), args.after.resolve()]
    flags = [shlex.split(args.before_flags), shlex.split(args.after_flags)]
    envs = [dict(item.split("=", 1) for item in side) for side in (args.before_env,
                                                                   args.after_env)]
    labels = [" ".join([*flags[i], *(f"{k}={v}" for k, v in envs[i].items())]) for i in (0, 1)]
    for tree in set(trees):
        compileall.compile_dir(tree / "mnist_tui", quiet=1)
    print(f"load average at the start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    results: list[list[Launch]] = [[], []]
    frames: list[list[float]] = [[], []]
    with tempfile.TemporaryDirectory() as home:
        for tree in trees:  # warm the file cache; not counted
            launch(width, height, home, tree)
        for n in range(args.rounds):
            for i in (0, 1) if n % 2 else (1, 0):
                tree = trees[i]
                got = measure(tree, args, home, flags[i], envs[i])
                results[i].append(got)
                keys = got.key_latencies
                print(f"round {n + 1} {tree} {labels[i]}: first frame "
                      f"{got.first_frame:.3f} s; keys "
                      f"answered in median {statistics.median(keys) * 1000:.0f} ms, max "
                      f"{max(keys) * 1000:.0f} ms ({len(keys)}); Enter → run_started "
                      f"{got.run_started:.2f} s, → first batch_end {got.first_batch:.2f} s",
                      flush=True)
        for n in range(args.frames):
            for i in (0, 1) if n % 2 else (1, 0):
                frames[i].append(launch(width, height, home, trees[i])[0])
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    for i, tree in enumerate(trees):
        got = results[i]
        keys = [k for launch_ in got for k in launch_.key_latencies]
        walls = frames[i] + [launch_.first_frame for launch_ in got]
        print(f"{tree} {labels[i]}: Enter → first batch_end median "
              f"{statistics.median(g.first_batch for g in got):.2f} s (min "
              f"{min(g.first_batch for g in got):.2f}, max "
              f"{max(g.first_batch for g in got):.2f}), → run_started median "
              f"{statistics.median(g.run_started for g in got):.2f} s; first frame median "
              f"{statistics.median(walls):.3f} s over {len(walls)} launches; keys while the "
              f"form is held: median {statistics.median(keys) * 1000:.0f} ms, 90th "
              f"percentile {statistics.quantiles(keys, n=10)[-1] * 1000:.0f} ms, max "
              f"{max(keys) * 1000:.0f} ms")
    old, new = results
    print(f"after / before, median of per-round ratios: Enter → first batch_end "
          f"{ratio([(a.first_batch, b.first_batch) for a, b in zip(old, new, strict=True)]):.3f}"
          f"; first frame {ratio(list(zip(*frames, strict=True))):.3f} (of "
          f"{args.frames} frame-only launch pairs; "
          f"{ratio([(a.first_frame, b.first_frame) for a, b in zip(old, new, strict=True)]):.3f}"
          f" over the Enter launches)")
    keys = [statistics.median(k for launch_ in got for k in launch_.key_latencies)
            for got in results]
    print(f"keys while the form is held, after / before (of the median latencies): "
          f"{keys[1] / keys[0]:.3f}")


if __name__ == "__main__":
    main()
