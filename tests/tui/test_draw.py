"""Draw a digit: the brush, MNIST's preprocessing, the canvas under the mouse and the keys.
A model trained on real MNIST reading what is drawn: tests/e2e/test_draw_model.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import Button, Static

from mnist_tui.cli import main
from mnist_tui.core.config import TrainConfig
from mnist_tui.core.errors import EXIT_BAD_INPUT
from mnist_tui.runs.digit_reader import Latest, find_model_run
from mnist_tui.runs.listing import RunNotFound
from mnist_tui.training.data import load_mnist
from mnist_tui.training.drawing import FIT, blank_canvas, bounding_box, paint, preprocess
from mnist_tui.tui.screens.draw import DrawApp, DrawLayout, DrawScreen, draw_layout
from mnist_tui.tui.screens.summary import SummaryScreen
from tests.helpers.draw_app import (
    CANVAS_LEFT,
    CANVAS_TOP,
    SIZE,
    assert_mnist_shaped,
    canvas_of,
    drag,
)
from tests.helpers.fake_runs import wait_for
from tests.helpers.summary_app import Host, make_summary

# The brush and the preprocessing


def test_a_dab_is_solid_in_the_middle_grey_at_the_edge_and_nothing_beyond() -> None:
    canvas = blank_canvas()
    assert paint(canvas, (10.0, 5.0))
    assert canvas[5, 10] == 1.0
    assert 0.0 < canvas[5, 11] < 1.0 and 0.0 < canvas[6, 11] < 1.0, "soft, grey edges"
    assert canvas[5, 13] == 0.0 and canvas[8, 10] == 0.0
    assert canvas[:, :7].sum() == 0 and canvas[:, 14:].sum() == 0


def test_a_stroke_covers_its_segment_about_three_pixels_wide() -> None:
    canvas = blank_canvas()
    paint(canvas, (5.0, 4.0), (5.0, 20.0))
    assert (canvas[4:21, 5] == 1.0).all(), "a line with no gaps"
    assert canvas[:, 8:].sum() == 0 and canvas[:2].sum() == 0 and canvas[23:].sum() == 0
    assert int((canvas[12] > 0.5).sum()) == 3, "MNIST's strokes are 2-3 dark pixels wide"


def test_erasing_takes_the_ink_away_and_reports_a_change_only_when_there_is_one() -> None:
    canvas = blank_canvas()
    assert not paint(canvas, (14.0, 14.0), erase=True), "nothing to erase"
    assert paint(canvas, (5.0, 14.0), (22.0, 14.0))
    assert not paint(canvas, (5.0, 14.0), (22.0, 14.0)), "the same stroke again adds nothing"
    assert paint(canvas, (14.0, 10.0), (14.0, 18.0), erase=True)
    assert canvas[12:17, 14].sum() == 0 and canvas[12:17, 13:16].max() < 0.5
    assert canvas[14, 5] == 1.0 and canvas[14, 22] == 1.0, "the rest of the stroke stays"


def test_a_small_digit_in_a_corner_is_scaled_to_20_pixels_and_centred_by_its_mass() -> None:
    canvas = blank_canvas()
    paint(canvas, (2.0, 2.0), (9.0, 2.0))  # a little 7 in the top left corner
    paint(canvas, (9.0, 2.0), (4.0, 12.0))
    out = preprocess(canvas)
    assert out.dtype == np.float32 and out.shape == (28, 28)
    assert_mnist_shaped(out)
    top, left, bottom, right = bounding_box(out, threshold=0.0) or (0, 0, 0, 0)
    assert bottom - top == FIT and right - left < FIT, "taller than wide: the aspect kept"


def test_a_wide_digit_fills_the_box_sideways_and_a_large_one_shrinks() -> None:
    wide = blank_canvas()
    paint(wide, (20.0, 20.0), (24.0, 24.0))
    paint(wide, (0.0, 22.0), (27.0, 22.0))
    assert_mnist_shaped(preprocess(wide))
    large = blank_canvas()
    paint(large, (1.0, 1.0), (26.0, 26.0))
    paint(large, (26.0, 1.0), (1.0, 26.0))
    assert_mnist_shaped(preprocess(large))


def test_preprocessing_leaves_real_mnist_digits_nearly_as_they_are(mnist_path: Path) -> None:
    digits = load_mnist(mnist_path).x_test[:200].astype(np.float32) / 255
    changes = [float(np.abs(preprocess(image) - image).mean()) for image in digits]
    assert np.median(changes) < 0.1, "the same procedure that made them"
    for image in digits[:20]:
        assert_mnist_shaped(preprocess(image))


def test_preprocessing_a_blank_drawing_or_a_wrong_shape() -> None:
    assert not preprocess(blank_canvas()).any()
    with pytest.raises(ValueError, match="28x28"):
        preprocess(np.zeros((28, 27)))


def test_the_mailbox_keeps_only_the_newest_request() -> None:
    box: Latest[int] = Latest()
    for item in (1, 2, 3):
        box.put(item)
    assert box.take() == 3
    assert box.take(timeout=0) is None, "taken: nothing waits"
    box.put(4)
    box.close()
    assert box.closed and box.take() is None, "closed: take returns at once, empty-handed"


# The canvas under Pilot (its run has no model: the screen says so and still draws)


@pytest.fixture
def modelless_run(tmp_path: Path) -> Path:
    """A run folder with a config and a log but no model.keras."""
    run_dir = tmp_path / "runs" / "20260101-000000-aaaaaa"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(TrainConfig().to_dict()), encoding="utf-8")
    (run_dir / "events.jsonl").write_text("", encoding="utf-8")
    return run_dir


async def test_a_mouse_drag_draws_in_the_pixels_under_it(modelless_run: Path) -> None:
    app = DrawApp(modelless_run)
    async with app.run_test(size=SIZE) as pilot:
        await drag(pilot, [(14, 2), (14, 7), (14, 12)])
        image = canvas_of(app).image
        # Cells (14, 2..12) hold pixel rows 4..25; the brush centre runs down column 14.
        assert (image[5:25, 14] == 1.0).all()
        assert image[:, :11].sum() == 0 and image[:, 18:].sum() == 0
        assert image[:2].sum() == 0 and image[28 - 1:].sum() == 0
        await pilot.hover(canvas_of(app), (20 + CANVAS_LEFT, 5 + CANVAS_TOP))
        assert canvas_of(app).image[:, 18:].sum() == 0, "released: moving draws nothing"
        assert "no saved model" in str(app.screen.query_one("#draw-status", Static).render())


async def test_the_right_button_erases_and_c_clears(modelless_run: Path) -> None:
    app = DrawApp(modelless_run)
    async with app.run_test(size=SIZE) as pilot:
        canvas = canvas_of(app)
        await drag(pilot, [(14, 1), (14, 12)])
        await drag(pilot, [(8, 6), (20, 6)], button=3)
        # Cell row 6 holds pixel rows 12 and 13: erased; the soft edge leaves 11 and 14 grey.
        assert canvas.image[12:14, 14].sum() == 0, "erased across the middle"
        assert 0 < canvas.image[11, 14] < 1 and 0 < canvas.image[14, 14] < 1
        assert (canvas.image[4:8, 14] == 1.0).all() and (canvas.image[20:24, 14] == 1.0).all()
        version = canvas.version
        await pilot.press("c")
        assert not canvas.image.any() and canvas.version > version


async def test_the_keys_move_a_cursor_and_paint(modelless_run: Path) -> None:
    app = DrawApp(modelless_run)
    async with app.run_test(size=SIZE) as pilot:
        canvas = canvas_of(app)
        assert canvas.has_focus and canvas.cursor == (14, 14)
        await pilot.press("space")
        assert canvas.image[14, 14] == 1.0
        await pilot.press("left", "left", "left", "left", "left", "left")
        assert canvas.cursor == (8, 14) and canvas.image[14, 8] == 0.0, "moving alone paints not"
        await pilot.press(*["shift+up"] * 8)
        assert canvas.cursor == (8, 6) and (canvas.image[6:15, 8] == 1.0).all()
        await pilot.press("x")
        assert canvas.image[6, 8] == 0.0


async def test_a_test_digit_that_cannot_be_found_says_why(modelless_run: Path) -> None:
    app = DrawApp(modelless_run, data_path=modelless_run / "no-such-mnist.npz")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#draw-test-digit")
        button = app.screen.query_one("#draw-test-digit", Button)
        await wait_for(pilot, lambda: button.disabled)
        assert str(button.label) == "No test digits"
        note = str(app.screen.query_one("#draw-digit-note", Static).render())
        assert "does not exist" in note


async def test_a_random_test_digit_lands_on_the_canvas(modelless_run: Path,
                                                       mnist_path: Path) -> None:
    app = DrawApp(modelless_run, data_path=mnist_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        screen = app.screen
        assert isinstance(screen, DrawScreen)
        await wait_for(pilot, lambda: screen.test_digits is not None and canvas_of(app).version > 0)
        note = str(screen.query_one("#draw-digit-note", Static).render())
        index = int(note.split("#")[1].split(",")[0])
        digits = screen.test_digits
        assert digits is not None and note.endswith(f"labelled {digits.y_test[index]}")
        np.testing.assert_allclose(canvas_of(app).image, digits.x_test[index] / 255, atol=1e-6)


async def test_d_on_a_summary_without_a_model_says_so(tmp_path: Path) -> None:
    app = Host(make_summary(run_dir=str(tmp_path)), None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        await pilot.press("d")
        assert isinstance(app.screen, SummaryScreen)
        assert any("no saved model" in str(n.message) for n in app._notifications)


# `mnist-tui draw`


def test_draw_without_runs_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draw", "--runs-dir", str(tmp_path / "none")]) == EXIT_BAD_INPUT
    assert "no runs in" in capsys.readouterr().err
    with pytest.raises(RunNotFound):
        find_model_run(None, tmp_path / "none")


def test_draw_on_runs_without_a_model_exits_2(modelless_run: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    root = str(modelless_run.parent)
    assert main(["draw", "--runs-dir", root]) == EXIT_BAD_INPUT
    assert "none of the 1 runs" in capsys.readouterr().err
    assert main(["draw", modelless_run.name, "--runs-dir", root]) == EXIT_BAD_INPUT
    assert "has no saved model" in capsys.readouterr().err
    assert main(["draw", "nope", "--runs-dir", root]) == EXIT_BAD_INPUT
    assert "no run 'nope'" in capsys.readouterr().err


# The layout at each size


@pytest.mark.parametrize(("size", "expected"), [
    ((80, 24), DrawLayout(1, "hidden")), ((110, 34), DrawLayout(1, "beside")),
    ((120, 40), DrawLayout(2, "below")), ((140, 40), DrawLayout(2, "below")),
    ((200, 60), DrawLayout(2, "beside", 2)),
])
def test_the_layout_uses_the_room_there_is(size: tuple[int, int], expected: DrawLayout) -> None:
    assert draw_layout(*size) == expected


async def test_a_large_canvas_draws_a_pixel_per_two_cells(modelless_run: Path) -> None:
    app = DrawApp(modelless_run)
    async with app.run_test(size=(140, 40)) as pilot:
        canvas = canvas_of(app)
        assert canvas.scale == 2 and canvas.content_size == (56, 28)
        # Content cells (28, 2..20) are pixel column 14 (its left half), rows 2..20.
        await drag(pilot, [(28, 2), (28, 10), (28, 20)])
        assert (canvas.image[3:20, 14] == 1.0).all()
        assert canvas.image[:, :11].sum() == 0 and canvas.image[:, 18:].sum() == 0
        assert canvas.image[:1].sum() == 0 and canvas.image[23:].sum() == 0
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: canvas.scale == 1)
        assert canvas.content_size == (28, 14)
        assert (canvas.image[3:20, 14] == 1.0).all(), "the drawing stays as it was"
