"""Dropout, learning-rate schedules, early stopping and TensorBoard as settings.

No training here: the schedules' arithmetic, the model preview, the words of an early stop and
the form (their values' checks are in test_config.py, their flags and --preset in
test_cli_args.py, real-Keras runs in test_epoch_rules.py and test_tensorboard.py).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Checkbox, Select, Static

from mnist_tui.core.config import TrainConfig
from mnist_tui.training.epoch_rules import outcome_text
from mnist_tui.training.model import preview_model
from mnist_tui.training.schedules import describe_schedule, epoch_start_rates, rate_at, rate_curve
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.form import FormScreen
from mnist_tui.tui.screens.summary_text import format_epochs, format_summary_text, status_line
from mnist_tui.tui.widgets.model_preview import sparkline
from tests.helpers.fake_runs import FakeRunner

NEW_DEFAULTS = {"dropout": 0.0, "lr_schedule": "constant", "lr_factor": 0.5, "lr_patience": 1,
                "lr_floor": 0.0, "early_stopping": 0, "tensorboard": False}


def test_the_new_settings_default_to_the_seeds_behaviour() -> None:
    config = TrainConfig()
    assert {name: getattr(config, name) for name in NEW_DEFAULTS} == NEW_DEFAULTS
    assert preview_model(config).total_params == 33_194
    assert [layer.kind for layer in preview_model(config).layers].count("Dropout") == 0
    assert epoch_start_rates(replace(config, epochs=3)) == [0.01, 0.01, 0.01]


def test_the_new_settings_round_trip() -> None:
    config = TrainConfig(dropout=0.3, lr_schedule="plateau", lr_factor=0.2, lr_patience=2,
                         early_stopping=3, tensorboard=True)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_cosine_decays_per_batch_to_the_floor() -> None:
    config = TrainConfig(epochs=3, train_size=1000, batch_size=85, learning_rate=0.002,
                         lr_schedule="cosine", lr_floor=0.1)  # 850 images: 10 batches an epoch
    assert config.total_batches == 30
    assert rate_at(config, 0) == pytest.approx(0.002)
    assert rate_at(config, 15) == pytest.approx(0.002 * (0.1 + 0.9 * 0.5))
    assert rate_at(config, 30) == pytest.approx(0.0002)
    rates = [rate_at(config, step) for step in range(30)]
    assert all(a > b for a, b in itertools.pairwise(rates)), "lower every batch"
    assert epoch_start_rates(config) == pytest.approx(
        [0.002 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * e / 3))) for e in range(3)])


def test_step_drops_every_n_epochs_and_plateau_starts_constant() -> None:
    step = TrainConfig(epochs=5, train_size=1000, batch_size=85, lr_schedule="step",
                       lr_factor=0.1, lr_patience=2)
    assert epoch_start_rates(step) == pytest.approx([0.01, 0.01, 0.001, 0.001, 0.0001])
    assert rate_at(step, 19) == pytest.approx(0.01) and rate_at(step, 20) == pytest.approx(
        0.001), "the drop comes with the first batch of epoch 3"
    plateau = replace(step, lr_schedule="plateau")
    assert epoch_start_rates(plateau) == [0.01] * 5


def test_the_curve_and_its_caption() -> None:
    cosine = TrainConfig(epochs=3, learning_rate=0.001, lr_schedule="cosine")
    curve = rate_curve(cosine, 48)
    assert len(curve) == 48 and curve[0] == pytest.approx(0.001) and curve[-1] < 1e-8
    line = sparkline(curve)
    assert len(line) == 48 and line[0] == "█" and line[-1] == "▁"
    assert describe_schedule(cosine) == "cosine: 0.001 → 0 over 3 epochs"
    assert sparkline([0.01] * 4) == "████"
    step = replace(cosine, lr_schedule="step", lr_factor=0.5)
    assert describe_schedule(step) == "step: 0.001 × 0.5 every epoch, 0.00025 in epoch 3"
    plateau = replace(cosine, lr_schedule="plateau", lr_patience=2)
    assert describe_schedule(plateau) == ("plateau: 0.001, × 0.5 after 2 epochs without a "
                                          "better val loss")
    assert describe_schedule(TrainConfig()) == "constant: 0.01 for 1 epoch"


def test_the_preview_shows_dropout_before_each_dense_layer() -> None:
    table = preview_model(TrainConfig(dropout=0.25)).table()
    names = [row[0] for row in table]
    assert names[-5:] == ["flatten", "dropout1", "dense1", "dropout2", "output"]
    assert table[names.index("dropout1")] == ("dropout1", "Dropout (0.25)", "288", "0")
    assert table[names.index("dropout2")] == ("dropout2", "Dropout (0.25)", "64", "0")
    assert preview_model(TrainConfig(dropout=0.25)).total_params == 33_194
    dense = [row[0] for row in preview_model(TrainConfig(model="dense", dropout=0.5)).table()]
    assert dense == ["flatten", "dropout1", "dense1", "dropout2", "output"]
    with pytest.raises(ValueError, match=r"dropout must be a number from 0 to 0\.9, got 2"):
        preview_model(TrainConfig(dropout=2))


def test_the_early_stop_is_told_in_words() -> None:
    summary = {"status": "finished", "epochs": 10, "epochs_completed": 4, "best_epoch": 2,
               "early_stopped_epoch": 4, "config": {"early_stopping": 2}}
    assert outcome_text(summary) == (
        "early stopping ended the run after epoch 4: the validation loss had not improved "
        "for 2 epochs; kept the weights of epoch 2, the best validation loss")
    assert status_line(summary) == ("✓ Training finished: early stop after epoch 4; weights "
                                    "of epoch 2 (best val loss) kept")
    assert format_epochs(summary) == "4 of 10 epochs (early stopping)"
    assert outcome_text(summary) in format_summary_text(summary)
    ran_out = {"status": "finished", "best_epoch": 3, "config": {"early_stopping": 5}}
    assert outcome_text(ran_out) == ("early stopping kept the weights of epoch 3, the best "
                                     "validation loss")
    assert outcome_text({"status": "finished"}) == ""


async def test_the_form_hides_unused_schedule_settings_and_draws_the_curve() -> None:
    runner = FakeRunner(hold_after=1)
    app = MnistApp(None, runner=runner, runs_dir=Path("unused"))
    try:
        async with app.run_test(size=(120, 60)) as pilot:
            await pilot.pause()
            form = app.screen
            assert isinstance(form, FormScreen)

            def shown(name: str) -> bool:
                return form.query_one(f"#row-{name}").display

            assert not any(shown(n) for n in ("lr_factor", "lr_patience", "lr_floor"))
            assert shown("early_stopping") and shown("dropout") and shown("tensorboard")
            title = form.query_one("#lr-curve-title", Static)
            assert str(title.render()) == "Learning rate: constant: 0.01 for 1 epoch"
            form.query_one("#field-lr_schedule", Select).value = "cosine"
            await pilot.pause()
            assert shown("lr_floor") and not shown("lr_factor")
            assert str(form.query_one("#lr-curve", Static).render())[-1] == "▁"
            form.query_one("#field-lr_schedule", Select).value = "plateau"
            await pilot.pause()
            assert shown("lr_factor") and shown("lr_patience") and not shown("lr_floor")
            assert "after 1 epoch without a better val loss" in str(title.render())
            form.query_one("#field-tensorboard", Checkbox).value = True
            await pilot.pause()
            assert form.config.tensorboard is True and form.config.lr_schedule == "plateau"
    finally:
        runner.release()
