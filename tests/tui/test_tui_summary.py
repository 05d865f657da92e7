"""The summary screen, confusion matrix and dialogs, driven with Pilot in a tiny host app."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from rich.style import Style
from textual.app import App
from textual.color import Color
from textual.widgets import Digits, Static

from mnist_tui.core.events import (
    BatchEnd,
    EpochEnd,
    Evaluated,
    Event,
    Phase,
    RunFinished,
    RunStarted,
)
from mnist_tui.runs.writer import RunWriter
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.dialogs import ConfirmScreen, ErrorScreen
from mnist_tui.tui.screens.summary import SummaryScreen, format_summary_text
from mnist_tui.tui.state.history import TrainingHistory
from mnist_tui.tui.theming import theme_color
from mnist_tui.tui.widgets.confusion import ConfusionMatrix, MatrixColours, render_confusion
from mnist_tui.tui.widgets.digits import DigitCard, DigitGallery
from tests.helpers.summary_app import RUN_DIR, Host, make_evaluated, make_summary


def text_of(app: App[Any], selector: str) -> str:
    widget = app.screen.query_one(selector, Static)
    return str(widget.render())


async def test_key_numbers_are_shown_with_one_decimal_and_without_scrolling() -> None:
    app = Host(make_summary(), make_evaluated())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        assert screen.query_one("#val-accuracy", Digits).value == "97.8%"
        assert screen.query_one("#test-accuracy", Digits).value == "98.0%"
        for selector in ("#val-accuracy", "#test-accuracy"):
            region = screen.query_one(selector).region
            assert region.height == 3 and region.bottom <= 23, (selector, region)
        facts = text_of(app, "#summary-facts")
        assert "Test loss 0.0621" in facts
        assert "1/3, stopped early" in facts
        assert "1m 22s" in facts and "3,650 images/s" in facts
        status = text_of(app, "#summary-status")
        assert "stopped early: stopped by user" in status
        assert "20250101-120000-abcd" in status
        assert RUN_DIR in text_of(app, "#summary-run-dir")
        assert not screen.query_one("#summary-settings").display  # no room at 80 columns


async def test_wide_terminal_shows_the_settings_and_more_digits_per_row() -> None:
    app = Host(make_summary(), make_evaluated())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        settings = screen.query_one("#summary-settings", Static)
        assert settings.display
        assert "33,194 parameters" in str(settings.render())
        gallery = screen.query_one(DigitGallery)
        assert gallery.styles.grid_size_columns == 3
        cards = list(screen.query(DigitCard))
        assert cards[2].region.x > cards[1].region.x > cards[0].region.x
        assert cards[0].region.bottom <= 39  # a first row of digits is visible at once
    app = Host(make_summary(), make_evaluated())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.query_one(DigitGallery).styles.grid_size_columns == 2


async def test_wrong_digits_are_marked_in_the_error_colour() -> None:
    app = Host(make_summary(), make_evaluated())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        cards = list(app.screen.query(DigitCard))
        assert len(cards) == 6
        wrong = [c for c in cards if c.has_class("-wrong")]
        assert [c.border_subtitle for c in wrong] == ["✗ pred 3, true 5 80%",
                                                      "✗ pred 9, true 4 70%"]
        assert cards[0].border_subtitle == "pred 7 (true 7) 90%"
        error = theme_color(app, "error", "red")
        success = theme_color(app, "success", "green")
        for card in cards:
            edge, colour = card.styles.border_top
            if card.has_class("-wrong"):
                assert (edge, colour.rgb) == ("heavy", error.rgb)
            else:
                assert (edge, colour.rgb) == ("round", success.rgb)
        assert "6 test digits, 2 wrong" in text_of(app, "#gallery-title")


async def test_digits_follow_the_theme() -> None:
    app = Host(make_summary(), make_evaluated())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        card = app.screen.query(DigitCard).first()
        app.theme = "mnist-light"
        await pilot.pause()
        paper = theme_color(app, "background", "white")
        style = card.render().spans[0].style
        assert isinstance(style, Style) and style.bgcolor is not None
        assert style.bgcolor.triplet is not None
        assert tuple(style.bgcolor.triplet) == paper.rgb


async def test_keys_ask_the_app_to_train_again_edit_or_quit() -> None:
    app = Host(make_summary(), make_evaluated())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("r", "e", "q")
        await pilot.pause()
        assert app.calls == ["train_again", "edit_settings", "quit"]


async def test_a_run_without_evaluation_says_so() -> None:
    summary = make_summary(status="failed", reason="the loss became NaN", test_loss=None,
                           test_accuracy=None, stopped_early=False)
    app = Host(summary, None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#test-accuracy", Digits).value == "--"
        assert not app.screen.query(ConfusionMatrix)
        assert "✗ Training failed: the loss became NaN" in text_of(app, "#summary-status")
        notes = [str(w.render()) for w in app.screen.query(".note").results(Static)]
        assert any("before the test evaluation" in n for n in notes)


@pytest.mark.parametrize("theme", ["mnist-dark", "mnist-light", "mnist-high-contrast",
                                   "textual-dark", "ansi-dark"])
async def test_the_summary_draws_in_every_theme(theme: str) -> None:
    app = Host(make_summary(status="finished", reason="", stopped_early=False,
                            epochs_completed=3), make_evaluated(), theme=theme)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "✓ Training finished" in text_of(app, "#summary-status")
        assert "stopped early" not in text_of(app, "#summary-facts")
        matrix = app.screen.query_one(ConfusionMatrix)
        assert "99.7%" in matrix.render().plain  # class 4: 970 of 977


def test_confusion_matrix_text_colours_and_accuracy() -> None:
    evaluated = make_evaluated()
    colours = MatrixColours(foreground=Color(200, 200, 200), background=Color(0, 0, 0),
                            success=Color(0, 200, 0), error=Color(200, 0, 0),
                            warning=Color(200, 200, 0))
    text = render_confusion(evaluated.confusion, evaluated.per_class_accuracy, colours)
    lines = text.plain.split("\n")
    assert len(lines) == 11
    assert lines[0].split() == ["t╲p", *[str(d) for d in range(10)], "acc"]
    row5 = lines[6].split()
    assert row5[0] == "5" and row5[4] == "12" and row5[6] == "880" and row5[-1] == "98.7%"

    def style_of(fragment: str, line: int) -> Style:
        start = sum(len(x) + 1 for x in lines[:line]) + lines[line].index(fragment)
        styles = [s.style for s in text.spans if s.start <= start < s.end]
        assert len(styles) == 1 and isinstance(styles[0], Style)
        return styles[0]

    diagonal = style_of(" 880", 6)
    assert diagonal.color is not None and diagonal.color.triplet == (0, 200, 0)
    worst = style_of("  12", 6)  # the largest error count: full error colour
    assert worst.bgcolor is not None and worst.bgcolor.triplet == (200, 0, 0)
    milder = style_of("   7", 5)  # fewer errors: a lighter shade of it
    assert milder.bgcolor is not None and milder.bgcolor.triplet is not None
    assert 0 < milder.bgcolor.triplet[0] < 200
    lowest = style_of("98.7%", 6)  # the weakest class stands out in the warning colour
    assert lowest.color is not None and lowest.color.triplet == (200, 200, 0)


def test_plain_text_summary_for_the_scrollback() -> None:
    text = format_summary_text(make_summary())
    assert text.splitlines() == [
        "mnist-tui run 20250101-120000-abcd: stopped (stopped by user)",
        "  validation accuracy 97.8%, test accuracy 98.0%, test loss 0.0621",
        "  1 of 3 epochs (stopped early), 1m 22s of training, 3,650 images/s",
        f"  run folder: {RUN_DIR}",
    ]
    failed = format_summary_text({"run_id": "x", "status": "failed", "reason": "boom",
                                  "epochs": 1, "epochs_completed": 0})
    assert "validation accuracy —, test accuracy —" in failed
    assert "run folder" not in failed
    assert "\x1b" not in text and "[" not in text


async def test_the_summary_says_which_precision_ran_at_every_width() -> None:
    for size in ((80, 24), (140, 40)):
        app = Host(make_summary(precision="bfloat16", peak_memory=901 * 2**20),
                   make_evaluated())
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            assert text_of(app, "#summary-resources") == (
                "Trained in bfloat16 · peak memory 901 MB"), size
            settings = app.screen.query_one("#summary-settings")
            assert settings.display == (size[0] == 140)
            assert "bfloat16" not in str(settings.render()), "said once"
    text = format_summary_text(make_summary(precision="float32"))
    assert "  1 of 3 epochs (stopped early), 1m 22s of training, 3,650 images/s in float32" in (
        text.splitlines())


class DialogHost(App[None]):
    """Records the dialogs' answers and the app actions they call."""

    CSS_PATH = MnistApp.CSS_PATH

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[bool | None] = []
        self.calls: list[str] = []

    def action_edit_settings(self) -> None:
        self.calls.append("edit_settings")

    async def action_quit(self) -> None:
        self.calls.append("quit")


@pytest.mark.parametrize(("keys", "answer"), [
    (("y",), True), (("n",), False), (("escape",), False), (("enter",), False),
    (("tab", "enter"), True),
])
async def test_confirm_answers_by_key_and_button(keys: tuple[str, ...], answer: bool) -> None:
    app = DialogHost()
    async with app.run_test() as pilot:
        app.push_screen(ConfirmScreen("Quit now?", yes="Quit"), app.answers.append)
        await pilot.pause()
        assert "Quit now?" in str(app.screen.query_one("#confirm-question", Static).render())
        await pilot.press(*keys)
        await pilot.pause()
        assert app.answers == [answer]
        assert not isinstance(app.screen, ConfirmScreen)


async def test_error_screen_shows_the_message_and_offers_the_way_back() -> None:
    app = DialogHost()
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(ErrorScreen("Training failed", "The loss became NaN [at batch 12].",
                                    detail="Traceback (most recent call last): ..."),
                        app.answers.append)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ErrorScreen)
        shown = " ".join(str(w.render()) for w in screen.query(Static))
        assert "The loss became NaN [at batch 12]." in shown
        detail = screen.query_one("#error-detail")
        assert detail.collapsed  # type: ignore[attr-defined]
        await pilot.press("e")
        await pilot.press("q")
        await pilot.click("#edit")
        await pilot.pause()
        assert app.calls == ["edit_settings", "quit", "edit_settings"]
        await pilot.press("escape")
        await pilot.pause()
        assert app.answers == [None]
        assert not isinstance(app.screen, ErrorScreen)


async def test_the_run_folder_can_arrive_after_the_screen() -> None:
    summary = make_summary()
    del summary["run_dir"]
    app = Host(summary, make_evaluated())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        assert not screen.query_one("#summary-run-dir").display
        screen.summary = dataclasses.replace(screen.summary, run_dir=RUN_DIR)
        await screen.recompose()  # the layout survives it
        await pilot.pause()
        assert screen.query_one("#summary-run-dir").display
        assert RUN_DIR in text_of(app, "#summary-run-dir")
        assert screen.query_one("#summary-settings").display
        assert screen.query_one("#test-accuracy", Digits).value == "98.0%"


async def test_the_epoch_lines_of_the_history_are_listed() -> None:
    history = TrainingHistory()
    for line in ("loading MNIST", "epoch 1/3  loss 0.2100  acc 93.5%  val loss 0.0700  "
                 "val acc 97.8%  16.2 s", "stopped: stopped by user"):
        history.note(line)
    app = Host(make_summary(), make_evaluated(), history=history)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        epochs = text_of(app, "#summary-epochs")
        assert epochs.startswith("epoch 1/3  loss 0.2100")
        assert "loading MNIST" not in epochs


CALLBACK_RUN_ID = "20250101-120000-abcd-line-fit"
CALLBACK_CONFIG = {"name": "line fit", "model": "line_fit", "optimizer": "adam",
                   "learning_rate": 0.01, "epochs": 3, "steps_per_epoch": 8, "batch_size": 32,
                   "source": "keras callback"}


def callback_events(*, accuracy: bool = False, marker: bool = True) -> list[Event]:
    """The events `MonitorCallback` logs for a 3-epoch fit of any Keras model.

    Without `accuracy` the model is a regression (loss only, like "mse"); without `marker`
    the config lacks the callback's `source`, leaving only the RunStarted's 0 test images.
    """
    config = dict(CALLBACK_CONFIG)
    if not marker:
        del config["source"]
    events: list[Event] = [
        Phase(phase="training", message="training line fit"),
        RunStarted(run_id=CALLBACK_RUN_ID, config=config, total_batches=24,
                   batches_per_epoch=8, epochs=3, train_samples=256, val_samples=0,
                   test_samples=0, params=41, data_source="keras model.fit")]
    losses = [(0.9, 0.8), (0.3, 0.25), (0.1234, 0.2345)]
    for epoch, (loss, val_loss) in enumerate(losses, start=1):
        acc = 0.8 + epoch / 100 if accuracy else None
        for batch in range(1, 9):
            step = (epoch - 1) * 8 + batch
            events.append(BatchEnd(step=step, epoch=epoch, batch=batch, loss=loss,
                                   accuracy=acc, batch_loss=loss, batch_accuracy=acc,
                                   seen=step * 32, elapsed=0.05 * step))
        events.append(EpochEnd(epoch=epoch, step=epoch * 8, loss=loss, accuracy=acc,
                               val_loss=val_loss, val_accuracy=acc and acc + 0.08,
                               seconds=0.4))
    metrics = {"loss": 0.1234, "mae": 0.28, "val_loss": 0.2345, "val_mae": 0.39}
    if accuracy:
        metrics.update(accuracy=0.83, val_accuracy=0.91)
    events.append(RunFinished(summary={
        "run_id": CALLBACK_RUN_ID, "status": "finished", "reason": "", "params": 41,
        "epochs": 3, "epochs_completed": 3, "stopped_early": False, "val_loss": 0.2345,
        "val_accuracy": 0.91 if accuracy else None, "test_loss": None, "test_accuracy": None,
        "seconds": 1.25, "samples_per_second": 614.4, "train_samples": 256,
        "config": config, "metrics": metrics}))
    return events


def callback_history(**options: bool) -> TrainingHistory:
    history = TrainingHistory()
    for event in callback_events(**options):
        history.fold(event)
    return history


def callback_summary(history: TrainingHistory) -> dict[str, Any]:
    """The summary as the app hands it to the screen: the run's own, plus its folder."""
    return {**history.summary, "run_dir": RUN_DIR}


def notes_of(app: App[Any]) -> list[str]:
    return [str(w.render()) for w in app.screen.query(".note").results(Static)]


@pytest.mark.parametrize("marker", [True, False])
async def test_a_callback_run_without_accuracy_shows_its_losses(marker: bool) -> None:
    history = callback_history(marker=marker)
    app = Host(callback_summary(history), history.evaluated, history=history)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        assert screen.query_one("#train-loss", Digits).value == "0.1234"
        assert screen.query_one("#val-loss", Digits).value == "0.2345"
        for selector in ("#train-loss", "#val-loss"):
            region = screen.query_one(selector).region
            assert region.height == 3 and region.bottom <= 23, (selector, region)
        labels = [str(w.render()) for w in screen.query(".metric-label").results(Static)]
        assert labels == ["Training loss", "Validation loss"]
        assert all(d.value != "--" for d in screen.query(Digits))
        assert not screen.query("#val-accuracy") and not screen.query("#test-accuracy")
        assert not screen.query(ConfusionMatrix) and not screen.query(DigitGallery)
        assert not screen.query(DigitCard)
        facts = text_of(app, "#summary-facts")
        assert "3/3" in facts and "1.2 s" in facts and "614 samples/s" in facts
        assert "Test loss" not in facts and "Val acc" not in facts and "—" not in facts
        assert "✓ Training finished" in text_of(app, "#summary-status")
        assert RUN_DIR in text_of(app, "#summary-run-dir")
        notes = notes_of(app)
        assert not any("before the test evaluation" in n for n in notes)
        assert any("no test evaluation" in n for n in notes)
        epochs = text_of(app, "#summary-epochs").splitlines()
        assert epochs == ["epoch 1/3  loss 0.9000  val loss 0.8000  0.4 s",
                          "epoch 2/3  loss 0.3000  val loss 0.2500  0.4 s",
                          "epoch 3/3  loss 0.1234  val loss 0.2345  0.4 s"]


async def test_a_callback_run_with_accuracy_adds_it_and_its_settings() -> None:
    history = callback_history(accuracy=True)
    app = Host(callback_summary(history), None, history=history)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#train-loss", Digits).value == "0.1234"
        assert screen.query_one("#val-loss", Digits).value == "0.2345"
        assert "Val acc   91.0%" in text_of(app, "#summary-facts")
        settings = text_of(app, "#summary-settings")
        assert screen.query_one("#summary-settings").display
        assert "line fit (line_fit), 41 parameters" in settings
        assert "adam, lr 0.01" in settings and "8 per epoch of 32 samples" in settings
        assert "seed" not in settings
        assert "epoch 3/3  loss 0.1234  acc 83.0%  val loss 0.2345  val acc 91.0%" in (
            text_of(app, "#summary-epochs"))
        assert not screen.query(ConfusionMatrix)


@pytest.mark.parametrize("own_test_set", [False, True])
async def test_a_tested_callback_run_shows_its_accuracies(own_test_set: bool) -> None:
    """Tested by the script's `model.evaluate` (figures only) or by the callback on its own
    `test_data` (`evaluate_test`: with the matrix and digits): accuracies, like an app run."""
    history = callback_history(accuracy=True)
    evaluated = (dataclasses.replace(make_evaluated(), test_accuracy=0.875, test_loss=0.41)
                 if own_test_set else
                 Evaluated(test_loss=0.41, test_accuracy=0.875, test_samples=0, confusion=(),
                           per_class_accuracy=()))
    history.fold(evaluated)
    assert isinstance(history.outcome, RunFinished)
    history.fold(RunFinished(summary=dataclasses.replace(
        history.summary, test_loss=0.41, test_accuracy=0.875)))
    app = Host(callback_summary(history), history.evaluated, history=history)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#val-accuracy", Digits).value == "91.0%"
        assert screen.query_one("#test-accuracy", Digits).value == "87.5%"
        assert not screen.query("#train-loss")
        facts = text_of(app, "#summary-facts")
        assert "Test loss 0.4100" in facts and "Val acc" not in facts
        notes = " ".join(notes_of(app))
        assert bool(screen.query(ConfusionMatrix)) == own_test_set
        assert ("model.evaluate" in notes) != own_test_set
    text = format_summary_text(callback_summary(history))
    assert "validation accuracy 91.0%, test loss 0.4100, test accuracy 87.5%" in text


async def test_a_callback_run_without_validation_shows_the_training_loss_alone() -> None:
    summary = {"run_id": "r", "status": "stopped", "reason": "enough", "epochs": 5,
               "epochs_completed": 2, "stopped_early": True, "val_loss": None,
               "val_accuracy": None, "test_loss": None, "test_accuracy": None,
               "seconds": 3.0, "samples_per_second": None, "config": CALLBACK_CONFIG,
               "metrics": {"loss": 12345.678}}
    app = Host(summary, None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert [d.value for d in app.screen.query(Digits)] == ["12346"]
        assert "2/5, stopped early" in text_of(app, "#summary-facts")
        assert "Speed" not in text_of(app, "#summary-facts")


async def test_watching_a_callback_run_ends_on_its_losses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers.fake_runs import wait_for

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    writer = RunWriter(tmp_path, CALLBACK_RUN_ID, CALLBACK_CONFIG)
    for event in callback_events():
        writer.write(event)
    writer.close()
    app = MnistApp(watch=writer.run_dir, runs_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#train-loss", Digits).value == "0.1234"
        assert screen.query_one("#val-loss", Digits).value == "0.2345"
        assert not screen.query(DigitGallery)
        assert str(writer.run_dir) in text_of(app, "#summary-run-dir")
        assert not any("before the test evaluation" in n for n in notes_of(app))
        # Train again / edit settings would start an MNIST run: hidden here, and inert.
        keys = {b.binding.key for b in app.screen.active_bindings.values() if b.enabled}
        assert "q" in keys and not {"r", "e"} & keys
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Train again" not in titles and "Edit settings" not in titles
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, SummaryScreen)
        await pilot.press("q")


def test_plain_text_of_a_callback_run_names_its_losses() -> None:
    history = callback_history()
    text = format_summary_text(callback_summary(history))
    assert text.splitlines() == [
        f"mnist-tui run {CALLBACK_RUN_ID}: finished",
        "  loss 0.1234, val loss 0.2345",
        "  3 of 3 epochs, 1.2 s of training, 614 samples/s",
        f"  run folder: {RUN_DIR}",
    ]
    with_accuracy = format_summary_text(callback_history(accuracy=True).summary)
    assert "  loss 0.1234, val loss 0.2345, validation accuracy 91.0%" in with_accuracy
    assert "n/a" not in text and "—" not in text and "test" not in text
