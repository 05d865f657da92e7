"""TrainConfig: defaults, parsing of typed values, validation messages, presets and TOML files."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from mnist_tui.core.config import FIELD_NAMES, ConfigError, TrainConfig, load_toml, parse_values
from mnist_tui.core.fields import FIELD_SPECS, parse_field
from mnist_tui.core.presets import PRESETS

LR_ZERO_MESSAGE = "learning rate must be > 0 and ≤ 10, got 0"


def test_defaults_are_the_seeds() -> None:
    config = TrainConfig()
    assert config.model == "cnn"
    assert config.learning_rate == 0.01
    assert config.optimizer == "rmsprop"
    assert config.batch_size == 64
    assert config.validation_split == 0.15
    assert config.epochs == 1
    assert (config.conv1_filters, config.conv2_filters, config.conv3_filters) == (16, 32, 32)
    assert config.kernel_size == 3
    assert config.dense_units == 64
    assert config.train_size == 60_000
    assert config.seed is None
    assert config.validate() == {}


def test_default_batch_counts() -> None:
    config = TrainConfig()
    assert config.train_samples == 51_000
    assert config.val_samples == 9_000
    assert config.batches_per_epoch == math.ceil(51_000 / 64) == 797
    assert config.total_batches == 797
    assert replace(config, epochs=3).total_batches == 3 * 797


def test_every_field_has_a_spec_with_help() -> None:
    assert set(FIELD_SPECS) == set(FIELD_NAMES)
    for name, spec in FIELD_SPECS.items():
        assert spec.label and spec.help, name


# (values as typed in the form or on the command line, the resulting field values)
GOOD_TYPED = [
    ({"epochs": "3"}, {"epochs": 3}),
    ({"epochs": " 1000 "}, {"epochs": 1000}),
    ({"batch_size": "1"}, {"batch_size": 1}),
    ({"batch_size": "8192"}, {"batch_size": 8192}),
    ({"learning_rate": "1e-3"}, {"learning_rate": 0.001}),
    ({"learning_rate": "10"}, {"learning_rate": 10.0}),
    ({"learning_rate": "0.5"}, {"learning_rate": 0.5}),
    ({"optimizer": "ADAM"}, {"optimizer": "adam"}),
    ({"optimizer": "sgd"}, {"optimizer": "sgd"}),
    ({"model": "dense"}, {"model": "dense"}),
    ({"validation_split": "0.5"}, {"validation_split": 0.5}),
    ({"train_size": "100"}, {"train_size": 100}),
    ({"train_size": "60_000"}, {"train_size": 60_000}),
    ({"seed": ""}, {"seed": None}),
    ({"seed": "  "}, {"seed": None}),
    ({"seed": "random"}, {"seed": None}),
    ({"seed": "0"}, {"seed": 0}),
    ({"seed": "4294967295"}, {"seed": 2**32 - 1}),
    ({"conv1_filters": "1"}, {"conv1_filters": 1}),
    ({"conv3_filters": "512"}, {"conv3_filters": 512}),
    ({"kernel_size": "4"}, {"kernel_size": 4}),
    ({"dense_units": "4096"}, {"dense_units": 4096}),
    ({"learning-rate": "0.1"}, {"learning_rate": 0.1}),
    # the batch may be as large as the training images left after the split, not larger
    ({"train_size": "100", "validation_split": "0.5", "batch_size": "50"},
     {"train_size": 100, "validation_split": 0.5, "batch_size": 50}),
    ({"dropout": "0.5"}, {"dropout": 0.5}),
    ({"dropout": "0"}, {"dropout": 0.0}),
    ({"dropout": "0.9"}, {"dropout": 0.9}),
    ({"lr_schedule": " Cosine "}, {"lr_schedule": "cosine"}),
    ({"lr_schedule": "step", "lr_factor": "0.1", "lr_patience": "3"},
     {"lr_factor": 0.1, "lr_patience": 3}),
    ({"lr_schedule": "cosine", "lr_floor": "1"}, {"lr_floor": 1.0}),
    ({"early_stopping": "3"}, {"early_stopping": 3}),
    ({"tensorboard": "yes"}, {"tensorboard": True}),
    ({"tensorboard": "OFF"}, {"tensorboard": False}),
    # a setting the schedule does not use is not checked (the form hides it)
    ({"lr_schedule": "constant", "lr_factor": "7", "lr_floor": "-1"}, {"lr_factor": 7.0}),
    ({"lr_schedule": "cosine", "lr_patience": "0"}, {"lr_patience": 0}),
]


@pytest.mark.parametrize(("typed", "expected"), GOOD_TYPED)
def test_good_typed_values(typed: dict[str, str], expected: dict[str, object]) -> None:
    config, errors = parse_values(typed)
    assert errors == {}
    for name, value in expected.items():
        got = getattr(config, name)
        assert got == value and type(got) is type(value), name


# (values as typed, the field that must be reported, phrases the message must hold)
BAD_TYPED = [
    ({"epochs": "0"}, "epochs", ["between 1 and 1000", "got 0"]),
    ({"epochs": "-1"}, "epochs", ["between 1 and 1000", "got -1"]),
    ({"epochs": "1001"}, "epochs", ["between 1 and 1000", "got 1001"]),
    ({"epochs": "x"}, "epochs", ["whole number", "'x'"]),
    ({"epochs": "2.5"}, "epochs", ["whole number", "'2.5'"]),
    ({"epochs": ""}, "epochs", ["epochs is required"]),
    ({"batch_size": "0"}, "batch_size", ["between 1 and 8192", "got 0"]),
    ({"batch_size": "99999"}, "batch_size", ["between 1 and 8192", "got 99999"]),
    ({"train_size": "100", "validation_split": "0.5", "batch_size": "51"}, "batch_size",
     ["at most the 50 training images", "after the validation split", "got 51"]),
    ({"validation_split": "0"}, "validation_split", ["between 0 and 1", "excluded", "got 0"]),
    ({"validation_split": "1"}, "validation_split", ["between 0 and 1", "excluded", "got 1"]),
    ({"validation_split": "-0.1"}, "validation_split", ["between 0 and 1", "got -0.1"]),
    ({"validation_split": "nan"}, "validation_split", ["finite number", "'nan'"]),
    ({"validation_split": "inf"}, "validation_split", ["finite number", "'inf'"]),
    ({"validation_split": "abc"}, "validation_split", ["must be a number", "'abc'"]),
    ({"validation_split": ""}, "validation_split", ["validation split is required"]),
    ({"train_size": "100", "validation_split": "0.995"}, "validation_split",
     ["leaves no training images", "100"]),
    ({"learning_rate": "0"}, "learning_rate", [LR_ZERO_MESSAGE]),
    ({"learning_rate": "-0.01"}, "learning_rate", ["> 0 and ≤ 10", "got -0.01"]),
    ({"learning_rate": "11"}, "learning_rate", ["> 0 and ≤ 10", "got 11"]),
    ({"learning_rate": "NaN"}, "learning_rate", ["finite number", "'NaN'"]),
    ({"learning_rate": "inf"}, "learning_rate", ["finite number", "'inf'"]),
    ({"learning_rate": "-inf"}, "learning_rate", ["finite number", "'-inf'"]),
    ({"learning_rate": "abc"}, "learning_rate", ["must be a number", "'abc'"]),
    ({"learning_rate": ""}, "learning_rate", ["learning rate is required"]),
    ({"optimizer": "lbfgs"}, "optimizer",
     ["one of rmsprop, adam, sgd, adagrad, adamax, nadam", "'lbfgs'"]),
    ({"optimizer": ""}, "optimizer", ["one of rmsprop"]),
    ({"model": "rnn"}, "model", ["one of cnn, dense", "'rnn'"]),
    ({"precision": "fp16"}, "precision", ["one of float32, bfloat16, auto", "'fp16'"]),
    ({"precision": ""}, "precision", ["precision must be one of float32"]),
    ({"train_size": "99"}, "train_size", ["between 100 and 60000", "got 99"]),
    ({"train_size": "60001"}, "train_size", ["between 100 and 60000", "got 60001"]),
    ({"seed": "-1"}, "seed", ["between 0 and 4294967295", "got -1"]),
    ({"seed": "4294967296"}, "seed", ["between 0 and 4294967295"]),
    ({"seed": "1.5"}, "seed", ["whole number", "'1.5'"]),
    ({"conv1_filters": "0"}, "conv1_filters", ["conv 1 filters", "between 1 and 512", "got 0"]),
    ({"conv2_filters": "513"}, "conv2_filters", ["conv 2 filters", "between 1 and 512"]),
    ({"conv3_filters": "0"}, "conv3_filters", ["conv 3 filters", "got 0"]),
    ({"kernel_size": "5"}, "kernel_size", ["between 1 and 4", "got 5", "28x28"]),
    ({"kernel_size": "0"}, "kernel_size", ["between 1 and 4", "got 0"]),
    ({"dense_units": "0"}, "dense_units", ["between 1 and 4096", "got 0"]),
    ({"colour": "red"}, "colour", ["unknown setting 'colour'", "known: model, epochs"]),
    ({"dropout": "0.95"}, "dropout", ["dropout must be a number from 0 to 0.9, got 0.95"]),
    ({"dropout": "-0.1"}, "dropout", ["dropout must be a number from 0 to 0.9, got -0.1"]),
    ({"dropout": "half"}, "dropout", ["dropout must be a number, got 'half'"]),
    ({"lr_schedule": "linear"}, "lr_schedule",
     ["lr schedule must be one of constant, cosine, step, plateau, got 'linear'"]),
    ({"lr_schedule": "step", "lr_factor": "1"}, "lr_factor",
     ["lr drop factor must be a number between 0 and 1 (both excluded), got 1"]),
    ({"lr_schedule": "plateau", "lr_factor": "0"}, "lr_factor",
     ["lr drop factor must be a number between 0 and 1 (both excluded), got 0"]),
    ({"lr_schedule": "step", "lr_patience": "0"}, "lr_patience",
     ["lr patience must be between 1 and 1000, got 0"]),
    ({"lr_schedule": "plateau", "lr_patience": "1.5"}, "lr_patience",
     ["lr patience must be a whole number, got '1.5'"]),
    ({"lr_schedule": "cosine", "lr_floor": "1.5"}, "lr_floor",
     ["lr floor must be a number from 0 to 1, got 1.5"]),
    ({"early_stopping": "-1"}, "early_stopping",
     ["early stopping must be between 0 and 1000, got -1"]),
    ({"early_stopping": "two"}, "early_stopping",
     ["early stopping must be a whole number, got 'two'"]),
    ({"tensorboard": "maybe"}, "tensorboard",
     ["tensorboard must be true or false (or yes/no, on/off, 1/0), got 'maybe'"]),
]


@pytest.mark.parametrize(("typed", "field", "phrases"), BAD_TYPED)
def test_bad_typed_values(typed: dict[str, str], field: str, phrases: list[str]) -> None:
    _config, errors = parse_values(typed)
    assert field in errors, errors
    for phrase in phrases:
        assert phrase in errors[field]
    assert set(errors) == {field}, "only the bad field is reported"


def test_learning_rate_zero_message_is_exact() -> None:
    assert parse_values({"learning_rate": "0"})[1] == {"learning_rate": LR_ZERO_MESSAGE}
    assert TrainConfig(learning_rate=0).validate() == {"learning_rate": LR_ZERO_MESSAGE}
    assert TrainConfig(learning_rate=0.0).validate() == {"learning_rate": LR_ZERO_MESSAGE}


def test_every_problem_is_reported_at_once() -> None:
    config, errors = parse_values({"epochs": "0", "learning_rate": "abc", "seed": "-1",
                                   "optimizer": "x"})
    assert set(errors) == {"epochs", "learning_rate", "seed", "optimizer"}
    # a field that failed to parse keeps the base value; the others take the typed one
    assert config.learning_rate == TrainConfig().learning_rate
    assert config.epochs == 0


def test_parse_values_applies_over_a_base() -> None:
    base = TrainConfig(epochs=5, optimizer="adam")
    config, errors = parse_values({"batch_size": "128"}, base=base)
    assert errors == {}
    assert (config.epochs, config.optimizer, config.batch_size) == (5, "adam", 128)


# (typed field values, the field that must be reported, phrases the message must hold)
BAD_DIRECT = [
    ({"epochs": 0}, "epochs", ["between 1 and 1000", "got 0"]),
    ({"epochs": True}, "epochs", ["whole number", "True"]),
    ({"epochs": "3"}, "epochs", ["whole number"]),
    ({"batch_size": False}, "batch_size", ["whole number"]),
    ({"train_size": 100, "validation_split": 0.5, "batch_size": 51}, "batch_size",
     ["at most the 50 training images", "got 51"]),
    ({"validation_split": 0.0}, "validation_split", ["between 0 and 1", "got 0"]),
    ({"validation_split": 1}, "validation_split", ["between 0 and 1", "got 1"]),
    ({"validation_split": -0.5}, "validation_split", ["between 0 and 1"]),
    ({"validation_split": float("nan")}, "validation_split", ["between 0 and 1", "nan"]),
    ({"validation_split": float("inf")}, "validation_split", ["between 0 and 1", "inf"]),
    ({"train_size": 100, "validation_split": 1e-17}, "validation_split",
     ["leaves no validation images", "100"]),
    ({"learning_rate": float("nan")}, "learning_rate", ["> 0 and ≤ 10", "nan"]),
    ({"learning_rate": float("inf")}, "learning_rate", ["> 0 and ≤ 10", "inf"]),
    ({"learning_rate": 11}, "learning_rate", ["> 0 and ≤ 10", "got 11"]),
    ({"learning_rate": True}, "learning_rate", ["> 0 and ≤ 10", "True"]),
    ({"learning_rate": "abc"}, "learning_rate", ["> 0 and ≤ 10", "'abc'"]),
    ({"optimizer": "Adam"}, "optimizer", ["one of rmsprop", "'Adam'"]),
    ({"model": "rnn"}, "model", ["one of cnn, dense"]),
    ({"precision": "half"}, "precision", ["precision must be one of float32, bfloat16, auto",
                                          "'half'"]),
    ({"seed": -1}, "seed", ["between 0 and 4294967295", "got -1"]),
    ({"seed": True}, "seed", ["whole number", "True"]),
    ({"conv1_filters": 0}, "conv1_filters", ["between 1 and 512", "got 0"]),
    ({"kernel_size": 5}, "kernel_size", ["between 1 and 4", "got 5", "28x28"]),
    ({"dense_units": 4097}, "dense_units", ["between 1 and 4096"]),
    ({"dropout": True}, "dropout", ["dropout must be a number from 0 to 0.9, got True"]),
    ({"tensorboard": "yes"}, "tensorboard", ["tensorboard must be true or false, got 'yes'"]),
    ({"early_stopping": 1001}, "early_stopping",
     ["early stopping must be between 0 and 1000, got 1001"]),
]


@pytest.mark.parametrize(("values", "field", "phrases"), BAD_DIRECT)
def test_validate_bad_values(values: dict[str, object], field: str,
                             phrases: list[str]) -> None:
    errors = TrainConfig(**values).validate()  # type: ignore[arg-type]
    assert field in errors, errors
    for phrase in phrases:
        assert phrase in errors[field]
    assert set(errors) == {field}


@pytest.mark.parametrize("values", [
    {"train_size": 100, "validation_split": 0.5, "batch_size": 50},
    {"learning_rate": 10},
    {"learning_rate": 1e-6},
    {"seed": 0},
    {"kernel_size": 1},
    {"kernel_size": 4},
    {"model": "dense", "optimizer": "nadam"},
])
def test_validate_good_values(values: dict[str, object]) -> None:
    assert TrainConfig(**values).validate() == {}  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "raw", "expected"), [
    ("epochs", 2.0, 2),  # TOML or JSON may hold a whole float
    ("learning_rate", 1, 1.0),
    ("seed", None, None),
    ("optimizer", "Adam", "adam"),
    ("precision", " BFloat16 ", "bfloat16"),
    ("tensorboard", True, True),  # a TOML boolean
    ("tensorboard", False, False),
])
def test_parse_field_typed_values(name: str, raw: object, expected: object) -> None:
    got = parse_field(name, raw)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("name", "raw", "phrase"), [
    ("epochs", True, "whole number"),
    ("epochs", 2.5, "whole number"),
    ("epochs", None, "whole number"),
    ("learning_rate", False, "must be a number"),
    ("learning_rate", float("nan"), "finite number"),
    ("learning_rate", [0.1], "must be a number"),
    ("optimizer", 3, "one of"),
    ("precision", 16, "precision must be one of float32, bfloat16, auto"),
    ("tensorboard", 1, "tensorboard must be true or false, got 1"),
    ("nonsense", "1", "unknown setting"),
])
def test_parse_field_rejects(name: str, raw: object, phrase: str) -> None:
    with pytest.raises(ValueError, match=phrase):
        parse_field(name, raw)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid(name: str) -> None:
    assert PRESETS[name].validate() == {}


def test_seed_preset_is_the_default() -> None:
    assert PRESETS["seed"] == TrainConfig()


@pytest.mark.parametrize("config", [
    TrainConfig(),
    TrainConfig(seed=42, model="dense", epochs=3, learning_rate=0.001, optimizer="adam",
                validation_split=0.2, train_size=3000, batch_size=32),
    *PRESETS.values(),
])
def test_dict_round_trip(config: TrainConfig) -> None:
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_from_dict_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"epochs": 0, "colour": "red"})
    assert set(info.value.errors) == {"epochs", "colour"}
    assert "epochs: epochs must be between 1 and 1000, got 0" in str(info.value)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_load_toml_top_level(tmp_path: Path) -> None:
    path = write(tmp_path / "run.toml",
                 'epochs = 2\nlearning-rate = 0.001\noptimizer = "adam"\nseed = 7\n')
    values = load_toml(path)
    config, errors = parse_values(values)
    assert errors == {}
    assert (config.epochs, config.learning_rate, config.optimizer, config.seed) == (
        2, 0.001, "adam", 7)


def test_load_toml_train_table(tmp_path: Path) -> None:
    path = write(tmp_path / "run.toml", '[train]\nbatch_size = 128\nmodel = "dense"\n')
    assert load_toml(path) == {"batch_size": 128, "model": "dense"}


def test_load_toml_values_are_validated_like_typed_ones(tmp_path: Path) -> None:
    path = write(tmp_path / "run.toml", "learning_rate = 0\nepochs = true\n")
    _config, errors = parse_values(load_toml(path))
    assert errors["learning_rate"] == LR_ZERO_MESSAGE
    assert "whole number" in errors["epochs"]


def test_load_toml_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path / "run.toml", "epochs = 2\nlearning_rat = 0.1\n")
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    message = info.value.errors["config"]
    assert "unknown settings: learning_rat" in message
    assert str(path) in message
    assert "learning_rate" in message  # says what is allowed


def test_load_toml_malformed(tmp_path: Path) -> None:
    path = write(tmp_path / "run.toml", "epochs = = 2\n")
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    assert "is not valid TOML" in info.value.errors["config"]
    assert str(path) in info.value.errors["config"]


def test_load_toml_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    assert info.value.errors == {"config": f"config file {path} does not exist"}


def test_load_toml_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_toml(tmp_path)
