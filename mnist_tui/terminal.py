"""The terminal the app draws on: who may write to it, and whether there is one.

Textual draws on `sys.__stderr__` and reads the terminal's size from stdout; TensorFlow's C++
code writes its log lines to file descriptor 2. These context managers keep the two apart
while the UI runs, and let `mnist-tui > file` draw on the terminal and print its summary into
the file.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


@contextlib.contextmanager
def stray_output_to(log_path: Path) -> Iterator[None]:
    """Send what C++ libraries write to file descriptor 2 into `log_path` while the UI runs.

    Textual draws on `sys.__stderr__`; it gets a private duplicate of the terminal, so
    TensorFlow's log lines can never land on the screen.
    """
    from mnist_tui.runs.signals import TerminalWriter

    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved_fd = os.dup(2)
    encoding = getattr(sys.__stderr__, "encoding", None) or "utf-8"
    ui_stream = TerminalWriter.on(os.dup(2), encoding)  # survives a hang-up (see signals)
    old_dunder, old_stderr = sys.__stderr__, sys.stderr
    with open(log_path, "a", encoding="utf-8") as log:
        os.dup2(log.fileno(), 2)
        # typeshed makes sys.__stderr__ Final; Textual draws on it, so it must move too.
        sys.__stderr__ = sys.stderr = ui_stream  # type: ignore[misc]
        try:
            yield
        finally:
            ui_stream.flush()
            sys.__stderr__, sys.stderr = old_dunder, old_stderr  # type: ignore[misc]
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            ui_stream.close()


@contextlib.contextmanager
def terminal_on_stdout() -> Iterator[None]:
    """Point file descriptor 1 at the terminal while the UI runs, if stdout is redirected.

    Textual reads the terminal's size from stdout; `mnist-tui > file` would otherwise draw an
    80x24 screen on any terminal. Afterwards stdout goes back to the file, which then gets the
    plain-text summary.
    """
    if is_terminal(sys.__stdout__):
        yield
        return
    sys.stdout.flush()
    saved_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)


def is_terminal(stream: TextIO | None) -> bool:
    """Whether `stream` is open on a terminal (None: Python started without that stream)."""
    return stream is not None and stream.isatty()


WEB_DRIVER = "textual.drivers.web_driver:WebDriver"
"""The Textual driver textual-serve names in $TEXTUAL_DRIVER for the apps it starts."""


def served_to_browser() -> bool:
    """Whether this process is an app that textual-serve draws in a browser tab (`mnist-tui
    serve`): stdin and stdout are its pipes to the server, not a terminal."""
    return os.environ.get("TEXTUAL_DRIVER") == WEB_DRIVER


def has_terminal() -> bool:
    """Whether the app can run: keys come from stdin and Textual draws on stderr.

    Standard output may be redirected: the plain-text summary printed at exit goes there.
    """
    return is_terminal(sys.stdin) and is_terminal(sys.__stderr__)
