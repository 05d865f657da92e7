"""The summary of a run logged by `MonitorCallback` (any Keras model, not the app's MNIST run):
its losses, its accuracies when it has them, its settings, its plain text."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.widgets import Digits, Static

from mnist_tui.core.events import (
    BatchEnd,
    EpochEnd,
    Evaluated,
    Event,
    Phase,
    RunFinished,
    RunStarted,
)
from mnist_tui.runs.writer import RunWriter
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.summary import SummaryScreen, format_summary_text
from mnist_tui.tui.state.history import TrainingHistory
from mnist_tui.tui.widgets.confusion import ConfusionMatrix
from mnist_tui.tui.widgets.digits import DigitCard, DigitGallery
from tests.helpers.summary_app import RUN_DIR, Host, make_evaluated, text_of

CALLBACK_RUN_ID = "20250101-120000-abcd-line-fit"
CALLBACK_CONFIG = {"name": "line fit", "model": "line_fit", "optimizer": "adam",
                   "learning_rate": 0.01, "epochs": 3, "steps_per_epoch": 8, "batch_size": 32,
                   "source": "keras callback"}


def callback_events(*, accuracy: bool = False, marker: bool = True) -> list[Event]:
    """The events `MonitorCallback` logs for a 3-epoch fit of any Keras model.

    Without `accuracy` the model is a regression (loss only, like "mse"); without `marker`
    the config lacks the callback's `source`, leaving only the RunStarted's 0 test images.
    """
    config = dict(CALLBACK_CONFIG)
    if not marker:
        del config["source"]
    events: list[Event] = [
        Phase(phase="training", message="training line fit"),
        RunStarted(run_id=CALLBACK_RUN_ID, config=config, total_batches=24,
                   batches_per_epoch=8, epochs=3, train_samples=256, val_samples=0,
                   test_samples=0, params=41, data_source="keras model.fit")]
    losses = [(0.9, 0.8), (0.3, 0.25), (0.1234, 0.2345)]
    for epoch, (loss, val_loss) in enumerate(losses, start=1):
        acc = 0.8 + epoch / 100 if accuracy else None
        for batch in range(1, 9):
            step = (epoch - 1) * 8 + batch
            events.append(BatchEnd(step=step, epoch=epoch, batch=batch, loss=loss,
                                   accuracy=acc, batch_loss=loss, batch_accuracy=acc,
                                   seen=step * 32, elapsed=0.05 * step))
        events.append(EpochEnd(epoch=epoch, step=epoch * 8, loss=loss, accuracy=acc,
                               val_loss=val_loss, val_accuracy=acc and acc + 0.08,
                               seconds=0.4))
    metrics = {"loss": 0.1234, "mae": 0.28, "val_loss": 0.2345, "val_mae": 0.39}
    if accuracy:
        metrics.update(accuracy=0.83, val_accuracy=0.91)
    events.append(RunFinished(summary={
        "run_id": CALLBACK_RUN_ID, "status": "finished", "reason": "", "params": 41,
        "epochs": 3, "epochs_completed": 3, "stopped_early": False, "val_loss": 0.2345,
        "val_accuracy": 0.91 if accuracy else None, "test_loss": None, "test_accuracy": None,
        "seconds": 1.25, "samples_per_second": 614.4, "train_samples": 256,
        "config": config, "metrics": metrics}))
    return events


def callback_history(**options: bool) -> TrainingHistory:
    history = TrainingHistory()
    for event in callback_events(**options):
        history.fold(event)
    return history


def callback_summary(history: TrainingHistory) -> dict[str, Any]:
    """The summary as the app hands it to the screen: the run's own, plus its folder."""
    return {**history.summary, "run_dir": RUN_DIR}


def notes_of(app: App[Any]) -> list[str]:
    return [str(w.render()) for w in app.screen.query(".note").results(Static)]


@pytest.mark.parametrize("marker", [True, False])
async def test_a_callback_run_without_accuracy_shows_its_losses(marker: bool) -> None:
    history = callback_history(marker=marker)
    app = Host(callback_summary(history), history.evaluated, history=history)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SummaryScreen)
        assert screen.query_one("#train-loss", Digits).value == "0.1234"
        assert screen.query_one("#val-loss", Digits).value == "0.2345"
        for selector in ("#train-loss", "#val-loss"):
            region = screen.query_one(selector).region
            assert region.height == 3 and region.bottom <= 23, (selector, region)
        labels = [str(w.render()) for w in screen.query(".metric-label").results(Static)]
        assert labels == ["Training loss", "Validation loss"]
        assert all(d.value != "--" for d in screen.query(Digits))
        assert not screen.query("#val-accuracy") and not screen.query("#test-accuracy")
        assert not screen.query(ConfusionMatrix) and not screen.query(DigitGallery)
        assert not screen.query(DigitCard)
        facts = text_of(app, "#summary-facts")
        assert "3/3" in facts and "1.2 s" in facts and "614 samples/s" in facts
        assert "Test loss" not in facts and "Val acc" not in facts and "—" not in facts
        assert "✓ Training finished" in text_of(app, "#summary-status")
        assert RUN_DIR in text_of(app, "#summary-run-dir")
        notes = notes_of(app)
        assert not any("before the test evaluation" in n for n in notes)
        assert any("no test evaluation" in n for n in notes)
        epochs = text_of(app, "#summary-epochs").splitlines()
        assert epochs == ["epoch 1/3  loss 0.9000  val loss 0.8000  0.4 s",
                          "epoch 2/3  loss 0.3000  val loss 0.2500  0.4 s",
                          "epoch 3/3  loss 0.1234  val loss 0.2345  0.4 s"]


async def test_a_callback_run_with_accuracy_adds_it_and_its_settings() -> None:
    history = callback_history(accuracy=True)
    app = Host(callback_summary(history), None, history=history)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#train-loss", Digits).value == "0.1234"
        assert screen.query_one("#val-loss", Digits).value == "0.2345"
        assert "Val acc   91.0%" in text_of(app, "#summary-facts")
        settings = text_of(app, "#summary-settings")
        assert screen.query_one("#summary-settings").display
        assert "line fit (line_fit), 41 parameters" in settings
        assert "adam, lr 0.01" in settings and "8 per epoch of 32 samples" in settings
        assert "seed" not in settings
        assert "epoch 3/3  loss 0.1234  acc 83.0%  val loss 0.2345  val acc 91.0%" in (
            text_of(app, "#summary-epochs"))
        assert not screen.query(ConfusionMatrix)


@pytest.mark.parametrize("own_test_set", [False, True])
async def test_a_tested_callback_run_shows_its_accuracies(own_test_set: bool) -> None:
    """Tested by the script's `model.evaluate` (figures only) or by the callback on its own
    `test_data` (`evaluate_test`: with the matrix and digits): accuracies, like an app run."""
    history = callback_history(accuracy=True)
    evaluated = (dataclasses.replace(make_evaluated(), test_accuracy=0.875, test_loss=0.41)
                 if own_test_set else
                 Evaluated(test_loss=0.41, test_accuracy=0.875, test_samples=0, confusion=(),
                           per_class_accuracy=()))
    history.fold(evaluated)
    assert isinstance(history.outcome, RunFinished)
    history.fold(RunFinished(summary=dataclasses.replace(
        history.summary, test_loss=0.41, test_accuracy=0.875)))
    app = Host(callback_summary(history), history.evaluated, history=history)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#val-accuracy", Digits).value == "91.0%"
        assert screen.query_one("#test-accuracy", Digits).value == "87.5%"
        assert not screen.query("#train-loss")
        facts = text_of(app, "#summary-facts")
        assert "Test loss 0.4100" in facts and "Val acc" not in facts
        notes = " ".join(notes_of(app))
        assert bool(screen.query(ConfusionMatrix)) == own_test_set
        assert ("model.evaluate" in notes) != own_test_set
    text = format_summary_text(callback_summary(history))
    assert "validation accuracy 91.0%, test loss 0.4100, test accuracy 87.5%" in text


async def test_a_callback_run_without_validation_shows_the_training_loss_alone() -> None:
    summary = {"run_id": "r", "status": "stopped", "reason": "enough", "epochs": 5,
               "epochs_completed": 2, "stopped_early": True, "val_loss": None,
               "val_accuracy": None, "test_loss": None, "test_accuracy": None,
               "seconds": 3.0, "samples_per_second": None, "config": CALLBACK_CONFIG,
               "metrics": {"loss": 12345.678}}
    app = Host(summary, None)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert [d.value for d in app.screen.query(Digits)] == ["12346"]
        assert "2/5, stopped early" in text_of(app, "#summary-facts")
        assert "Speed" not in text_of(app, "#summary-facts")


async def test_watching_a_callback_run_ends_on_its_losses(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers.fake_runs import wait_for

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    writer = RunWriter(tmp_path, CALLBACK_RUN_ID, CALLBACK_CONFIG)
    for event in callback_events():
        writer.write(event)
    writer.close()
    app = MnistApp(watch=writer.run_dir, runs_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen))
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#train-loss", Digits).value == "0.1234"
        assert screen.query_one("#val-loss", Digits).value == "0.2345"
        assert not screen.query(DigitGallery)
        assert str(writer.run_dir) in text_of(app, "#summary-run-dir")
        assert not any("before the test evaluation" in n for n in notes_of(app))
        # Train again / edit settings would start an MNIST run: hidden here, and inert.
        keys = {b.binding.key for b in app.screen.active_bindings.values() if b.enabled}
        assert "q" in keys and not {"r", "e"} & keys
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Train again" not in titles and "Edit settings" not in titles
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, SummaryScreen)
        await pilot.press("q")


def test_plain_text_of_a_callback_run_names_its_losses() -> None:
    history = callback_history()
    text = format_summary_text(callback_summary(history))
    assert text.splitlines() == [
        f"mnist-tui run {CALLBACK_RUN_ID}: finished",
        "  loss 0.1234, val loss 0.2345",
        "  3 of 3 epochs, 1.2 s of training, 614 samples/s",
        f"  run folder: {RUN_DIR}",
    ]
    with_accuracy = format_summary_text(callback_history(accuracy=True).summary)
    assert "  loss 0.1234, val loss 0.2345, validation accuracy 91.0%" in with_accuracy
    assert "n/a" not in text and "—" not in text and "test" not in text
