"""Index generations on disk: written beside the current one, switched to atomically, damage detected."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
META = "meta.json"


class IndexDamaged(Exception):
    """The index on disk is incomplete or corrupt; it will be rebuilt."""


class IndexStoreError(Exception):
    """The index cannot be written where the settings put it (not a directory, no permission, disk full)."""


def current_generation(root: Path) -> tuple[Path, dict[str, Any]] | None:
    """The directory and metadata of the index in use, None when there is none; raises IndexDamaged."""
    pointer = root / CURRENT
    if not pointer.exists():
        return None
    try:
        name = pointer.read_text(encoding="utf-8").strip()
        directory = root / name
        meta = json.loads((directory / META).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IndexDamaged(f"cannot read {pointer} or its metadata: {error}") from error
    if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
        raise IndexDamaged(f"{directory / META} is not index metadata")
    for relative, size in meta["files"].items():
        path = directory / relative
        if not path.is_file() or path.stat().st_size != size:
            raise IndexDamaged(f"{path} is missing or has the wrong size")
    return directory, meta


def write_generation(root: Path, name: str, meta: dict[str, Any], write: Callable[[Path], None]) -> Path:
    """Write a new generation with `write(directory)`, then make it current in one atomic rename."""
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    switched = False
    try:
        write(staging)
        files = {
            path.relative_to(staging).as_posix(): path.stat().st_size
            for path in sorted(staging.rglob("*"))
            if path.is_file()
        }
        _write_atomic(staging / META, json.dumps(meta | {"files": files}, indent=1, sort_keys=True))
        final = root / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        _write_atomic(root / CURRENT, name + "\n")
        switched = True
    finally:
        if not switched:
            # Interrupted or failed: the previous generation stays current; drop the half-written one.
            shutil.rmtree(staging, ignore_errors=True)
    _remove_old(root, keep=name)
    return final


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _remove_old(root: Path, keep: str) -> None:
    for path in root.iterdir():
        if path.is_dir() and path.name != keep:
            log.debug("removing old index %s", path)
            shutil.rmtree(path, ignore_errors=True)
