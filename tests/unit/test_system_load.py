"""System load samples, and the memory figure on the headless progress lines."""

from __future__ import annotations

import base64
import io
import sys
from types import SimpleNamespace
from typing import Any

import pytest

from mnist_tui.core.event_json import event_from_json
from mnist_tui.core.events import BatchEnd, Event, Predictions, RunStarted, ShownDigits, SystemLoad
from mnist_tui.headless import HeadlessConsole
from mnist_tui.training import system_load
from mnist_tui.training.system_load import GpuReader, LoadHook

FIT: Any = SimpleNamespace(model=None, progress=None)  # the hook reads nothing of the fit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_at_most_one_sample_per_interval():
    clock = FakeClock()
    events: list[Event] = []
    hook = LoadHook(events.append, interval=1.0, clock=clock)
    for _ in range(50):  # 50 executions, 0.3 s apart: 15 s
        hook.after_execution(FIT)
        hook.epoch_end(FIT)
        clock.now += 0.3
    # At 0, 1.2, 2.4, ...: the first at once, then the first execution a second after.
    assert len(events) == 13 == hook.samples
    hook.sample_now()
    hook.sample_now()
    assert len(events) == 15, "sample_now always samples"
    assert all(isinstance(e, SystemLoad) for e in events)


def test_a_sample_holds_sane_figures():
    events: list[Event] = []
    hook = LoadHook(events.append)
    sum(i * i for i in range(200_000))  # some CPU time to count
    hook.sample_now()
    [load] = events
    assert isinstance(load, SystemLoad)
    assert load.cpus >= 1 and load.memory > 0
    assert 0.0 <= load.process_cpu <= 100.0 * load.cpus + 1.0
    assert 0.0 <= load.machine_cpu <= 100.0 + 1e-6
    assert load.peak_memory >= load.memory and hook.peak_memory == load.peak_memory
    assert system_load.peak_rss() > 0
    assert load.gpu_memory is None and load.gpu_utilization is None  # no TensorFlow GPU
    assert event_from_json(load.to_json()) == load


class _Failing:
    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise OSError(f"{name} cannot be read")
        return fail


def test_failing_psutil_calls_never_break_training(monkeypatch):
    import psutil

    events: list[Event] = []
    hook = LoadHook(events.append, interval=0.0)
    monkeypatch.setattr(hook, "_process", _Failing())
    monkeypatch.setattr(psutil, "cpu_percent", _Failing().cpu_percent)
    hook.after_execution(FIT)
    [load] = events
    assert (load.process_cpu, load.machine_cpu, load.memory) == (0.0, 0.0, 0)
    assert load.peak_memory > 0, "the OS's own peak is still there"


def test_without_psutil_at_all(monkeypatch):
    monkeypatch.setattr(system_load, "_psutil", lambda: None)
    monkeypatch.setattr(system_load, "peak_rss", lambda: 0)
    events: list[Event] = []
    LoadHook(events.append).sample_now()
    assert events[0].memory == 0 and events[0].cpus >= 1


def test_psutil_failing_when_the_hook_is_made(monkeypatch):
    import psutil

    monkeypatch.setattr(psutil, "Process", _Failing().Process)
    events: list[Event] = []
    LoadHook(events.append).sample_now()
    assert events[0].memory == 0


def _fake_tensorflow(memory: Any) -> Any:
    def get_memory_info(device: str) -> dict[str, int]:
        if isinstance(memory, Exception):
            raise memory
        assert device == "GPU:0"
        return {"current": memory, "peak": memory}

    config = SimpleNamespace(
        list_logical_devices=lambda kind: ["GPU:0"] if kind == "GPU" else [],
        experimental=SimpleNamespace(get_memory_info=get_memory_info))
    return SimpleNamespace(config=config)


def _fake_nvml(fail_utilization: bool = False) -> Any:
    def utilization(handle: Any) -> Any:
        if fail_utilization:
            raise RuntimeError("NVML gone")
        return SimpleNamespace(gpu=87, memory=40)

    return SimpleNamespace(
        nvmlInit=lambda: None, nvmlDeviceGetHandleByIndex=lambda i: ("gpu", i),
        nvmlDeviceGetMemoryInfo=lambda handle: SimpleNamespace(total=80 * 2**30, used=1),
        nvmlDeviceGetUtilizationRates=utilization)


def _keras_on(backend: str) -> Any:
    return SimpleNamespace(config=SimpleNamespace(backend=lambda: backend))


def test_a_tensorflow_gpu_is_read_through_tensorflow_and_nvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", _fake_tensorflow(3 * 2**30))
    monkeypatch.setitem(sys.modules, "keras", _keras_on("tensorflow"))
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    reader = GpuReader()
    assert reader.read() == (87.0, 3 * 2**30, 80 * 2**30)
    assert reader._handle == ("gpu", 2), "TensorFlow's GPU:0 is the first visible one"
    events: list[Event] = []
    LoadHook(events.append).sample_now()
    assert (events[0].gpu_utilization, events[0].gpu_memory) == (87.0, 3 * 2**30)


def test_gpu_figures_that_cannot_be_read_are_none(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", _fake_tensorflow(RuntimeError("no")))
    monkeypatch.setitem(sys.modules, "keras", _keras_on("tensorflow"))
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(fail_utilization=True))
    reader = GpuReader()
    assert reader.read() == (None, None, 80 * 2**30)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    assert GpuReader().read() == (None, None, None)


def test_no_gpu_figures_without_tensorflow_or_on_another_backend(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", _fake_tensorflow(5))
    monkeypatch.setitem(sys.modules, "keras", _keras_on("jax"))
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml())
    assert GpuReader().read() == (None, None, None)
    monkeypatch.delitem(sys.modules, "tensorflow")
    monkeypatch.setitem(sys.modules, "keras", _keras_on("tensorflow"))
    assert GpuReader().read() == (None, None, None)
    assert "tensorflow" not in sys.modules, "never imported for a sample"


# --- headless ------------------------------------------------------------------------------

def _load(memory: int) -> SystemLoad:
    return SystemLoad(process_cpu=150.0, machine_cpu=80.0, cpus=2, memory=memory,
                      peak_memory=memory)


def _started() -> RunStarted:
    return RunStarted(run_id="r", config={"model": "cnn"}, total_batches=10,
                      batches_per_epoch=10, epochs=1, train_samples=640, val_samples=100,
                      test_samples=10, params=1)


def _batch(step: int) -> BatchEnd:
    return BatchEnd(step=step, epoch=1, batch=step, loss=0.5, accuracy=0.9, batch_loss=0.5,
                    batch_accuracy=0.9, seen=64 * step, elapsed=step / 10)


def _live_events() -> list[Event]:
    blank = base64.b64encode(bytes(28 * 28)).decode("ascii")
    shown = ShownDigits(indices=(0,), labels=(7,), pixels=(blank,))
    return [shown, Predictions(step=1, epoch=1, predicted=(7,), confidence=(0.9,))]


def test_plain_progress_lines_show_the_memory_and_nothing_else_new():
    stream = io.StringIO()
    console = HeadlessConsole(stream, interactive=False, interval=0)
    console(_started())
    console(_batch(1))
    for event in [_load(812 * 2**20), *_live_events(), _load(851 * 2**20)]:
        console(event)
    console(_batch(2))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, "a line per batch here (interval 0), none for the others"
    assert not lines[1].endswith("MB"), "no memory figure before the first sample"
    assert lines[2].startswith("epoch 1/1 batch 2/10") and lines[2].endswith(" · 851 MB")


def test_the_progress_bar_shows_the_memory():
    stream = io.StringIO()
    console = HeadlessConsole(stream, interactive=True)
    console(_started())
    for event in [_batch(1), _load(int(1.5 * 2**30)), *_live_events(), _batch(2)]:
        console(event)
    console.stop_bar()
    assert "1.5 GB" in stream.getvalue()
    assert "shown_digits" not in stream.getvalue() and "predictions" not in stream.getvalue()


@pytest.mark.parametrize("event", [_load(1), *_live_events()])
def test_live_events_outside_a_run_print_nothing(event: Event):
    stream = io.StringIO()
    HeadlessConsole(stream, interactive=False)(event)
    assert stream.getvalue() == ""
