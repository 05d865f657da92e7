"""What happens at an epoch end besides reporting it: a plateau lowers the rate, early stopping.

Both are Keras's own callbacks on the validation loss: `ReduceLROnPlateau` (factor
`lr_factor`, patience `lr_patience`; an improvement is a fall of at least its `min_delta`,
1e-4) for `lr_schedule = "plateau"`, and `EarlyStopping` (patience `early_stopping`,
`restore_best_weights`) when `early_stopping` is above 0. `EpochRules` drives them instead of
`fit`, for three reasons: a resumed run's two fits are one run (Keras would reset them between
the fits, and restore the best weights at the end of the first); they run after the epoch's
`EpochEnd` (which logs the rate the epoch trained with) and before its checkpoint; and their
state (counts, best loss, best weights) goes into that checkpoint, so a resumed run goes on
with it. The trainer calls `finish` once `fit` is over: the best epoch's weights come back
(Keras's rule: whenever training ends with early stopping on, by itself or stopped).

Keras is imported only when rules are made; `outcome_text` reads a summary without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mnist_tui.core.config import TrainConfig

if TYPE_CHECKING:
    import numpy as np


def _plain(value: Any) -> float | None:
    """A best value as JSON can hold it (Keras keeps NumPy or tensor scalars)."""
    return None if value is None else float(value)


class EpochRules:
    """The epoch-end rules of one run (maybe none): see the module."""

    def __init__(self, config: TrainConfig) -> None:
        import keras

        self.config = config
        self.plateau: Any = None
        self.stopper: Any = None
        if config.lr_schedule == "plateau":
            self.plateau = keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=config.lr_factor, patience=config.lr_patience)
        if config.early_stopping > 0:
            self.stopper = keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.early_stopping, restore_best_weights=True)
        for rule in self._rules():
            rule.on_train_begin()  # their state from nothing, once for the whole run
        self.best_logs: dict[str, float] = {}  # the best epoch's logs
        self.restored = False

    def _rules(self) -> list[Any]:
        return [rule for rule in (self.plateau, self.stopper) if rule is not None]

    @property
    def active(self) -> bool:
        """Whether there is any rule to apply."""
        return bool(self._rules())

    def attach(self, model: Any) -> None:
        """Apply the rules to `model` (built and compiled)."""
        for rule in self._rules():
            rule.set_model(model)

    def epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Apply the rules after Keras's epoch `epoch` (from 0) with its logs."""
        if self.plateau is not None:
            self.plateau.on_epoch_end(epoch, dict(logs))
        stopper = self.stopper
        if stopper is not None:
            stopper.on_epoch_end(epoch, dict(logs))
            if stopper.best_epoch == epoch and stopper.best_weights is not None:
                self.best_logs = {key: float(value) for key, value in logs.items()}

    def finish(self) -> None:
        """Once training is over: put back the best epoch's weights (early stopping)."""
        stopper = self.stopper
        if stopper is not None and stopper.best_weights is not None:
            stopper.on_train_end()
            self.restored = True

    def state(self) -> dict[str, Any]:
        """The rules' counts and best values, as JSON for the checkpoint."""
        state: dict[str, Any] = {}
        if self.plateau is not None:
            state["plateau"] = {"wait": self.plateau.wait, "best": _plain(self.plateau.best),
                                "cooldown_counter": self.plateau.cooldown_counter}
        if self.stopper is not None:
            stopper = self.stopper
            state["early_stopping"] = {
                "wait": stopper.wait, "best": _plain(stopper.best),
                "best_epoch": stopper.best_epoch, "stopped_epoch": stopper.stopped_epoch,
                "best_logs": self.best_logs}
        return state

    def best_weights(self) -> list[np.ndarray]:
        """The weights early stopping keeps (the best epoch's); [] when none yet."""
        weights = self.stopper.best_weights if self.stopper is not None else None
        return list(weights or [])

    def restore(self, state: Mapping[str, Any], best_weights: list[np.ndarray]) -> None:
        """Go on from a checkpoint's `state()` and `best_weights()`.

        A checkpoint of a run without these rules (or of an older version) has no state:
        the rules then begin afresh at the checkpoint. A run that early stopping ended and
        that is resumed to more epochs goes on with its counts: it stops again after the
        next epoch unless the validation loss improves.
        """
        plateau = state.get("plateau")
        if self.plateau is not None and isinstance(plateau, Mapping):
            self.plateau.wait = int(plateau.get("wait", 0))
            self.plateau.best = plateau.get("best")
            self.plateau.cooldown_counter = int(plateau.get("cooldown_counter", 0))
        stopping = state.get("early_stopping")
        if self.stopper is not None and isinstance(stopping, Mapping):
            stopper = self.stopper
            stopper.wait = int(stopping.get("wait", 0))
            stopper.best = stopping.get("best")
            stopper.best_epoch = int(stopping.get("best_epoch", 0))
            stopper.stopped_epoch = 0  # a run that goes on was not stopped (yet)
            stopper.best_weights = list(best_weights) or None
            self.best_logs = dict(stopping.get("best_logs") or {})

    def outcome(self) -> dict[str, Any]:
        """Summary keys: `early_stopped_epoch` (the epoch after which early stopping ended
        the run) and `best_epoch` (whose weights the model has), both from 1, and the best
        epoch's validation figures when its weights were put back; {} when it did nothing."""
        stopper = self.stopper
        if stopper is None or not self.restored:
            return {}
        keys: dict[str, Any] = {"best_epoch": stopper.best_epoch + 1}
        if stopper.stopped_epoch > 0:
            keys["early_stopped_epoch"] = stopper.stopped_epoch + 1
        if "val_loss" in self.best_logs:
            keys["val_loss"] = self.best_logs["val_loss"]
        if "val_accuracy" in self.best_logs:
            keys["val_accuracy"] = self.best_logs["val_accuracy"]
        return keys


def outcome_text(summary: Mapping[str, Any], *, short: bool = False) -> str:
    """What early stopping did, in one line for people (`short`: for a title bar); "" when
    it did nothing."""
    best = summary.get("best_epoch")
    stopped = summary.get("early_stopped_epoch")
    if not isinstance(best, int):
        return ""
    if short:
        kept = f"weights of epoch {best} (best val loss) kept"
        return f"early stop after epoch {stopped}; {kept}" if isinstance(stopped, int) else kept
    config = summary.get("config")
    patience = config.get("early_stopping") if isinstance(config, Mapping) else None
    kept = f"kept the weights of epoch {best}, the best validation loss"
    if isinstance(stopped, int):
        wait = (f" for {patience} epoch" + ("" if patience == 1 else "s")
                if isinstance(patience, int) else "")
        return (f"early stopping ended the run after epoch {stopped}: the validation loss "
                f"had not improved{wait}; {kept}")
    return f"early stopping {kept}"
