"""Atomic file writes: a crash never leaves a half-written result that looks complete."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from src.errors import ConfigError, DataError


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)` on a temporary file beside `path`, then rename it onto `path` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    # mkstemp makes 0600; a result file is readable like any file the user writes
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _finite(data: Any) -> Any:
    """NaN and infinities become None: strict JSON (pandas, JavaScript, jq) has no NaN."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: Any) -> Path:
    """Write `data` as indented strict JSON (NaN and infinities as null), atomically."""
    text = json.dumps(_finite(data), indent=2, sort_keys=False, default=str, allow_nan=False) + "\n"
    return atomic_write(path, lambda p: p.write_text(text))


def read_json(path: str | Path) -> Any:
    """Read JSON; a truncated or corrupt file raises DataError naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is corrupt or truncated ({e.__class__.__name__}): delete it to recompute") from e
    except OSError as e:  # missing, a folder, unreadable
        raise DataError(f"{path} cannot be read ({e.strerror or type(e).__name__})") from e


def save_torch(path: str | Path, obj: Any) -> Path:
    """torch.save, atomically."""
    return atomic_write(path, lambda p: torch.save(obj, p))


def load_torch(path: str | Path) -> Any:
    """torch.load on CPU; a truncated or corrupt file raises DataError naming the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as e:  # torch raises several types for a damaged zip/pickle
        raise DataError(f"{path} is corrupt or truncated ({e.__class__.__name__}): delete it to recompute") from e


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def writable_folder(key: str, path: str | Path) -> Path:
    """`path` created (with its parents) and writable, or a one-line ConfigError naming the setting `key`: checked
    before any long work, never found after it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{key}={path} is a file: give a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{key}={path} cannot be created ({e.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}={path} is not writable: choose another folder")
    return path
