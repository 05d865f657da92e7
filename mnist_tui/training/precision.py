"""The arithmetic a run trains in: float32, or bfloat16 where the hardware does it fast.

`TrainConfig.precision` is "float32" (the seed's, bit for bit the same as a bare `model.fit`),
"bfloat16" (Keras's `mixed_bfloat16`: weights stay float32, layers compute in bfloat16, the
output layer in float32) or "auto", which `resolve_precision` turns into one of the two: bfloat16
on a GPU of compute capability 8.0 or more (Ampere on), or on a CPU whose flags name
`amx_bf16` or `avx512_bf16` (oneDNN runs bfloat16 convolutions and matrix products natively
there); float32 everywhere else, where bfloat16 would be emulated and slower.

TensorFlow is imported only inside `gpu_capabilities`, the one function that needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mnist_tui.core.fields import PRECISIONS

CPUINFO = Path("/proc/cpuinfo")
CPU_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
"""CPU flags (as Linux names them) of native bfloat16 arithmetic."""
MIN_GPU_CAPABILITY = (8, 0)
"""The compute capability from which NVIDIA GPUs have bfloat16 tensor cores."""
KERAS_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
"""The Keras dtype policy of each resolved precision."""


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags, from `/proc/cpuinfo` (or the given text); empty off Linux."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return frozenset()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return frozenset(flags)


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU does bfloat16 arithmetic natively (AMX or AVX-512 BF16)."""
    return bool(cpu_flags(cpuinfo) & CPU_BF16_FLAGS)


def gpu_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each visible GPU ((0, 0) where TensorFlow does not say)."""
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability") or (0, 0)
        capabilities.append((int(capability[0]), int(capability[1])))
    return capabilities


def resolve_precision(requested: str, *, cpuinfo: str | None = None,
                      gpus: Sequence[tuple[int, int]] | None = None) -> str:
    """The precision a run with `requested` trains in: "float32" or "bfloat16".

    "auto" asks the hardware: the GPUs if there are any (they do the training; every one must
    reach `MIN_GPU_CAPABILITY`), else the CPU's flags. `cpuinfo` and `gpus` stand in for
    `/proc/cpuinfo` and the visible GPUs' capabilities (None: look them up). Raises ValueError
    for a value that is not one of `PRECISIONS`.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        return requested
    if gpus is None:
        gpus = gpu_capabilities()
    if gpus:
        fast = all(tuple(capability) >= MIN_GPU_CAPABILITY for capability in gpus)
    else:
        fast = cpu_has_bf16(cpuinfo)
    return "bfloat16" if fast else "float32"


def keras_policy(precision: str) -> str:
    """The Keras dtype policy name of a resolved precision; ValueError for any other."""
    if precision not in KERAS_POLICIES:
        raise ValueError(f"precision must be float32 or bfloat16 here (resolve \"auto\" "
                         f"first), got {precision!r}")
    return KERAS_POLICIES[precision]
