"""Themes: built-ins load and apply, broken user files are reported and skipped, the choice
is remembered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.color import Color

from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.jsonio import load_toml
from mnist_tui.tui.themes import (
    DEFAULT_THEME,
    ThemeFileError,
    builtin_themes,
    load_theme_file,
    load_themes,
    remember_theme,
    remembered_theme,
    start_theme,
)
from mnist_tui.tui.theming import theme_color

REPO_THEMES = Path(__file__).resolve().parents[2] / "themes"
# The pure colours of the 16-colour palette: they look the same on a 16-colour terminal.
PURE_16 = {"#000000", "#FFFFFF", "#FF0000", "#00FF00", "#0000FF", "#FFFF00", "#00FFFF",
           "#FF00FF", "#808080", "#C0C0C0"}

GOOD_USER_THEME = """
name = "my-theme"
primary = "#336699"
background = "#101010"
foreground = "white"
dark = true
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_themes_load_without_errors() -> None:
    themes, errors = builtin_themes()
    assert errors == []
    names = [t.name for t in themes]
    assert {"mnist-dark", "mnist-light", "mnist-high-contrast"} <= set(names)
    assert DEFAULT_THEME in names
    by_name = {t.name: t for t in themes}
    assert by_name["mnist-dark"].dark is True
    assert by_name["mnist-light"].dark is False
    for theme in themes:
        for key in ("primary", "secondary", "accent", "foreground", "background", "surface",
                    "panel", "success", "warning", "error"):
            assert getattr(theme, key), f"{theme.name} lacks {key}"


def test_high_contrast_uses_only_pure_16_colour_values() -> None:
    data = load_toml(REPO_THEMES / "mnist-high-contrast.toml")
    colours = [v for k, v in data.items() if isinstance(v, str) and k != "name"]
    colours += [v for k, v in data["variables"].items() if "style" not in k]
    assert colours
    for value in colours:
        assert Color.parse(value).hex in PURE_16, value


async def test_every_builtin_theme_applies_in_an_app() -> None:
    themes, _ = load_themes(user_dir=Path("/nonexistent"))

    class Host(App[None]):
        def on_mount(self) -> None:
            for theme in themes:
                self.register_theme(theme)

    app = Host()
    async with app.run_test() as pilot:
        for theme in themes:
            app.theme = theme.name
            await pilot.pause()
            assert app.current_theme.name == theme.name
            # the colour system may round a channel by one
            got = theme_color(app, "error", "black").rgb
            want = Color.parse(theme.error or "").rgb
            assert all(abs(a - b) <= 1 for a, b in zip(got, want, strict=True)), (got, want)


def test_a_broken_user_theme_gives_one_error_and_the_others_still_load(tmp_path: Path) -> None:
    write(tmp_path, "good.toml", GOOD_USER_THEME)
    broken = write(tmp_path, "broken.toml", 'name = "broken"\nprimary = "bleh"\n')
    write(tmp_path, "notes.txt", "not a theme")
    themes, errors = load_themes(user_dir=tmp_path)
    assert errors == [f"theme file {broken} ignored: primary 'bleh' is not a colour"]
    names = [t.name for t in themes]
    assert "my-theme" in names and "broken" not in names
    assert {"mnist-dark", "mnist-light", "mnist-high-contrast"} <= set(names)


@pytest.mark.parametrize(("text", "reason"), [
    ('name = "x"\nprimary = ', "is not valid TOML"),
    ('primary = "#ffffff"\n', "missing key 'name'"),
    ('name = ""\nprimary = "#ffffff"\n', "name must be a non-empty string"),
    ('name = "x"\nprimary = "#ffffff"\nprimry = "red"\n', "unknown key 'primry'"),
    ('name = "x"\nprimary = "#ffffff"\ndark = "yes"\n', "dark 'yes' must be true or false"),
    ('name = "x"\nprimary = "#ffffff"\nerror = 12\n', "error 12 is not a colour"),
    ('name = "x"\nprimary = "#ffffff"\n[variables]\nborder = "nope"\n',
     "variable border 'nope' is not a colour"),
])
def test_each_kind_of_broken_file_is_reported(tmp_path: Path, text: str, reason: str) -> None:
    path = write(tmp_path, "bad.toml", text)
    themes, errors = load_themes(user_dir=tmp_path)
    assert len(errors) == 1
    assert errors[0].startswith(f"theme file {path} ignored: ")
    assert reason in errors[0]
    assert "x" not in [t.name for t in themes]


def test_variables_may_hold_alpha_colours_and_text_styles(tmp_path: Path) -> None:
    write(tmp_path, "vars.toml", 'name = "vars"\nprimary = "#ffffff"\n[variables]\n'
          'input-selection-background = "#81a1c1 35%"\nblock-cursor-text-style = "bold"\n')
    themes, errors = load_themes(user_dir=tmp_path)
    assert errors == []
    assert next(t for t in themes if t.name == "vars").variables["block-cursor-text-style"] == (
        "bold")


def test_a_user_theme_may_replace_a_builtin_and_duplicates_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", 'name = "mnist-dark"\nprimary = "#123456"\n')
    second = write(tmp_path, "b.toml", 'name = "mnist-dark"\nprimary = "#654321"\n')
    themes, errors = load_themes(user_dir=tmp_path)
    dark = [t for t in themes if t.name == "mnist-dark"]
    assert len(dark) == 1 and dark[0].primary == "#123456"
    assert len(errors) == 1 and str(second) in errors[0]


def test_a_missing_user_folder_is_not_an_error(tmp_path: Path) -> None:
    themes, errors = load_themes(user_dir=tmp_path / "nothing-here")
    assert errors == []
    assert len(themes) >= 3


def test_the_theme_choice_round_trips(tmp_path: Path) -> None:
    assert remembered_theme(tmp_path) is None
    assert remember_theme("mnist-light", tmp_path) is None
    assert remembered_theme(tmp_path) == "mnist-light"
    assert remember_theme("mnist-high-contrast", tmp_path) is None
    assert remembered_theme(tmp_path) == "mnist-high-contrast"


def test_other_settings_are_kept(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({"other": 3}))
    remember_theme("mnist-light", tmp_path)
    data: dict[str, Any] = json.loads((tmp_path / "settings.json").read_text())
    assert data == {"other": 3, "theme": "mnist-light"}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"theme": 42}', "\udcff"])
def test_a_corrupt_settings_file_is_tolerated(tmp_path: Path, content: str) -> None:
    (tmp_path / "settings.json").write_text(content, errors="surrogateescape")
    assert remembered_theme(tmp_path) is None
    assert remember_theme("mnist-dark", tmp_path) is None
    assert remembered_theme(tmp_path) == "mnist-dark"


def test_an_unwritable_config_dir_gives_a_message_not_an_exception(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    message = remember_theme("mnist-dark", blocker / "sub")
    assert message is not None and "could not remember the theme" in message


async def test_theme_color_falls_back_when_the_terminal_decides() -> None:
    app: App[None] = App()
    async with app.run_test() as pilot:
        app.theme = "ansi-dark"
        await pilot.pause()
        assert theme_color(app, "background", "#123456") == Color.parse("#123456")


def test_messages_shorten_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / "themes"
    folder.mkdir()
    write(folder, "broken.toml", 'name = "broken"\nprimary = "bleh"\n')
    _, errors = load_themes(user_dir=folder)
    assert errors == ["theme file ~/themes/broken.toml ignored: primary 'bleh' is not a colour"]


def test_a_broken_theme_file_is_a_fault_for_the_user_to_fix(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.toml", "name = 'broken'\nprimary = 'not a colour'\n")
    with pytest.raises(ThemeFileError) as raised:
        load_theme_file(broken)
    assert isinstance(raised.value, MnistTuiError) and isinstance(raised.value, ValueError)
    assert "broken.toml ignored" in str(raised.value)


def test_the_start_theme_is_the_asked_one_then_the_remembered_one_then_the_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    names = ["mnist-dark", "mnist-light", "textual-dark"]
    assert start_theme(names, None) == (DEFAULT_THEME, None)
    assert start_theme(names, "mnist-light") == ("mnist-light", None)
    remember_theme("mnist-light")
    assert start_theme(names, None) == ("mnist-light", None)
    name, problem = start_theme(names, "nope")
    assert name == DEFAULT_THEME and problem is not None and "'nope'" in problem
    assert start_theme(["textual-dark"], None) == ("textual-dark", None)
