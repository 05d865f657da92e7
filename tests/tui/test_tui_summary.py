"""The summary screen, confusion matrix and dialogs, driven with Pilot in a tiny host app."""

from __future__ import annotations

import dataclasses

import pytest
from rich.style import Style
from textual.app import App
from textual.color import Color
from textual.widgets import Digits, Footer, Static
from textual.widgets._footer import FooterKey

from mnist_tui.training.trainer import ABANDONED_NO_MODEL
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.dialogs import ConfirmScreen, ErrorScreen
from mnist_tui.tui.screens.summary import SummaryScreen, format_summary_text
from mnist_tui.tui.state.history import TrainingHistory
from mnist_tui.tui.theming import theme_color
from mnist_tui.tui.widgets.confusion import ConfusionMatrix, MatrixColours, render_confusion
from mnist_tui.tui.widgets.digits import DigitCard, DigitGallery
from tests.helpers.summary_app import RUN_DIR, Host, make_evaluated, make_summary, text_of


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


async def test_a_run_that_saved_no_model_offers_no_draw() -> None:
    """A sweep's pruned trial ends stopped without its model, and its summary says why: no
    "d Draw" in the footer; a stopped run, a finished one, offer it."""
    pruned = make_summary(reason="pruned at 20% of epoch 1: ...", test_loss=None,
                          test_accuracy=None, epochs_completed=0, model_error=ABANDONED_NO_MODEL)
    for summary, offered in ((pruned, False),
                             (make_summary(), True),
                             (make_summary(status="finished", reason=""), True)):
        app = Host(summary, None if summary is pruned else make_evaluated())
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.pause()
            assert app.screen.check_action("draw", ()) is offered, summary
            shown = [key.description for key in app.screen.query_one(Footer).query(FooterKey)]
            assert ("Draw" in shown) is offered and "Train again" in shown


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
