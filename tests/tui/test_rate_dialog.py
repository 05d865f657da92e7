"""The learning rate on the fly, from the monitor: `l` opens a dialog that checks the rate as
the form does and asks the run; a run whose rate is locked says why."""

from __future__ import annotations

from textual.events import Key
from textual.widgets import Input, Static

from mnist_tui.core.config import check_learning_rate, parse_values
from mnist_tui.core.control import RunControl
from mnist_tui.core.events import LearningRateChanged
from mnist_tui.tui.screens.monitor import MonitorScreen
from mnist_tui.tui.screens.rate_dialog import RateScreen, parse_rate
from mnist_tui.tui.screens.summary import SummaryScreen
from mnist_tui.tui.state.history import TrainingHistory
from tests.helpers.fake_runs import FakeRunner, wait_for
from tests.helpers.monitor_app import fold, held_monitor, started_app


def form_message(text: str) -> str:
    """What the form says of a learning rate typed as `text`."""
    return parse_values({"learning_rate": text})[1]["learning_rate"]


def test_rates_are_parsed_as_the_form_parses_them() -> None:
    assert parse_rate(" 0.003 ") == (0.003, "")
    for bad in ("abc", "-0.5", "0", "11", "", "nan"):
        rate, message = parse_rate(bad)
        assert rate is None and message == form_message(bad), bad
    assert parse_rate("-0.5")[1] == check_learning_rate(-0.5)


async def test_the_rate_dialog_validates_then_asks_the_run() -> None:
    runner = FakeRunner(hold_after=10)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        monitor = await held_monitor(pilot, app, runner)
        assert "lr 0.01 " in str(monitor.query_one("#run-info", Static).render())
        shown = {b.binding.description for b in monitor.active_bindings.values()
                 if b.binding.show}
        assert "Rate" in shown
        control = app.session.control
        assert isinstance(control, RunControl)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, RateScreen))
        dialog = app.screen
        assert isinstance(dialog, RateScreen)
        field = dialog.query_one("#rate-input", Input)
        assert field.value == "0.01"
        for bad in ("fast", "-0.5"):
            field.value = bad
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is dialog and dialog.message == form_message(bad)
            assert field.has_class("-invalid")
        assert control.take_learning_rate() is None
        field.value = "0.003"
        await pilot.pause()
        assert dialog.message == ""  # fixed: the error goes as it is typed
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is monitor)
        assert control.take_learning_rate() == 0.003
        assert "learning rate → 0.003 asked; applies from the next batch" in (
            app.history.log_lines)
        await pilot.press("l")  # escape changes nothing
        await wait_for(pilot, lambda: isinstance(app.screen, RateScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is monitor)
        assert control.take_learning_rate() is None
        # The run says it changed: the header shows the new rate.
        await fold(pilot, app, LearningRateChanged(step=10, epoch=1, previous=0.01,
                                                   rate=0.003))
        monitor.update_now()
        assert "lr 0.003 " in str(monitor.query_one("#run-info", Static).render())
        runner.release()


async def test_a_rate_typed_in_one_go_with_the_l_is_the_rate_asked() -> None:
    """`l0.005⏎` arriving in one read, before the dialog is up, asks 0.005: no key is lost to
    the dialog's start, and the first digit replaces the current rate as it would later.
    (The keys after `l` had been handed to the monitor's focused widget, then dropped.)"""
    runner = FakeRunner(hold_after=10)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        monitor = await held_monitor(pilot, app, runner)
        control = app.session.control
        assert isinstance(control, RunControl)
        for key, character in [("l", "l"), ("0", "0"), ("full_stop", "."), ("0", "0"),
                               ("0", "0"), ("5", "5"), ("enter", "\r")]:
            app.post_message(Key(key, character))  # as the driver posts a burst, no waiting
        await wait_for(pilot, lambda: "learning rate → 0.005 asked; applies from the next "
                                      "batch" in app.history.log_lines)
        assert app.screen is monitor and control.take_learning_rate() == 0.005
        await pilot.press("l", "2")  # keys after the dialog is up replace the rate as before
        await wait_for(pilot, lambda: isinstance(app.screen, RateScreen))
        assert app.screen.query_one("#rate-input", Input).value == "2"
        await pilot.press("escape")
        runner.release()


async def test_a_run_whose_rate_is_locked_says_why() -> None:
    reason = "the cosine schedule sets the learning rate at every batch"
    runner = FakeRunner(hold_after=10, rate_locked=reason)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        monitor = await held_monitor(pilot, app, runner)
        await pilot.press("l")
        await pilot.pause()
        assert app.screen is monitor
        notes = [n for n in app._notifications if n.message == reason]
        assert notes and notes[0].severity == "warning"
        runner.release()


def test_the_rate_key_needs_a_live_run() -> None:
    assert MonitorScreen(TrainingHistory()).check_action("learning_rate", ()) is False
    assert MonitorScreen(TrainingHistory(), RunControl()).check_action("learning_rate", ())


async def test_a_rate_set_by_the_run_reaches_the_history() -> None:
    runner = FakeRunner(hold_after=10, apply_rates=True)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await held_monitor(pilot, app, runner)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, RateScreen))
        app.screen.query_one("#rate-input", Input).value = "0.02"
        await pilot.press("enter")
        runner.release()
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        assert [(c.step, c.rate, c.by) for c in app.history.rate_changes] == [(11, 0.02, "user")]
