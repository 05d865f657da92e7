"""The `precision` setting: bfloat16 policies per model, `auto` by hardware, runs that say so."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mnist_tui.core.config import TrainConfig, load_toml, parse_values
from mnist_tui.core.event_json import event_from_json
from mnist_tui.core.events import RunStarted
from mnist_tui.training import precision
from mnist_tui.training.data import MnistData
from mnist_tui.training.keras_runtime import import_keras
from mnist_tui.training.precision import cpu_flags, cpu_has_bf16, keras_policy, resolve_precision
from mnist_tui.training.trainer import Trainer
from tests.helpers.trainer_runs import collect_run

INTEL_AMX = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""
AMD_ZEN4 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16\n"
OLD_XEON = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_vnni\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sha1 sha2 crc32 atomics\n"


def test_cpu_flags_are_read_from_cpuinfo_text() -> None:
    assert {"amx_bf16", "avx512_bf16", "fpu"} <= cpu_flags(INTEL_AMX)
    assert "asimd" in cpu_flags(ARM)
    assert cpu_flags("") == frozenset()


@pytest.mark.parametrize(("cpuinfo", "fast"), [
    (INTEL_AMX, True), (AMD_ZEN4, True), (OLD_XEON, False), (ARM, False), ("", False),
])
def test_cpu_bf16_needs_amx_or_avx512_bf16(cpuinfo: str, fast: bool) -> None:
    assert cpu_has_bf16(cpuinfo) is fast


@pytest.mark.parametrize(("cpuinfo", "expected"), [
    (OLD_XEON, "float32"), (ARM, "float32"), (INTEL_AMX, "bfloat16"), (AMD_ZEN4, "bfloat16"),
])
def test_auto_on_a_cpu_follows_its_flags(cpuinfo: str, expected: str) -> None:
    assert resolve_precision("auto", cpuinfo=cpuinfo, gpus=[]) == expected


@pytest.mark.parametrize(("gpus", "expected"), [
    ([(8, 0)], "bfloat16"), ([(9, 0), (8, 6)], "bfloat16"), ([(7, 5)], "float32"),
    ([(8, 0), (7, 0)], "float32"), ([(0, 0)], "float32"),
])
def test_auto_with_gpus_follows_their_compute_capability(gpus: list[tuple[int, int]],
                                                         expected: str) -> None:
    # The GPUs train, so the CPU's flags do not count.
    assert resolve_precision("auto", cpuinfo=INTEL_AMX, gpus=gpus) == expected


def test_auto_reads_proc_cpuinfo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "cpuinfo"
    fake.write_text(OLD_XEON)
    monkeypatch.setattr(precision, "CPUINFO", fake)
    assert resolve_precision("auto", gpus=[]) == "float32"
    fake.write_text(INTEL_AMX)
    assert resolve_precision("auto", gpus=[]) == "bfloat16"
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "missing")
    assert resolve_precision("auto", gpus=[]) == "float32"


def test_explicit_precisions_are_kept_whatever_the_hardware() -> None:
    assert resolve_precision("float32", cpuinfo=INTEL_AMX, gpus=[(9, 0)]) == "float32"
    assert resolve_precision("bfloat16", cpuinfo=OLD_XEON, gpus=[]) == "bfloat16"


def test_bad_precisions_are_refused() -> None:
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16, auto"):
        resolve_precision("float16", gpus=[])
    with pytest.raises(ValueError, match='resolve "auto" first'):
        keras_policy("auto")
    assert keras_policy("bfloat16") == "mixed_bfloat16"


def test_precision_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('precision = "auto"\n')
    config, errors = parse_values(load_toml(path))
    assert errors == {} and config.precision == "auto"
    assert TrainConfig().precision == "float32", "the seed's run stays float32"


def test_old_run_started_lines_read_without_a_precision() -> None:
    started = RunStarted(run_id="r", config={}, total_batches=1, batches_per_epoch=1, epochs=1,
                         train_samples=1, val_samples=1, test_samples=1, params=1,
                         precision="bfloat16")
    assert event_from_json(started.to_json()) == started
    old = json.loads(started.to_json())
    del old["precision"]
    assert event_from_json(json.dumps(old)).precision == ""  # type: ignore[attr-defined]


@pytest.mark.slow
def test_bfloat16_model_computes_in_bfloat16_on_float32_weights() -> None:
    keras = import_keras()
    from mnist_tui.training.model import build_model

    model = build_model(TrainConfig(), precision="bfloat16")
    *body, dense1, output = model.layers
    assert [layer.name for layer in body] == ["conv1", "pool1", "conv2", "pool2", "conv3",
                                              "flatten"]
    assert [layer.compute_dtype for layer in body] == ["bfloat16"] * len(body)
    assert {layer.dtype_policy.name for layer in body} == {"mixed_bfloat16"}
    for head in (dense1, output):  # dense1: see build_model
        assert head.compute_dtype == "float32" and head.dtype_policy.name == "float32"
    assert {w.dtype for w in model.weights} == {"float32"}
    probs = model.predict(np.random.default_rng(0).random((4, 28, 28, 1), np.float32),
                          verbose=0)
    assert probs.dtype == np.float32
    assert probs.sum(axis=1) == pytest.approx(np.ones(4), abs=1e-5)
    # Per model, not process-wide: the global policy and the next model are float32.
    assert keras.config.dtype_policy().name == "float32"
    plain = build_model(TrainConfig())
    assert {layer.compute_dtype for layer in plain.layers} == {"float32"}
    dense = build_model(TrainConfig(model="dense"), precision="bfloat16")
    assert [layer.compute_dtype for layer in dense.layers] == ["bfloat16", "bfloat16",
                                                               "float32"]


@pytest.mark.slow
def test_a_bfloat16_run_trains_and_says_so(small_mnist: MnistData, tmp_path: Path) -> None:
    config = TrainConfig(train_size=3000, epochs=2, seed=0, precision="bfloat16")
    events, summary = collect_run(Trainer(data=small_mnist, run_dir=tmp_path), config)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.precision == "bfloat16" and summary["precision"] == "bfloat16"
    assert summary["status"] == "finished"
    assert summary["test_accuracy"] is not None and summary["test_accuracy"] > 0.6
    keras = import_keras()
    saved = keras.saving.load_model(tmp_path / "model.keras")
    assert saved.get_layer("conv1").compute_dtype == "bfloat16"
    assert saved.get_layer("output").compute_dtype == "float32"


@pytest.mark.slow
def test_auto_resolves_before_the_run_starts(small_mnist: MnistData,
                                             monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    fake = tmp_path / "cpuinfo"
    fake.write_text(OLD_XEON)
    monkeypatch.setattr(precision, "CPUINFO", fake)
    monkeypatch.setattr(precision, "gpu_capabilities", list)
    config = TrainConfig(train_size=300, batch_size=100, seed=0, precision="auto")
    events, summary = collect_run(Trainer(data=small_mnist), config)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.precision == summary["precision"] == "float32"
    assert started.config["precision"] == "auto", "the config keeps what was asked"


def test_the_monitor_header_names_the_precision() -> None:
    from mnist_tui.tui.screens.monitor import MonitorScreen
    from mnist_tui.tui.state.history import TrainingHistory

    def header(precision: str) -> str:
        history = TrainingHistory()
        history.fold(RunStarted(run_id="r1", config={"model": "cnn"}, total_batches=10,
                                batches_per_epoch=10, epochs=1, train_samples=640,
                                val_samples=100, test_samples=10, params=33_194,
                                devices=("/device:CPU:0",), precision=precision))
        return MonitorScreen(history).info_text()

    assert "· CPU:0 · bfloat16 ·" in header("bfloat16")
    assert "float32" not in header("") and "· CPU:0 ·" in header("")


def _benchmark(module: str) -> Any:
    """A module of benchmarks/ (not a package), imported by name."""
    folder = str(Path(__file__).resolve().parents[2] / "benchmarks")
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(folder)


def test_speed_kinds_take_a_precision_and_steps() -> None:
    parse_kind = _benchmark("speed").parse_kind
    assert parse_kind("trainer") == ("trainer", None, "float32")
    assert parse_kind("trainer@1") == ("trainer", 1, "float32")
    assert parse_kind("trainer@bf16") == ("trainer", None, "bfloat16")
    assert parse_kind("trainer@bf16@4") == ("trainer", 4, "bfloat16")
    assert parse_kind("torch@bf16") == ("torch", None, "bfloat16")
    assert parse_kind("keras@auto") == ("keras", None, "auto")
    for bad, phrase in (("torch@4", "unknown suffix '4'"), ("torch@auto", "'auto'"),
                        ("trainer@0", "unknown suffix '0'"), ("trainer@fp16", "'fp16'"),
                        ("jax@bf16", "unknown kind 'jax'")):
        with pytest.raises(ValueError, match=phrase):
            parse_kind(bad)


def test_the_pytorch_loop_trains_under_bfloat16_autocast(small_mnist: MnistData) -> None:
    pytest.importorskip("torch")
    train_torch = _benchmark("torch_reference").train_torch
    config = TrainConfig(train_size=3000, seed=0, precision="bfloat16")
    result = train_torch(config, small_mnist, threads=1)
    assert result["bf16"] is True and result["test_accuracy"] > 0.6
    with pytest.raises(ValueError, match="float32 or bfloat16"):
        train_torch(TrainConfig(precision="auto"), small_mnist)
