"""The monitor and the app's run flow, driven by the fake runner: progress, log, keys, endings."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Label, Log, Static

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.events import RunStarted, RunStopped
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.dialogs import ConfirmScreen, ErrorScreen
from mnist_tui.tui.screens.form import FormScreen
from mnist_tui.tui.screens.monitor import (
    MonitorScreen,
)
from mnist_tui.tui.screens.summary import SummaryScreen
from mnist_tui.tui.state.history import TrainingHistory
from mnist_tui.tui.themes import remembered_theme
from mnist_tui.tui.widgets.charts import MetricChart, step_ticks, tick_label
from mnist_tui.tui.widgets.progress import ProgressTrack, RunProgress
from tests.helpers.fake_runs import FakeRunner, wait_for
from tests.helpers.monitor_app import QUICK, monitor_of, started_app, text


async def test_start_skips_the_form_and_progress_follows_events() -> None:
    runner = FakeRunner(hold_after=30)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.history is not None and app.history.step == 30)
        await pilot.pause()
        monitor = monitor_of(app)
        monitor.update_now()
        await pilot.pause()
        stats = text(monitor, "#stats")
        assert "batch 30/160" in stats and "epoch 1/2" in stats
        assert "img/s" in stats and "ETA" in stats and "elapsed" in stats
        bar = monitor.query_one("#progress", RunProgress)
        assert (bar.progress, bar.total) == (30, 160)
        assert bar.percentage == pytest.approx(30 / 160)
        assert str(bar.query_one(Label).render()) == "19%"
        track = bar.query_one(ProgressTrack)
        done = track.render_line(0).text
        assert done.count("━") + done.count("╸") + done.count("╺") == track.size.width
        assert done.startswith("━" * int(30 / 160 * track.size.width))
        info = text(monitor, "#run-info")
        assert "run fake-1" in info and "33,194 params" in info and "5,100 train" in info
        log = monitor.query_one("#log", Log)
        assert "loading MNIST…" in log.lines and "training…" in log.lines
        assert runner.calls[0]["runs_dir"] == Path("runs")
        runner.release()
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))


async def test_monitor_fits_80x24_and_grows_with_the_terminal() -> None:
    runner = FakeRunner(hold_after=5)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, runner.held.is_set)
        await pilot.pause()
        monitor = monitor_of(app)
        for selector in ("#run-info", "#progress", "#stats", "#loss-chart", "#accuracy-chart",
                         "#log", "Footer"):
            region = monitor.query_one(selector).region
            assert region.height >= 1 and region.bottom <= 24, selector
        small = monitor.query_one("#loss-chart").region
        assert small.height >= 8 and small.width >= 36
        assert monitor.query_one("#log").region.height >= 4
        await pilot.resize_terminal(160, 48)
        await pilot.pause()
        big = monitor.query_one("#loss-chart").region
        assert big.width > small.width and big.height > small.height
        runner.release()


async def test_epoch_lines_reach_the_log_and_summary_follows() -> None:
    runner = FakeRunner()
    app = started_app(runner)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        summary = app.screen
        assert isinstance(summary, SummaryScreen)
        assert summary.summary["status"] == "finished"
        assert summary.evaluated is not None and summary.evaluated.test_accuracy == 0.98
        assert summary.history is app.history
        assert app.history is not None
        epoch_lines = [line for line in app.history.log_lines if line.startswith("epoch ")]
        assert [line.split()[1] for line in epoch_lines] == ["1/2", "2/2"]
        assert app.final_summary is not None and app.final_summary["run_id"] == "fake-1"
        await pilot.press("q")  # nothing running: quits at once
        await wait_for(pilot, lambda: app.return_value is not None)
    assert app.return_value["status"] == "finished"


async def test_pause_and_resume() -> None:
    runner = FakeRunner(hold_after=10)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, runner.held.is_set)
        monitor = monitor_of(app)
        await pilot.press("p")
        control = app.session.control
        assert control is not None and control.paused
        assert "PAUSED" in text(monitor, "#stats")
        keys = {b.binding.description for b in monitor.active_bindings.values()}
        assert "Resume" in keys and "Pause" not in keys
        runner.release()  # the runner now waits in wait_if_paused
        await pilot.press("p")
        assert not control.paused
        assert "paused" in app.history.log_lines and "resumed" in app.history.log_lines
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert app.history.step == 160


async def test_stop_still_evaluates_and_shows_the_summary() -> None:
    runner = FakeRunner(hold_after=10)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, runner.held.is_set)
        await pilot.press("s")
        assert app.session.control is not None and app.session.control.stop_requested
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        summary = app.screen
        assert isinstance(summary, SummaryScreen)
        assert summary.summary["status"] == "stopped"
        assert summary.evaluated is not None  # the test set was still evaluated
        assert isinstance(app.history.outcome, RunStopped)
        assert app.history.step == 10
        assert any(line.startswith("epoch 1/2") for line in app.history.log_lines)


async def test_quit_asks_first_then_stops_cleanly_and_exits() -> None:
    runner = FakeRunner(hold_after=10)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, runner.held.is_set)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, MonitorScreen)
        assert app.session.control is not None and not app.session.control.stop_requested
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: app.return_value is not None)
    assert runner.finished.is_set()  # the run ended before the app did
    assert isinstance(app.history.outcome, RunStopped)  # its log is complete
    assert app.history.evaluated is not None
    assert app.return_value["status"] == "stopped"
    assert app.final_summary == app.return_value


async def test_a_failed_run_shows_its_error_and_returns_to_the_form() -> None:
    runner = FakeRunner(fail_at=5)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
        error = app.screen
        assert isinstance(error, ErrorScreen)
        assert error.message == "the loss became NaN at batch 5"
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        assert app.final_summary is not None and app.final_summary["status"] == "failed"


async def test_a_crashing_runner_lands_on_the_error_screen() -> None:
    runner = FakeRunner(raise_error=RuntimeError("no MNIST here"))
    app = started_app(runner)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
        error = app.screen
        assert isinstance(error, ErrorScreen)
        assert error.message == "RuntimeError: no MNIST here"
        assert "Traceback" in error.detail
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, FormScreen)
        assert app.final_summary is not None
        assert (app.final_summary["run_id"], app.final_summary["status"],
                app.final_summary["reason"]) == ("", "failed", "RuntimeError: no MNIST here")
        assert app.final_summary["config"] == QUICK.to_dict()  # the run that was asked for


async def test_train_again_and_edit_settings_from_the_summary() -> None:
    runner = FakeRunner()
    config = TrainConfig(train_size=3000, epochs=1, optimizer="adam")
    app = started_app(runner, config)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        await pilot.press("r")
        await wait_for(pilot, lambda: len(runner.calls) == 2)
        assert runner.calls[1]["config"] == config
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen)
                       and app.screen.summary["run_id"] == "fake-2")
        await pilot.press("e")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormScreen)
        assert form.config == config  # prefilled with the last run's settings


async def test_smoothing_key_switches_the_curves() -> None:
    runner = FakeRunner(hold_after=40)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, runner.held.is_set)
        await pilot.pause()
        monitor = monitor_of(app)
        monitor.update_now()
        chart = monitor.query_one("#loss-chart", MetricChart)
        assert monitor.smoothing and chart.data is not None and chart.data.smooth
        assert "smoothed" in str(monitor.query_one("#legend", Static).render())
        await pilot.press("e")
        assert not monitor.smoothing
        assert chart.data is not None and chart.data.smooth is None
        assert "smoothed" not in str(monitor.query_one("#legend", Static).render())
        assert len(chart.data.train[0]) == 40
        runner.release()


async def test_monitor_keys_and_palette_commands() -> None:
    runner = FakeRunner(hold_after=3)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, runner.held.is_set)
        shown = {b.binding.description for b in app.screen.active_bindings.values()
                 if b.binding.show}
        assert {"Pause", "Stop", "Smoothing", "Quit"} <= shown
        commands = {command.title: command for command in app.get_system_commands(app.screen)}
        for title in ("Pause training", "Stop training", "Toggle smoothing", "Theme"):
            assert title in commands
        commands["Pause training"].callback()
        assert app.session.control is not None and app.session.control.paused
        commands = {command.title: command for command in app.get_system_commands(app.screen)}
        commands["Resume training"].callback()
        assert not app.session.control.paused
        runner.release()


async def test_broken_theme_file_is_reported_and_the_choice_remembered(
        config_dir: Path) -> None:
    themes = config_dir / "themes"
    themes.mkdir(parents=True)
    (themes / "broken.toml").write_text("name = 'broken'\nprimary = 'not a colour'\n")
    app = MnistApp(runner=FakeRunner(), theme="no-such-theme")
    async with app.run_test() as pilot:
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("broken.toml" in m and "ignored" in m for m in messages)
        assert any("no-such-theme" in m for m in messages)
        assert app.theme == "mnist-dark"
        assert remembered_theme() is None  # falling back is not a choice
        app.theme = "mnist-light"
        await pilot.pause()
        assert remembered_theme() == "mnist-light"
    app = MnistApp(runner=FakeRunner())
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "mnist-light"


def test_step_axis_ticks_are_round_batch_numbers() -> None:
    assert step_ticks(1594, 4) == [0, 500, 1000, 1500]
    assert step_ticks(160, 3) == [0, 50, 100, 150]
    assert step_ticks(1, 4) == [0, 1]
    assert [tick_label(t) for t in step_ticks(80_000, 4)] == ["0", "20k", "40k", "60k", "80k"]
    assert tick_label(1500) == "1.5k" and tick_label(2_000_000) == "2M"


def test_header_names_the_strategy_and_devices() -> None:
    def header(strategy: str, devices: tuple[str, ...]) -> str:
        history = TrainingHistory()
        history.fold(RunStarted(run_id="r1", config={"model": "cnn"}, total_batches=10,
                                batches_per_epoch=10, epochs=1, train_samples=640,
                                val_samples=100, test_samples=10, params=33_194,
                                strategy=strategy, devices=devices))
        return MonitorScreen(history).info_text()

    cpu = "/job:localhost/replica:0/task:0/device:CPU:"
    assert "mirrored on CPU:0, CPU:1" in header("mirrored", (cpu + "0", cpu + "1"))
    assert "· CPU:0 ·" in header("default", (cpu + "0",))


async def test_a_progress_bar_without_a_total_shows_no_percentage() -> None:
    """A script's input of unknown length: an empty track and "—", never a made-up "100%"."""
    from textual.app import App, ComposeResult

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield RunProgress(id="progress")

    app = Host()
    async with app.run_test(size=(40, 3)) as pilot:
        bar = app.query_one(RunProgress)
        bar.update(progress=37, total=0)
        await pilot.pause()
        assert bar.percentage is None
        assert str(bar.query_one(Label).render()) == "—"
        assert bar.query_one(ProgressTrack).fraction == 0.0
        bar.update(progress=37, total=74)
        await pilot.pause()
        assert str(bar.query_one(Label).render()) == "50%"
