"""What each hyperparameter is: its label, help line, kind of value, limits and choices.

The form draws its fields from `FIELD_SPECS`, the CLI makes its flags from it, and
`parse_field` turns one value as typed, flagged or read from TOML into the field's type,
with a message that says what is wrong and what is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mnist_tui.core.kinds import is_int, is_number

MODELS = ("cnn", "dense")
OPTIMIZERS = ("rmsprop", "adam", "sgd", "adagrad", "adamax", "nadam")
STRATEGIES = ("default", "mirrored", "multi-worker")
PRECISIONS = ("float32", "bfloat16", "auto")
LR_SCHEDULES = ("constant", "cosine", "step", "plateau")
SCHEDULE_SETTINGS: dict[str, tuple[str, ...]] = {
    "constant": (), "cosine": ("lr_floor",), "step": ("lr_factor", "lr_patience"),
    "plateau": ("lr_factor", "lr_patience"),
}
"""The settings each learning-rate schedule uses (see schedules.py); the others are unused."""
MAX_DROPOUT = 0.9
MNIST_TRAIN_IMAGES = 60_000
IMAGE_SIZE = 28
MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 8192
MIN_TRAIN_SIZE = 100
MAX_LEARNING_RATE = 10.0
MAX_FILTERS = 512
MAX_DENSE_UNITS = 4096
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class FieldSpec:
    """How one config field is shown and typed: its label, help line and kind of value."""

    label: str
    help: str
    kind: str  # "int", "float", "choice", "optional_int" or "bool"
    choices: tuple[str, ...] = ()


FIELD_SPECS: dict[str, FieldSpec] = {
    "model": FieldSpec("Model", "cnn: the seed's convnet; dense: flatten → 42 relu → 10",
                       "choice", MODELS),
    "epochs": FieldSpec("Epochs", f"passes over the training images, 1 to {MAX_EPOCHS}", "int"),
    "batch_size": FieldSpec("Batch size", "images per weight update", "int"),
    "learning_rate": FieldSpec("Learning rate", "optimizer step size, > 0 and ≤ 10", "float"),
    "optimizer": FieldSpec("Optimizer", "rule that updates the weights", "choice", OPTIMIZERS),
    "lr_schedule": FieldSpec("LR schedule", "constant; cosine: decays to the floor; step: × "
                             "factor every N epochs; plateau: × factor when val loss stalls",
                             "choice", LR_SCHEDULES),
    "lr_factor": FieldSpec("LR drop factor", "step and plateau: each drop multiplies the rate "
                           "by this, between 0 and 1", "float"),
    "lr_patience": FieldSpec("LR patience", f"step: epochs between drops; plateau: epochs "
                             f"without a better val loss, 1 to {MAX_EPOCHS}", "int"),
    "lr_floor": FieldSpec("LR floor", "cosine: the last rate as a fraction of the learning "
                          "rate, 0 to 1", "float"),
    "early_stopping": FieldSpec("Early stopping", "stop after N epochs without a better val "
                                "loss and keep the best weights; 0: off", "int"),
    "validation_split": FieldSpec("Validation split",
                                  "fraction held out for validation, between 0 and 1", "float"),
    "train_size": FieldSpec("Training images",
                            f"images used from the front of the set, {MIN_TRAIN_SIZE} to "
                            f"{MNIST_TRAIN_IMAGES}", "int"),
    "seed": FieldSpec("Seed", "blank for random; a whole number repeats a run", "optional_int"),
    "conv1_filters": FieldSpec("Conv 1 filters", f"1 to {MAX_FILTERS}", "int"),
    "conv2_filters": FieldSpec("Conv 2 filters", f"1 to {MAX_FILTERS}", "int"),
    "conv3_filters": FieldSpec("Conv 3 filters", f"1 to {MAX_FILTERS}", "int"),
    "kernel_size": FieldSpec("Kernel size", "side of each convolution kernel", "int"),
    "dense_units": FieldSpec("Dense units", f"hidden units before the output, 1 to "
                             f"{MAX_DENSE_UNITS}", "int"),
    "dropout": FieldSpec("Dropout", f"fraction dropped before each dense layer in training, "
                         f"0 to {MAX_DROPOUT:g}; 0: none", "float"),
    "strategy": FieldSpec("Strategy", "default: one device; mirrored: all local GPUs; "
                          "multi-worker: the cluster in $TF_CONFIG", "choice", STRATEGIES),
    "precision": FieldSpec("Precision", "float32: exact; bfloat16: fast on AMX/AVX-512 BF16 "
                           "CPUs, new GPUs; auto: if fast", "choice", PRECISIONS),
    "tensorboard": FieldSpec("TensorBoard", "also write TensorBoard logs into the run folder "
                             "(tensorboard/)", "bool"),
    "notify": FieldSpec("Notify at end", "the bell and a desktop notification when a run "
                        "ends out of sight", "bool"),
}

def parse_field(name: str, raw: Any) -> Any:
    """Turn one value as typed (a string) or as read from TOML/JSON into the field's type.

    Raises ValueError with a message saying what is wrong and what is allowed.
    """
    if name not in FIELD_SPECS:
        raise ValueError(f"unknown setting {name!r}; known: {', '.join(FIELD_SPECS)}")
    spec = FIELD_SPECS[name]
    label = spec.label.lower()
    if spec.kind == "bool":
        return _parse_bool(label, raw)
    if isinstance(raw, str):
        text = raw.strip()
        if spec.kind == "choice":
            value = text.lower()
            if value not in spec.choices:
                raise ValueError(f"{label} must be one of {', '.join(spec.choices)}, got {raw!r}")
            return value
        if spec.kind == "optional_int" and text.lower() in ("", "none", "random"):
            return None
        if text == "":
            raise ValueError(f"{label} is required")
        if spec.kind in ("int", "optional_int"):
            try:
                return int(text.replace("_", ""))
            except ValueError:
                raise ValueError(f"{label} must be a whole number, got {raw!r}") from None
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{label} must be a number, got {raw!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"{label} must be a finite number, got {raw!r}")
        return number
    if raw is None and spec.kind == "optional_int":
        return None
    if spec.kind == "choice":
        raise ValueError(f"{label} must be one of {', '.join(spec.choices)}, got {raw!r}")
    if spec.kind in ("int", "optional_int"):
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if not is_int(raw):
            raise ValueError(f"{label} must be a whole number, got {raw!r}")
        return raw
    if not is_number(raw):
        raise ValueError(f"{label} must be a number, got {raw!r}")
    if not math.isfinite(raw):
        raise ValueError(f"{label} must be a finite number, got {raw!r}")
    return float(raw)


_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True,
               "false": False, "no": False, "off": False, "0": False}


def _parse_bool(label: str, raw: Any) -> bool:
    """A yes/no setting as typed ("true", "off", ...) or as read from TOML (a boolean)."""
    if isinstance(raw, bool):
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"{label} must be true or false, got {raw!r}")
    if raw.strip().lower() not in _BOOL_WORDS:
        raise ValueError(f"{label} must be true or false (or yes/no, on/off, 1/0), got {raw!r}")
    return _BOOL_WORDS[raw.strip().lower()]
