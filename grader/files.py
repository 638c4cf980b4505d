"""The one atomic writer: every file the grader writes goes through here.

A file is written to a temporary name in its own folder, fsynced, then renamed over the
target (and the folder fsynced): readers see the old file or the new one, never a part.
A process killed between the two leaves `.<name>.<random>.tmp` (and, for a database
built under such a name, SQLite's `-journal` / `-wal` / `-shm` beside it); `is_temp`
recognises exactly those names, so the sweeper of a killed run (store.sweep_temp_files)
needs to know no other pattern.
"""
from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path

_SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()   # read once, at import: os.umask is process-wide


def temp_path(path: str | os.PathLike) -> Path:
    """A fresh temporary name beside `path`, in the pattern `is_temp` recognises (for
    writers that need a name rather than a file, such as a new SQLite database)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def is_temp(name: str) -> bool:
    """A leftover of this module: `.<name>.<random>.tmp`, or a SQLite side file of such a
    temporary database (`.<name>.<random>.tmp-journal`)."""
    if not name.startswith(".") or name.count(".") < 3:
        return False
    return name.endswith(".tmp") or any(name.endswith(".tmp" + side) for side in _SQLITE_SIDE_FILES)


def write_bytes(path: str | os.PathLike, data: bytes, mode: int | None = None) -> Path:
    """Write `data` to `path` atomically (see the module docstring). The parent folders
    are created. The file keeps the mode of the file it replaces, else `mode`, else the
    umask's default."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            new_mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            new_mode = mode if mode is not None else 0o666 & ~_UMASK
        os.chmod(tmp, new_mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """`text` to `path` atomically. Line endings are written as given (no translation)."""
    return write_bytes(path, text.encode(encoding))


def write_json(path: str | os.PathLike, data) -> Path:
    """`data` as UTF-8 JSON (indented, NaN refused), atomically."""
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in `folder` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
