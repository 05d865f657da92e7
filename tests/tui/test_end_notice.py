"""A run's end reaches someone in another window: the bell and a desktop notification
(OSC 9 and OSC 777) in what the app writes to the terminal, only while the app is not
focused and the setting is on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from textual import events

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.summary import RunSummary
from mnist_tui.run_cli import build_watch_parser
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.summary import SummaryScreen
from mnist_tui.tui.state.end_notice import end_notice, notice_sequences
from tests.helpers.fake_runs import FakeRunner, wait_for
from tests.tui.test_tui_watch import LiveRun

CONFIG = TrainConfig(train_size=1000, epochs=1, seed=0)
BELL, ESC = "\a", "\x1b"
OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")  # OSC ... BEL or ST (e.g. pointer shapes)


def bells(written: str) -> int:
    """How many times the terminal's bell was rung: BELs outside OSC sequences."""
    return OSC.sub("", written).count(BELL)


def notified(written: str) -> bool:
    """Whether a desktop notification (OSC 9 or OSC 777) was sent."""
    return f"{ESC}]9;" in written or f"{ESC}]777;" in written


def capture_writes(app: MnistApp) -> list[str]:
    """Everything the app writes to its terminal from now on."""
    driver = app._driver
    assert driver is not None
    written: list[str] = []
    write = driver.write

    def recording(data: str) -> None:
        written.append(data)
        write(data)

    driver.write = recording  # type: ignore[method-assign]
    return written


async def run_to_the_end(config: TrainConfig, *, blur: bool, fail_at: int | None = None,
                         notify: bool | None = None) -> tuple[MnistApp, str]:
    """Start a run held after its second batch, leave the app's window (AppBlur) if `blur`,
    let the run end; the app and what it wrote meanwhile."""
    runner = FakeRunner(hold_after=2, fail_at=fail_at)
    app = MnistApp(config, start=True, runner=runner, runs_dir=Path("runs"), notify=notify)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, runner.held.is_set)
        written = capture_writes(app)
        if blur:
            app.post_message(events.AppBlur())
            await wait_for(pilot, lambda: not app.app_focus)
        runner.release()
        await wait_for(pilot, lambda: app.final_summary is not None)
        if fail_at is None:
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        await pilot.pause()
    return app, "".join(written)


async def test_a_run_ending_in_another_window_rings_and_notifies() -> None:
    app, written = await run_to_the_end(CONFIG, blur=True)
    summary = app.final_summary
    assert summary is not None and summary.status == "finished"
    assert bells(written) == 1
    message = f"mnist-tui: run {summary.run_id} finished: test accuracy 98.0%"
    assert f"{ESC}]9;{message}{BELL}" in written
    assert (f"{ESC}]777;notify;mnist-tui: run {summary.run_id} finished;test accuracy 98.0%"
            f"{BELL}") in written


async def test_a_failed_run_says_it_failed() -> None:
    app, written = await run_to_the_end(CONFIG, blur=True, fail_at=3)
    assert app.final_summary is not None and app.final_summary.status == "failed"
    assert bells(written) == 1
    assert f"{ESC}]9;mnist-tui: run fake-1 failed: the loss became NaN{BELL}" in written


async def test_no_notice_while_the_app_is_focused() -> None:
    app, written = await run_to_the_end(CONFIG, blur=False)
    assert app.final_summary is not None
    assert bells(written) == 0 and not notified(written)


async def test_the_setting_off_sends_nothing() -> None:
    _, written = await run_to_the_end(TrainConfig(train_size=1000, epochs=1, notify=False),
                                      blur=True)
    assert bells(written) == 0 and not notified(written)
    _, written = await run_to_the_end(CONFIG, blur=True, notify=False)  # watch --notify no
    assert bells(written) == 0 and not notified(written)


def test_inside_tmux_the_notifications_pass_through() -> None:
    sequences = notice_sequences("mnist-tui: run r finished", "test accuracy 98.0%", tmux=True)
    assert sequences.startswith(BELL + f"{ESC}Ptmux;{ESC}{ESC}]9;mnist-tui: run r finished")
    assert f"{ESC}Ptmux;{ESC}{ESC}]777;notify;" in sequences
    assert sequences.endswith(f"{BELL}{ESC}\\")
    assert sequences.count(f"{ESC}\\") == 2


def test_a_notice_says_how_the_run_ended_and_never_breaks_its_sequence() -> None:
    diverged = RunSummary(run_id="r", status="finished", test_accuracy=0.1135,
                          warning="the loss grew 40-fold")
    assert end_notice(diverged) == ("mnist-tui: run r diverged",
                                    "test accuracy 11.3% · the loss grew 40-fold")
    stopped = RunSummary(run_id="r", status="stopped", reason="stopped by user")
    assert end_notice(stopped) == ("mnist-tui: run r stopped", "not tested · stopped by user")
    sequences = notice_sequences("a;b", "evil\x1b]0;title\a\nmore")
    assert sequences.count(ESC) == 2 and sequences.count(BELL) == 3
    assert "777;notify;a b;evil ]0 title more\a" in sequences


@pytest.mark.parametrize(("argv", "expected"), [
    ([], None), (["--notify"], True), (["--notify", "no"], False), (["--notify", "on"], True),
])
def test_watch_takes_a_notify_flag(argv: list[str], expected: Any) -> None:
    assert build_watch_parser().parse_args(argv).notify is expected


def test_watch_refuses_a_bad_notify_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_watch_parser().parse_args(["--notify", "maybe"])
    assert exit_info.value.code == 2
    assert "notify at end must be true or false" in capsys.readouterr().err


async def test_watch_notifies_the_end_of_the_run_it_follows(tmp_path: Path) -> None:
    live = LiveRun(tmp_path / "runs", hold_after=2)
    app = MnistApp(watch=live.run_dir, runs_dir=tmp_path / "runs")
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: live.runner.held.is_set() and app.history.step == 2)
            written = capture_writes(app)
            app.post_message(events.AppBlur())
            await wait_for(pilot, lambda: not app.app_focus)
            live.runner.release()
            await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
            await pilot.pause()
    finally:
        live.finish()
    text = "".join(written)
    assert bells(text) == 1
    assert f"{ESC}]9;mnist-tui: run {live.run_dir.name} finished: test accuracy 98.0%" in text
