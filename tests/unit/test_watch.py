"""Following a run that another process writes: replays, live logs, dead writers, many watchers.

The writers here are real: threads appending to the log, or a subprocess that logs a few events
and dies. No assertion depends on how fast anything happens.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import BatchEnd, EpochEnd, Event, Phase, RunFinished, RunStarted
from mnist_tui.headless import watch_headless
from mnist_tui.runs.listing import RunNotFound, list_runs, resolve_run
from mnist_tui.runs.reading import (
    FollowEnd,
    describe_age,
    follow_run,
    liveness_unknown,
    process_alive,
    read_events,
)
from mnist_tui.runs.writer import PROCESS_FILE, RunWriter, write_process_file
from tests.helpers.recorded_runs import dead_pid, folder_state

JOIN_SECONDS = 30.0  # a safety net against a hang, never a measure of speed
CONFIG = TrainConfig(train_size=1000, epochs=1, seed=3)


def started(run_id: str = "run", at: float = 1000.0) -> RunStarted:
    return RunStarted(run_id=run_id, config=CONFIG.to_dict(), total_batches=4,
                      batches_per_epoch=4, epochs=1, train_samples=850, val_samples=150,
                      test_samples=10_000, params=33_194, time=at)


def batch(step: int, at: float = 1000.0) -> BatchEnd:
    return BatchEnd(step=step, epoch=1, batch=step, loss=1.0 / step, accuracy=0.2 * step,
                    batch_loss=1.0 / step, batch_accuracy=0.2, seen=64 * step,
                    elapsed=0.1 * step, time=at + step)


def finished() -> RunFinished:
    return RunFinished(summary={"status": "finished", "test_accuracy": 0.9,
                                "val_accuracy": 0.91, "seconds": 2.0}, time=2000.0)


def whole_run() -> list[Event]:
    return [Phase(phase="training", message="go", time=999.0), started(),
            *(batch(s) for s in range(1, 5)),
            EpochEnd(epoch=1, step=4, loss=0.5, accuracy=0.5, val_loss=0.4, val_accuracy=0.6,
                     seconds=1.0, time=1500.0), finished()]


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)



@pytest.fixture
def live_dir(tmp_path: Path) -> Path:
    """A run folder whose writer (this process) is alive."""
    run_dir = tmp_path / "runs" / "20250101-120000-aaaaaa"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(CONFIG.to_dict()))
    write_process_file(run_dir)
    return run_dir


def test_a_finished_run_is_a_replay(live_dir: Path) -> None:
    append(live_dir / "events.jsonl", "".join(e.to_json() + "\n" for e in whole_run()))
    before = folder_state(live_dir)
    got: list[Event] = []
    end = follow_run(live_dir, got.append, poll=0.01)
    assert end.outcome == "ended"
    assert got == whole_run()
    assert end.last_event == finished()
    assert folder_state(live_dir) == before, "watching never writes into the run's folder"


def test_a_growing_log_with_half_written_lines(live_dir: Path) -> None:
    """Lines arrive in pieces, as a writer's buffer flushes them; the watcher sees whole
    events, in order, each once, and ends at the terminal event."""
    log = live_dir / "events.jsonl"
    events = whole_run()
    got: list[Event] = []
    seen_one = threading.Event()

    def collect(event: Event) -> None:
        got.append(event)
        seen_one.set()

    follower = threading.Thread(target=lambda: follow_run(live_dir, collect, poll=0.005),
                                daemon=True)
    follower.start()
    text = "".join(e.to_json() + "\n" for e in events)
    first_line = len(events[0].to_json()) + 1
    append(log, text[:first_line])
    assert seen_one.wait(JOIN_SECONDS)
    # The rest in odd-sized chunks that cut lines (and the last newline) anywhere.
    rest = text[first_line:]
    for start in range(0, len(rest), 37):
        append(log, rest[start:start + 37])
        time.sleep(0.002)
    follower.join(JOIN_SECONDS)
    assert not follower.is_alive()
    assert got == events


def test_a_half_line_at_the_end_of_a_dead_run_is_left_out(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_process_file(run_dir, dead_pid())
    whole = [started(at=time.time() - 90), batch(1, at=time.time() - 90)]
    append(run_dir / "events.jsonl",
           "".join(e.to_json() + "\n" for e in whole) + batch(2).to_json()[:20])
    got: list[Event] = []
    end = follow_run(run_dir, got.append, poll=0.01)
    assert end.outcome == "died"
    assert got == whole
    assert end.last_event == whole[-1]



def test_a_run_that_dies_without_a_final_event(tmp_path: Path) -> None:
    """A real writer process logs a few events, then ends without a terminal one. A watcher
    that started before it died sees every event it flushed, then says it died."""
    runs_dir = tmp_path / "runs"
    go_on = tmp_path / "go-on"
    code = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from mnist_tui.core.config import TrainConfig
        from mnist_tui.core.events import BatchEnd, Phase
        from mnist_tui.runs.writer import RunWriter
        writer = RunWriter(Path({str(runs_dir)!r}), "20250101-000000-dead00", TrainConfig())
        writer.write(Phase(phase="training", message="go"))
        while not Path({str(go_on)!r}).exists():
            time.sleep(0.01)
        for step in (1, 2, 3):
            writer.write(BatchEnd(step=step, epoch=1, batch=step, loss=1.0, accuracy=0.5,
                                  batch_loss=1.0, batch_accuracy=0.5, seen=step, elapsed=1.0))
        writer._file.flush()
        os._exit(3)  # no terminal event, no close: as a killed process leaves it
    """)
    proc = subprocess.Popen([sys.executable, "-c", code])
    run_dir = runs_dir / "20250101-000000-dead00"
    try:
        deadline = time.monotonic() + JOIN_SECONDS
        while not read_events(run_dir):
            assert time.monotonic() < deadline, "the writer never started"
            time.sleep(0.01)
        assert process_alive(run_dir) is True
        assert list_runs(runs_dir)[0].status == "running"
        result: list[FollowEnd] = []
        got: list[Event] = []
        follower = threading.Thread(
            target=lambda: result.append(follow_run(run_dir, got.append, poll=0.01)),
            daemon=True)
        follower.start()
        go_on.touch()
        assert proc.wait(JOIN_SECONDS) == 3
        follower.join(JOIN_SECONDS)
    finally:
        proc.kill()
    assert not follower.is_alive(), "the watcher noticed the writer was gone"
    [end] = result
    assert end.outcome == "died"
    assert [type(e).__name__ for e in got] == ["Phase", "BatchEnd", "BatchEnd", "BatchEnd"]
    assert end.last_event == got[-1]
    assert "without a final event" in end.died_message()
    assert process_alive(run_dir) is False
    assert list_runs(runs_dir)[0].status == "died"


def test_how_long_ago_the_last_event_came(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_process_file(run_dir, dead_pid())
    long_ago = time.time() - 3 * 3600 - 5 * 60
    append(run_dir / "events.jsonl", started(at=long_ago).to_json() + "\n")
    end = follow_run(run_dir, lambda event: None, poll=0.01)
    assert end.outcome == "died"
    assert end.died_message(now=long_ago + 3 * 3600 + 5 * 60) == (
        "the run's process ended without a final event; its last event came 3 h 05 min ago")
    assert describe_age(12.4) == "12 s"
    assert describe_age(185) == "3 min 05 s"
    assert describe_age(3 * 86400 + 4 * 3600) == "3 days 4 h"
    assert FollowEnd("died", None).died_message() == (
        "the run's process ended before it logged any event")


def test_many_watchers_follow_one_run(live_dir: Path) -> None:
    log = live_dir / "events.jsonl"
    results: list[list[Event]] = [[] for _ in range(4)]
    followers = [threading.Thread(target=lambda got=got: follow_run(live_dir, got.append,
                                                                      poll=0.005), daemon=True)
                 for got in results]
    for follower in followers:
        follower.start()
    before = folder_state(live_dir)
    for event in whole_run():
        append(log, event.to_json() + "\n")
        time.sleep(0.002)
    for follower in followers:
        follower.join(JOIN_SECONDS)
    assert all(not f.is_alive() for f in followers)
    assert results == [whole_run()] * 4
    after = folder_state(live_dir)
    assert {k: v for k, v in after.items() if k != "events.jsonl"} == {
        k: v for k, v in before.items() if k != "events.jsonl"}, "watchers only read"


def test_a_watcher_told_to_stop_leaves_a_live_run(live_dir: Path) -> None:
    append(live_dir / "events.jsonl", started().to_json() + "\n")
    got: list[Event] = []
    end = follow_run(live_dir, got.append, stop=lambda: bool(got), poll=0.01)
    assert (end.outcome, got) == ("left", [started()])


def test_process_alive(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert process_alive(run_dir) is None, "no process file: nobody can tell"
    write_process_file(run_dir)
    assert process_alive(run_dir) is True
    write_process_file(run_dir, dead_pid())
    assert process_alive(run_dir) is False
    info = json.loads((run_dir / PROCESS_FILE).read_text())
    info.update(pid=os.getpid(), start_ticks=(info["start_ticks"] or 0) + 12345)
    (run_dir / PROCESS_FILE).write_text(json.dumps(info))
    if Path(f"/proc/{os.getpid()}/stat").exists():
        assert process_alive(run_dir) is False, "a reused pid is not the run's writer"
    info.update(host=socket.gethostname() + "-elsewhere")
    (run_dir / PROCESS_FILE).write_text(json.dumps(info))
    assert process_alive(run_dir) is None, "a run on another host: cannot tell"


def test_liveness_unknown_says_why_only_for_a_run_nobody_can_check(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    assert "(its folder has no process.json)" in liveness_unknown(run_dir)
    write_process_file(run_dir)
    assert liveness_unknown(run_dir) == "", "this host, alive: the watcher will know"
    write_process_file(run_dir, dead_pid())
    assert liveness_unknown(run_dir) == "", "dead: the watcher will say so"
    info = json.loads((run_dir / PROCESS_FILE).read_text())
    (run_dir / PROCESS_FILE).write_text(json.dumps({**info, "pid": "?"}))
    assert "(its process.json names no process)" in liveness_unknown(run_dir)
    (run_dir / PROCESS_FILE).write_text(json.dumps({**info, "host": "gpu-box-7"}))
    assert liveness_unknown(run_dir).startswith(
        "cannot tell whether this run still trains (its process runs on gpu-box-7)")
    (run_dir / "summary.json").write_text("{}")
    assert liveness_unknown(run_dir) == "", "it has ended"


def test_watch_headless_says_when_it_cannot_tell_if_the_run_lives(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    append(run_dir / "events.jsonl", "".join(e.to_json() + "\n" for e in whole_run()))
    out, err = io.StringIO(), io.StringIO()
    assert watch_headless(run_dir, stdout=out, stderr=err) == 0
    assert ("cannot tell whether this run still trains (its folder has no process.json): its "
            "log is followed until it ends, however long it stays silent; Ctrl+C stops "
            "watching") in err.getvalue()


def test_an_exited_but_unreaped_writer_counts_as_gone(tmp_path: Path) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("zombies are recognised through /proc")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    write_process_file(run_dir, proc.pid)
    deadline = time.monotonic() + JOIN_SECONDS
    while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert process_alive(run_dir) is False
    proc.wait()


def make_runs(root: Path, *ids: str) -> None:
    for run_id in ids:
        RunWriter(root, run_id, CONFIG).close()


def test_resolve_run_by_id_prefix_path_or_latest(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    make_runs(root, "20250101-090000-aaaaaa", "20250102-090000-bbbbbb",
              "20250102-100000-cccccc")
    assert resolve_run(None, root) == root / "20250102-100000-cccccc"
    assert resolve_run("20250101-090000-aaaaaa", root) == root / "20250101-090000-aaaaaa"
    assert resolve_run("20250101", root) == root / "20250101-090000-aaaaaa"
    assert resolve_run("20250102-09", root) == root / "20250102-090000-bbbbbb"
    path = root / "20250102-090000-bbbbbb"
    assert resolve_run(str(path), tmp_path / "elsewhere") == path


@pytest.mark.parametrize(("spec", "message"), [
    ("20250102", "'20250102' matches 2 runs (20250102-100000-cccccc, 20250102-090000-bbbbbb)"),
    ("2024", "no run '2024' in"),
    ("/no/such/folder", "/no/such/folder is not a run folder"),
])
def test_resolve_run_says_what_is_wrong(tmp_path: Path, spec: str, message: str) -> None:
    root = tmp_path / "runs"
    make_runs(root, "20250102-090000-bbbbbb", "20250102-100000-cccccc")
    with pytest.raises(RunNotFound) as info:
        resolve_run(spec, root)
    assert message in str(info.value)


def test_resolve_run_without_runs(tmp_path: Path) -> None:
    with pytest.raises(RunNotFound, match="no runs in"):
        resolve_run(None, tmp_path / "empty")


def test_watch_headless_replays_a_finished_run(live_dir: Path) -> None:
    append(live_dir / "events.jsonl", "".join(e.to_json() + "\n" for e in whole_run()))
    out, err = io.StringIO(), io.StringIO()
    assert watch_headless(live_dir, stdout=out, stderr=err) == 0
    summary = json.loads(out.getvalue())
    assert summary["status"] == "finished" and summary["test_accuracy"] == 0.9
    assert summary["run_dir"] == str(live_dir)
    assert "epoch 1/1: loss 0.5000" in err.getvalue()
    assert "finished: validation accuracy 91.0%, test accuracy 90.0%" in err.getvalue()


def test_watch_headless_reports_a_dead_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_process_file(run_dir, dead_pid())
    append(run_dir / "events.jsonl", started(at=time.time() - 30).to_json() + "\n")
    out, err = io.StringIO(), io.StringIO()
    assert watch_headless(run_dir, stdout=out, stderr=err) == 1
    assert out.getvalue() == ""
    assert "ended without a final event; its last event came" in err.getvalue()


def test_an_evaluation_after_the_end_is_read_before_it(tmp_path: Path) -> None:
    """A `MonitorCallback` script's `model.evaluate` after `fit` appends an `Evaluated` and the
    same end again (its summary with the test figures): readers see them in the app's order,
    one end; a log cut before the second end still ends with the first."""
    from mnist_tui.core.events import Evaluated
    from mnist_tui.runs.compare import metric_rows

    tested = Evaluated(test_loss=0.3, test_accuracy=0.88, test_samples=0, confusion=(),
                       per_class_accuracy=(), time=2100.0)
    amended = RunFinished(summary={"status": "finished", "test_accuracy": 0.88,
                                   "val_accuracy": 0.91, "seconds": 2.0}, time=2100.5)
    own = dataclasses.replace(tested, test_accuracy=0.9, test_samples=500, time=1999.0)
    log = tmp_path / "events.jsonl"
    run = [*whole_run()[:-1], own, finished()]  # evaluate_test: the app's order
    log.write_text("".join(e.to_json() + "\n" for e in [*run, tested]))
    events = read_events(tmp_path)
    assert events[-3:] == [own, tested, finished()]
    append(log, amended.to_json() + "\n")
    events = read_events(tmp_path)
    assert events[:-2] == run[:-1] and events[-2:] == [tested, amended]
    seen: list[Event] = []
    end = follow_run(tmp_path, seen.append)
    assert end.outcome == "ended" and seen == events
    assert end.last_event.summary["test_accuracy"] == 0.88
    # The CSV export's test row is the latest evaluation's.
    assert [r["accuracy"] for r in metric_rows(events) if r["kind"] == "test"] == [0.88]
