"""Draw a digit and see what a run's trained model reads, as you draw.

The canvas shows at once; the model (TensorFlow) loads in a worker thread, which then reads
drawings as they come. The UI leaves only the newest drawing for it (`digit_reader.Latest`),
so a fast drag never queues a backlog: each reading is of the drawing as it is now. MNIST's
test digits, to start from, load in a worker of their own.

`DrawScreen` opens from the summary (d) or as the whole of `mnist-tui draw` (`DrawApp`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult, CSSPathType
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Static
from textual.worker import Worker, WorkerState, get_current_worker

from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.formatting import format_percent
from mnist_tui.runs.digit_reader import DigitReader, Latest, Reading, load_test_digits
from mnist_tui.training.data import MnistData
from mnist_tui.tui.keys import BACK, BACK_Q
from mnist_tui.tui.themes import register_themes, use_start_theme
from mnist_tui.tui.theming import ThemeAware, theme_color
from mnist_tui.tui.widgets.digits import BLACK, WHITE, render_digit
from mnist_tui.tui.widgets.draw_canvas import DrawCanvas, ProbabilityBars
from mnist_tui.tui.widgets.size_notice import guard_size, watch_size

SMALL, LARGE = 30, 58  # the width of a canvas (or network view) at scale 1 and 2, border in
BARS_MIN_WIDTH = 42  # the status line and the ten bars with room for their labels
LARGE_MIN_HEIGHT = 36  # a large canvas (30 lines), the title, help, buttons and keys
HELP = ("Mouse: left button draws, right erases · keys: arrows move the cursor, space "
        "paints, shift+arrows paint as they move, x erases · c clears")


@dataclass
class ModelReady(Message):
    """The reading worker has loaded the model from `path` and waits for drawings."""

    path: Path


@dataclass
class ReadingDone(Message):
    """The model read the canvas as it was at `version`."""

    version: int
    reading: Reading


@dataclass(frozen=True)
class DrawLayout:
    """How the draw screen uses a terminal: the canvas's scale (2: each pixel two cells
    wide), and where the network's view goes ("beside" the bars, "below" them or "hidden")
    at which scale."""

    canvas_scale: int
    seen: str
    seen_scale: int = 1


def draw_layout(width: int, height: int) -> DrawLayout:
    """The layout for a terminal of `width` x `height` cells: the canvas large when there
    are lines for it, the network's view wherever it fits whole."""
    if height >= LARGE_MIN_HEIGHT and width >= LARGE + BARS_MIN_WIDTH:
        if width >= 2 * LARGE + BARS_MIN_WIDTH:
            return DrawLayout(2, "beside", 2)
        return DrawLayout(2, "below")  # 2 + 10 + 1 + 16 lines fit beside a 30-line canvas
    if width >= 2 * SMALL + BARS_MIN_WIDTH:
        return DrawLayout(1, "beside")
    return DrawLayout(1, "hidden")


class NetworkView(ThemeAware):
    """The 28x28 image the network was given: the drawing after MNIST's preprocessing
    (each pixel two cells wide and one high with the class `-large`)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.image = np.zeros((28, 28), dtype=np.float32)

    def show(self, image: np.ndarray) -> None:
        """Draw this image."""
        self.image = image
        self.refresh()

    def render(self) -> Text:
        """The image in the theme's ink and paper."""
        dark = self.app.current_theme.dark
        return render_digit(self.image, theme_color(self.app, "foreground", WHITE if dark
                                                    else BLACK),
                            theme_color(self.app, "background", BLACK if dark else WHITE),
                            scale=2 if self.has_class("-large") else 1)


class DrawScreen(Screen[None]):
    """A canvas to draw a digit on and the model's ten probabilities beside it, updated as
    you draw; buttons clear it or load a random MNIST test digit to edit.

    `run_dir` is a run folder with a saved model.keras; `data_path` where to find MNIST for
    the test digits first (else where the run found it, else the usual places).
    `shown_version` is the canvas version whose reading is on screen (-1: none yet).
    """

    CSS_PATH = str(Path(__file__).with_name("draw.tcss"))  # read when first shown
    MIN_SIZE = (72, 23)  # the canvas whole beside the bars, with the help, buttons and keys

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "clear", "Clear"),
        Binding("r", "test_digit", "Test digit"),
        BACK,
        BACK_Q,
    ]

    def __init__(self, run_dir: Path, *, data_path: str | Path | None = None) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.data_path = data_path
        self.model_ready = False
        self.model_error: str | None = None
        self.shown_version = -1
        self.last_reading: Reading | None = None
        self.read_seconds: list[float] = []  # every reading's time, for the status line
        self.test_digits: MnistData | None = None
        self._requests: Latest[tuple[int, np.ndarray]] = Latest()
        self._rng = np.random.default_rng()
        self.layout_now = DrawLayout(1, "hidden")

    def compose(self) -> ComposeResult:
        """Canvas, then the bars and the network's view (beside or below them); help,
        buttons, keys below."""
        yield Static(Text(f"Draw a digit · run {self.run_dir.name}", no_wrap=True,
                          overflow="ellipsis"), classes="title-bar", id="draw-title")
        with Horizontal(id="draw-body"):
            canvas = DrawCanvas(id="draw-canvas")
            canvas.border_title = "Draw here"
            yield canvas
            with Container(id="draw-right"):
                with Vertical(id="draw-side"):
                    yield Static("Loading the model…", id="draw-status")
                    yield ProbabilityBars(id="draw-bars")
                seen = NetworkView(id="draw-seen")
                seen.border_title = "What the network sees"
                yield seen
        yield Static(HELP, id="draw-help")
        with Horizontal(id="draw-actions"):
            yield Button("Clear (c)", id="draw-clear", compact=True)
            yield Button("Random test digit (r)", id="draw-test-digit", compact=True)
            yield Static("", id="draw-digit-note")
        yield Footer()

    def on_mount(self) -> None:
        """Lay out for the terminal, focus the canvas and start loading the model."""
        self._lay_out(self.app.size.width, self.app.size.height)
        self.query_one(DrawCanvas).focus()
        self._read_drawings()

    def on_unmount(self) -> None:
        """Let the reading worker go."""
        self._requests.close()

    def on_resize(self, event: events.Resize) -> None:
        """Lay out again for the new size."""
        self._lay_out(event.size.width, event.size.height)

    def _lay_out(self, width: int, height: int) -> None:
        layout = self.layout_now = draw_layout(width, height)
        self.query_one(DrawCanvas).set_class(layout.canvas_scale == 2, "-large")
        seen = self.query_one(NetworkView)
        seen.display = layout.seen != "hidden"
        seen.set_class(layout.seen_scale == 2, "-large")
        self.query_one("#draw-right").set_class(layout.seen == "below", "-below")

    @work(thread=True, exit_on_error=False, group="draw-model")
    def _read_drawings(self) -> None:
        """Load the model (importing TensorFlow here), then read each drawing put in
        `_requests` until the screen goes."""
        worker = get_current_worker()
        reader = DigitReader.load(self.run_dir)
        self.post_message(ModelReady(reader.path))
        while not (worker.is_cancelled or self._requests.closed):
            request = self._requests.take(timeout=0.5)
            if request is not None:
                version, drawing = request
                self.post_message(ReadingDone(version, reader.read(drawing)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="draw-digits")
    def _load_test_digits(self) -> MnistData:
        """Load MNIST for its test digits."""
        return load_test_digits(self.run_dir, self.data_path)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker failed (the model or MNIST could not be loaded), or the digits came."""
        worker = event.worker
        if event.state == WorkerState.SUCCESS and worker.group == "draw-digits":
            self.test_digits = worker.result
            self.action_test_digit()
        elif event.state == WorkerState.ERROR:
            error = worker.error
            text = (str(error) if isinstance(error, MnistTuiError)
                    else f"{type(error).__name__}: {error}")
            if worker.group == "draw-model":
                self._model_failed(text)
            else:
                self._digits_failed(text)

    def _model_failed(self, text: str) -> None:
        self.model_error = text
        status = self.query_one("#draw-status", Static)
        status.update(Text(f"The model cannot be used: {text}"))
        status.add_class("-error")

    def _digits_failed(self, text: str) -> None:
        button = self.query_one("#draw-test-digit", Button)
        button.label, button.disabled = "No test digits", True
        note = self.query_one("#draw-digit-note", Static)
        note.update(Text(text.splitlines()[0], no_wrap=True, overflow="ellipsis"))
        note.add_class("-error")
        self.notify(text, title="No test digits", severity="error", timeout=15)

    def on_model_ready(self, message: ModelReady) -> None:
        """Read what is drawn already."""
        self.model_ready = True
        self.query_one("#draw-status", Static).update("Draw a digit.")
        self._request_reading()

    @on(DrawCanvas.Changed)
    def _request_reading(self) -> None:
        """Hand the drawing as it is now to the reading worker (replacing any not read)."""
        if self.model_ready:
            canvas = self.query_one(DrawCanvas)
            self._requests.put((canvas.version, canvas.image.copy()))

    def on_reading_done(self, message: ReadingDone) -> None:
        """Show the model's reading: bars, status line, what the network saw."""
        reading = message.reading
        self.shown_version = message.version
        self.last_reading = reading
        self.query_one(ProbabilityBars).show(reading.probabilities)
        self.query_one(NetworkView).show(reading.seen)
        status = self.query_one("#draw-status", Static)
        if reading.predicted is None or reading.probabilities is None:
            status.update("Draw a digit.")
            return
        self.read_seconds.append(reading.seconds)
        confidence = format_percent(float(reading.probabilities[reading.predicted]))
        status.update(Text.assemble(("It reads ", ""), (str(reading.predicted), "bold"),
                                    f" ({confidence}) · {reading.seconds * 1000:.0f} ms"))

    def action_clear(self) -> None:
        """Blank the canvas."""
        self.query_one(DrawCanvas).clear()
        self.query_one("#draw-digit-note", Static).update("")

    def action_test_digit(self) -> None:
        """Put a random MNIST test digit on the canvas (loading MNIST the first time)."""
        digits = self.test_digits
        if digits is None:
            if not self.query_one("#draw-test-digit", Button).disabled:
                self.query_one("#draw-digit-note", Static).update("loading MNIST…")
                self._load_test_digits()
            return
        index = int(self._rng.integers(digits.test_size))
        self.query_one(DrawCanvas).load(digits.x_test[index])
        self.query_one("#draw-digit-note", Static).update(
            f"test digit #{index}, labelled {digits.y_test[index]}")

    @on(Button.Pressed, "#draw-clear")
    def _clear_pressed(self) -> None:
        self.action_clear()
        self.query_one(DrawCanvas).focus()

    @on(Button.Pressed, "#draw-test-digit")
    def _test_digit_pressed(self) -> None:
        self.action_test_digit()
        self.query_one(DrawCanvas).focus()

    def action_back(self) -> None:
        """Back to the screen underneath, or out of `mnist-tui draw`."""
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()


class DrawApp(App[None]):
    """`mnist-tui draw`: the draw screen on its own, in the app's themes."""

    # Textual reads a screen's CSS_PATH when the screen is pushed, never for the default
    # screen: this app names the draw screen's stylesheet itself.
    CSS_PATH: ClassVar[CSSPathType | None] = [str(Path(__file__).parent.parent / "app.tcss"),
                                              DrawScreen.CSS_PATH]
    TITLE = "mnist-tui draw"

    def __init__(self, run_dir: Path, *, data_path: str | Path | None = None,
                 theme: str | None = None) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.data_path = data_path
        self.requested_theme = theme
        self.theme_errors = register_themes(self)

    def get_default_screen(self) -> Screen[Any]:
        """The draw screen."""
        return DrawScreen(self.run_dir, data_path=self.data_path)

    def on_mount(self) -> None:
        """Pick the theme (a --theme, else the remembered one) and report broken files."""
        use_start_theme(self, self.requested_theme, self.theme_errors)
        watch_size(self)

    def on_resize(self, event: events.Resize) -> None:
        """Say so, in place of the screen, when the terminal is too small for it."""
        guard_size(self.screen, event.size.width, event.size.height)
