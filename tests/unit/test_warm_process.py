"""The run process's protocol, without TensorFlow: a stand-in process on the real pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.event_json import event_from_json
from mnist_tui.core.events import Phase
from mnist_tui.runs.channel import CONTROL_FILE
from mnist_tui.runs.warm_child import EventSender
from mnist_tui.runs.warm_process import (
    WARM_NICE,
    ProcessRun,
    WarmProcess,
    WarmProcessGone,
    warm_nice,
)

# What the stand-in does: write what it reads on stdin to the file named by its argument.
ECHO = "import sys; open(sys.argv[1], 'wb').write(sys.stdin.buffer.read())"


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[tuple[WarmProcess, int, Path]]:
    """A `WarmProcess` around a process that records its commands; the pipe's write end."""
    read, write = os.pipe()
    heard = tmp_path / "heard"
    process = subprocess.Popen([sys.executable, "-c", ECHO, str(heard)], stdin=subprocess.PIPE)
    warm = WarmProcess(process, os.fdopen(read, "rb", buffering=0))
    yield warm, write, heard
    warm.close()
    process.wait(30)
    os.close(write)


def test_the_nice_value_is_checked() -> None:
    assert warm_nice({}) == WARM_NICE
    assert warm_nice({"MNIST_TUI_WARM_NICE": " 0 "}) == 0
    assert warm_nice({"MNIST_TUI_WARM_NICE": "19"}) == 19
    for bad in ("-1", "20", "low", "2.5"):
        with pytest.raises(MnistTuiError, match=r"MNIST_TUI_WARM_NICE must be a whole number "
                                                r"from 0 .* to 19 .*, got '"):
            warm_nice({"MNIST_TUI_WARM_NICE": bad})


def test_settings_go_to_the_process_and_what_it_prepared_comes_back(
        stand_in: tuple[WarmProcess, int, Path], tmp_path: Path) -> None:
    warm, write, heard = stand_in
    first, second = TrainConfig(epochs=2), TrainConfig(epochs=3, seed=1)
    warm.want(first)
    warm.want(first)  # said once
    warm.want(second)
    assert warm.prepared is None
    os.write(write, (json.dumps({"prepared": first.to_dict()}) + "\n").encode())
    assert warm.prepared == first
    os.write(write, b'{"prepared": {"epochs": "many"}}\n{"prepared": ')  # bad, then half
    assert warm.prepared == first
    os.write(write, (json.dumps(second.to_dict()) + "}\n").encode())
    assert warm.prepared == second

    run = warm.run(second, runs_dir=tmp_path / "runs", run_id="r1")
    assert run.run_dir == (tmp_path / "runs" / "r1").resolve()
    assert json.loads((run.run_dir / "config.json").read_text()) == second.to_dict()
    assert (run.run_dir / CONTROL_FILE).stat().st_mode & 0o777 == 0o600
    assert json.loads((run.run_dir / "process.json").read_text())["pid"] == warm.process.pid
    assert run.wait(30) == 0  # its stdin closed: nothing more to say to it
    commands = [json.loads(line) for line in heard.read_text().splitlines()]
    assert commands == [{"want": first.to_dict()}, {"want": second.to_dict()},
                        {"run": second.to_dict(), "run_dir": str(run.run_dir)}]
    with pytest.raises(WarmProcessGone):
        warm.run(second, runs_dir=tmp_path / "runs", run_id="r2")  # one run a process
    assert not (tmp_path / "runs" / "r2").exists()


def test_a_process_that_died_takes_no_run_and_leaves_no_folder(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(write)
    process = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.PIPE)
    process.wait(30)
    warm = WarmProcess(process, os.fdopen(read, "rb", buffering=0))
    assert not warm.alive
    with pytest.raises(WarmProcessGone):
        warm.run(TrainConfig(), runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_the_events_come_back_whole_and_in_order(tmp_path: Path) -> None:
    """Lines that are no events (what was prepared, garbage) are skipped; a line written in
    two pieces is read once whole; the end of the pipe ends the run's events."""
    read, write = os.pipe()
    first = Phase(phase="a", message="one").to_json()
    second = Phase(phase="b", message="two").to_json()
    run = ProcessRun("r", tmp_path, 1, os.fdopen(read, "rb", buffering=0),
                     _read=b'{"prepared": {}}\n' + first[:9].encode())  # read before the run
    os.write(write, (first[9:] + "\nnot json\n" + second[:5]).encode())
    os.write(write, (second[5:] + "\n").encode())
    os.close(write)
    assert [(e.phase, e.message) for e in run.events()] == [("a", "one"), ("b", "two")]


def test_the_sender_never_holds_the_run_up_once_its_reader_is_gone() -> None:
    read, write = os.pipe()
    send = EventSender(write)
    sent = Phase(phase="a", message="read")
    send(sent)
    with os.fdopen(read, "rb") as reader:
        assert event_from_json(reader.readline().decode()).to_json() == sent.to_json()
    for n in range(2000):  # more than a pipe holds: the writes fail, the calls do not
        send(Phase(phase="b", message=f"lost {n}"))
    send.close()
    assert send.broken


PRIORITY = """
import os, threading
from pathlib import Path
from mnist_tui.runs.warm_child import lower_priority, restore_priority

def nice_of_session():
    return int(Path("/proc/self/autogroup").read_text().split()[-1])

def nices():
    return sorted({os.getpriority(os.PRIO_PROCESS, int(t)) for t in os.listdir("/proc/self/task")})

before = lower_priority(5)
ready, done = threading.Event(), threading.Event()
threading.Thread(target=lambda: (ready.set(), done.wait())).start()  # inherits the nice value
ready.wait()
print(before, nice_of_session(), nices())
restore_priority(before)
print(nice_of_session(), nices())
done.set()
"""


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="no autogroups here")
def test_the_priority_is_lowered_until_the_run_then_given_back() -> None:
    """In a session of its own, as the run process is: its session 5 steps nicer, then back
    to 0; its threads' nice values too, where it may raise them back (as root)."""
    result = subprocess.run([sys.executable, "-c", PRIORITY], capture_output=True, text=True,
                            start_new_session=True, timeout=60, check=True)
    lowered, restored = result.stdout.splitlines()
    before, session, threads = lowered.split(" ", 2)
    assert (before, session) == ("0", "5")
    # Threads made after it (TensorFlow's) inherit the lower value where it can be undone;
    # those of the imports before it (OpenBLAS's, idle) keep theirs.
    assert ("5" in threads) == (os.geteuid() == 0), threads
    assert restored == "0 [0]"
