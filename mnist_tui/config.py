"""The hyperparameters of one training run: defaults, parsing and validation.

`TrainConfig` is the single source of truth: the form, the command-line flags, the TOML config
file, the run log and the trainer all use it, and `validate()` gives the field-by-field messages
that both the form and the CLI show.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from mnist_tui import jsonio
from mnist_tui.errors import MnistTuiError

MODELS = ("cnn", "dense")
OPTIMIZERS = ("rmsprop", "adam", "sgd", "adagrad", "adamax", "nadam")
STRATEGIES = ("default", "mirrored", "multi-worker")
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
    kind: str  # "int", "float", "choice" or "optional_int"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one run; the defaults are the TensorFlow.js MNIST example's."""

    model: str = "cnn"  # "cnn" (the seed's network) or "dense" (flatten, dense 42, dense 10)
    epochs: int = 1  # passes over the training images
    batch_size: int = 64  # images per weight update
    learning_rate: float = 0.01  # step size of the optimizer
    optimizer: str = "rmsprop"  # one of OPTIMIZERS
    validation_split: float = 0.15  # fraction held out from the end of the training images
    train_size: int = MNIST_TRAIN_IMAGES  # how many training images to use, from the front
    seed: int | None = None  # fixes weights and shuffling when set
    conv1_filters: int = 16  # filters of the first convolution (cnn only)
    conv2_filters: int = 32  # filters of the second convolution (cnn only)
    conv3_filters: int = 32  # filters of the third convolution (cnn only)
    kernel_size: int = 3  # side of every convolution kernel (cnn only)
    dense_units: int = 64  # units of the hidden dense layer (cnn only)
    strategy: str = "default"  # one of STRATEGIES: where training runs (see strategy.py)

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


FIELD_SPECS: dict[str, FieldSpec] = {
    "model": FieldSpec("Model", "cnn: the seed's convnet; dense: flatten → 42 relu → 10",
                       "choice", MODELS),
    "epochs": FieldSpec("Epochs", f"passes over the training images, 1 to {MAX_EPOCHS}", "int"),
    "batch_size": FieldSpec("Batch size", "images per weight update", "int"),
    "learning_rate": FieldSpec("Learning rate", "optimizer step size, > 0 and ≤ 10", "float"),
    "optimizer": FieldSpec("Optimizer", "rule that updates the weights", "choice", OPTIMIZERS),
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
    "strategy": FieldSpec("Strategy", "default: one device; mirrored: all local GPUs; "
                          "multi-worker: the cluster in $TF_CONFIG", "choice", STRATEGIES),
}

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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(name: str, value: Any, low: int, high: int, errors: dict[str, str]) -> bool:
    label = FIELD_SPECS[name].label.lower()
    if not _is_int(value):
        errors[name] = f"{label} must be a whole number, got {_show(value)}"
        return False
    if not low <= value <= high:
        errors[name] = f"{label} must be between {low} and {high}, got {value}"
        return False
    return True


def validate(config: TrainConfig) -> dict[str, str]:
    """Check every field of `config`; return field → message for each problem found."""
    errors: dict[str, str] = {}
    if config.model not in MODELS:
        errors["model"] = f"model must be one of {', '.join(MODELS)}, got {_show(config.model)}"
    if config.optimizer not in OPTIMIZERS:
        errors["optimizer"] = (
            f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {_show(config.optimizer)}"
        )
    if config.strategy not in STRATEGIES:
        errors["strategy"] = (
            f"strategy must be one of {', '.join(STRATEGIES)}, got {_show(config.strategy)}"
        )
    _check_int("epochs", config.epochs, 1, MAX_EPOCHS, errors)
    lr = config.learning_rate
    if not _is_number(lr) or not math.isfinite(lr) or not 0 < lr <= MAX_LEARNING_RATE:
        errors["learning_rate"] = f"learning rate must be > 0 and ≤ 10, got {_show(lr)}"
    size_ok = _check_int("train_size", config.train_size, MIN_TRAIN_SIZE, MNIST_TRAIN_IMAGES,
                         errors)
    vs = config.validation_split
    split_ok = False
    if not _is_number(vs) or not math.isfinite(vs) or not 0 < vs < 1:
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
        if "kernel_size" in errors and _is_int(config.kernel_size):
            errors["kernel_size"] += " (a larger kernel leaves nothing of the 28x28 image)"
        _check_int("dense_units", config.dense_units, 1, MAX_DENSE_UNITS, errors)
    return errors


def parse_field(name: str, raw: Any) -> Any:
    """Turn one value as typed (a string) or as read from TOML/JSON into the field's type.

    Raises ValueError with a message saying what is wrong and what is allowed.
    """
    if name not in FIELD_SPECS:
        raise ValueError(f"unknown setting {name!r}; known: {', '.join(FIELD_NAMES)}")
    spec = FIELD_SPECS[name]
    label = spec.label.lower()
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
        if not _is_int(raw):
            raise ValueError(f"{label} must be a whole number, got {raw!r}")
        return raw
    if not _is_number(raw):
        raise ValueError(f"{label} must be a number, got {raw!r}")
    if not math.isfinite(raw):
        raise ValueError(f"{label} must be a finite number, got {raw!r}")
    return float(raw)


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


PRESETS: dict[str, TrainConfig] = {
    "seed": TrainConfig(),
    "quick": TrainConfig(train_size=6000, epochs=1),
    "accurate": TrainConfig(epochs=5, learning_rate=0.001, optimizer="adam",
                            conv1_filters=32, conv2_filters=64, conv3_filters=64,
                            dense_units=128),
}
"""Named starting points for the form: the seed's defaults, a quick demo and a longer run."""

