"""Atomic file writes: a file is either its old or its new content, never half of one.

Every writer of run state (config, metrics rewrites, summary, report, checkpoints, the Omniglot
cache) goes through ``atomic_write``: the data goes to a temporary file in the same folder,
named per process so concurrent writers never share one, is flushed to disk, and is moved into
place with ``os.replace``; the folder is then flushed too, so the new name survives a power
cut.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: Path | str, data: str | bytes | Callable[[BinaryIO], None]) -> None:
    """Replace ``path`` by ``data`` (text, bytes, or a function writing to a binary file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        if callable(data):
            data(f)
        else:
            f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
