"""Running a sweep on this machine: its workers, `--parallel`, `--resume`, `--detach`.

`run_sweep` runs one worker in this process, or `parallel` worker processes
(`python -m mnist_tui.sweeps.worker`), each with its share of the cores (an affinity mask
and TensorFlow's thread counts), their lines copied to `say`; a SIGTERM or Ctrl+C reaches
every worker, each of which interrupts its trial cleanly. `prepare_resume` readies a stopped
sweep: trials left interrupted, or running in a process of this machine that is gone, are
marked and queued again with the same parameters (re-run from the start: their run folders
stay as they ended). `start_detached_sweep` runs `python -m mnist_tui.sweeps.launch` in a
session of its own, so the sweep outlives the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from mnist_tui.core import environment
from mnist_tui.core.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_TERMINATED, MnistTuiError
from mnist_tui.core.jsonio import write_json_atomic
from mnist_tui.runs.signals import survive_hang_up
from mnist_tui.sweeps.study import SweepPlace, find_sweep, load_study
from mnist_tui.sweeps.worker import OUTCOME_ATTR, run_worker

OUTPUT_FILE = "output.log"
PROCESS_FILE = "process.json"


def core_shares(parallel: int, cores: Sequence[int] | None = None) -> list[list[int]]:
    """The cores of each of `parallel` workers: the usable cores split as evenly as can be
    (each worker at least one; with fewer cores than workers they share)."""
    usable = sorted(cores if cores is not None else os.sched_getaffinity(0))
    if parallel >= len(usable):
        return [[usable[i % len(usable)]] for i in range(parallel)]
    size, extra = divmod(len(usable), parallel)
    shares, start = [], 0
    for i in range(parallel):
        end = start + size + (1 if i < extra else 0)
        shares.append(usable[start:end])
        start = end
    return shares


def _pipe_lines(stream: object, say: Callable[[str], None]) -> None:
    for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
        say(raw.decode("utf-8", "replace").rstrip("\n"))


def run_sweep(place: SweepPlace, *, parallel: int = 1, runs_dir: Path | None = None,
              data_path: str | Path | None = None, say: Callable[[str], None] | None = None,
              first_index: int = 0) -> int:
    """Run the sweep's workers here until its budget is spent (or a signal stops them);
    the exit code: 0, 143 after a SIGTERM, else the first worker's failure."""
    say = say or (lambda line: None)
    place.folder.mkdir(parents=True, exist_ok=True)  # joined from elsewhere: made here
    write_json_atomic(place.folder / PROCESS_FILE, {"pid": os.getpid(),
                                                    "host": socket.gethostname()})
    if parallel <= 1:
        return run_worker(place, runs_dir=runs_dir, data_path=data_path, index=first_index,
                          say=say)
    procs: list[subprocess.Popen[bytes]] = []
    for i, cores in enumerate(core_shares(parallel)):
        index = first_index + i
        command = [sys.executable, "-m", "mnist_tui.sweeps.worker", str(place.folder),
                   "--index", str(index)]
        if place.storage_url:
            command += ["--storage", place.storage_url]
        if runs_dir is not None:
            command += ["--runs-dir", str(runs_dir)]
        if data_path is not None:
            command += ["--data", str(data_path)]
        threads = str(len(cores))
        env = {**os.environ, environment.TF_CPP_MIN_LOG_LEVEL: "3",
               environment.TF_NUM_INTRAOP_THREADS: threads,
               environment.TF_NUM_INTEROP_THREADS: "1", "OMP_NUM_THREADS": threads}
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env)
        with contextlib.suppress(OSError):  # its share is a wish: the thread counts hold
            os.sched_setaffinity(proc.pid, cores)
        threading.Thread(target=_pipe_lines, args=(proc.stderr, say), daemon=True).start()
        procs.append(proc)
    terminated = threading.Event()

    def forward(signum: int, frame: object) -> None:
        if signum == signal.SIGTERM:
            terminated.set()
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with survive_hang_up():
            codes = [proc.wait() for proc in procs]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if terminated.is_set():
        return EXIT_TERMINATED
    return next((c for c in codes if c not in (EXIT_OK,)), EXIT_OK)


def prepare_resume(place: SweepPlace) -> list[str]:
    """Ready a stopped sweep to go on: each trial left interrupted, or running in a process
    of this machine that is gone, is marked and queued again with its parameters. Returns a
    sentence for each (said to the user)."""
    from optuna.trial import TrialState

    study, plan = load_study(place)
    host = socket.gethostname()
    said: list[str] = []
    trials = study.get_trials(deepcopy=False)
    queued = {t.user_attrs.get("rerun_of") for t in trials}  # re-run already, or queued
    for trial in trials:
        stale = (trial.state == TrialState.RUNNING and trial.user_attrs.get("host") == host
                 and not _alive(trial.user_attrs.get("pid")))
        if stale:
            study._storage.set_trial_user_attr(trial._trial_id, OUTCOME_ATTR, "interrupted")
            study._storage.set_trial_user_attr(trial._trial_id, "reason",
                                               "its process ended without a word")
            study.tell(trial.number, state=TrialState.FAIL)
        interrupted = stale or (trial.state == TrialState.FAIL
                                and trial.user_attrs.get(OUTCOME_ATTR) == "interrupted")
        if not interrupted or trial.number in queued:
            continue
        params = dict(trial.params) or dict(trial.system_attrs.get("fixed_params", {}))
        if not params and plan.space.params:
            continue  # stopped before it chose its values: a fresh trial takes its place
        study.enqueue_trial(params, user_attrs={"rerun_of": trial.number},
                            skip_if_exists=False)
        said.append(f"trial {trial.number} was interrupted: it is re-run from the start "
                    f"with the same parameters (its run {trial.user_attrs.get('run_id', '?')} "
                    "stays as it ended)")
    return said


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_detached_sweep(place: SweepPlace, *, parallel: int, runs_dir: Path | None,
                         data_path: str | Path | None) -> int:
    """Run the sweep in a background process of its own session (its output in the sweep's
    `output.log`); returns its pid."""
    command = [sys.executable, "-m", "mnist_tui.sweeps.launch", str(place.folder),
               "--parallel", str(parallel)]
    if place.storage_url:
        command += ["--storage", place.storage_url]
    if runs_dir is not None:
        command += ["--runs-dir", str(Path(runs_dir).expanduser().resolve())]
    if data_path is not None:
        command += ["--data", str(Path(data_path).expanduser().resolve())]
    env = {environment.TF_CPP_MIN_LOG_LEVEL: "3", **os.environ}
    with open(place.folder / OUTPUT_FILE, "ab") as output:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                close_fds=True, env=env)
    write_json_atomic(place.folder / PROCESS_FILE, {"pid": proc.pid,
                                                    "host": socket.gethostname()})
    threading.Thread(target=proc.wait, name=f"mnist-tui-reap-{proc.pid}", daemon=True).start()
    return proc.pid


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mnist_tui.sweeps.launch SWEEP --parallel P`: a detached sweep's process."""
    parser = argparse.ArgumentParser(prog="python -m mnist_tui.sweeps.launch")
    parser.add_argument("sweep")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--storage", default=None)
    parser.add_argument("--runs-dir", type=Path, default=None)
    parser.add_argument("--data", default=None)
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    try:
        place = find_sweep(args.sweep, args.runs_dir, args.storage)
        return run_sweep(place, parallel=args.parallel, runs_dir=args.runs_dir,
                         data_path=args.data, say=say)
    except MnistTuiError as exc:
        say(f"mnist-tui sweep: {exc}")
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
