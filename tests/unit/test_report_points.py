"""Report points: the pruner's steps within and at the end of epochs, where in an epoch each
point falls, how it is said; a slice's loss and accuracy; old plans without points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mnist_tui.core.report_points import (
    ReportPoints,
    describe_point,
    point_batches,
    pruning_step,
    step_place,
)
from mnist_tui.core.search_space import parse_search
from mnist_tui.core.sweep_plan import REPORT_POINTS, SweepPlan
from mnist_tui.training.slice_validation import loss_and_accuracy


def test_steps_count_fractions_of_training_the_same_in_every_trial() -> None:
    points = ReportPoints(4)
    assert [points.step(1, k) for k in (1, 2, 3)] == [1, 2, 3]
    assert points.epoch_end_step(1) == 4
    assert points.step(2, 1) == 5 and points.epoch_end_step(3) == 12
    for step in range(1, 13):  # and back again
        assert pruning_step(*step_place(step, 4), 4) == step
    assert step_place(8, 4) == (2, 4)
    assert [pruning_step(e, 1, 1) for e in (1, 2, 3)] == [1, 2, 3]  # a plan without points


def test_points_fall_on_the_nearest_execution_end_within_the_epoch() -> None:
    assert point_batches(80, 4) == {1: 20, 2: 40, 3: 60}
    assert point_batches(80, 4, per_execution=16) == {1: 16, 2: 48, 3: 64}  # 20→16, 40→48
    assert point_batches(85, 4, per_execution=16) == {1: 16, 2: 48, 3: 64}
    # an epoch of two executions has one point inside it; one of one execution has none
    assert point_batches(32, 4, per_execution=16) == {2: 16}
    assert point_batches(10, 4, per_execution=16) == {}
    assert point_batches(80, 1, per_execution=16) == {}  # epoch ends only


def test_where_a_point_is_said() -> None:
    assert describe_point(1, 16, 80) == "20% of epoch 1"
    assert describe_point(2, 80, 80) == "the end of epoch 2"


def test_a_slice_loss_and_accuracy_as_keras_computes_them() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [1.0, 0.0]], np.float32)
    loss, accuracy = loss_and_accuracy(probs, np.array([0, 0, 1]))
    assert accuracy == pytest.approx(1 / 3)
    expected = -(math.log(0.9) + math.log(0.2) + math.log(1e-7)) / 3  # clipped, as Keras
    assert loss == pytest.approx(expected, rel=1e-5)


def test_a_plan_keeps_its_points_and_an_old_plan_reports_at_epoch_ends() -> None:
    space, errors = parse_search({"learning_rate": "0.001, 0.01"})
    assert errors == {}
    plan = SweepPlan("p", space, 2)
    assert plan.points == REPORT_POINTS and plan.report_points.slice_size == 1000
    assert SweepPlan.from_json(plan.to_json()).points == REPORT_POINTS
    old = {k: v for k, v in plan.to_json().items() if k != "points"}
    assert SweepPlan.from_json(old).points == 1
    with pytest.raises(ValueError, match="report points per epoch must be a whole number"):
        SweepPlan.from_json({**plan.to_json(), "points": 0})
