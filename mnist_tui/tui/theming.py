"""Drawing in the app's theme colours: `theme_color` for Rich styles, `ThemeAware` widgets.

Charts, the confusion matrix and the digits draw with Rich styles and plotext colours, which
CSS does not reach; they read the theme's colours here and redraw when the theme changes.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.color import Color, ColorParseError
from textual.events import Mount
from textual.theme import Theme
from textual.widget import Widget


def theme_color(app: App[Any], name: str, fallback: str | Color) -> Color:
    """A colour of the app's current theme (e.g. "error", "success", "background") for Rich styles.

    Falls back when the theme leaves it to the terminal (ANSI themes) or it does not parse.
    """
    variables = app.theme_variables or app.get_css_variables()
    value = variables.get(name)
    if value:
        try:
            colour = Color.parse(value)
        except ColorParseError:
            pass  # e.g. "ansi_default 50%": use the fallback
        else:
            if colour.ansi != -1 and colour.a > 0:
                return colour
    return fallback if isinstance(fallback, Color) else Color.parse(fallback)


class ThemeAware(Widget):
    """A widget whose drawing takes colours from the theme: `apply_theme` runs on a change.

    Mix it in first (`class Chart(ThemeAware, PlotextPlot)`); Textual calls this class's
    mount handler as well as the widget's own.
    """

    def _on_mount(self, event: Mount) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: Theme) -> None:
        self.apply_theme()

    def apply_theme(self) -> None:
        """Redraw in the current theme's colours (by default: refresh)."""
        self.refresh()
