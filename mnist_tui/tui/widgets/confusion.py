"""The confusion matrix of a test evaluation, with per-class accuracy, coloured by the theme.

Rows are the true digit, columns the predicted one. The diagonal (right answers) is drawn in the
theme's success colour; off-diagonal cells with errors are shaded towards the error colour, the
more errors the stronger, so the common confusions (4 taken for 9, 7 for 2...) stand out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.color import Color

from mnist_tui.tui.theming import ThemeAware, theme_color

CELL_WIDTH = 5
LABEL_WIDTH = 5
ACCURACY_WIDTH = 8
_FOREGROUND = Color(224, 224, 224)
_BACKGROUND = Color(0, 0, 0)
_SUCCESS = Color(78, 191, 113)
_ERROR = Color(186, 60, 91)
_WARNING = Color(255, 166, 43)


@dataclass(frozen=True)
class MatrixColours:
    """The colours a confusion matrix is drawn with (taken from a theme)."""

    foreground: Color = _FOREGROUND
    background: Color = _BACKGROUND
    success: Color = _SUCCESS
    error: Color = _ERROR
    warning: Color = _WARNING


def per_class_from_confusion(confusion: Sequence[Sequence[int]]) -> tuple[float | None, ...]:
    """Each true class's accuracy (diagonal / row total); None for a class with no samples."""
    result: list[float | None] = []
    for i, row in enumerate(confusion):
        total = sum(row)
        result.append(row[i] / total if total else None)
    return tuple(result)


def render_confusion(confusion: Sequence[Sequence[int]],
                     per_class_accuracy: Sequence[float | None] | None = None,
                     colours: MatrixColours | None = None) -> Text:
    """Draw the matrix as text: a header row of predicted digits, then one row per true digit
    with its counts and its accuracy. Raises ValueError unless the matrix is square."""
    size = len(confusion)
    if any(len(row) != size for row in confusion):
        raise ValueError("a confusion matrix must be square")
    colours = colours or MatrixColours()
    if not per_class_accuracy or len(per_class_accuracy) != size:
        per_class_accuracy = per_class_from_confusion(confusion)
    paper, ink = colours.background, colours.foreground
    muted = Style(color=paper.blend(ink, 0.45).rich_color)
    header = Style(color=ink.rich_color, bold=True)
    diagonal = Style(color=colours.success.rich_color, bgcolor=paper.blend(
        colours.success, 0.18).rich_color, bold=True)
    worst_off = max((confusion[t][p] for t in range(size) for p in range(size) if t != p),
                    default=0)
    known = [a for a in per_class_accuracy if a is not None]
    worst_accuracy = min(known) if known and min(known) < max(known) else None

    text = Text(no_wrap=True, end="", overflow="crop")
    text.append("t╲p".ljust(LABEL_WIDTH), muted)
    for p in range(size):
        text.append(f"{p:>{CELL_WIDTH - 1}} ", header)
    text.append(f"{'acc':>{ACCURACY_WIDTH - 1}} ", header)
    for t in range(size):
        text.append("\n")
        text.append(f"{t:>3}  ", header)
        for p in range(size):
            count = int(confusion[t][p])
            cell = f"{count:>{CELL_WIDTH - 1}} "
            if t == p:
                text.append(cell, diagonal)
            elif count == 0:
                text.append(f"{'·':>{CELL_WIDTH - 1}} ", muted)
            else:
                # at least 30% of the error colour, so a single error is still visible
                strength = 1.0 if count >= worst_off else 0.3 + 0.7 * count / worst_off
                shade = paper.blend(colours.error, strength)
                text.append(cell, Style(color=shade.get_contrast_text(1.0).rich_color,
                                        bgcolor=shade.rich_color, bold=True))
        accuracy = per_class_accuracy[t]
        if accuracy is None:
            text.append(f"{'—':>{ACCURACY_WIDTH - 1}} ", muted)
        else:
            worst = worst_accuracy is not None and accuracy == worst_accuracy
            style = Style(color=colours.warning.rich_color, bold=True) if worst else Style(
                color=ink.rich_color)
            text.append(f"{accuracy * 100:>{ACCURACY_WIDTH - 2}.1f}% ", style)
    return text


class ConfusionMatrix(ThemeAware):
    """A 10x10 confusion matrix (rows: true digit, columns: predicted) with per-class accuracy.

    Its colours follow the app's theme and are redrawn when the theme changes.
    """

    DEFAULT_CSS = """
    ConfusionMatrix {
        width: auto;
        height: auto;
    }
    """

    def __init__(self, confusion: Sequence[Sequence[int]],
                 per_class_accuracy: Sequence[float | None] | None = None, *,
                 name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.confusion = tuple(tuple(int(c) for c in row) for row in confusion)
        self.per_class_accuracy = (tuple(per_class_accuracy) if per_class_accuracy
                                   else per_class_from_confusion(self.confusion))

    def apply_theme(self) -> None:
        """Redraw: the colours come from the theme."""
        self.refresh(layout=True)

    def theme_colours(self) -> MatrixColours:
        """The current theme's colours for the matrix."""
        dark = self.app.current_theme.dark
        default = MatrixColours() if dark else MatrixColours(foreground=Color(0, 0, 0),
                                                             background=Color(255, 255, 255))
        return MatrixColours(
            foreground=theme_color(self.app, "foreground", default.foreground),
            background=theme_color(self.app, "background", default.background),
            success=theme_color(self.app, "success", default.success),
            error=theme_color(self.app, "error", default.error),
            warning=theme_color(self.app, "warning", default.warning),
        )

    def render(self) -> Text:
        """The matrix in the current theme's colours."""
        return render_confusion(self.confusion, self.per_class_accuracy, self.theme_colours())
