"""JSON and TOML files: atomic writes, forgiving reads, one TOML loader for every Python.

Everything the project writes is strict JSON (RFC 8259): a NaN or an infinity becomes `null`
(`json_safe`), never the `NaN` literal that JavaScript, Go and Rust parsers reject. So that a
reader can tell a NaN loss from a missing one, an object that held such a value names it
under `"nonfinite"`: `{"loss": null, "nonfinite": {"loss": "NaN"}}`. `restore_nonfinite`
(used by every reader here) puts the NaN back. Python's own `json` reads the `NaN` literals
of files written before, so old logs still read.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError

NONFINITE_KEY = "nonfinite"
"""The key under which a written object names its values that were NaN or infinite."""
NONFINITE_VALUES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
"""How a non-finite number is named under `NONFINITE_KEY` (JavaScript's spellings)."""


def _nonfinite_name(value: float) -> str | None:
    """"NaN", "Infinity" or "-Infinity" for a non-finite real number; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or isinstance(
            value, numbers.Integral):
        return None
    number = float(value)
    if math.isfinite(number):
        return None
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def json_safe(data: Any) -> Any:
    """`data` made strict JSON: every non-finite float becomes None, tuples become lists.

    A dict that held non-finite values also names them under `NONFINITE_KEY`.
    """
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, Mapping):
        safe: dict[Any, Any] = {}
        notes: dict[str, str] = {}
        for key, value in data.items():
            name = _nonfinite_name(value)
            if name is not None:
                notes[str(key)] = name
                safe[key] = None
            else:
                safe[key] = json_safe(value)
        if notes:
            safe[NONFINITE_KEY] = notes
        return safe
    if isinstance(data, (list, tuple)):
        return [json_safe(value) for value in data]
    if _nonfinite_name(data) is not None:  # a numpy float32 NaN, say
        return None
    return data


def restore_nonfinite(data: Any) -> Any:
    """The inverse of `json_safe`'s notes: NaN and infinities back where `NONFINITE_KEY`
    names them (in every nested object), the key itself dropped. Anything else is kept."""
    if isinstance(data, list):
        return [restore_nonfinite(value) for value in data]
    if not isinstance(data, dict):
        return data
    restored = {key: restore_nonfinite(value) for key, value in data.items()}
    notes = restored.get(NONFINITE_KEY)
    if isinstance(notes, dict) and all(isinstance(name, str) and name in NONFINITE_VALUES
                                       for name in notes.values()):
        del restored[NONFINITE_KEY]
        for key, name in notes.items():
            if key in restored and restored[key] is None:
                restored[key] = NONFINITE_VALUES[name]
    return restored


def dumps_strict(data: Any, **kwargs: Any) -> str:
    """`json.dumps` of `data` made strict by `json_safe`."""
    return json.dumps(json_safe(data), allow_nan=False, **kwargs)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` so that readers see either the old file or the whole new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(dumps_strict(data, indent=2))
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # a folder that cannot be written has no tmp file
            tmp.unlink(missing_ok=True)
        raise


class UnreadableJson(ValueError):
    """A JSON file that cannot be used; the message says why, for people."""


def load_json_dict(path: Path) -> dict[str, Any]:
    """The JSON object in `path`, NaN restored; raises `UnreadableJson` saying why not.

    Why not: it is missing, a folder, unreadable, not UTF-8, not JSON, or not an object.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnreadableJson(f"no {path.name}") from None
    except IsADirectoryError:
        raise UnreadableJson(f"{path.name} is a folder") from None
    except UnicodeDecodeError:
        raise UnreadableJson(f"{path.name} is not UTF-8 text") from None
    except OSError as exc:
        raise UnreadableJson(f"{path.name} cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise UnreadableJson(f"{path.name} is not JSON" if text.strip()
                             else f"{path.name} is empty") from None
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean"}.get(
            type(data), "null" if data is None else "a number")
        raise UnreadableJson(f"{path.name} holds {kind}, not a JSON object")
    return restore_nonfinite(data)


def read_json_dict(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`; None when it is missing, unreadable or not an object."""
    try:
        return load_json_dict(path)
    except UnreadableJson:
        return None


def load_toml(path: Path) -> dict[str, Any]:
    """The table in a TOML file; raises OSError or `TOMLDecodeError`."""
    return tomllib.loads(Path(path).read_text(encoding="utf-8"))
