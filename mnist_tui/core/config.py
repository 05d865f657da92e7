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

from mnist_tui.core import jsonio
from mnist_tui.core.errors import MnistTuiError

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


def _check_float(name: str, value: Any, low: float, high: float, errors: dict[str, str],
                 *, open_ends: bool = False) -> None:
    label = FIELD_SPECS[name].label.lower()
    inside = _is_number(value) and math.isfinite(value) and (
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
    if not _is_number(rate) or not math.isfinite(rate) or not 0 < rate <= MAX_LEARNING_RATE:
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
    _check_training_rules(config, errors)
    return errors


def parse_field(name: str, raw: Any) -> Any:
    """Turn one value as typed (a string) or as read from TOML/JSON into the field's type.

    Raises ValueError with a message saying what is wrong and what is allowed.
    """
    if name not in FIELD_SPECS:
        raise ValueError(f"unknown setting {name!r}; known: {', '.join(FIELD_NAMES)}")
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
        if not _is_int(raw):
            raise ValueError(f"{label} must be a whole number, got {raw!r}")
        return raw
    if not _is_number(raw):
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
