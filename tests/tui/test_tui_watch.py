"""The app watching runs that another writer logs: `mnist-tui watch`, Detach, the Runs key.

The writer is the fake runner in a thread of this process, logging through `RunWriter` and
obeying a `RunControl` fed by the run folder's control channel, as a detached run does. No
assertion depends on how fast anything happens.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Static

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import BatchEnd, Event, RunFinished, RunStarted
from mnist_tui.runs import detach
from mnist_tui.runs.channel import ControlChannel
from mnist_tui.runs.listing import resolve_run
from mnist_tui.runs.reading import read_events
from mnist_tui.runs.writer import RunWriter, write_process_file
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.dialogs import ErrorScreen
from mnist_tui.tui.screens.form import FormScreen
from mnist_tui.tui.screens.monitor import MonitorScreen
from mnist_tui.tui.screens.pending_form import PendingForm
from mnist_tui.tui.screens.runs import RunsScreen
from mnist_tui.tui.screens.summary import SummaryScreen
from mnist_tui.tui.state.history import TrainingHistory
from tests.helpers.fake_runs import FakeRunner, wait_for
from tests.helpers.recorded_runs import dead_pid, folder_state

JOIN_SECONDS = 30.0  # a safety net against a hang, never a measure of speed
CONFIG = TrainConfig(train_size=1000, epochs=1, seed=3)  # 14 batches


class LiveRun:
    """A fake run logging into a run folder from a thread, steerable through its folder."""

    def __init__(self, root: Path, run_id: str = "20250101-120000-11ve00", *,
                 hold_after: int | None = 5, config: TrainConfig = CONFIG) -> None:
        self.writer = RunWriter(root, run_id, config)
        self.run_dir = self.writer.run_dir
        self.control = RunControl()
        self.channel = ControlChannel(self.run_dir, self.control, poll=0.01).start()
        self.runner = FakeRunner(hold_after=hold_after)
        self.thread = threading.Thread(
            target=lambda: self.runner(config, self.writer.write, self.control, run_id=run_id),
            daemon=True)
        self.thread.start()

    def finish(self) -> None:
        self.runner.release()
        self.thread.join(JOIN_SECONDS)
        self.channel.close()
        self.writer.close()


def watching_app(run_dir: Path | None, root: Path, **kwargs: object) -> MnistApp:
    return MnistApp(watch=run_dir, runs_dir=root, **kwargs)


async def test_watch_replays_a_finished_run_then_shows_its_summary(
        tmp_path: Path, folded_events: list[Event]) -> None:
    root = tmp_path / "runs"
    live = LiveRun(root, hold_after=None)
    live.finish()
    before = folder_state(live.run_dir)
    folded = folded_events
    app = watching_app(live.run_dir, root)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert app.screen.summary["status"] == "finished"
        assert app.history.step == CONFIG.total_batches
        steps = [event.step for event in folded if isinstance(event, BatchEnd)]
        assert steps == list(range(1, CONFIG.total_batches + 1)), "every batch, in order"
        await pilot.press("q")
    assert folder_state(live.run_dir) == before


async def test_the_form_is_built_when_first_shown_with_the_watched_runs_settings(
        tmp_path: Path) -> None:
    """Watching a run never builds the form first (it would cost a third of the wait); "e"
    on the summary shows the form, filled from the watched run's settings."""
    root = tmp_path / "runs"
    live = LiveRun(root, hold_after=None)
    live.finish()
    app = watching_app(live.run_dir, root)
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen_stack[0], PendingForm)
        assert str(live.run_dir) in str(app.screen_stack[0].query_one("#pending-reading",
                                                                        Static).render())
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert not app.query(FormScreen) and len(app.screen_stack) == 2
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        form = app.screen
        assert [type(screen) for screen in app.screen_stack] == [PendingForm, FormScreen]
        assert form.field("train_size").value == "1000" and form.field("seed").value == "3"
        assert form.read()[0] == CONFIG


async def test_watch_a_live_run_and_steer_it_through_its_folder(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    live = LiveRun(root, hold_after=5)
    try:
        app = watching_app(resolve_run(None, root), root)  # as `mnist-tui watch` does
        async with app.run_test(size=(80, 24)) as pilot:
            # The monitor shows once the log so far is folded (caught up).
            await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen)
                           and app.screen.is_mounted and app.history.step == 5)
            await pilot.pause()
            monitor = app.screen
            assert isinstance(monitor, MonitorScreen) and app.session.watching
            monitor.update_now()
            assert "batch 5/14" in str(monitor.query_one("#stats").render())
            await pilot.press("p")
            await wait_for(pilot, lambda: live.control.paused)
            await pilot.press("p")
            await wait_for(pilot, lambda: not live.control.paused)
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
            assert app.screen.summary["status"] == "stopped"
            assert live.control.reason == "stopped by user"
    finally:
        live.finish()


async def test_quitting_leaves_a_watched_run_going(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    live = LiveRun(root, hold_after=3)
    try:
        app = watching_app(live.run_dir, root)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.history is not None and app.history.step == 3)
            assert not [n for n in app._notifications if "Cannot tell" in n.message]
            await pilot.press("q")  # no question: the run is not this app's to stop
            await wait_for(pilot, lambda: not app.is_running)
        assert not live.control.stop_requested
        assert live.thread.is_alive()
        assert f"mnist-tui watch {live.run_dir.name}" in app.left_running
    finally:
        live.finish()
    assert isinstance(read_events(live.run_dir)[-1], RunFinished)


async def test_watching_a_run_on_another_host_says_it_cannot_tell_if_it_lives(
        tmp_path: Path) -> None:
    root = tmp_path / "runs"
    live = LiveRun(root, hold_after=3)
    try:
        process = live.run_dir / "process.json"
        process.write_text(json.dumps({**json.loads(process.read_text()), "host": "gpu-box-7"}))
        app = watching_app(live.run_dir, root)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.history is not None and app.history.step == 3)
            said = [n for n in app._notifications if n.title == "Watching"]
            assert len(said) == 1 and said[0].severity == "warning"
            assert said[0].message.startswith(
                "Cannot tell whether this run still trains (its process runs on gpu-box-7)")
            await pilot.press("q")
            await wait_for(pilot, lambda: not app.is_running)
    finally:
        live.finish()


async def test_watch_a_dead_run_says_how_long_ago_it_logged(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20250101-000000-dead00"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(CONFIG.to_dict()))
    write_process_file(run_dir, dead_pid())
    ten_minutes_ago = time.time() - 600
    events = [RunStarted(run_id=run_dir.name, config=CONFIG.to_dict(), total_batches=14,
                         batches_per_epoch=14, epochs=1, train_samples=850, val_samples=150,
                         test_samples=10_000, params=33_194, time=ten_minutes_ago - 1),
              BatchEnd(step=1, epoch=1, batch=1, loss=2.0, accuracy=0.1, batch_loss=2.0,
                       batch_accuracy=0.1, seen=64, elapsed=0.1, time=ten_minutes_ago)]
    (run_dir / "events.jsonl").write_text("".join(e.to_json() + "\n" for e in events))
    app = watching_app(run_dir, tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
        assert "ended without a final event; its last event came 10 min" in app.screen.message
        await pilot.press("escape")
        assert isinstance(app.screen, MonitorScreen), "the curves stay a key away"
        assert app.history.step == 1


async def test_detach_from_the_form_watches_the_background_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Detach box sends the run to `start_detached` (here a fake that starts a writer
    thread instead of a process), and the monitor follows it."""
    root = tmp_path / "runs"
    started_runs: list[LiveRun] = []

    def fake_start(config: TrainConfig, **kwargs: object) -> detach.DetachedRun:
        live = LiveRun(root, hold_after=None, config=config)
        started_runs.append(live)
        return detach.DetachedRun(live.run_dir.name, live.run_dir, os.getpid())

    monkeypatch.setattr(detach, "start_detached", fake_start)
    app = MnistApp(TrainConfig(train_size=1000, epochs=1), runs_dir=root)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.screen.query_one("#detach", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert app.session.watching and app.run_dir == started_runs[0].run_dir
    started_runs[0].finish()


async def test_the_runs_key_opens_the_runs_and_a_running_one_is_watched(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    live = LiveRun(root, hold_after=4)
    try:
        app = MnistApp(runs_dir=root)
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+o")
            runs = app.screen
            assert isinstance(runs, RunsScreen)
            await wait_for(pilot, lambda: bool(runs.runs))  # read in a thread
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen))
            await wait_for(pilot, lambda: app.history.step == 4)
            assert app.session.watching and app.run_dir == live.run_dir
    finally:
        live.finish()


async def test_watching_a_long_finished_run_folds_its_log_and_goes_to_its_summary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An old-style log of 10,000 batch lines: the app folds a few thousand events, never
    draws the monitor, and its summary counts every batch."""
    root = tmp_path / "runs"
    config = TrainConfig(epochs=13)  # 797 batches an epoch
    writer = RunWriter(root, "20250101-000000-long00", config)
    writer.write(RunStarted(run_id="long", config=config.to_dict(),
                            total_batches=config.total_batches,
                            batches_per_epoch=config.batches_per_epoch, epochs=config.epochs,
                            train_samples=config.train_samples, val_samples=config.val_samples,
                            test_samples=10_000, params=33_194))
    for step in range(1, config.total_batches + 1):
        epoch, batch = divmod(step - 1, config.batches_per_epoch)
        writer.write(BatchEnd(step=step, epoch=epoch + 1, batch=batch + 1, loss=1.0 / step,
                              accuracy=0.5, batch_loss=1.0 / step, batch_accuracy=0.5,
                              seen=64 * step, elapsed=step / 100))
    writer.write(RunFinished(summary={"status": "finished", "test_accuracy": 0.9}))
    writer.close()
    folded: list[Event] = []
    fold = TrainingHistory.fold
    monitors: list[MonitorScreen] = []
    show = MonitorScreen.__init__

    def spy(history: TrainingHistory, event: Event) -> None:
        folded.append(event)
        fold(history, event)

    def counted(screen: MonitorScreen, *args: object, **kwargs: object) -> None:
        monitors.append(screen)
        show(screen, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(TrainingHistory, "fold", spy)
    monkeypatch.setattr(MonitorScreen, "__init__", counted)
    app = watching_app(writer.run_dir, root)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert app.history.step == config.total_batches and app.history.finished
        assert len(folded) < config.total_batches / 2, "the replay came folded"
        assert not monitors, "a finished run goes straight to its summary"
        await pilot.press("q")
