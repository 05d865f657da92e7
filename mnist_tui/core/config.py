"""The hyperparameters of one training run: defaults, validation, and configs from values.

`TrainConfig` is the single source of truth: the form, the command-line flags, the TOML config
file, the run log and the trainer all use it, and `validate()` gives the field-by-field messages
that both the form and the CLI show. What each field is (its label, help, kind, limits) and
how one typed value is parsed live in `fields.py`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from mnist_tui.core import jsonio
from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.fields import (
    FIELD_SPECS,
    IMAGE_SIZE,
    MAX_BATCH_SIZE,
    MAX_DENSE_UNITS,
    MAX_DROPOUT,
    MAX_EPOCHS,
    MAX_FILTERS,
    MAX_LEARNING_RATE,
    MAX_SEED,
    MIN_TRAIN_SIZE,
    MNIST_TRAIN_IMAGES,
    SCHEDULE_SETTINGS,
    parse_field,
)
from mnist_tui.core.kinds import is_int, is_number


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one run; the defaults are the TensorFlow.js MNIST example's."""

    model: str = "cnn"  # "cnn" (the seed's network) or "dense" (flatten, dense 42, dense 10)
    epochs: int = 1  # passes over the training images
    batch_size: int = 64  # images per weight update
    learning_rate: float = 0.01  # step size of the optimizer
    optimizer: str = "rmsprop"  # one of OPTIMIZERS
    lr_schedule: str = "constant"  # one of LR_SCHEDULES: the rate over the run (schedules.py)
    lr_factor: float = 0.5  # step and plateau: each drop multiplies the rate by this
    lr_patience: int = 1  # step: epochs between drops; plateau: epochs without improvement
    lr_floor: float = 0.0  # cosine: the last rate, as a fraction of learning_rate
    early_stopping: int = 0  # stop after this many epochs without a better val loss; 0: off
    validation_split: float = 0.15  # fraction held out from the end of the training images
    train_size: int = MNIST_TRAIN_IMAGES  # how many training images to use, from the front
    seed: int | None = None  # fixes weights and shuffling when set
    conv1_filters: int = 16  # filters of the first convolution (cnn only)
    conv2_filters: int = 32  # filters of the second convolution (cnn only)
    conv3_filters: int = 32  # filters of the third convolution (cnn only)
    kernel_size: int = 3  # side of every convolution kernel (cnn only)
    dense_units: int = 64  # units of the hidden dense layer (cnn only)
    dropout: float = 0.0  # fraction dropped before each dense layer in training; 0: no layer
    strategy: str = "default"  # one of STRATEGIES: where training runs (see strategy.py)
    precision: str = "float32"  # one of PRECISIONS: the arithmetic (see precision.py)
    tensorboard: bool = False  # also write TensorBoard event files (see tensorboard_log.py)
    notify: bool = True  # the app rings and notifies when a run ends unseen (tui/state/end_notice)

    def validate(self) -> dict[str, str]:
        """Return every problem as field name → message; an empty dict means valid."""
        return validate(self)

    @property
    def train_samples(self) -> int:
        """Images trained on per epoch, after the validation split (Keras's rounding)."""
        return split_counts(self.train_size, self.validation_split)[0]

    @property
    def val_samples(self) -> int:
        """Images held out for validation."""
        return split_counts(self.train_size, self.validation_split)[1]

    @property
    def batches_per_epoch(self) -> int:
        """Weight updates per epoch; the last batch may be smaller."""
        return math.ceil(self.train_samples / self.batch_size)

    @property
    def total_batches(self) -> int:
        """Weight updates in the whole run."""
        return self.batches_per_epoch * self.epochs

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form of the config."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build a config from a dict such as `to_dict()` wrote; unknown keys are an error."""
        config, errors = parse_values(data, base=cls())
        if errors:
            raise ConfigError(errors)
        return config


class ConfigError(MnistTuiError, ValueError):
    """Raised when values cannot make a valid config; `errors` maps field → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{name}: {msg}" for name, msg in self.errors.items()))


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(TrainConfig))


def split_counts(train_size: int, validation_split: float) -> tuple[int, int]:
    """Training and validation image counts, split as Keras's `validation_split` does."""
    split_at = math.floor(train_size * (1.0 - validation_split))
    return split_at, train_size - split_at


def max_kernel_size() -> int:
    """Largest kernel for which the CNN's three convolutions still fit a 28x28 image."""
    best = 1
    for k in range(1, IMAGE_SIZE + 1):
        side = IMAGE_SIZE - k + 1
        side = side // 2 - k + 1
        side = side // 2 - k + 1
        if side < 1:
            break
        best = k
    return best


def _show(value: Any) -> str:
    """A value as a person typed it: 0 rather than 0.0, strings quoted."""
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _check_int(name: str, value: Any, low: int, high: int, errors: dict[str, str]) -> bool:
    label = FIELD_SPECS[name].label.lower()
    if not is_int(value):
        errors[name] = f"{label} must be a whole number, got {_show(value)}"
        return False
    if not low <= value <= high:
        errors[name] = f"{label} must be between {low} and {high}, got {value}"
        return False
    return True


def _check_float(name: str, value: Any, low: float, high: float, errors: dict[str, str],
                 *, open_ends: bool = False) -> None:
    label = FIELD_SPECS[name].label.lower()
    inside = is_number(value) and math.isfinite(value) and (
        low < value < high if open_ends else low <= value <= high)
    if not inside:
        span = (f"between {low:g} and {high:g} (both excluded)" if open_ends
                else f"from {low:g} to {high:g}")
        errors[name] = f"{label} must be a number {span}, got {_show(value)}"


def _check_training_rules(config: TrainConfig, errors: dict[str, str]) -> None:
    """Dropout, the learning-rate schedule's own settings, early stopping."""
    _check_float("dropout", config.dropout, 0.0, MAX_DROPOUT, errors)
    used = SCHEDULE_SETTINGS.get(config.lr_schedule, ())
    if "lr_factor" in used:
        _check_float("lr_factor", config.lr_factor, 0.0, 1.0, errors, open_ends=True)
    if "lr_patience" in used:
        _check_int("lr_patience", config.lr_patience, 1, MAX_EPOCHS, errors)
    if "lr_floor" in used:
        _check_float("lr_floor", config.lr_floor, 0.0, 1.0, errors)
    _check_int("early_stopping", config.early_stopping, 0, MAX_EPOCHS, errors)


def check_learning_rate(rate: Any) -> str:
    """What is wrong with a learning rate ("" when nothing): the form's and the monitor's."""
    if not is_number(rate) or not math.isfinite(rate) or not 0 < rate <= MAX_LEARNING_RATE:
        return f"learning rate must be > 0 and ≤ 10, got {_show(rate)}"
    return ""


def validate(config: TrainConfig) -> dict[str, str]:
    """Check every field of `config`; return field → message for each problem found."""
    errors: dict[str, str] = {}
    for name, spec in FIELD_SPECS.items():
        value = getattr(config, name)
        if spec.kind == "choice" and value not in spec.choices:
            errors[name] = (f"{spec.label.lower()} must be one of {', '.join(spec.choices)}, "
                            f"got {_show(value)}")
        if spec.kind == "bool" and not isinstance(value, bool):
            errors[name] = f"{spec.label.lower()} must be true or false, got {_show(value)}"
    _check_int("epochs", config.epochs, 1, MAX_EPOCHS, errors)
    lr_error = check_learning_rate(config.learning_rate)
    if lr_error:
        errors["learning_rate"] = lr_error
    size_ok = _check_int("train_size", config.train_size, MIN_TRAIN_SIZE, MNIST_TRAIN_IMAGES,
                         errors)
    vs = config.validation_split
    split_ok = False
    if not is_number(vs) or not math.isfinite(vs) or not 0 < vs < 1:
        errors["validation_split"] = (
            f"validation split must be between 0 and 1 (both excluded), got {_show(vs)}"
        )
    elif size_ok:
        train, val = split_counts(config.train_size, vs)
        if val < 1:
            errors["validation_split"] = (
                f"validation split {vs} leaves no validation images out of {config.train_size}"
            )
        elif train < 1:
            errors["validation_split"] = (
                f"validation split {vs} leaves no training images out of {config.train_size}"
            )
        else:
            split_ok = True
    if _check_int("batch_size", config.batch_size, 1, MAX_BATCH_SIZE, errors) and split_ok:
        train = config.train_samples
        if config.batch_size > train:
            errors["batch_size"] = (
                f"batch size must be at most the {train} training images left after the "
                f"validation split, got {config.batch_size}"
            )
    if config.seed is not None:
        _check_int("seed", config.seed, 0, MAX_SEED, errors)
    if config.model != "dense":  # the dense model has no convolutions to check
        for name in ("conv1_filters", "conv2_filters", "conv3_filters"):
            _check_int(name, getattr(config, name), 1, MAX_FILTERS, errors)
        _check_int("kernel_size", config.kernel_size, 1, max_kernel_size(), errors)
        if "kernel_size" in errors and is_int(config.kernel_size):
            errors["kernel_size"] += " (a larger kernel leaves nothing of the 28x28 image)"
        _check_int("dense_units", config.dense_units, 1, MAX_DENSE_UNITS, errors)
    _check_training_rules(config, errors)
    return errors


def parse_values(
    values: dict[str, Any], base: TrainConfig | None = None
) -> tuple[TrainConfig, dict[str, str]]:
    """Apply `values` (strings or typed) over `base`; return the config and all errors.

    Parse errors and `validate()` errors are merged, one message per field; fields that failed
    to parse keep the base's value in the returned config.
    """
    base = base or TrainConfig()
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for key, raw in values.items():
        name = key.replace("-", "_")
        try:
            parsed[name] = parse_field(name, raw)
        except ValueError as exc:
            errors[name] = str(exc)
    config = replace(base, **parsed)
    for name, message in validate(config).items():
        errors.setdefault(name, message)
    return config, errors


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into a dict of field values (a `[train]` table is allowed).

    Raises ConfigError with a readable message for a missing, unreadable or malformed file.
    """
    path = Path(path)
    try:
        data = jsonio.load_toml(path)
    except FileNotFoundError:
        raise ConfigError({"config": f"config file {path} does not exist"}) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError({"config": f"cannot read config file {path}: {exc}"}) from None
    except jsonio.TOMLDecodeError as exc:
        raise ConfigError({"config": f"config file {path} is not valid TOML: {exc}"}) from None
    if isinstance(data.get("train"), dict):
        data = data["train"]
    unknown = [k for k in data if k.replace("-", "_") not in FIELD_SPECS]
    if unknown:
        raise ConfigError({"config": f"config file {path} has unknown settings: "
                           f"{', '.join(unknown)}; known: {', '.join(FIELD_NAMES)}"})
    return data
