"""Keys that several screens share, defined once so that they read the same everywhere."""

from __future__ import annotations

from textual.binding import Binding

QUIT = Binding("q", "app.quit", "Quit")
EDIT_SETTINGS = Binding("e", "app.edit_settings", "Edit settings")
BACK = Binding("escape", "back", "Back")
BACK_Q = Binding("q", "back", "Back", show=False)  # where q would quit, it goes back instead
SMOOTHING = Binding("e", "toggle_smoothing", "Smoothing")
EXPORT = Binding("x", "export", "Export CSV")
