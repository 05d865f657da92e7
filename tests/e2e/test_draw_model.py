"""Draw a digit for a model trained on 6,000 real MNIST images: it reads what is drawn, in the
draw screen and without it; a damaged model is refused; `mnist-tui draw` finds the latest run
with a model."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from mnist_tui.core.config import TrainConfig
from mnist_tui.runs.digit_reader import (
    MODEL_FILE,
    DigitReader,
    ModelError,
    data_source,
    find_model_run,
)
from mnist_tui.runs.driver import execute_run
from mnist_tui.training.drawing import blank_canvas, paint
from mnist_tui.tui.screens.draw import DrawApp, DrawScreen
from mnist_tui.tui.screens.summary import SummaryScreen
from mnist_tui.tui.widgets.draw_canvas import DrawCanvas, ProbabilityBars
from tests.helpers.draw_app import SIZE, assert_mnist_shaped, canvas_of, drag
from tests.helpers.fake_runs import wait_for
from tests.helpers.summary_app import Host, make_summary


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory, mnist_path: Path) -> Path:
    """A real run of the seed network on 6,000 images, with its saved model."""
    run_dir, summary = execute_run(TrainConfig(seed=0, train_size=6000), lambda event: None,
                                   runs_dir=tmp_path_factory.mktemp("draw-runs"),
                                   data_path=mnist_path)
    assert summary["status"] == "finished" and run_dir is not None
    assert (run_dir / MODEL_FILE).is_file()
    return run_dir


async def read_after_drawing(pilot: Pilot[Any]) -> int | None:
    """Wait for the model, and for its reading of the canvas as it is now; the digit read."""
    screen = pilot.app.screen
    assert isinstance(screen, DrawScreen)
    canvas = screen.query_one(DrawCanvas)
    await wait_for(pilot, lambda: screen.shown_version == canvas.version, timeout=60)
    assert screen.last_reading is not None
    bars = screen.query_one(ProbabilityBars).probabilities
    assert bars is not None and abs(float(bars.sum()) - 1) < 1e-3
    return screen.last_reading.predicted


async def test_a_vertical_stroke_reads_as_a_one(trained_run: Path) -> None:
    app = DrawApp(trained_run)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DrawScreen)
        await wait_for(pilot, lambda: screen.model_ready, timeout=60)
        await drag(pilot, [(14, 1), (14, 4), (14, 8), (14, 12)])
        assert await read_after_drawing(pilot) == 1
        status = str(screen.query_one("#draw-status", Static).render())
        assert status.startswith("It reads 1 (")


async def test_a_ring_reads_as_a_zero(trained_run: Path) -> None:
    app = DrawApp(trained_run)
    async with app.run_test(size=SIZE) as pilot:
        ring = [(14 + 6 * math.sin(t), 14 + 9 * math.cos(t))
                for t in np.linspace(0, 2 * math.pi, 40)]
        canvas_of(app).stroke(ring)
        assert await read_after_drawing(pilot) == 0
        await pilot.press("c")
        await wait_for(pilot, lambda: app.screen.shown_version == canvas_of(app).version)
        assert app.screen.query_one(ProbabilityBars).probabilities is None, "blank: no reading"


def test_reading_is_done_on_preprocessed_images(trained_run: Path) -> None:
    reader = DigitReader.load(trained_run)
    canvas = blank_canvas()
    paint(canvas, (3.0, 2.0), (3.0, 10.0))  # a small 1, far off-centre
    reading = reader.read(canvas)
    assert reading.predicted == 1
    assert_mnist_shaped(reading.seen)


def test_a_damaged_model_is_refused_with_a_clear_error(trained_run: Path,
                                                         tmp_path: Path) -> None:
    damaged = Path(shutil.copytree(trained_run, tmp_path / trained_run.name))
    (damaged / MODEL_FILE).write_bytes(b"not a keras file")
    with pytest.raises(ModelError, match="cannot read the model"):
        DigitReader.load(damaged)


async def test_a_damaged_model_shows_its_error_on_screen(trained_run: Path,
                                                         tmp_path: Path) -> None:
    damaged = Path(shutil.copytree(trained_run, tmp_path / trained_run.name))
    (damaged / MODEL_FILE).write_bytes(b"not a keras file")
    app = DrawApp(damaged)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DrawScreen)
        await wait_for(pilot, lambda: screen.model_error is not None, timeout=60)
        status = screen.query_one("#draw-status", Static)
        assert status.has_class("-error")
        assert "cannot read the model" in str(status.render())


def test_the_run_remembers_where_its_data_came_from(trained_run: Path,
                                                    mnist_path: Path) -> None:
    assert data_source(trained_run) == str(mnist_path)


async def test_d_on_the_summary_opens_the_draw_screen(trained_run: Path) -> None:
    app = Host(make_summary(run_dir=str(trained_run)), None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DrawScreen))
        await pilot.press("escape")
        assert isinstance(app.screen, SummaryScreen)


def test_draw_picks_the_latest_run_with_a_model(trained_run: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    older = Path(shutil.copytree(trained_run, root / "20260101-000000-aaaaaa"))
    newer = Path(shutil.copytree(trained_run, root / "20260102-000000-bbbbbb"))
    (newer / MODEL_FILE).unlink()
    assert find_model_run(None, root) == older
    with pytest.raises(ModelError, match="has no saved model"):
        find_model_run("20260102", root)
