"""The app's screens and dialogs, each with its stylesheet (`*.tcss`, read when first shown).

The form, the monitor, the summary (and `summary_text`, the summary as text left after the
app), the runs list, the comparison of runs, the draw screen, and the dialogs.
"""
