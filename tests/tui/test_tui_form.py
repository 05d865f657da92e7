"""The form: defaults, inline errors, Enter submits, presets, reset, the live model preview."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.fields import FIELD_SPECS
from mnist_tui.core.presets import PRESETS
from mnist_tui.training.model import preview_model
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.form import FormScreen
from mnist_tui.tui.screens.monitor import MonitorScreen
from tests.helpers.fake_runs import FakeRunner, wait_for


@pytest.fixture
def runner() -> Iterator[FakeRunner]:
    """A fake run that holds after its first batch, released when the test ends."""
    fake = FakeRunner(hold_after=1)
    yield fake
    fake.release()


def make_app(runner: FakeRunner, config: TrainConfig | None = None) -> MnistApp:
    return MnistApp(config, runner=runner, runs_dir=Path("unused"))


def form_of(app: MnistApp) -> FormScreen:
    assert isinstance(app.screen, FormScreen)
    return app.screen


def value_of(form: FormScreen, name: str) -> str:
    widget = form.field(name)
    if isinstance(widget, Select):
        return str(widget.value)
    assert isinstance(widget, Input)
    return widget.value


def error_of(form: FormScreen, name: str) -> str:
    error = next(form.query(f"#error-{name}").results(Static), None)
    return str(error.render()) if error is not None and error.display else ""


async def type_into(pilot, form: FormScreen, name: str, text: str) -> None:
    widget = form.field(name)
    assert isinstance(widget, Input)
    widget.focus()
    widget.value = ""
    await pilot.press(*text)
    await pilot.pause()


async def test_opens_on_the_form_with_the_seed_defaults(runner: FakeRunner) -> None:
    app = make_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        form = form_of(app)
        assert value_of(form, "learning_rate") == "0.01"
        assert value_of(form, "optimizer") == "rmsprop"
        assert value_of(form, "batch_size") == "64"
        assert value_of(form, "validation_split") == "0.15"
        assert value_of(form, "epochs") == "1"
        assert value_of(form, "train_size") == "60000"
        assert value_of(form, "seed") == ""
        assert [value_of(form, f"conv{i}_filters") for i in (1, 2, 3)] == ["16", "32", "32"]
        assert form.errors == {}
        assert all(error_of(form, name) == "" for name in FIELD_SPECS)
        # every field has its label and help text on screen
        for name, spec in FIELD_SPECS.items():
            row = form.query_one(f"#row-{name}")
            texts = [str(w.render()) for w in row.query(Static)]
            assert spec.label in texts and spec.help in texts
        assert "33,194" in str(form.query_one("#param-count", Static).render())
        assert runner.calls == []


async def test_command_line_config_prefills_the_form(runner: FakeRunner) -> None:
    config = TrainConfig(epochs=3, optimizer="adam", seed=7, learning_rate=0.002)
    app = make_app(runner, config)
    async with app.run_test() as pilot:
        await pilot.pause()
        form = form_of(app)
        assert value_of(form, "epochs") == "3"
        assert value_of(form, "optimizer") == "adam"
        assert value_of(form, "seed") == "7"
        assert value_of(form, "learning_rate") == "0.002"
        assert form.config == config


async def test_an_invalid_value_shows_its_error_at_once(runner: FakeRunner) -> None:
    app = make_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        form = form_of(app)
        await type_into(pilot, form, "learning_rate", "fast")
        assert error_of(form, "learning_rate") == "learning rate must be a number, got 'fast'"
        assert form.field("learning_rate").has_class("-invalid")
        await type_into(pilot, form, "learning_rate", "0.5")
        assert error_of(form, "learning_rate") == ""
        assert not form.field("learning_rate").has_class("-invalid")
        # a rule across fields (the core's validate()) lands on the field it names
        await type_into(pilot, form, "train_size", "100")
        await type_into(pilot, form, "batch_size", "512")
        assert "batch size must be at most the 85 training images" in error_of(form, "batch_size")
        await type_into(pilot, form, "epochs", "0")
        assert error_of(form, "epochs") == "epochs must be between 1 and 1000, got 0"


async def test_enter_in_a_field_starts_the_run(runner: FakeRunner) -> None:
    app = make_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        form = form_of(app)
        await type_into(pilot, form, "epochs", "2")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen))
        await wait_for(pilot, runner.held.is_set)
        assert runner.calls[0]["config"] == TrainConfig(epochs=2)


async def test_enter_on_a_select_submits_too(runner: FakeRunner) -> None:
    app = make_app(runner)
    async with app.run_test() as pilot:
        await pilot.pause()
        form = form_of(app)
        form.field("optimizer").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen))
        assert len(runner.calls) == 1


async def test_start_button_and_ctrl_s_start_the_run(runner: FakeRunner) -> None:
    app = make_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        start = app.screen.query_one("#start")
        assert start.region.bottom <= 24  # on screen at 80x24 without scrolling
        await pilot.click("#start")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen))
        assert len(runner.calls) == 1
    app = make_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen))
        assert len(runner.calls) == 2


async def test_invalid_form_starts_nothing_and_focuses_first_bad_field(
        runner: FakeRunner) -> None:
    app = make_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        form = form_of(app)
        await type_into(pilot, form, "dense_units", "0")
        await type_into(pilot, form, "batch_size", "lots")
        form.field("seed").focus()
        await pilot.press("enter")
        await pilot.pause()
        assert runner.calls == []
        assert app.screen is form
        assert app.focused is form.field("batch_size")  # the first bad one, in form order
        assert error_of(form, "batch_size") and error_of(form, "dense_units")


async def test_presets_and_reset(runner: FakeRunner) -> None:
    app = make_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        form = form_of(app)
        await pilot.click("#preset-quick")
        await pilot.pause()
        assert value_of(form, "train_size") == "6000"
        assert form.config == PRESETS["quick"]
        await pilot.click("#preset-accurate")
        await pilot.pause()
        assert form.config == PRESETS["accurate"]
        assert value_of(form, "optimizer") == "adam"
        expected = preview_model(PRESETS["accurate"]).total_text
        assert expected in str(form.query_one("#param-count", Static).render())
        await type_into(pilot, form, "epochs", "x")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert form.config == TrainConfig()
        assert form.errors == {}
        assert value_of(form, "epochs") == "1"


async def test_model_preview_follows_the_edits(runner: FakeRunner) -> None:
    app = make_app(runner)
    async with app.run_test() as pilot:
        await pilot.pause()
        form = form_of(app)

        def count_text() -> str:
            return str(form.query_one("#param-count", Static).render())

        assert count_text() == "Model: 33,194 parameters"
        assert form.query_one("#preview").row_count == len(preview_model(TrainConfig()).layers)
        await type_into(pilot, form, "dense_units", "128")
        expected = preview_model(replace(TrainConfig(), dense_units=128)).total_text
        assert count_text() == f"Model: {expected} parameters"
        await type_into(pilot, form, "kernel_size", "9")
        assert "no preview" in count_text()
        assert form.query_one("#preview").row_count == 0
        await type_into(pilot, form, "kernel_size", "3")
        form.field("model").focus()
        await pilot.press("space")  # opens the list
        await pilot.press("down", "enter")
        await pilot.pause()
        assert value_of(form, "model") == "dense"
        expected = preview_model(TrainConfig(model="dense", dense_units=128)).total_text
        assert count_text() == f"Model: {expected} parameters"


async def test_form_keys_and_palette_commands(runner: FakeRunner) -> None:
    app = make_app(runner)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = {b.binding.description for b in app.screen.active_bindings.values()
                 if b.binding.show}
        assert {"Start", "Reset", "Quit"} <= shown
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("Start training", "Preset: Quick", "Preset: Accurate", "Reset settings",
                      "Theme", "Quit"):
            assert title in titles
