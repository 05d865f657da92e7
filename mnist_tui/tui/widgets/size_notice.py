"""A screen the terminal is too small for says, in one line, the size it needs, and comes
back whole when the terminal grows.

`SizeNotice` covers the screen it is mounted on (docked, above everything, in the theme's
background) while the terminal is smaller than the screen's `MIN_SIZE` (columns, lines;
`DEFAULT_MIN_SIZE` for a screen that names none); `guard_size` mounts it on a screen when
first needed and shows or hides it. Nothing under it changes, so the screen is as it was
when the notice goes.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.screen import Screen
from textual.widgets import Static

DEFAULT_MIN_SIZE = (70, 20)


def min_size(screen: Screen[Any]) -> tuple[int, int]:
    """The smallest terminal (columns, lines) `screen` is drawn whole in."""
    size = getattr(screen, "MIN_SIZE", DEFAULT_MIN_SIZE)
    return (int(size[0]), int(size[1]))


def size_message(width: int, height: int, needed: tuple[int, int]) -> str:
    """The one line that says what the terminal is and what it must be."""
    return f"{width}x{height} is too small: this screen needs {needed[0]}x{needed[1]} or more"


class SizeNotice(Static):
    """The whole screen's cover while the terminal is too small: one line, in the theme's
    warning colour, wrapped if even that line does not fit."""

    SCOPED_CSS = False  # the second rule is the screen's
    DEFAULT_CSS = """
    Screen.-too-small {
        overflow: hidden hidden;
    }
    SizeNotice {
        dock: top;
        width: 100%;
        height: 100%;
        padding: 0 1;
        background: $background;
        color: $text-warning;
        display: none;
    }
    """


def guard_size(screen: Screen[Any], width: int, height: int) -> bool:
    """Cover `screen` with its size notice if a `width` x `height` terminal is too small
    for it, uncover it otherwise; whether it is covered."""
    needed = min_size(screen)
    small = width < needed[0] or height < needed[1]
    notices = screen.query_children(SizeNotice)
    if not small:
        screen.remove_class("-too-small")
        for notice in notices:
            notice.display = False
        return False
    if notices:
        notice = notices.first()
    else:
        notice = SizeNotice(markup=False)
        screen.mount(notice)
    notice.update(size_message(width, height, needed))
    notice.display = True
    screen.add_class("-too-small")  # no scrollbar beside the notice (after its CSS is read)
    return True


def watch_size(app: App[Any]) -> None:
    """Guard every screen `app` shows, as it is shown (the app's `on_resize` calls
    `guard_size` for the one on top when the terminal changes)."""

    def shown(screen: Screen[Any]) -> None:
        app.call_after_refresh(lambda: guard_size(app.screen, *app.size))

    app.screen_change_signal.subscribe(app, shown)
    app.call_after_refresh(lambda: guard_size(app.screen, *app.size))
