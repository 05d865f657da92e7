"""The form's sweep parts: several values in a field, the Trials and Pruning fields.

A number field takes a list or a range as typed (`0.001, 0.01, 0.1`, `1e-4..1e-1 log`); a
choice field takes several choices through its "several…" entry, which shows an input beside
the select (`adam, rmsprop`). When any field holds more than one value, `SweepFields` (Trials,
Pruning) appear under the fields and Start says "Start sweep (N trials)". The rules are the
core's (`search_space`, `sweep_plan`); nothing is checked here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select, Static

from mnist_tui.core.search_space import SearchSpace
from mnist_tui.core.sweep_plan import PRUNERS, SweepPlan, default_trials, parse_sweep_settings

SEVERAL = "__several__"  # the choice fields' "several…" entry
SEVERAL_LABEL = "several…"
NOT_SWEPT = ("strategy",)  # one value for every trial (see search_space)


def several_options(choices: tuple[str, ...], name: str) -> list[tuple[str, str]]:
    """A choice field's options: each choice, then "several…" (fields that can vary)."""
    options = [(c, c) for c in choices]
    return options if name in NOT_SWEPT else [*options, (SEVERAL_LABEL, SEVERAL)]


def several_input(name: str) -> Input:
    """The input beside a choice field's select that holds its several choices."""
    box = Input("", compact=True, id=f"several-{name}", select_on_focus=False,
                placeholder="a, b", classes="several")
    box.display = False
    return box


@dataclass
class SweepRequested(Message):
    """The form was submitted with several values in a field: start a sweep of `plan`."""

    plan: SweepPlan


class SweepFields(Vertical):
    """Trials and Pruning, shown while a field holds several values; its error line below."""

    DEFAULT_CSS = """
    SweepFields { height: auto; display: none; }
    SweepFields.-shown { display: block; }
    SweepFields .field { height: 1; }
    SweepFields #sweep-error { color: $text-error; padding-left: 18; height: auto; }
    """

    def compose(self) -> ComposeResult:
        """Two rows like the form's, and the line that says what is wrong with them."""
        with Horizontal(classes="field", id="row-trials"):
            yield Label("Trials", classes="field-label")
            yield Input("", compact=True, id="field-trials", select_on_focus=False,
                        placeholder="auto")
            yield Static("trials in all; blank: the grid's size, else 20", classes="field-help",
                         markup=False)
        with Horizontal(classes="field", id="row-pruning"):
            yield Label("Pruning", classes="field-label")
            yield Select([(p, p) for p in PRUNERS], value="median", allow_blank=False,
                         compact=True, id="field-pruning")
            yield Static("stop poor trials at an epoch's end: median of earlier trials, "
                         "hyperband, or none", classes="field-help", markup=False)
        yield Static("", id="sweep-error", markup=False)

    def settings(self) -> dict[str, Any]:
        """Trials and pruning as typed (trials None when blank)."""
        trials = self.query_one("#field-trials", Input).value.strip()
        pruning = self.query_one("#field-pruning", Select).value
        return {"trials": trials or None, "pruning": pruning if isinstance(pruning, str)
                else "median"}

    def plan(self, space: SearchSpace, name: str) -> tuple[SweepPlan | None, str]:
        """The sweep the form describes, or None and what is wrong (shown under the rows)."""
        parsed, errors = parse_sweep_settings(self.settings())
        trials, problem = default_trials(space, parsed["trials"])
        message = errors.get("trials") or errors.get("pruning") or problem
        self.query_one("#sweep-error", Static).update(message)
        if message:
            return None, message
        return SweepPlan(name, space, trials, parsed["pruning"] or "median",
                         seed=space.base.seed), ""


def choice_value(select: Select[Any], several: Input) -> Any:
    """What a choice field holds: its choice, the several typed beside it, or None."""
    several.display = select.value == SEVERAL
    if select.value == SEVERAL:
        return several.value
    return None if select.is_blank() else select.value
