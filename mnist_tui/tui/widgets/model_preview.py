"""The form's model preview: the network's layers and parameters, and the learning rate
over the run as a curve, both for the settings typed so far (or why there is none)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from mnist_tui.core.config import TrainConfig
from mnist_tui.training.model import TABLE_HEADERS, preview_model
from mnist_tui.training.schedules import describe_schedule, rate_curve

STRUCTURE_FIELDS = ("model", "conv1_filters", "conv2_filters", "conv3_filters", "kernel_size",
                    "dense_units", "dropout")
"""Fields that shape the network, i.e. the model preview."""

SCHEDULE_FIELDS = ("learning_rate", "epochs", "batch_size", "train_size", "validation_split",
                   "lr_schedule", "lr_factor", "lr_patience", "lr_floor")
"""Fields that shape the learning rate over the run, i.e. its curve."""

CURVE_WIDTH = 48
"""Characters in the learning-rate curve."""

_LEVELS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """Values as a line of block characters, from 0 (lowest block) to the largest (full)."""
    top = max(values, default=0.0)
    if top <= 0:
        return _LEVELS[0] * len(values)
    last = len(_LEVELS) - 1
    return "".join(_LEVELS[min(last, max(0, round(v / top * last)))] for v in values)


class PreviewPane(Vertical):
    """The model preview and the learning-rate curve beside the form's fields.

    The form mounts it lazily (`textual.lazy.Lazy`): the form's first frame is not held up
    by its table; once mounted it posts `Ready`, and the form fills it with `show`.
    """

    class Ready(Message):
        """The preview pane is mounted: its table and curve can be filled."""

    def compose(self) -> ComposeResult:
        """The parameter count, the layer table, the curve's title and the curve."""
        yield Static("", id="param-count", classes="section-title", markup=False)
        table: DataTable[str] = DataTable(id="preview", cursor_type="none",
                                          show_cursor=False, zebra_stripes=True)
        table.can_focus = False
        yield table
        yield Static("", id="lr-curve-title", classes="section-title", markup=False)
        yield Static("", id="lr-curve", markup=False)

    def on_mount(self) -> None:
        """Set the table's columns and tell the form the pane is there."""
        self.query_one("#preview", DataTable).add_columns(*TABLE_HEADERS)
        self.post_message(self.Ready())

    def show(self, config: TrainConfig, errors: dict[str, str]) -> None:
        """Preview `config`, or say which of `errors` (field → message) prevents it."""
        self._show_model(config, errors)
        self._show_curve(config, errors)

    def _show_curve(self, config: TrainConfig, errors: dict[str, str]) -> None:
        title = self.query_one("#lr-curve-title", Static)
        curve = self.query_one("#lr-curve", Static)
        problems = [errors[name] for name in SCHEDULE_FIELDS if name in errors]
        title.set_class(bool(problems), "-invalid")
        if problems:
            title.update(f"Learning rate: no curve ({problems[0]})")
            curve.update("")
            return
        title.update(f"Learning rate: {describe_schedule(config)}")
        curve.update(sparkline(rate_curve(config, CURVE_WIDTH)))

    def _show_model(self, config: TrainConfig, errors: dict[str, str]) -> None:
        table = self.query_one("#preview", DataTable)
        count = self.query_one("#param-count", Static)
        table.clear()
        problems = [errors[name] for name in STRUCTURE_FIELDS if name in errors]
        if problems:
            count.update(f"Model: no preview ({problems[0]})")
            count.add_class("-invalid")
            return
        try:
            preview = preview_model(config)
        except ValueError as exc:
            count.update(f"Model: no preview ({exc})")
            count.add_class("-invalid")
            return
        for row in preview.table():
            table.add_row(*row)
        count.update(f"Model: {preview.total_text} parameters")
        count.remove_class("-invalid")
