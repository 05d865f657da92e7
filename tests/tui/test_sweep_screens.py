"""The form's sweep fields and the sweep screen, under Pilot: several values make a sweep,
its Trials and Pruning, "Start sweep (N trials)", bad values; a sweep's trials live, the best
marked, importances once enough trials are done (a real study, told values, no training)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.widgets import Button, DataTable, Input, Select, Static

from mnist_tui.core.search_space import parse_search
from mnist_tui.core.sweep_plan import SweepPlan
from mnist_tui.sweeps.study import SweepPlace, create_sweep, load_study
from mnist_tui.sweeps.trial import suggest
from mnist_tui.tui.app import MnistApp
from mnist_tui.tui.screens.form import FormScreen
from mnist_tui.tui.screens.form_sweep import SEVERAL, SweepFields, SweepRequested
from mnist_tui.tui.screens.sweep import SweepScreen


class SweepCatcher(MnistApp):
    """The app, keeping the sweep the form asks for instead of starting it."""

    requested: list[SweepPlan]

    def on_sweep_requested(self, message: SweepRequested) -> None:
        self.requested = [*getattr(self, "requested", []), message.plan]


async def test_several_values_make_the_form_a_sweep(tmp_path: Path) -> None:
    app = SweepCatcher(runs_dir=tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        form = app.screen
        assert isinstance(form, FormScreen)
        sweep_fields = form.query_one(SweepFields)
        assert not sweep_fields.has_class("-shown")
        form.query_one("#field-learning_rate", Input).value = "0.001, 0.01, 0.1"
        form.query_one("#field-optimizer", Select).value = SEVERAL
        await pilot.pause()
        several = form.query_one("#several-optimizer", Input)
        assert several.display
        several.value = "adam, rmsprop"
        await pilot.pause()
        assert sweep_fields.has_class("-shown") and form.errors == {}
        start = form.query_one("#start", Button)
        assert str(start.label) == "Start sweep (6 trials) ⏎"
        assert start.size.width >= len("Start sweep (6 trials) ⏎")
        form.query_one("#field-trials", Input).value = "7"
        await pilot.pause()
        error = str(form.query_one("#sweep-error", Static).render())
        assert "the grid has 6 combinations, so at most 6 trials, got 7" in error
        form.action_start()
        await pilot.pause()
        assert not getattr(app, "requested", [])
        form.query_one("#field-trials", Input).value = ""
        several.value = "adam, rmsprp"
        await pilot.pause()
        assert "optimizer must be one of" in form.errors["optimizer"]
        several.value = "adam, rmsprop"
        form.query_one("#field-pruning", Select).value = "none"
        await pilot.pause()
        form.action_start()
        await pilot.pause()
        plan = app.requested[0]
        assert (plan.trials, plan.pruning, plan.space.is_grid) == (6, "none", True)
        assert plan.space.describe() == ("learning rate 0.001, 0.01, 0.1 · optimizer adam, "
                                         "rmsprop")


def told_sweep(tmp_path: Path, values: list[float | None]) -> SweepPlace:
    """A sweep whose trials were told `values` (None: left running), with no training."""
    space, _ = parse_search({"learning_rate": "1e-3..1e-1 log", "dropout": "0..0.5"})
    place = create_sweep(SweepPlan("told", space, 8, seed=1), tmp_path, "")
    study, plan = load_study(place)
    for value in values:
        trial = study.ask()
        suggest(trial, plan)
        if value is not None:
            study.tell(trial, value)
    return place


class SweepHost(App[None]):
    def __init__(self, place: SweepPlace, runs_dir: Path) -> None:
        super().__init__()
        self.place, self.runs_dir = place, runs_dir

    def on_mount(self) -> None:
        self.push_screen(SweepScreen(self.place, runs_dir=self.runs_dir))


async def test_the_sweep_screen_shows_trials_the_best_and_importances(tmp_path: Path) -> None:
    place = told_sweep(tmp_path, [0.91, 0.95, 0.62, 0.88, None])
    app = SweepHost(place, tmp_path)
    async with app.run_test(size=(130, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, SweepScreen)
        for _ in range(200):
            await pilot.pause(0.05)
            if screen.status is not None and screen._importances:
                break
        table = screen.query_one("#sweep-table", DataTable)
        assert table.row_count == 5
        rows = [table.get_row_at(i) for i in range(5)]
        assert [r[0] for r in rows] == ["", "★", "", "", ""]
        assert [r[2] for r in rows] == ["done", "done", "done", "done", "running"]
        assert rows[1][3] == "95.00%"
        title = str(screen.query_one("#sweep-title", Static).render())
        assert "4/8 trials ended · 1 running · best 95.00% (trial 1)" in title
        bars = str(screen.query_one("#sweep-importance", Static).render())
        assert "Learning rate" in bars and "Dropout" in bars
