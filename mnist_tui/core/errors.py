"""The one error base: a fault a person can fix, with a message that says what and how.

Front ends catch `MnistTuiError` and show `str(error)` as it is (no traceback): a bad
setting, data that cannot be found, a cluster that is misconfigured, a run that does not
exist. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # the run failed, diverged or stopped before its end
EXIT_BAD_INPUT = 2  # a bad setting, flag, data file or run name
EXIT_TERMINATED = 143  # 128 + SIGTERM: stopped cleanly by SIGTERM (the summary says "stopped")


class MnistTuiError(Exception):
    """A fault in what the user gave (settings, data, run names); its text is for them."""

    exit_code = EXIT_BAD_INPUT
