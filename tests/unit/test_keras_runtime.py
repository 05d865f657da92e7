"""The defaults set before TensorFlow loads: oneDNN's kernels on x86, a user's value kept."""

from __future__ import annotations

import os
import platform

import pytest

from mnist_tui.training import keras_runtime

ONEDNN = "TF_ENABLE_ONEDNN_OPTS"


@pytest.mark.parametrize("machine", ["x86_64", "AMD64"])
def test_onednn_kernels_are_asked_for_on_x86(monkeypatch, machine):
    monkeypatch.delenv(ONEDNN, raising=False)
    monkeypatch.setattr(platform, "machine", lambda: machine)
    keras_runtime.fast_kernels()
    assert os.environ[ONEDNN] == "1"


def test_a_users_choice_of_kernels_wins(monkeypatch):
    monkeypatch.setenv(ONEDNN, "0")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    keras_runtime.fast_kernels()
    assert os.environ[ONEDNN] == "0"


def test_other_processors_keep_tensorflows_own_choice(monkeypatch):
    monkeypatch.delenv(ONEDNN, raising=False)
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    keras_runtime.fast_kernels()
    assert ONEDNN not in os.environ
