"""The monitor's live parts, driven by the fake runner: the test digits strip, the system load
line, chart zoom; and what the summary says of them (the learning rate on the fly:
test_rate_dialog.py)."""

from __future__ import annotations

import pytest
from rich.style import Style
from textual.events import MouseScrollDown, MouseScrollUp
from textual.strip import Strip
from textual.widgets import Static

from mnist_tui.core.events import BatchEnd, LearningRateChanged, Predictions, SystemLoad
from mnist_tui.core.formatting import format_bytes, format_bytes_of
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.monitor import MAX_ZOOM, MIN_WINDOW
from mnist_tui.tui.screens.summary import SummaryScreen
from mnist_tui.tui.screens.summary_text import format_summary_text, memory_and_rate_lines
from mnist_tui.tui.theming import theme_color
from mnist_tui.tui.widgets.charts import MetricChart
from mnist_tui.tui.widgets.following_log import FollowingLog
from mnist_tui.tui.widgets.load_line import LoadLine, load_text
from mnist_tui.tui.widgets.prediction_strip import (
    PredictionStrip,
    caption,
    digits_that_fit,
    thumbnail,
)
from tests.helpers.fake_runs import GB, MB, FakeRunner, fake_load
from tests.helpers.monitor_app import fold, held_monitor, started_app


def texts(strip: PredictionStrip) -> list[str]:
    return [strip.render_line(y).text for y in range(strip.size.height)]


def style_of(line: Strip, text: str) -> Style:
    """The style of the segment of `line` that holds `text`."""
    segment = next(s for s in line if text in s.text)
    assert segment.style is not None
    return segment.style


# --- the test digits strip -------------------------------------------------------------


async def test_the_strip_draws_the_digits_and_marks_right_and_wrong() -> None:
    runner = FakeRunner(hold_after=30, digits=16)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        monitor = await held_monitor(pilot, app, runner)
        strip = monitor.query_one("#digits", PredictionStrip)
        assert strip.display and strip.count == 8  # as many as 80 columns hold
        lines = [strip.render_line(y) for y in range(6)]
        title, *digits, captions = (line.text for line in lines)
        assert title.startswith("Test digits: 6 of 8 right · batch 30")  # 0 and 4 wrong
        for row in digits:
            assert row.count("▀") == 8 * 8
        # Digit 0 is guessed 1 at 50%, digit 1 right at 55%: "✗1 50%", "1 55%".
        words = captions.split()
        assert words[:4] == ["✗1", "50%", "1", "55%"]
        assert words.count("✗5") == 1 and sum(w.startswith("✗") for w in words) == 2
        success, error = (theme_color(app, name, "white").rich_color
                          for name in ("success", "error"))
        assert style_of(lines[5], "✗1 50%").color == error
        assert style_of(lines[5], "✗1 50%").bold
        assert style_of(lines[5], "1 55%").color == success
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert strip.count == digits_that_fit(118) == 12
        assert strip.render_line(0).text.startswith("Test digits: 9 of 12 right")
        dark_paper = next(iter(strip.render_line(1))).style
        app.theme = "mnist-light"  # dark digits on light paper
        await pilot.pause()
        light_paper = next(iter(strip.render_line(1))).style
        assert dark_paper is not None and light_paper is not None
        assert light_paper.bgcolor != dark_paper.bgcolor
        assert light_paper.bgcolor == theme_color(app, "background", "white").rich_color
        runner.release()


async def test_the_strip_is_redrawn_only_for_new_guesses(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    runner = FakeRunner(hold_after=30, digits=10)
    app = started_app(runner)
    async with app.run_test(size=(100, 30)) as pilot:
        monitor = await held_monitor(pilot, app, runner)
        strip = monitor.query_one("#digits", PredictionStrip)
        texts(strip)  # drawn and cached
        drawn: list[int] = []
        draw = strip._draw
        monkeypatch.setattr(strip, "_draw", lambda *a: drawn.append(1) or draw(*a))
        await fold(pilot, app, *(BatchEnd(step=s, epoch=1, batch=s, loss=1.0, accuracy=0.5,
                                          batch_loss=1.0, batch_accuracy=0.5, seen=64 * s,
                                          elapsed=0.01 * s) for s in range(31, 40)))
        monitor.update_now()
        texts(strip)
        assert drawn == []
        history = app.history
        assert history.shown_digits is not None
        await fold(pilot, app, Predictions(step=39, epoch=1, predicted=history.shown_digits.labels,
                                           confidence=(0.99,) * 10))
        monitor.update_now()
        assert texts(strip)[0].startswith("Test digits: 10 of 10 right · batch 39")
        texts(strip)
        assert drawn == [1]
        runner.release()


async def test_t_hides_and_shows_the_strip_and_the_charts_take_its_rows() -> None:
    runner = FakeRunner(hold_after=20, digits=16, system_load=True)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        monitor = await held_monitor(pilot, app, runner)
        strip = monitor.query_one("#digits", PredictionStrip)
        chart = monitor.query_one("#loss-chart", MetricChart)
        assert strip.display and chart.size.height >= 8
        for selector in ("#run-info", "#progress", "#stats", "#load", "#legend", "#charts",
                         "#digits", "#log", "Footer"):
            region = monitor.query_one(selector).region
            assert region.height >= 1 and region.bottom <= 24, selector
        with_strip = chart.size.height
        await pilot.press("t")
        await pilot.pause()
        assert not strip.display and chart.size.height > with_strip
        await pilot.press("t")
        await pilot.pause()
        assert strip.display and chart.size.height == with_strip
        runner.release()


async def test_no_shown_digits_no_strip() -> None:
    runner = FakeRunner(hold_after=20)  # a run without test digits (a Keras callback's)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        monitor = await held_monitor(pilot, app, runner)
        strip = monitor.query_one("#digits", PredictionStrip)
        assert not strip.display and strip.region.height == 0
        assert monitor.check_action("toggle_digits", ()) is False
        shown = {b.binding.description for b in monitor.active_bindings.values()
                 if b.binding.show and monitor.check_action(b.binding.action, ())}
        assert "Digits" not in shown
        runner.release()


def test_digits_are_shrunk_to_8x8_and_captioned() -> None:
    image = [[0] * 28 for _ in range(28)]
    for row in range(2, 5):
        image[row][2:5] = [255] * 3
    thumb = thumbnail(bytes(value for row in image for value in row))
    assert [len(row) for row in thumb] == [8] * 8 and thumb[0][0] == 31
    assert sum(map(sum, thumb)) == 31
    assert thumbnail(__import__("numpy").array(image, dtype="uint8")) == thumb
    image[14][14] = 128  # one grey pixel of nine: 128 / 9 = 14.2 → 1.73 of 31 → 2
    assert thumbnail(bytes(value for row in image for value in row))[4][4] == 2
    assert caption(7, 0.98, True) == "7 98%" and caption(3, 0.54, False) == "✗3 54%"
    assert digits_that_fit(78) == 8 and digits_that_fit(5) == 1


# --- the system load line --------------------------------------------------------------


def test_load_text_and_byte_formats() -> None:
    assert format_bytes(812 * MB) == "812 MB" and format_bytes(3 * GB) == "3.0 GB"
    assert format_bytes(None) == "—" and format_bytes_of(3 * GB, 80 * GB) == "3.0/80 GB"
    assert load_text(fake_load()) == ("CPU 187% of 2 cores · machine 96% · memory 812 MB "
                                      "(peak 901 MB) · GPU 88% · 3.0/80 GB")
    assert load_text(fake_load(gpu=False), 2 * GB) == (
        "CPU 187% of 2 cores · machine 96% · memory 812 MB (peak 2.0 GB)")
    one = SystemLoad(process_cpu=99.5, machine_cpu=50.0, cpus=1, memory=100 * MB,
                     peak_memory=100 * MB, gpu_memory=GB)
    assert load_text(one) == "CPU 100% of 1 core · machine 50% · memory 100 MB · GPU memory 1.0 GB"
    assert load_text(fake_load(), compact=True) == (
        "CPU 187%/2 · machine 96% · mem 812 MB (peak 901 MB) · GPU 88% 3.0/80 GB")


async def test_the_load_line_shows_the_latest_sample_and_only_then() -> None:
    runner = FakeRunner(hold_after=20, every=5, system_load=True)
    app = started_app(runner)
    async with app.run_test(size=(120, 40)) as pilot:
        monitor = await held_monitor(pilot, app, runner)
        line = monitor.query_one("#load", LoadLine)
        assert line.display and line.region.height == 1
        assert str(line.render()) == load_text(fake_load())
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert str(line.render()) == load_text(fake_load(), compact=True)
        updates: list[object] = []
        update = line.update
        line.update = lambda *a, **k: updates.append(a) or update(*a, **k)  # type: ignore
        await fold(pilot, app, BatchEnd(step=21, epoch=1, batch=21, loss=1.0, accuracy=0.5,
                                        batch_loss=1.0, batch_accuracy=0.5, seen=64 * 21,
                                        elapsed=0.21))
        monitor.update_now()
        assert updates == []  # no new sample: not redrawn
        sample = SystemLoad(process_cpu=50.0, machine_cpu=25.0, cpus=2, memory=GB,
                            peak_memory=GB)
        await fold(pilot, app, sample)
        monitor.update_now()
        assert len(updates) == 1 and "memory 1.0 GB" in str(line.render())
        runner.release()


async def test_no_load_sample_no_load_line() -> None:
    runner = FakeRunner(hold_after=20)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        monitor = await held_monitor(pilot, app, runner)
        assert not monitor.query_one("#load", LoadLine).display
        runner.release()


# --- chart zoom ------------------------------------------------------------------------


async def test_zoom_keys_and_the_wheel_change_the_span_shown() -> None:
    runner = FakeRunner(hold_after=40)
    app = started_app(runner)
    async with app.run_test(size=(100, 30)) as pilot:
        monitor = await held_monitor(pilot, app, runner)
        chart = monitor.query_one("#loss-chart", MetricChart)

        def span() -> tuple[int, int]:
            assert chart.data is not None
            return chart.data.x_min, chart.data.x_max

        assert span() == (0, 160) and monitor.chart_window() is None
        await pilot.press("plus", "plus", "plus")  # 160 / 8: the last 20 batches
        assert monitor.zoom == 3 and monitor.chart_window() == 20
        assert span() == (20, 40) and chart.note == "last 20 batches"
        await pilot.press("minus")
        assert monitor.zoom == 2 and span() == (0, 40)
        await pilot.press(*["plus"] * 10)
        assert monitor.zoom == MAX_ZOOM and monitor.chart_window() == MIN_WINDOW
        await pilot.press("0")
        assert monitor.zoom == 0 and span() == (0, 160) and chart.note == ""
        await pilot._post_mouse_events([MouseScrollUp], chart, offset=(10, 3))
        assert monitor.zoom == 1
        await pilot._post_mouse_events([MouseScrollDown], chart, offset=(10, 3))
        assert monitor.zoom == 0
        await pilot._post_mouse_events([MouseScrollUp], "#log", offset=(2, 2))
        assert monitor.zoom == 0  # the wheel zooms over the charts only
        runner.release()


# --- the summary -----------------------------------------------------------------------


SUMMARY = {"run_id": "r1", "status": "finished", "peak_memory": 901 * MB,
           "learning_rate_changes": [
               {"step": 400, "epoch": 1, "previous": 0.01, "rate": 0.003, "by": "user"},
               {"step": 900, "epoch": 2, "previous": 0.003, "rate": 0.0015, "by": "plateau"}]}


def test_the_summary_text_names_peak_memory_and_rate_changes() -> None:
    assert memory_and_rate_lines(SUMMARY) == [
        "peak memory 901 MB",
        "learning rate 0.01 → 0.003 from batch 401 (you) → 0.0015 from batch 901 (plateau)"]
    text = format_summary_text(SUMMARY)
    assert "  peak memory 901 MB" in text.splitlines()
    assert memory_and_rate_lines({"status": "finished"}) == []
    many = [{"step": s, "epoch": 1, "previous": 0.1, "rate": 0.1 / (s + 1), "by": "plateau"}
            for s in range(1, 6)]
    line = memory_and_rate_lines({"learning_rate_changes": many})[0]
    assert line.startswith("learning rate 0.1 → ") and "5 changes" in line and len(line) < 90
    assert memory_and_rate_lines({"learning_rate_changes": [{"step": "x"}, 3]}) == []


async def test_the_summary_screen_shows_them() -> None:
    app = MnistApp(runner=FakeRunner())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(SummaryScreen(SUMMARY, None))
        await pilot.pause()
        line = str(app.screen.query_one("#summary-resources", Static).render())
        assert "Peak memory 901 MB" in line and "0.01 → 0.003 from batch 401 (you)" in line
        app.push_screen(SummaryScreen({"run_id": "r2", "status": "finished"}, None))
        await pilot.pause()
        assert not app.screen.query_one("#summary-resources", Static).display


# --- the log keeps its latest lines in view ----------------------------------------------


async def test_the_log_follows_its_end_through_height_changes_until_scrolled_up() -> None:
    runner = FakeRunner(hold_after=20, digits=16, system_load=True)
    app = started_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        monitor = await held_monitor(pilot, app, runner)
        log = monitor.query_one("#log", FollowingLog)
        changes = [LearningRateChanged(step=20, epoch=1, previous=0.01, rate=0.01 / k)
                   for k in range(2, 32)]
        await fold(pilot, app, *changes)
        monitor.update_now()
        await pilot.pause()
        assert log.max_scroll_y > 0 and log.is_vertical_scroll_end
        for _ in range(2):  # the strip goes and comes back: the log changes height
            await pilot.press("t")
            await pilot.pause()
            await pilot.pause()
            assert log.is_vertical_scroll_end, "the latest lines stay in view"
        log.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        assert not log.following
        await fold(pilot, app, LearningRateChanged(step=20, epoch=1, previous=0.1, rate=0.2))
        monitor.update_now()
        await pilot.pause()
        assert log.scroll_y == 0, "a log scrolled up by the user stays where it is"
        log.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert log.following
