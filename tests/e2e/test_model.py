"""The model preview's arithmetic against real Keras, the seed network, and import hygiene."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from mnist_tui.core.config import TrainConfig, max_kernel_size
from mnist_tui.core.fields import OPTIMIZERS
from mnist_tui.training.model import LayerInfo, build_model, preview_model

SEED_TABLE = [
    ("conv1", "Conv2D (3x3, relu)", "26x26x16", "160"),
    ("pool1", "MaxPooling2D (2x2)", "13x13x16", "0"),
    ("conv2", "Conv2D (3x3, relu)", "11x11x32", "4,640"),
    ("pool2", "MaxPooling2D (2x2)", "5x5x32", "0"),
    ("conv3", "Conv2D (3x3, relu)", "3x3x32", "9,248"),
    ("flatten", "Flatten", "288", "0"),
    ("dense1", "Dense (relu)", "64", "18,496"),
    ("output", "Dense (softmax)", "10", "650"),
]


def _varied_configs() -> list[TrainConfig]:
    """CNNs covering every filter count, kernel size and dense width, plus dense models."""
    filters = (1, 8, 16, 32, 64)
    units = (1, 10, 64, 200)
    configs = []
    for kernel in range(1, max_kernel_size() + 1):
        for i, dense in enumerate(units):
            j = kernel + i
            configs.append(TrainConfig(
                conv1_filters=filters[j % 5], conv2_filters=filters[(j + 1) % 5],
                conv3_filters=filters[(j + 3) % 5], kernel_size=kernel, dense_units=dense,
            ))
    configs.append(TrainConfig(model="dense"))
    configs.append(TrainConfig(model="dense", dense_units=200, kernel_size=4))
    return configs


def test_preview_of_seed_defaults() -> None:
    preview = preview_model(TrainConfig())
    assert preview.total_params == 33_194
    assert preview.total_text == "33,194"
    assert preview.table() == SEED_TABLE
    assert preview.layers[0] == LayerInfo("conv1", "Conv2D", (26, 26, 16), 160, "3x3, relu")


def test_preview_of_dense_model_ignores_cnn_fields() -> None:
    preview = preview_model(TrainConfig(model="dense", kernel_size=99, conv1_filters=0))
    assert preview.table() == [
        ("flatten", "Flatten", "784", "0"),
        ("dense1", "Dense (relu)", "42", "32,970"),
        ("output", "Dense (softmax)", "10", "430"),
    ]
    assert preview.total_params == 33_400


def test_preview_works_for_otherwise_invalid_configs() -> None:
    config = TrainConfig(learning_rate=-1.0, batch_size=0, epochs=0, conv1_filters=1000)
    assert config.validate()
    preview = preview_model(config)
    assert preview.layers[0].output_shape == (26, 26, 1000)
    assert preview.layers[0].params == 9 * 1000 + 1000


@pytest.mark.parametrize("kernel", [max_kernel_size() + 1, 10, 28, 29])
def test_preview_rejects_kernel_too_large(kernel: int) -> None:
    with pytest.raises(ValueError, match=f"kernel size {kernel} is too large"):
        preview_model(TrainConfig(kernel_size=kernel))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kernel_size": 0}, "kernel size"),
        ({"conv2_filters": 0}, "conv 2 filters"),
        ({"dense_units": -3}, "dense units"),
        ({"kernel_size": 2.5}, "kernel size"),
        ({"model": "resnet"}, "model must be one of"),
    ],
)
def test_preview_rejects_impossible_networks(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preview_model(replace(TrainConfig(), **changes))


def test_build_model_rejects_impossible_network_readably() -> None:
    with pytest.raises(ValueError, match="too large"):
        build_model(TrainConfig(kernel_size=max_kernel_size() + 1))


def test_preview_matches_keras_layer_by_layer() -> None:
    import keras

    checked = 0
    for config in _varied_configs():
        keras.backend.clear_session()
        model = build_model(config)
        preview = preview_model(config)
        assert model.count_params() == preview.total_params, config
        assert [layer.name for layer in model.layers] == [info.name for info in preview.layers]
        for layer, info in zip(model.layers, preview.layers, strict=True):
            assert type(layer).__name__ == info.kind, (config, layer.name)
            assert tuple(layer.output.shape) == (None, *info.output_shape), (config, layer.name)
            assert layer.count_params() == info.params, (config, layer.name)
        checked += 1
    assert checked == 4 * max_kernel_size() + 2


def test_the_preview_matches_keras_with_dropout() -> None:
    from mnist_tui.training.model import build_model

    config = TrainConfig(dropout=0.4, conv1_filters=8, dense_units=20)
    model = build_model(config)
    preview = preview_model(config)
    assert [layer.name for layer in model.layers] == [layer.name for layer in preview.layers]
    assert [type(layer).__name__ for layer in model.layers] == [
        layer.kind for layer in preview.layers]
    assert model.count_params() == preview.total_params
    assert model.get_layer("dropout1").rate == 0.4
    assert "Dropout" not in [type(layer).__name__ for layer in build_model(TrainConfig()).layers]


def test_seed_model_is_compiled_as_the_seed() -> None:
    import keras

    keras.backend.clear_session()
    model = build_model(TrainConfig(), steps_per_execution=4)
    assert model.count_params() == 33_194
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    assert model.layers[-1].activation is keras.activations.softmax
    assert model.loss == "sparse_categorical_crossentropy"
    assert model.steps_per_execution == 4
    # Integer labels in, probabilities that sum to one out.
    import numpy as np

    x = np.zeros((2, 28, 28, 1), dtype="float32")
    probs = model.predict(x, verbose=0)
    assert probs.shape == (2, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    result = model.evaluate(x, np.array([3, 7]), verbose=0, return_dict=True)
    assert set(result) >= {"loss", "accuracy"}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_matches_config(name: str) -> None:
    import keras

    expected = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam,
                "sgd": keras.optimizers.SGD, "adagrad": keras.optimizers.Adagrad,
                "adamax": keras.optimizers.Adamax, "nadam": keras.optimizers.Nadam}[name]
    keras.backend.clear_session()
    model = build_model(TrainConfig(model="dense", optimizer=name, learning_rate=0.0031))
    assert type(model.optimizer) is expected
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0031)


def test_unknown_optimizer_is_refused() -> None:
    with pytest.raises(ValueError, match="optimizer must be one of"):
        build_model(TrainConfig(optimizer="lbfgs"))


def test_importing_model_does_not_import_tensorflow() -> None:
    code = (
        "import sys, mnist_tui.training.model\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "assert not heavy, heavy\n"
        "mnist_tui.training.model.preview_model(mnist_tui.training.model.TrainConfig())\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
