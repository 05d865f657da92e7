"""The run log: RunWriter's files and flushes, and the readers that list and follow runs.

The helper events carry fixed times so that two made separately compare equal.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import (
    BatchEnd,
    EpochEnd,
    Event,
    Phase,
    RunFailed,
    RunFinished,
    RunStarted,
    RunStopped,
)
from mnist_tui.runs import writer as run_writer
from mnist_tui.runs.listing import list_runs
from mnist_tui.runs.reading import follow, read_events
from mnist_tui.runs.writer import RUNS_ENV, RunWriter, default_runs_dir, new_run_id

JOIN_SECONDS = 20.0  # only a safety net so a broken reader fails instead of hanging
CONFIG = TrainConfig(train_size=1000, epochs=2, seed=1)


def started(run_id: str = "run-1") -> RunStarted:
    return RunStarted(run_id=run_id, config=CONFIG.to_dict(), total_batches=28,
                      batches_per_epoch=14, epochs=2, train_samples=850, val_samples=150,
                      test_samples=10_000, params=33_194, time=1000.0)


def batch(step: int, epoch: int = 1) -> BatchEnd:
    return BatchEnd(step=step, epoch=epoch, batch=step, loss=2.0 / step, accuracy=0.1 * step,
                    batch_loss=2.0 / step, batch_accuracy=0.1, seen=64 * step,
                    elapsed=0.01 * step, time=1000.0 + step)


def epoch_end(epoch: int = 1, step: int = 14) -> EpochEnd:
    return EpochEnd(epoch=epoch, step=step, loss=0.5, accuracy=0.8, val_loss=0.4,
                    val_accuracy=0.85, seconds=3.0, time=2000.0)


def finished(**summary: object) -> RunFinished:
    return RunFinished(summary={"status": "finished", "test_accuracy": 0.97, **summary},
                       time=3000.0)


def write_lines(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("".join(lines))


@pytest.fixture
def writer(tmp_path: Path) -> RunWriter:
    return RunWriter(tmp_path / "runs", "run-1", CONFIG)


def test_writer_writes_config_and_one_line_per_event(writer: RunWriter) -> None:
    run_dir = writer.run_dir
    assert run_dir.name == "run-1"
    assert json.loads((run_dir / "config.json").read_text()) == CONFIG.to_dict()
    assert TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text())) == CONFIG
    events: list[Event] = [Phase(phase="training", message="go"), started(), batch(1), batch(2),
                           epoch_end()]
    for event in events:
        writer.write(event)
    writer.close()
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    assert len(lines) == len(events)
    assert [json.loads(line)["type"] for line in lines] == [
        "phase", "run_started", "batch_end", "batch_end", "epoch_end"]
    assert read_events(run_dir) == events
    assert not (run_dir / "summary.json").exists(), "no summary without a terminal event"


def test_writer_refuses_an_existing_run_folder(writer: RunWriter) -> None:
    with pytest.raises(FileExistsError):
        RunWriter(writer.run_dir.parent, "run-1", CONFIG)


@pytest.mark.parametrize(("terminal", "status"), [
    (finished(), "finished"),
    (RunStopped(reason="stopped by user", summary={"status": "stopped"}), "stopped"),
    (RunFailed(error="the loss became NaN", summary={"status": "failed"}), "failed"),
])
def test_terminal_event_writes_summary_and_closes(writer: RunWriter, terminal: Event,
                                                  status: str) -> None:
    writer.write(started())
    writer.write(batch(1))
    writer.write(terminal)
    assert writer.closed
    summary = json.loads((writer.run_dir / "summary.json").read_text())
    assert summary["status"] == status
    assert summary["run_dir"] == str(writer.run_dir)
    assert summary["run_id"] == "run-1"
    assert read_events(writer.run_dir) == [started(), batch(1), terminal]
    writer.write(batch(2))  # after the end: ignored, not an error
    writer.close()
    writer.close()
    assert read_events(writer.run_dir) == [started(), batch(1), terminal]
    leftovers = [p.name for p in writer.run_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == [], "the atomic write leaves no temporary file"


def test_summary_without_fields_still_names_the_run(writer: RunWriter) -> None:
    writer.write(RunFailed(error="boom"))
    summary = json.loads((writer.run_dir / "summary.json").read_text())
    assert (summary["run_id"], summary["run_dir"]) == ("run-1", str(writer.run_dir))


def test_batches_are_buffered_and_an_epoch_end_flushes(writer: RunWriter,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed after an epoch leaves a log readable up to that epoch.

    The log is read from another file handle while the writer is still open, as `watch` or a
    person would after the process died.
    """
    monkeypatch.setattr(run_writer, "FLUSH_SECONDS", 1e9)
    writer.write(started())  # not a batch: flushed at once
    assert read_events(writer.run_dir) == [started()]
    burst = [batch(step) for step in range(1, 6)]
    for event in burst:
        writer.write(event)
    assert read_events(writer.run_dir) == [started(), batch(1)], (
        "the first batch is flushed (the run has begun), the next ones are not each")
    writer.write(epoch_end(step=5))
    assert read_events(writer.run_dir) == [started(), *burst, epoch_end(step=5)]
    assert not writer.closed
    evaluating = Phase(phase="evaluating", message="test set")
    writer.write(batch(6, epoch=2))
    writer.write(evaluating)
    assert read_events(writer.run_dir)[-2:] == [batch(6, epoch=2), evaluating]
    writer.close()


def test_batches_are_flushed_when_the_interval_has_passed(writer: RunWriter,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_writer, "FLUSH_SECONDS", 0.0)
    writer.write(batch(1))
    assert read_events(writer.run_dir) == [batch(1)]
    writer.write(batch(2))
    assert read_events(writer.run_dir) == [batch(1), batch(2)]
    writer.close()


def test_half_written_last_line_is_left_out(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = run_dir / "events.jsonl"
    whole = [started(), batch(1)]
    partial = batch(2).to_json()
    write_lines(log, [e.to_json() + "\n" for e in whole] + [partial[:25]])
    assert read_events(run_dir) == whole
    write_lines(log, [partial[25:] + "\n"])
    assert read_events(run_dir) == [*whole, batch(2)]


def test_garbled_lines_are_skipped(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    bad_samples = ('{"type":"evaluated","test_loss":0.1,"test_accuracy":0.9,"test_samples":1,'
                   '"confusion":[],"per_class_accuracy":[],"samples":[7]}')
    write_lines(run_dir / "events.jsonl", [
        started().to_json() + "\n",
        "garbage\n",
        "\n",
        '{"type":"no_such_event"}\n',
        '{"type":["batch_end"]}\n',
        "[1,2]\n",
        bad_samples + "\n",
        batch(1).to_json() + "\n",
        finished().to_json() + "\n",
    ])
    assert read_events(run_dir) == [started(), batch(1), finished()]


def test_read_events_of_a_missing_log(tmp_path: Path) -> None:
    assert read_events(tmp_path) == []


def test_follow_stops_at_the_terminal_event(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_lines(run_dir / "events.jsonl",
                [e.to_json() + "\n" for e in (started(), finished(), batch(9))])
    assert list(follow(run_dir, wait=True, poll=0.01)) == [started(), finished()]


def test_follow_sees_a_live_run_to_its_end(tmp_path: Path) -> None:
    """A follower started before the log exists sees every event, in order, as it is written.

    One line arrives in two halves; the follower must hold the first half back, not drop or
    garble it. The pauses between writes only pace the writer; the result must be the same
    whichever way the two threads interleave.
    """
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = run_dir / "events.jsonl"
    events: list[Event] = [started(), *(batch(s) for s in range(1, 6)), epoch_end(step=5),
                           finished()]
    got: list[Event] = []
    follower = threading.Thread(target=lambda: got.extend(follow(run_dir, wait=True,
                                                                 poll=0.005)),
                                daemon=True)
    follower.start()

    def append() -> None:
        for i, event in enumerate(events):
            line = event.to_json() + "\n"
            if i == 3:
                write_lines(log, [line[:30]])
                time.sleep(0.05)
                write_lines(log, [line[30:]])
            else:
                write_lines(log, [line])
            time.sleep(0.02)

    appender = threading.Thread(target=append, daemon=True)
    time.sleep(0.02)  # let the follower poll a missing file first
    appender.start()
    appender.join(JOIN_SECONDS)
    follower.join(JOIN_SECONDS)
    assert not follower.is_alive(), "follow must end at the terminal event"
    assert got == events


def test_follow_ends_when_told_to_stop(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_lines(run_dir / "events.jsonl", [started().to_json() + "\n"])
    seen: queue.Queue[Event] = queue.Queue()
    stop = threading.Event()

    def watch() -> None:
        for event in follow(run_dir, wait=True, poll=0.005, stop=stop.is_set):
            seen.put(event)

    follower = threading.Thread(target=watch, daemon=True)
    follower.start()
    assert seen.get(timeout=JOIN_SECONDS) == started()
    write_lines(run_dir / "events.jsonl", [batch(1).to_json() + "\n"])
    assert seen.get(timeout=JOIN_SECONDS) == batch(1)
    stop.set()
    follower.join(JOIN_SECONDS)
    assert not follower.is_alive(), "a run with no terminal event is left when stop() says so"


def test_follow_with_stop_already_set_reads_what_is_there(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_lines(run_dir / "events.jsonl", [e.to_json() + "\n" for e in (started(), batch(1))])
    assert list(follow(run_dir, wait=True, stop=lambda: True)) == [started(), batch(1)]


def make_run(root: Path, run_id: str, summary: dict[str, object] | None,
             config: str | None = None) -> Path:
    folder = root / run_id
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(config or json.dumps(CONFIG.to_dict()))
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_list_runs_newest_first_with_status(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    make_run(root, "20250101-090000-aaaa", {"status": "finished", "test_accuracy": 0.98})
    make_run(root, "20250301-090000-cccc", None)
    make_run(root, "20250201-090000-bbbb", {"status": "stopped"})
    make_run(root, "20241231-235959-ffff", {"test_accuracy": 0.5})
    make_run(root, "20250401-000000-dddd", {"status": "finished"}, config="{half written")
    (root / "no-config").mkdir()
    (root / "no-config" / "events.jsonl").write_text("")
    (root / "stray.txt").write_text("not a run")
    writer = RunWriter(root, "20250501-000000-eeee", CONFIG)
    writer.write(RunFailed(error="boom", summary={"status": "failed"}))
    found = list_runs(root)
    assert [r.run_id for r in found] == ["20250501-000000-eeee", "20250301-090000-cccc",
                                         "20250201-090000-bbbb", "20250101-090000-aaaa",
                                         "20241231-235959-ffff"]
    assert [r.status for r in found] == ["failed", "incomplete", "stopped", "finished",
                                         "unknown"]
    assert found[0].run_dir == root / "20250501-000000-eeee"
    assert found[0].config == CONFIG.to_dict()
    assert found[1].summary is None
    assert found[3].summary == {"status": "finished", "test_accuracy": 0.98}


def test_list_runs_of_a_missing_folder(tmp_path: Path) -> None:
    assert list_runs(tmp_path / "nothing here") == []


def test_default_runs_dir_honours_the_environment(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUNS_ENV, str(tmp_path / "my runs"))
    assert default_runs_dir() == tmp_path / "my runs"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(RUNS_ENV, "~/elsewhere")
    assert default_runs_dir() == tmp_path / "elsewhere"
    make_run(tmp_path / "elsewhere", "20250101-000000-aaaa", None)
    assert [r.run_id for r in list_runs()] == ["20250101-000000-aaaa"]


def test_default_runs_dir_without_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUNS_ENV, raising=False)
    path = default_runs_dir()
    assert path.name == "runs"
    assert "mnist-tui" in str(path)


def test_new_run_id_format_and_uniqueness() -> None:
    first, second = new_run_id(), new_run_id()
    for run_id in (first, second):
        assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", run_id), run_id
    assert first != second, "two runs started in the same second get different ids"


def test_new_run_ids_sort_by_start_time(monkeypatch: pytest.MonkeyPatch) -> None:
    moments = [time.mktime(t) for t in [
        (2024, 12, 31, 23, 59, 59, 0, 0, -1),
        (2025, 1, 1, 0, 0, 0, 0, 0, -1),
        (2025, 1, 1, 0, 0, 1, 0, 0, -1),
        (2025, 1, 1, 9, 30, 0, 0, 0, -1),
        (2025, 10, 2, 0, 0, 0, 0, 0, -1),
    ]]
    ids = []
    for moment in moments:
        fake_time = SimpleNamespace(
            strftime=lambda fmt, m=moment: time.strftime(fmt, time.localtime(m)))
        monkeypatch.setattr(run_writer, "time", fake_time)
        ids.append(new_run_id())
    assert sorted(ids) == ids
    assert ids[0].startswith("20241231-235959-")
