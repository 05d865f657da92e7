"""A `Log` that keeps its latest lines in view, as a terminal does, until you scroll up.

Textual's `Log` follows new lines only while it is scrolled to its end at the moment they
come. The monitor's log changes height while it runs (the load line and the digit strip
appear, a replay writes hundreds of lines before the first layout), which leaves a plain
`Log` stuck part-way. This one remembers whether it was following: scrolling up stops
it, reaching the end again (or `End`) resumes it, and a change of height keeps the end in
view while it follows.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.events import Resize
from textual.widgets import Log


class FollowingLog(Log):
    """A log that stays at its end while it follows (see the module)."""

    following = True
    """Whether new lines and resizes keep the end in view."""

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> FollowingLog:
        """Write lines; while following, show the last of them."""
        super().write_lines(lines, scroll_end=False)
        if self.following if scroll_end is None else scroll_end:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        return self

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Follow again at the end; stop following when scrolled up."""
        super().watch_scroll_y(old_value, new_value)
        if self.is_vertical_scroll_end:
            self.following = True
        elif new_value < old_value:
            self.following = False

    def on_resize(self, event: Resize) -> None:
        """A log that follows keeps its end in view when its height changes."""
        if self.following:
            self.call_after_refresh(self.scroll_end, animate=False, x_axis=False)
