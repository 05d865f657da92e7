"""Colour themes: the built-in TOML files, the user's own, and the remembered choice.

Built-in themes are TOML files in the top-level `themes/` folder (shipped as `mnist_tui.themes`);
user themes are `*.toml` files in `<user config dir>/themes/`. Every file is validated before the
app sees it, so a broken theme becomes one readable message and is skipped, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs
from textual.app import App
from textual.color import Color, ColorParseError
from textual.theme import Theme

from mnist_tui.core.errors import MnistTuiError
from mnist_tui.core.jsonio import TOMLDecodeError, load_toml, read_json_dict, write_json_atomic

APP_NAME = "mnist-tui"
DEFAULT_THEME = "mnist-dark"
FALLBACK_THEME = "textual-dark"  # Textual's own, should the built-in files be missing
SETTINGS_FILE = "settings.json"

COLOUR_KEYS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel",
               "boost", "success", "warning", "error")
REQUIRED_KEYS = ("name", "primary")
OTHER_KEYS = ("dark", "variables", "luminosity_spread", "text_alpha")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_VARIABLE_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_PERCENT_RE = re.compile(r"^(?P<colour>.+?)\s+\d+(\.\d+)?%$")


class ThemeFileError(MnistTuiError, ValueError):
    """A theme file or mapping that cannot be used; the message says why, for a person."""


def user_config_dir() -> Path:
    """The user's config folder for mnist-tui (themes and settings live there)."""
    return Path(platformdirs.user_config_dir(APP_NAME))


def user_themes_dir() -> Path:
    """Where user theme files (`*.toml`) are looked for."""
    return user_config_dir() / "themes"


def _check_colour(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f"{key} {value!r} is not a colour (expected a string)")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{key} {value!r} is not a colour") from None
    return value


def _check_variable(key: Any, value: Any) -> tuple[str, str]:
    if not isinstance(key, str) or not _VARIABLE_RE.match(key):
        raise ThemeFileError(f"variable name {key!r} is not valid (use lowercase and dashes)")
    if not isinstance(value, str) or not value.strip():
        raise ThemeFileError(f"variable {key} must be a non-empty string")
    if "style" in key:  # text styles such as "bold" or "reverse", not colours
        return key, value
    match = _PERCENT_RE.match(value.strip())
    colour = match.group("colour") if match else value.strip()
    if colour != "auto":
        try:
            Color.parse(colour)
        except ColorParseError:
            raise ThemeFileError(f"variable {key} {value!r} is not a colour") from None
    return key, value


def theme_from_mapping(data: Mapping[str, Any]) -> Theme:
    """Build a Textual `Theme` from a parsed theme file, checking every key and colour.

    Raises ThemeFileError with a one-line reason (missing key, unknown key, bad colour...).
    """
    unknown = sorted(set(data) - set(COLOUR_KEYS) - set(REQUIRED_KEYS) - set(OTHER_KEYS))
    if unknown:
        raise ThemeFileError(f"unknown key {unknown[0]!r}")
    for key in REQUIRED_KEYS:
        if key not in data:
            raise ThemeFileError(f"missing key {key!r}")
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError("name must be a non-empty string")
    if not _NAME_RE.match(name):
        raise ThemeFileError(f"name {name!r} may hold only letters, digits, '-' and '_'")
    # Any: Theme's keyword arguments differ in type, and each value is checked here.
    colours: dict[str, Any] = {key: _check_colour(key, data[key]) for key in COLOUR_KEYS
                               if key in data}
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeFileError(f"dark {dark!r} must be true or false")
    variables = data.get("variables", {})
    if not isinstance(variables, Mapping):
        raise ThemeFileError("variables must be a table of name = value")
    checked = dict(_check_variable(k, v) for k, v in variables.items())
    extra: dict[str, Any] = {}
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    0 <= value <= 1):
                raise ThemeFileError(f"{key} {value!r} must be a number from 0 to 1")
            extra[key] = float(value)
    theme = Theme(name=name, dark=dark, variables=checked, **colours, **extra)
    try:
        theme.to_color_system().generate()
    except (ColorParseError, ValueError, TypeError) as exc:
        raise ThemeFileError(f"its colours cannot be combined: {exc}") from None
    return theme


def display_path(path: Path) -> str:
    """A path as a person reads it: the home folder shortened to "~"."""
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except (ValueError, RuntimeError):  # not under home, or no home at all
        return str(path)


def load_theme_file(path: Path, label: str | None = None) -> Theme:
    """Read and validate one theme file.

    Raises ThemeFileError("theme file X ignored: <reason>"), X being `label` or the path
    (home shortened to "~").
    """
    label = label or display_path(path)
    try:
        return theme_from_mapping(load_toml(path))
    except OSError as exc:
        reason = f"cannot be read ({exc.strerror or exc})"
    except UnicodeDecodeError:
        reason = "is not UTF-8 text"
    except TOMLDecodeError as exc:
        reason = f"is not valid TOML ({exc})"
    except ThemeFileError as exc:
        reason = str(exc)
    raise ThemeFileError(f"theme file {label} ignored: {reason}")


def _theme_files(folder: Path) -> list[Path]:
    return sorted((f for f in folder.iterdir() if f.name.endswith(".toml") and f.is_file()),
                  key=lambda f: f.name)


def builtin_themes() -> tuple[list[Theme], list[str]]:
    """The themes shipped with the package, and messages for any that fail to load."""
    themes: list[Theme] = []
    errors: list[str] = []
    with resources.as_file(resources.files("mnist_tui.themes")) as folder:
        for file in _theme_files(folder):
            try:
                themes.append(load_theme_file(file, label=f"{file.name} (built in)"))
            except ThemeFileError as exc:
                errors.append(str(exc))
    return themes, errors


def load_themes(user_dir: Path | None = None) -> tuple[list[Theme], list[str]]:
    """All usable themes (built-ins first, then the user's) and one message per ignored file.

    `user_dir` is the folder of user theme files (default `user_themes_dir()`); a missing
    folder is fine. A user theme named like a built-in one replaces it; two user files with
    the same theme name keep the first (by file name).
    """
    themes, errors = builtin_themes()
    folder = user_themes_dir() if user_dir is None else Path(user_dir)
    if not folder.is_dir():
        return themes, errors
    try:
        files = _theme_files(folder)
    except OSError as exc:
        return themes, [*errors, f"theme folder {display_path(folder)} ignored: "
                                 f"{exc.strerror or exc}"]
    builtin_names = {theme.name for theme in themes}
    seen: dict[str, Path] = {}
    for file in files:
        try:
            theme = load_theme_file(file)
        except ThemeFileError as exc:
            errors.append(str(exc))
            continue
        if theme.name in seen:
            errors.append(f"theme file {display_path(file)} ignored: name {theme.name!r} is "
                          f"already used by {display_path(seen[theme.name])}")
            continue
        seen[theme.name] = file
        if theme.name in builtin_names:
            themes = [t for t in themes if t.name != theme.name]
        themes.append(theme)
    return themes, errors


def _settings_path(config_dir: Path | None) -> Path:
    return (user_config_dir() if config_dir is None else Path(config_dir)) / SETTINGS_FILE


def remembered_theme(config_dir: Path | None = None) -> str | None:
    """The theme name saved by `remember_theme`, or None (nothing saved, or a corrupt file)."""
    name = (read_json_dict(_settings_path(config_dir)) or {}).get("theme")
    return name if isinstance(name, str) and name else None


def remember_theme(name: str, config_dir: Path | None = None) -> str | None:
    """Save the theme choice for the next start; returns None, or a message if it failed.

    Other settings in the file are kept; a corrupt file is replaced.
    """
    path = _settings_path(config_dir)
    settings = {**(read_json_dict(path) or {}), "theme": name}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, settings)
    except OSError as exc:
        return f"could not remember the theme in {path}: {exc.strerror or exc}"
    return None


def start_theme(available: Iterable[str], requested: str | None) -> tuple[str, str | None]:
    """The theme to start with, and a warning for a `requested` theme that does not exist.

    `requested` (a `--theme`) wins, else the remembered choice, else the default theme.
    """
    names = set(available)
    fallback = DEFAULT_THEME if DEFAULT_THEME in names else FALLBACK_THEME
    wanted = requested or remembered_theme()
    if wanted and wanted in names:
        return wanted, None
    if not requested:
        return fallback, None
    known = ", ".join(sorted(name for name in names if name.startswith("mnist")))
    return fallback, f"No theme named {requested!r}; using {fallback}. Built-in: {known}."


def register_themes(app: App[Any]) -> list[str]:
    """Register the built-in and the user's themes with `app`; return what was wrong with
    broken theme files (for `use_start_theme` to say once the app runs)."""
    themes, errors = load_themes()
    for theme in themes:
        app.register_theme(theme)
    return errors


def use_start_theme(app: App[Any], requested: str | None, errors: Iterable[str] = ()) -> None:
    """Give the running `app` its first theme (see `start_theme`); notify broken theme files
    (`errors`) and a `requested` theme that does not exist."""
    for message in errors:
        app.notify(message, title="Theme file ignored", severity="warning", timeout=10)
    app.theme, problem = start_theme(app.available_themes, requested)
    if problem:
        app.notify(problem, severity="warning", timeout=10)
