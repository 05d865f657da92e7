"""System load samples: the process's and the machine's CPU, memory, and the GPU's.

`LoadHook` is a `batch_metrics.FitHook`: between two calls into TensorFlow it emits a
`SystemLoad` event at most once every `interval` seconds, and `sample_now` one at once (the
trainer and `MonitorCallback` call it at a run's start and end). A sample reads a few
`/proc` files through psutil (about 0.1 ms). Every reading is guarded: a figure that cannot
be read is 0 or None, and never stops the training.

The GPU figures come only from a TensorFlow that the program has imported and trains with
(this module never imports it): the memory TensorFlow holds on its first GPU, and, when the
`pynvml` package can talk to the driver, that GPU's utilisation and total memory.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from mnist_tui.core import environment
from mnist_tui.core.events import Emit, SystemLoad
from mnist_tui.training.batch_metrics import FitState

LOAD_SECONDS = 1.0  # at most one `SystemLoad` event a second
CPU_DIGITS = 1  # decimals kept of the CPU percentages


def _psutil() -> Any:
    """The psutil module, or None where it cannot be imported."""
    try:
        import psutil
    except Exception:
        return None
    return psutil


def peak_rss() -> int:
    """The process's peak resident memory so far, in bytes, from the OS (0 if unknown)."""
    try:
        import resource

        peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    except Exception:  # no `resource` module (Windows), or a failing call
        return 0
    return peak if sys.platform == "darwin" else peak * 1024  # macOS: bytes; Linux: KiB


def _tensorflow() -> Any:
    """TensorFlow, when this program has imported it and Keras (if imported) trains with it;
    else None. Never imports it: that would cost seconds, and on another backend could
    take the GPU's memory."""
    tf = sys.modules.get("tensorflow")
    keras = sys.modules.get("keras")
    if tf is None:
        return None
    try:
        if keras is not None and keras.config.backend() != "tensorflow":
            return None
    except Exception:
        return None
    return tf


def _nvml_index() -> int:
    """The NVML index of TensorFlow's GPU:0: the first of `CUDA_VISIBLE_DEVICES` when it
    lists numbers, else 0."""
    return environment.first_visible_gpu()


class GpuReader:
    """Reads TensorFlow's first GPU: memory in use (TensorFlow's), utilisation and total
    memory (NVML's). Each figure is None when it cannot be read; a source that fails once
    is not asked again."""

    def __init__(self) -> None:
        self._tf: Any = None
        self._checked = False  # whether TensorFlow's GPUs were looked for
        self._nvml: Any = None
        self._handle: Any = None
        self.total: int | None = None  # bytes, from NVML

    def _active(self) -> bool:
        """Whether TensorFlow trains on a GPU (found out once)."""
        if not self._checked:
            self._checked = True
            tf = _tensorflow()
            try:
                if tf is not None and tf.config.list_logical_devices("GPU"):
                    self._tf = tf
                    self._start_nvml()
            except Exception:
                self._tf = None
        return self._tf is not None

    def _start_nvml(self) -> None:
        """Open NVML on TensorFlow's GPU:0, if the pynvml package and a driver are there."""
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(_nvml_index())
            self.total = int(pynvml.nvmlDeviceGetMemoryInfo(handle).total)
            self._nvml, self._handle = pynvml, handle
        except Exception:
            self._nvml = self._handle = None

    def read(self) -> tuple[float | None, int | None, int | None]:
        """(utilisation percent, memory in use in bytes, total memory in bytes)."""
        if not self._active():
            return None, None, None
        memory: int | None = None
        try:
            memory = int(self._tf.config.experimental.get_memory_info("GPU:0")["current"])
        except Exception:
            memory = None
        utilization: float | None = None
        if self._nvml is not None:
            try:
                utilization = float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
            except Exception:
                self._nvml = None
        return utilization, memory, self.total


class LoadHook:
    """A `FitHook` that emits a `SystemLoad` sample at most every `interval` seconds.

    `clock` (monotonic seconds) is for tests. `peak_memory` is the most resident memory the
    process has held, in bytes: the OS's own peak, and at least every sample's.
    """

    def __init__(self, emit: Emit, interval: float = LOAD_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.emit = emit
        self.interval = interval
        self.peak_memory = 0  # bytes: the most resident memory seen
        self.samples = 0  # events emitted
        self._clock = clock
        self._last: float | None = None  # when the last sample was taken
        self._psutil = _psutil()
        self._process: Any = None
        self._cpus = 1
        self._gpu = GpuReader()
        try:
            if self._psutil is not None:
                self._process = self._psutil.Process()
                self._process.cpu_percent(None)  # the first call only starts the count
                self._psutil.cpu_percent(None)
                self._cpus = int(self._psutil.cpu_count() or 1)
        except Exception:
            self._process = None
        if self._cpus <= 1:
            self._cpus = max(os.cpu_count() or 1, 1)

    def after_execution(self, fit: FitState) -> None:
        """Sample and emit when `interval` has gone by since the last sample."""
        now = self._clock()
        if self._last is None or now - self._last >= self.interval:
            self._sample(now)

    def epoch_end(self, fit: FitState) -> None:
        """Nothing more at an epoch end."""

    def sample_now(self) -> None:
        """Emit a sample now (at the start and the end of a run)."""
        self._sample(self._clock())

    def sample(self) -> SystemLoad:
        """A sample of the load now (also raising `peak_memory`), without emitting it."""
        process_cpu = machine_cpu = 0.0
        memory = 0
        process, psutil = self._process, self._psutil
        if process is not None:
            with contextlib.suppress(Exception):
                process_cpu = float(process.cpu_percent(None))
            with contextlib.suppress(Exception):
                memory = int(process.memory_info().rss)
        if psutil is not None:
            with contextlib.suppress(Exception):
                machine_cpu = float(psutil.cpu_percent(None))
        self.peak_memory = max(self.peak_memory, memory, peak_rss())
        utilization, gpu_memory, gpu_total = self._gpu.read()
        return SystemLoad(process_cpu=round(process_cpu, CPU_DIGITS),
                          machine_cpu=round(machine_cpu, CPU_DIGITS), cpus=self._cpus,
                          memory=memory, peak_memory=self.peak_memory,
                          gpu_utilization=utilization, gpu_memory=gpu_memory,
                          gpu_memory_total=gpu_total)

    def _sample(self, now: float) -> None:
        """Take a sample and emit it, noting when."""
        self._last = now
        self.samples += 1
        self.emit(self.sample())
