"""The run the app shows, as state: events into the UI thread, folded into a history.

`session` (the run on screen), `messages` (events into the UI thread), `history` (the fold
the screens draw from) with `series` (bounded chart series), and `watching` (following a
run folder with the same fold).
"""
