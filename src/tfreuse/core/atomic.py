"""Atomic file output: write beside the target, then rename over it, so no reader sees half a file."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _create_beside(path: Path) -> tuple[int, Path]:
    """A new, uniquely named file in `path`'s folder, opened for writing.

    Opened with mode 0o666, so the kernel applies the process umask as for any new file (mkstemp
    would make it private, and reading the umask means changing it, process-wide).
    """
    while True:
        temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write `data` to `path` atomically (creating its folder); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = _create_beside(path)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode("utf-8") if isinstance(data, str) else data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
