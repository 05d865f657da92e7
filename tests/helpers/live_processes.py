"""Real processes for the tests: a pseudo-terminal to run one in, and a polling wait.

`Terminal` gives the process a real terminal as its controlling one, in a session of its own,
so closing the terminal hangs it up as a dropped SSH connection or a killed tmux session does.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Sequence

WAIT_SECONDS = 180.0  # a safety net against a hang, never a measure of speed
# Run in the child: take the pseudo-terminal on fd 0 as the controlling terminal of the new
# session, take SIGHUP back to its default (as a shell in a terminal starts a program, even when
# the tests themselves run under nohup, whose ignored SIGHUP would outlive exec), then become
# `python -m mnist_tui ...`.
TAKE_TERMINAL = ("import fcntl, os, signal, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
                 "signal.signal(signal.SIGHUP, signal.SIG_DFL); "
                 "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")
# The same without taking the terminal (as `setsid` or a container's exec starts a program):
# when the terminal goes, the kernel sends this process no SIGHUP.
NOT_CONTROLLING = ("import os, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_DFL); "
                   "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


def wait_until(predicate: Callable[[], object], what: str) -> None:
    """Poll `predicate` until it holds; fail after WAIT_SECONDS (a hang, not slowness)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting until {what}")
        time.sleep(0.05)


class Terminal:
    """A process in a real pseudo-terminal, which is its controlling terminal (unless
    `controlling` is False).

    The master side is read all the time (as a terminal emulator does), so the app never
    blocks on a full terminal; `hang_up()` closes it, and the kernel hangs the terminal up.
    """

    def __init__(self, argv: Sequence[str], env: dict[str, str], rows: int = 30,
                 columns: int = 100, *, controlling: bool = True) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        bootstrap = TAKE_TERMINAL if controlling else NOT_CONTROLLING
        self.proc = subprocess.Popen([sys.executable, "-c", bootstrap, *argv],
                                     stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True, env=env)
        os.close(slave)
        self.output = bytearray()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            if select.select([self.master], [], [], 0.05)[0]:
                try:
                    chunk = os.read(self.master, 1 << 16)
                except OSError:  # EIO: the process closed its side for good
                    return
                if not chunk:
                    return
                self.output += chunk

    def wait(self) -> int:
        """The process's exit code, once it has exited and all it wrote has been read."""
        code = self.proc.wait(WAIT_SECONDS)
        self._reader.join(WAIT_SECONDS)
        return code

    def hang_up(self) -> None:
        """Close the terminal, as a dropped connection does."""
        self._stop.set()
        self._reader.join()
        os.close(self.master)
        self.master = -1

    def close(self) -> None:
        """Hang up if still open; kill the process if it is still there."""
        if self.master >= 0:
            self.hang_up()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
