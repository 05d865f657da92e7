"""The monitor's system load line: what the run's process and its machine are doing.

"CPU 187% of 2 cores · machine 96% · memory 812 MB (peak 901 MB) · GPU 88% · 3.0/80 GB",
from the latest `SystemLoad` event. The line stays hidden until the first one comes (a
Keras-callback run, an old log, never sends any); the monitor's progress timer redraws it,
and only when the history holds a new sample.
"""

from __future__ import annotations

from textual.events import Resize
from textual.widgets import Static

from mnist_tui.core.events import SystemLoad
from mnist_tui.core.formatting import finite, format_bytes, format_bytes_of


def _percent(value: float | None) -> str:
    number = finite(value)
    return "—" if number is None else f"{number:.0f}%"


def load_text(load: SystemLoad, peak_memory: int = 0, *, compact: bool = False) -> str:
    """One line of figures from a load sample; `peak_memory` (bytes) if the run knows more.

    `compact` drops words, for a narrow terminal: "CPU 187%/2 · machine 96% · mem 812 MB
    (peak 901 MB) · GPU 88% 3.0/80 GB".
    """
    cores = f"{load.cpus} core{'s' if load.cpus != 1 else ''}"
    peak = max(peak_memory, load.peak_memory, load.memory)
    memory = format_bytes(load.memory)
    if peak > load.memory:
        memory += f" (peak {format_bytes(peak)})"
    if compact:
        parts = [f"CPU {_percent(load.process_cpu)}/{load.cpus}",
                 f"machine {_percent(load.machine_cpu)}", f"mem {memory}"]
    else:
        parts = [f"CPU {_percent(load.process_cpu)} of {cores}",
                 f"machine {_percent(load.machine_cpu)}", f"memory {memory}"]
    gpu: list[str] = []
    if load.gpu_utilization is not None:
        gpu.append(f"GPU {_percent(load.gpu_utilization)}")
    if load.gpu_memory is not None:
        used = format_bytes_of(load.gpu_memory, load.gpu_memory_total)
        gpu.append(used if gpu else f"GPU memory {used}")
    if gpu:
        parts.append((" " if compact else " · ").join(gpu))
    return " · ".join(parts)


class LoadLine(Static):
    """The load line: hidden until `show` gets a first sample; redrawn only on a new one."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes, markup=False)
        self.display = False
        self._sample: SystemLoad | None = None
        self._peak = 0
        self._width = -1

    def show(self, load: SystemLoad | None, peak_memory: int = 0) -> None:
        """Draw `load` if it is a new sample (or the width changed); hide it if None."""
        width = self.size.width
        if load is self._sample and width == self._width:
            return
        self._sample, self._peak, self._width = load, peak_memory, width
        if load is None:
            self.display = False
            return
        text = load_text(load, peak_memory)
        if width and len(text) > width:
            text = load_text(load, peak_memory, compact=True)
        if not self.display:
            self.display = True  # the first sample: a layout pass, once
            self.update(text)
        elif text != self.content:
            self.update(text, layout=False)

    def on_resize(self, event: Resize) -> None:
        """Fit the line to the new width (the compact form when the full one is cut)."""
        if self._sample is not None and event.size.width != self._width:
            self.show(self._sample, self._peak)
