"""FormScreen: the hyperparameters of the next run, with inline errors and a model preview.

Every `TrainConfig` field is one row: label, input (or select for choices, checkbox for yes/no),
one-line help, and an error line that appears the moment the value is invalid. A setting that
the chosen learning-rate schedule does not use is hidden (unless it holds an error). Under the
model preview, the schedule's rate over the run is drawn as a one-line curve. The rules are the
core's (`parse_values` → `parse_field` + `validate`); nothing is checked here. Enter anywhere
submits, like a web form; an invalid form starts nothing and focuses its first bad field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.lazy import Lazy
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static

from mnist_tui.core.config import TrainConfig
from mnist_tui.core.fields import FIELD_SPECS, SCHEDULE_SETTINGS
from mnist_tui.core.presets import PRESETS
from mnist_tui.core.search_space import SearchSpace, parse_search
from mnist_tui.core.sweep_plan import new_sweep_name
from mnist_tui.tui.screens.form_sweep import (
    NOT_SWEPT,
    SweepFields,
    SweepRequested,
    choice_value,
    several_input,
    several_options,
)
from mnist_tui.tui.widgets.model_preview import PreviewPane

PRESET_LABELS: dict[str, tuple[str, str]] = {
    "seed": ("Seed", "the TensorFlow.js example's settings (the defaults)"),
    "quick": ("Quick", "a quick demo on 6,000 images"),
    "accurate": ("Accurate", "3 epochs, a wider network with dropout, Adam with cosine "
                             "decay: 99%+ test accuracy"),
}
"""Button label and description of the presets in `presets.PRESETS` (others get their name)."""

WIDE = 150
NARROW_ACTIONS = 100  # below this width a sweep's Start hides the presets' label
"""From this many columns on, the model preview sits beside the fields instead of below."""

def schedule_used(name: str, schedule: str) -> bool:
    """Whether setting `name` matters under learning-rate schedule `schedule`."""
    unused = {n for names in SCHEDULE_SETTINGS.values() for n in names}
    return name not in unused or name in SCHEDULE_SETTINGS.get(schedule, ())


def preset_label(name: str) -> tuple[str, str]:
    """The button label and the description of a preset."""
    return PRESET_LABELS.get(name, (name.replace("_", " ").capitalize(), ""))


def field_text(value: Any) -> str:
    """A config value as typed in the form ("" for a seed left random)."""
    return "" if value is None else str(value)



class FormSelect(Select[str]):
    """A compact Select in which Enter submits the form; space and the arrows open the list."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "screen.start", "Start", show=False),
    ]


class FormCheckbox(Checkbox):
    """A compact Checkbox in which Enter submits the form; space ticks it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "screen.start", "Start", show=False),
    ]


class FormScreen(Screen[None]):
    """Edit the settings of a run and start it.

    Posts `FormScreen.StartRequested(config, detach)` (it bubbles to the app) when submitted
    valid; `detach` is the Detach box (train in a background process that outlives the app),
    ticked at first when `detach=True`, ticked for good with `always_detach=True`. Posts
    `SettingsChanged(config)` whenever the fields describe a valid config (the app gets a
    run of it ready ahead, see `training/warmup.py`), and `Drawn()` once it has all been drawn.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "start", "Start", show=False),
        Binding("ctrl+s", "start", "Start"),
        Binding("ctrl+r", "reset", "Reset"),
        # The app's own ctrl+q is hidden (q shows on other screens); list it here.
        Binding("ctrl+q", "app.quit", "Quit", priority=True),
    ]
    # The first field, not the scrolling body: focusing the body would restyle every field.
    AUTO_FOCUS = f"#field-{next(iter(FIELD_SPECS))}"

    @dataclass
    class StartRequested(Message):
        """The form was submitted with valid settings: start a run with `config`."""

        config: TrainConfig
        detach: bool = False

    class Drawn(Message):
        """The whole form has been drawn once, its lazily mounted preview too."""

    @dataclass
    class SettingsChanged(Message):
        """The fields describe a valid config, `config` (as they were shown, or edited)."""

        config: TrainConfig

    def __init__(self, config: TrainConfig | None = None, *, detach: bool = False,
                 always_detach: bool = False, name: str | None = None,
                 id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.initial = config or TrainConfig()
        self.detach = detach or always_detach
        self.always_detach = always_detach  # the box ticked for good (the app in a browser)
        self.errors: dict[str, str] = {}
        self.config = self.initial
        self.preview_ready = False  # whether the lazily mounted preview pane is filled
        self.space = SearchSpace(self.initial, {})  # what varies when a field holds several
        # Each field's widgets, kept as composed: a query walks the whole form, and the
        # checks run on every key.
        self._fields: dict[str, Widget] = {}
        self._rows: dict[str, Widget] = {}
        self._several: dict[str, Input] = {}
        self._error_lines: dict[str, Static] = {}
        self._revalidate_pending = False

    def compose(self) -> ComposeResult:
        """The fields, the model preview, and a bar of actions that never scrolls away."""
        # Set before the first styling pass; set on resize it would restyle every widget.
        self.set_class(self.app.size.width >= WIDE, "-wide", update=False)
        yield Static("mnist-tui · train the TensorFlow.js MNIST network", id="form-title",
                     classes="title-bar")
        with VerticalScroll(id="form-body"):
            with Vertical(id="fields"):
                for name, spec in FIELD_SPECS.items():
                    value = getattr(self.initial, name)
                    with Horizontal(classes="field", id=f"row-{name}") as row:
                        self._rows[name] = row
                        yield Label(spec.label, classes="field-label")
                        field: Widget
                        if spec.kind == "choice":
                            known = value in spec.choices
                            field = FormSelect(several_options(spec.choices, name),
                                               value=value if known else Select.NULL,
                                               allow_blank=not known, compact=True,
                                               id=f"field-{name}")
                        elif spec.kind == "bool":
                            field = FormCheckbox("", bool(value), compact=True,
                                                 id=f"field-{name}", tooltip=spec.help)
                        else:
                            field = Input(field_text(value), compact=True, id=f"field-{name}",
                                          select_on_focus=False, tooltip=spec.help)
                        self._fields[name] = field
                        yield field
                        if spec.kind == "choice" and name not in NOT_SWEPT:
                            self._several[name] = several_input(name)
                            yield self._several[name]
                        yield Static(spec.help, classes="field-help", markup=False)
                    # A field's error line is mounted below its row when it first has one.
                yield SweepFields(id="sweep-fields")
            # Drawn just after the first frame, so the fields come up first (see PreviewPane).
            yield Lazy(PreviewPane(id="preview-pane"))
        yield Static("", id="help-bar", markup=False)
        with Horizontal(id="form-actions"):
            yield Button("Start ⏎", id="start", variant="primary", compact=True)
            yield Button("Reset", id="reset", compact=True,
                         tooltip="back to the defaults (the seed's settings)")
            yield FormCheckbox("Detach", self.detach, id="detach", compact=True,
                               disabled=self.always_detach, tooltip=(
                                   "runs always train in a process of their own here: "
                                   "closing the browser tab leaves them training"
                                   if self.always_detach else
                                   "train in a background process of its own: quitting "
                                   "the app or losing SSH leaves it running"))
            yield Label("Presets:", id="presets-label")
            for preset in PRESETS:
                label, description = preset_label(preset)
                yield Button(label, id=f"preset-{preset}", classes="preset", compact=True,
                             tooltip=description)
        yield Lazy(Footer())  # a frame after the fields: the first frame comes sooner

    def on_mount(self) -> None:
        """Show the first validation (the preview follows once it is mounted)."""
        self.revalidate()

    def on_resize(self) -> None:
        """Put the preview beside the fields on a wide terminal, below them otherwise."""
        wide = self.app.size.width >= WIDE
        if wide != self.has_class("-wide"):
            self.set_class(wide, "-wide")
        self._fit_actions()

    def field(self, name: str) -> Widget:
        """The input or select of one field."""
        return self._fields[name]

    def raw_values(self) -> dict[str, Any]:
        """What each field holds now, as typed (strings; None for an empty select)."""
        values: dict[str, Any] = {}
        for name in FIELD_SPECS:
            widget = self.field(name)
            if isinstance(widget, Select):
                values[name] = choice_value(widget, self._several.get(name, Input()))
            elif isinstance(widget, Checkbox):
                values[name] = widget.value
            else:
                assert isinstance(widget, Input)
                values[name] = widget.value
        return values

    def read(self) -> tuple[TrainConfig, dict[str, str]]:
        """The config the fields describe and every problem with it (field → message); what
        varies, when a field holds several values, is `self.space`."""
        self.space, errors = parse_search(self.raw_values(), base=TrainConfig())
        return self.space.base, errors

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _field_changed(self) -> None:
        # Changes that arrive together (every field's first value as the form mounts, a
        # paste) are checked once, after them: each check looks at every field.
        if not self._revalidate_pending:
            self._revalidate_pending = True
            self.call_later(self._revalidate_later)

    def _revalidate_later(self) -> None:
        self._revalidate_pending = False
        self.revalidate()

    def revalidate(self) -> None:
        """Show each field's error (or none) and update the model preview."""
        self.config, self.errors = self.read()
        for name in FIELD_SPECS:
            message = self.errors.get(name, "")
            self._show_error(name, message)
            self.field(name).set_class(bool(message), "-invalid")
            self._rows[name].display = bool(message) or schedule_used(
                name, self.config.lr_schedule)
        self._update_preview()
        self._update_sweep()
        if not self.errors and not self.space.is_sweep:
            self.post_message(self.SettingsChanged(self.config))

    def _update_sweep(self) -> None:
        """Show Trials and Pruning while a field holds several values; say it on Start."""
        fields = self.query_one(SweepFields)
        fields.set_class(self.space.is_sweep, "-shown")
        label = "Start ⏎"
        if self.space.is_sweep:
            plan, _ = fields.plan(self.space, "form")
            label = f"Start sweep ({plan.trials if plan else '?'} trials) ⏎"
        start = self.query_one("#start", Button)
        if str(start.label) != label:
            start.label = label
            start.refresh(layout=True)  # its width follows the label
        self._fit_actions()

    def _fit_actions(self) -> None:
        """The sweep's longer Start leaves no room for "Presets:" on a narrow terminal."""
        self.query_one("#presets-label").display = not (
            self.space.is_sweep and self.app.size.width < NARROW_ACTIONS)

    def _show_error(self, name: str, message: str) -> None:
        """Show `message` under field `name`'s row, or hide the line when it is empty."""
        error = self._error_lines.get(name)
        if error is None:
            if not message:
                return  # no error line yet, and none needed
            error = Static("", classes="field-error", id=f"error-{name}", markup=False)
            self.query_one("#fields").mount(error, after=self._rows[name])
            self._error_lines[name] = error
        error.update(message)
        error.display = bool(message)

    @on(PreviewPane.Ready)
    def _preview_ready(self) -> None:
        self.preview_ready = True
        self._update_preview()
        self.call_after_refresh(self.post_message, self.Drawn())

    def _update_preview(self) -> None:
        """The model preview and the learning-rate curve, once the pane is mounted."""
        if self.preview_ready:
            self.query_one(PreviewPane).show(self.config, self.errors)

    def load(self, config: TrainConfig) -> None:
        """Put every value of `config` into the fields, then check them all once (not once
        per field changed: each check looks at every field)."""
        with self.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
            for name in FIELD_SPECS:
                widget = self.field(name)
                value = getattr(config, name)
                if isinstance(widget, Select):
                    if value in FIELD_SPECS[name].choices:
                        widget.value = value
                elif isinstance(widget, Checkbox):
                    widget.value = bool(value)
                else:
                    assert isinstance(widget, Input)
                    widget.value = field_text(value)
        self.revalidate()

    def action_start(self) -> None:
        """Submit: start a run if every field is valid, else focus the first bad field."""
        config, errors = self.read()
        self.config, self.errors = config, errors
        if errors:
            self.revalidate()
            first = next(name for name in FIELD_SPECS if name in errors)
            self.field(first).focus()
            self.notify(errors[first], title=f"{len(errors)} setting(s) to fix before starting",
                        severity="error")
            return
        if self.space.is_sweep:
            plan, problem = self.query_one(SweepFields).plan(self.space, new_sweep_name())
            if plan is None:
                self.query_one("#field-trials").focus()
                self.notify(problem, title="Cannot start the sweep", severity="error")
                return
            self.post_message(SweepRequested(plan))
            return
        self.post_message(self.StartRequested(config, self.query_one("#detach", Checkbox).value))

    def action_reset(self) -> None:
        """Put back the defaults (the TensorFlow.js example's settings)."""
        self.load(TrainConfig())
        self.notify("Settings reset to the defaults.")

    def action_preset(self, name: str) -> None:
        """Load a preset from `presets.PRESETS` into the form."""
        if name not in PRESETS:
            self.notify(f"Unknown preset {name!r}.", severity="error")
            return
        self.load(PRESETS[name])
        label, description = preset_label(name)
        self.notify(f"{label}: {description}" if description else label, title="Preset loaded")

    def on_descendant_focus(self) -> None:
        """Show the whole help line of the focused field (the row may cut it short)."""
        focused = self.focused
        name = (focused.id or "").removeprefix("field-") if focused is not None else ""
        bar = self.query_one("#help-bar", Static)
        if name in FIELD_SPECS:
            spec = FIELD_SPECS[name]
            bar.update(f"{spec.label}: {spec.help}")
        else:
            bar.update("Enter starts the run from any field · Tab moves between fields")

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#reset")
    def _reset_pressed(self) -> None:
        self.action_reset()

    @on(Button.Pressed, ".preset")
    def _preset_pressed(self, event: Button.Pressed) -> None:
        assert event.button.id is not None
        self.action_preset(event.button.id.removeprefix("preset-"))
