"""The network: the Keras model of a config, and a TensorFlow-free preview of its layers.

`build_model` makes the TensorFlow.js MNIST example's convnet (or its small dense alternative)
as a compiled `keras.Sequential`. `preview_model` computes the same layers' output shapes and
parameter counts by arithmetic alone, so the form can show them instantly without importing
TensorFlow. Keras is imported only inside the functions that build things.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mnist_tui.core.config import TrainConfig, max_kernel_size
from mnist_tui.core.fields import IMAGE_SIZE, MAX_DROPOUT, MODELS, OPTIMIZERS
from mnist_tui.training.precision import keras_policy, resolve_precision
from mnist_tui.training.schedules import make_learning_rate

if TYPE_CHECKING:
    import keras

NUM_CLASSES = 10
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
DENSE_MODEL_UNITS = 42  # hidden units of the "dense" model, as in the tfjs example
POOL_SIZE = 2
TABLE_HEADERS = ("layer", "kind", "output shape", "params")

_OPTIMIZER_CLASSES = {
    "rmsprop": "RMSprop",
    "adam": "Adam",
    "sgd": "SGD",
    "adagrad": "Adagrad",
    "adamax": "Adamax",
    "nadam": "Nadam",
}


@dataclass(frozen=True)
class LayerInfo:
    """One layer as the preview shows it: its name, Keras class, output shape and weights.

    `output_shape` leaves out the batch dimension; `detail` is a short note such as
    "3x3, relu" for display.
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    detail: str = ""

    @property
    def shape_text(self) -> str:
        """The output shape as a person reads it, e.g. "26x26x16"."""
        return "x".join(str(d) for d in self.output_shape)


@dataclass(frozen=True)
class ModelPreview:
    """The layers of the model a config would build, with the total parameter count."""

    layers: tuple[LayerInfo, ...]
    total_params: int

    def table(self) -> list[tuple[str, str, str, str]]:
        """Rows of (layer, kind, output shape, params) ready for a table; see TABLE_HEADERS."""
        rows = []
        for layer in self.layers:
            kind = f"{layer.kind} ({layer.detail})" if layer.detail else layer.kind
            rows.append((layer.name, kind, layer.shape_text, f"{layer.params:,}"))
        return rows

    @property
    def total_text(self) -> str:
        """The total parameter count with thousands separators, e.g. "33,194"."""
        return f"{self.total_params:,}"


def _positive_int(label: str, value: Any) -> int:
    """Return `value` if it is a whole number ≥ 1, else raise ValueError naming `label`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{label} must be a whole number ≥ 1, got {value!r}")
    return value


def preview_model(config: TrainConfig) -> ModelPreview:
    """Compute the layers, output shapes and parameter counts `build_model(config)` would give.

    Pure arithmetic (valid padding, stride-1 convolutions, 2x2 pools that floor-divide), so it
    is instant and needs no TensorFlow. Works for any config whose network can exist, valid or
    not otherwise; raises ValueError with a readable message when it cannot (unknown model,
    a size that is not a positive whole number, or a kernel too large for the 28x28 image).
    """
    if config.model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {config.model!r}")
    layers: list[LayerInfo] = []
    side, channels = IMAGE_SIZE, 1
    rate = _dropout_rate(config)

    def dense(name: str, units: int, activation: str, inputs: int) -> int:
        if rate:
            number = sum(layer.kind == "Dropout" for layer in layers) + 1
            layers.append(LayerInfo(f"dropout{number}", "Dropout", (inputs,), 0, f"{rate:g}"))
        layers.append(LayerInfo(name, "Dense", (units,), inputs * units + units, activation))
        return units

    if config.model == "cnn":
        k = _positive_int("kernel size", config.kernel_size)
        filters = [
            _positive_int(f"conv {i} filters", getattr(config, f"conv{i}_filters"))
            for i in (1, 2, 3)
        ]
        units = _positive_int("dense units", config.dense_units)
        for i, f in enumerate(filters, start=1):
            side = side - k + 1
            if side < 1:
                raise ValueError(
                    f"kernel size {k} is too large: conv{i} would leave nothing of the "
                    f"{IMAGE_SIZE}x{IMAGE_SIZE} image (at most {max_kernel_size()} fits)"
                )
            params = k * k * channels * f + f
            channels = f
            layers.append(LayerInfo(f"conv{i}", "Conv2D", (side, side, f), params,
                                    f"{k}x{k}, relu"))
            if i < 3:
                side //= POOL_SIZE
                if side < 1:
                    raise ValueError(
                        f"kernel size {k} is too large: pool{i} would leave nothing of the "
                        f"{IMAGE_SIZE}x{IMAGE_SIZE} image (at most {max_kernel_size()} fits)"
                    )
                layers.append(LayerInfo(f"pool{i}", "MaxPooling2D", (side, side, f), 0,
                                        f"{POOL_SIZE}x{POOL_SIZE}"))
        flat = side * side * channels
        layers.append(LayerInfo("flatten", "Flatten", (flat,), 0))
        hidden = dense("dense1", units, "relu", flat)
    else:
        flat = side * side * channels
        layers.append(LayerInfo("flatten", "Flatten", (flat,), 0))
        hidden = dense("dense1", DENSE_MODEL_UNITS, "relu", flat)
    dense("output", NUM_CLASSES, "softmax", hidden)
    return ModelPreview(tuple(layers), sum(layer.params for layer in layers))


def _dropout_rate(config: TrainConfig) -> float:
    """The config's dropout, or ValueError with what is allowed."""
    rate = config.dropout
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (
            0 <= rate <= MAX_DROPOUT):
        raise ValueError(f"dropout must be a number from 0 to {MAX_DROPOUT:g}, got {rate!r}")
    return float(rate)


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    """A fresh Keras optimizer named by `config.optimizer` with `config.learning_rate` (or
    the schedule `config.lr_schedule` makes of it, see schedules.py).

    Other arguments keep Keras's defaults. Raises ValueError for an unknown name.
    """
    if config.optimizer not in _OPTIMIZER_CLASSES:
        raise ValueError(
            f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {config.optimizer!r}"
        )
    import keras

    cls = getattr(keras.optimizers, _OPTIMIZER_CLASSES[config.optimizer])
    return cls(learning_rate=make_learning_rate(config))


def build_model(config: TrainConfig, steps_per_execution: int = 1,
                precision: str | None = None) -> keras.Sequential:
    """The compiled Keras model for `config`: the seed's convnet, or the small dense network.

    Integer labels go with `sparse_categorical_crossentropy`, numerically the same as the
    seed's categorical crossentropy on one-hot labels. `steps_per_execution` is handed to
    `compile` (several batches per call into TensorFlow, fewer Python round trips).
    `precision` ("float32" or "bfloat16"; None: `config.precision`, "auto" resolved for this
    machine) sets each layer's dtype policy, in this model only (no process-wide policy):
    under bfloat16 the layers compute in bfloat16 on float32 weights (Keras's
    `mixed_bfloat16`), except the output layer (softmax, hence the loss and the
    probabilities) and, in the cnn, the hidden dense layer, which stay float32.
    Raises ValueError for a network that cannot exist (see `preview_model`).
    """
    preview_model(config)  # readable errors before Keras gives its own
    import keras
    from keras import layers

    policy = keras.DTypePolicy(keras_policy(resolve_precision(precision or config.precision)))
    # In bfloat16 the cnn's dense1 cost ~0.3 points of test accuracy over 10 seeds; in float32
    # it keeps float32's accuracy, and its cost is tiny next to the convolutions'.
    head = keras.DTypePolicy("float32")

    def dropout(name: str, dtype: Any) -> list[Any]:
        """A Dropout layer before a dense one, in that layer's `dtype`; none at all when the
        rate is 0 (the seed's)."""
        return [layers.Dropout(config.dropout, name=name, dtype=dtype)] if config.dropout else []

    if config.model == "cnn":
        k = config.kernel_size
        body = [
            layers.Conv2D(config.conv1_filters, k, activation="relu", name="conv1",
                          dtype=policy),
            layers.MaxPooling2D(POOL_SIZE, strides=POOL_SIZE, name="pool1", dtype=policy),
            layers.Conv2D(config.conv2_filters, k, activation="relu", name="conv2",
                          dtype=policy),
            layers.MaxPooling2D(POOL_SIZE, strides=POOL_SIZE, name="pool2", dtype=policy),
            layers.Conv2D(config.conv3_filters, k, activation="relu", name="conv3",
                          dtype=policy),
            layers.Flatten(name="flatten", dtype=policy),
            *dropout("dropout1", head),
            layers.Dense(config.dense_units, activation="relu", name="dense1", dtype=head),
        ]
    else:
        body = [
            layers.Flatten(name="flatten", dtype=policy),
            *dropout("dropout1", policy),
            layers.Dense(DENSE_MODEL_UNITS, activation="relu", name="dense1", dtype=policy),
        ]
    model = keras.Sequential(
        [keras.Input(shape=INPUT_SHAPE), *body, *dropout("dropout2", head),
         layers.Dense(NUM_CLASSES, activation="softmax", name="output", dtype=head)],
        name=f"mnist_{config.model}",
    )
    model.compile(
        optimizer=make_optimizer(config),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model
