"""RunControl: stop and pause requests from one thread, seen by the training thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from mnist_tui.core import control as control_module
from mnist_tui.core.control import RunControl

JOIN_SECONDS = 10.0  # only a safety net so a broken control fails instead of hanging


class FakeClock:
    """Stands in for `time.perf_counter`; says when the waiting thread has started to wait.

    `wait_if_paused` reads the clock just before it blocks and again when it wakes, so the
    first read of each pair means "the trainer is now waiting" and the waits last exactly the
    given number of seconds.
    """

    def __init__(self, waits: list[float]) -> None:
        self._readings: Iterator[float] = iter(self._times(waits))
        self._reads = 0
        self._lock = threading.Lock()
        self.waiting = threading.Event()

    @staticmethod
    def _times(waits: list[float]) -> list[float]:
        times, now = [], 100.0
        for wait in waits:
            times += [now, now + wait]
            now += wait + 1.0
        return times

    def __call__(self) -> float:
        with self._lock:
            self._reads += 1
            if self._reads % 2 == 1:
                self.waiting.set()
            return next(self._readings)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock([2.5, 1.5])
    # Replace the module's `time`, not `time.perf_counter` itself, which others use too.
    monkeypatch.setattr(control_module, "time", SimpleNamespace(perf_counter=fake))
    return fake


def wait_in_thread(control: RunControl, results: list[float]) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(control.wait_if_paused()),
                              daemon=True)
    thread.start()
    return thread


def test_fresh_control_runs() -> None:
    control = RunControl()
    assert not control.paused
    assert not control.stop_requested
    assert control.reason == ""
    assert control.paused_seconds == 0.0
    assert control.wait_if_paused() == 0.0


def test_pause_resume() -> None:
    control = RunControl()
    control.pause()
    assert control.paused
    control.resume()
    assert not control.paused
    control.resume()  # resuming a running run changes nothing
    assert not control.paused


def test_resume_unblocks_the_training_thread(clock: FakeClock) -> None:
    control = RunControl()
    control.pause()
    results: list[float] = []
    thread = wait_in_thread(control, results)
    assert clock.waiting.wait(JOIN_SECONDS)
    assert thread.is_alive(), "a paused run must wait"
    control.resume()
    thread.join(JOIN_SECONDS)
    assert not thread.is_alive()
    assert results == [2.5]


def test_stop_while_paused_unblocks_the_training_thread(clock: FakeClock) -> None:
    control = RunControl()
    control.pause()
    results: list[float] = []
    thread = wait_in_thread(control, results)
    assert clock.waiting.wait(JOIN_SECONDS)
    control.stop("stopped by user")
    thread.join(JOIN_SECONDS)
    assert not thread.is_alive(), "stop must end a pause"
    assert results == [2.5]
    assert control.stop_requested
    assert not control.paused


def test_paused_seconds_accumulate(clock: FakeClock) -> None:
    control = RunControl()
    waits: list[float] = []
    for _ in range(2):
        clock.waiting.clear()
        control.pause()
        thread = wait_in_thread(control, waits)
        assert clock.waiting.wait(JOIN_SECONDS)
        control.resume()
        thread.join(JOIN_SECONDS)
        assert not thread.is_alive()
    assert waits == [2.5, 1.5]
    assert control.paused_seconds == 4.0
    assert control.wait_if_paused() == 0.0  # not paused: no wait, nothing added
    assert control.paused_seconds == 4.0


def test_stop_reason_is_the_first() -> None:
    control = RunControl()
    control.stop("interrupted (Ctrl+C)")
    control.stop("stopped by user")
    assert control.stop_requested
    assert control.reason == "interrupted (Ctrl+C)"


def test_abandon_stops_and_skips_the_end_only_when_it_comes_first() -> None:
    """A pruned trial is abandoned (no test evaluation, no model); a run stopped by its user
    first keeps its evaluation even if the pruner speaks after."""
    pruned = RunControl()
    assert not pruned.abandoned
    pruned.abandon("pruned at 25% of epoch 1")
    assert pruned.stop_requested and pruned.abandoned
    assert pruned.reason == "pruned at 25% of epoch 1"
    stopped = RunControl()
    stopped.stop("stopped by user")
    stopped.abandon("pruned at 50% of epoch 1")
    assert stopped.stop_requested and not stopped.abandoned
    assert stopped.reason == "stopped by user"


def test_default_stop_reason() -> None:
    control = RunControl()
    control.stop()
    assert control.reason == "stopped by user"


def test_pause_after_stop_is_ignored() -> None:
    control = RunControl()
    control.stop()
    control.pause()
    assert not control.paused
    assert control.wait_if_paused() == 0.0


def test_stop_racing_a_pause_never_leaves_the_run_paused() -> None:
    """A stop that lands between pause()'s check and its clear must still win.

    The stop is made, from another thread, at the moment pause() looks at the stop flag.
    """
    control = RunControl()
    stopper: list[threading.Thread] = []
    real_is_set = control._stop.is_set

    def is_set_then_stop() -> bool:
        answer = real_is_set()
        if not stopper:
            thread = threading.Thread(target=control.stop, daemon=True)
            stopper.append(thread)
            thread.start()
            # Gives the stop every chance to land now; a correct pause() holds it off.
            thread.join(0.2)
        return answer

    control._stop.is_set = is_set_then_stop  # type: ignore[method-assign]
    control.pause()
    stopper[0].join(JOIN_SECONDS)
    assert real_is_set()
    assert not control.paused
    assert control.wait_if_paused() == 0.0


def test_both_controls_are_controllers(tmp_path) -> None:
    """Screens hold a `Controller`: the in-process control and a watcher's remote one."""
    from mnist_tui.core.control import Controller
    from mnist_tui.runs.channel import RemoteControl

    assert isinstance(RunControl(), Controller)
    assert isinstance(RemoteControl(tmp_path), Controller)
