"""What a run's end says to someone in another window: a line of text and the terminal
sequences that carry it (the bell, then desktop notifications).

OSC 9 (iTerm2, Windows Terminal, WezTerm, Ghostty, kitty...) carries one message;
OSC 777 (`notify;title;body`: urxvt, foot, VTE terminals, Ghostty) a title and a body. A
terminal that knows neither ignores them. Inside tmux each goes through tmux's passthrough
(`ESC P tmux; ... ESC \\`, every ESC inside doubled; tmux's `allow-passthrough` lets it out),
and the bell goes to tmux itself, which marks the window and tells the terminal.
"""

from __future__ import annotations

import re

from mnist_tui.core.formatting import format_percent
from mnist_tui.core.summary import RunSummary

BELL = "\a"
ESC = "\x1b"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f;]+")  # controls end a sequence; ";" splits OSC 777


def end_notice(summary: RunSummary) -> tuple[str, str]:
    """The notice of a run's end as (title, body): how it ended, its test accuracy."""
    run = summary.run_id or "the run"
    accuracy = format_percent(summary.test_accuracy, missing="")
    tested = f"test accuracy {accuracy}" if accuracy else "not tested"
    if summary.status == "failed":
        return f"mnist-tui: run {run} failed", summary.reason or "it failed"
    if summary.warning:
        return f"mnist-tui: run {run} diverged", f"{tested} · {summary.warning}"
    if summary.status == "stopped":
        return f"mnist-tui: run {run} stopped", f"{tested} · {summary.reason or 'stopped'}"
    return f"mnist-tui: run {run} finished", tested


def _clean(text: str, limit: int = 200) -> str:
    """`text` safe inside an OSC sequence: no control characters or semicolons, short."""
    return _UNSAFE.sub(" ", text).strip()[:limit]


def _through_tmux(sequence: str) -> str:
    """`sequence` wrapped for tmux's passthrough to the terminal outside it."""
    return f"{ESC}Ptmux;{sequence.replace(ESC, ESC + ESC)}{ESC}\\"


def notice_sequences(title: str, body: str, *, tmux: bool = False) -> str:
    """The bell, then `title` and `body` as an OSC 9 and an OSC 777 notification (each
    ended by BEL, which every terminal that reads them accepts)."""
    title, body = _clean(title), _clean(body)
    notes = [f"{ESC}]9;{title}: {body}{BELL}", f"{ESC}]777;notify;{title};{body}{BELL}"]
    if tmux:
        notes = [_through_tmux(note) for note in notes]
    return BELL + "".join(notes)
