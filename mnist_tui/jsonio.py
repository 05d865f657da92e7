"""JSON and TOML files: atomic writes, forgiving reads, one TOML loader for every Python.

Everything the project writes is strict JSON (RFC 8259): a NaN or an infinity becomes `null`
(`json_safe`), never the `NaN` literal that JavaScript, Go and Rust parsers reject.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError


def json_safe(data: Any) -> Any:
    """`data` with every non-finite float (NaN, ±inf) replaced by None, tuples as lists."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: json_safe(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(value) for value in data]
    return data


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
        tmp.unlink(missing_ok=True)
        raise


def read_json_dict(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`; None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_toml(path: Path) -> dict[str, Any]:
    """The table in a TOML file; raises OSError or `TOMLDecodeError`."""
    return tomllib.loads(Path(path).read_text(encoding="utf-8"))
