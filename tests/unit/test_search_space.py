"""Several values in a field: lists, ranges, choices, the sweep's own settings, their messages."""

from __future__ import annotations

import pytest

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.search_space import (
    Choices,
    SearchSpace,
    Span,
    is_several,
    parse_param,
    parse_search,
    parse_trials,
)
from mnist_tui.core.sweep_plan import SweepPlan, default_trials, parse_sweep_settings


@pytest.mark.parametrize(("name", "raw", "expected"), [
    ("learning_rate", "0.003, 0.01, 0.03", Choices((0.003, 0.01, 0.03))),
    ("learning_rate", "1e-4..1e-1 log", Span(1e-4, 0.1, log=True)),
    ("learning_rate", "1e-4..1e-1:log", Span(1e-4, 0.1, log=True)),
    ("dropout", "0..0.5", Span(0.0, 0.5)),
    ("dense_units", "16..64 step 16", Span(16, 64, step=16, integer=True)),
    ("dense_units", "16..64", Span(16, 64, step=1, integer=True)),
    ("optimizer", "adam,rmsprop", Choices(("adam", "rmsprop"))),
    ("optimizer", " Adam , RMSprop ", Choices(("adam", "rmsprop"))),
    ("learning_rate", [0.1, 0.2], Choices((0.1, 0.2))),
    ("learning_rate", "0.01", 0.01),
])
def test_values_parse(name: str, raw: object, expected: object) -> None:
    assert parse_param(name, raw) == expected


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("learning_rate", "0.1..0.01", "the range '0.1..0.01' is empty"),
    ("learning_rate", "0.1..0.1", "is empty"),
    ("learning_rate", "0..0.1 log", "a log range must stay above 0, got 0..0.1"),
    ("dense_units", "16..64 step 15", "step 15 does not divide 16..64"),
    ("dropout", "0..0.5 step 0.2", "step 0.2 does not divide 0..0.5"),
    ("dense_units", "16..64 step 0", "the step must be above 0"),
    ("dense_units", "16..64 step 2.5", "the step must be a whole number"),
    ("optimizer", "adam,rmsprp", "optimizer must be one of rmsprop, adam, sgd"),
    ("optimizer", "adam..sgd", "optimizer has no range; list the choices with commas"),
    ("dropout", "0..0.95", "the range's high end: dropout must be a number from 0 to 0.9"),
    ("learning_rate", "1e-4..20 log", "the range's high end: learning rate must be > 0"),
    ("learning_rate", "1..2 fast", "ends with 'fast'; after low..high only log or step S"),
    ("learning_rate", "1e-3..1e-1 log step 0.01", "either log or stepped, not both"),
    ("learning_rate", "0.01, 0.01", "0.01 is listed twice"),
    ("learning_rate", "0.1,,0.2", "has an empty item"),
    ("learning_rate", "0.1, abc", "learning rate must be a number, got ' abc'"),
    ("strategy", "default,mirrored", "takes one value for every trial of a sweep"),
])
def test_bad_values_say_what_is_wrong(name: str, raw: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_param(name, raw)
    assert message in str(info.value)


def test_search_space_from_fields() -> None:
    space, errors = parse_search({"learning-rate": "1e-4..1e-1 log",
                                  "optimizer": "adam,rmsprop", "epochs": "2"})
    assert errors == {}
    assert space.base.epochs == 2
    assert space.is_sweep and not space.is_grid and space.grid_size is None
    assert space.describe() == "learning rate 0.0001..0.1 log · optimizer adam, rmsprop"
    config = space.config_for({"learning_rate": 0.002, "optimizer": "adam"})
    assert (config.learning_rate, config.optimizer, config.epochs) == (0.002, "adam", 2)
    assert SearchSpace.from_json(space.to_json()) == space


def test_a_grid_counts_its_combinations() -> None:
    space, errors = parse_search({"learning_rate": "0.001, 0.01, 0.1",
                                  "optimizer": ["adam", "rmsprop"]})
    assert errors == {}
    assert space.is_grid and space.grid_size == 6
    assert default_trials(space, None) == (6, "")
    assert "at most 6 trials" in default_trials(space, 7)[1]


def test_one_value_is_no_sweep_and_errors_are_per_field() -> None:
    space, errors = parse_search({"learning_rate": "0.02", "dropout": "0..2",
                                  "epochs": "0"})
    assert not space.is_sweep
    assert space.base.learning_rate == 0.02
    assert set(errors) == {"dropout", "epochs"}
    assert not is_several("0.02") and is_several("0.1, 0.2") and is_several("1..2")


def test_ranges_are_checked_against_the_other_fields() -> None:
    base = TrainConfig(train_size=1000)
    with pytest.raises(ValueError, match="batch size must be at most the 850 training images"):
        parse_param("batch_size", "32..2048", base)


@pytest.mark.parametrize("raw", ["0", "-3", "abc", "2.5", 0, 10_001])
def test_trials_below_one_or_not_whole_are_refused(raw: object) -> None:
    with pytest.raises(ValueError, match="trials must be a whole number from 1 to 10000"):
        parse_trials(raw)


def test_sweep_settings_and_plan_round_trip() -> None:
    settings, errors = parse_sweep_settings({"trials": "0", "pruning": "mean",
                                             "objective": "val-loss", "parallel": "2"})
    assert settings["objective"] == "val_loss" and settings["parallel"] == 2
    assert errors["trials"] == "trials must be a whole number from 1 to 10000, got '0'"
    assert errors["pruning"] == "pruning must be one of median, hyperband, none, got 'mean'"
    assert set(errors) == {"trials", "pruning"}
    space, _ = parse_search({"dropout": "0..0.5"})
    plan = SweepPlan("s1", space, 5, "hyperband", "val_loss", seed=3)
    assert SweepPlan.from_json(plan.to_json()) == plan
    assert plan.direction == "minimize"
