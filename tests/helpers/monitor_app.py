"""The monitor's tests' app: started at once on a fake runner."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Static

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import Event
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.monitor import MonitorScreen
from tests.helpers.fake_runs import FakeRunner, wait_for

QUICK = TrainConfig(train_size=6000, epochs=2)  # 80 batches per epoch, 160 in all


def started_app(runner: FakeRunner, config: TrainConfig = QUICK, **kwargs: object) -> MnistApp:
    """The app on `runner`, past the form: its run of `config` starts at once."""
    return MnistApp(config, start=True, runner=runner, runs_dir=Path("runs"), **kwargs)


def monitor_of(app: MnistApp) -> MonitorScreen:
    """The app's screen, which must be the monitor."""
    assert isinstance(app.screen, MonitorScreen)
    return app.screen


def text(screen: MonitorScreen, selector: str) -> str:
    """What the Static widget `selector` of the monitor shows, as plain text."""
    return str(screen.query_one(selector, Static).render())


async def held_monitor(pilot: Pilot[None], app: MnistApp, runner: FakeRunner) -> MonitorScreen:
    """The monitor once the runner holds, everything drawn."""
    await wait_for(pilot, runner.held.is_set)
    await wait_for(pilot, lambda: app.session.pending.waiting == 0)
    await pilot.pause()
    monitor = app.screen
    assert isinstance(monitor, MonitorScreen)
    monitor.update_now()
    await pilot.pause()
    return monitor


async def fold(pilot: Pilot[None], app: MnistApp, *events: Event) -> None:
    """Hand events to the app as the worker would, and wait until they are folded."""
    emit = app.session.pending.emitter(app.post_message)
    for event in events:
        emit(event)
    await wait_for(pilot, lambda: app.session.pending.waiting == 0)
    await pilot.pause()
