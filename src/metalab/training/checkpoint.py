"""Atomic checkpoints of any pytree of arrays (equinox leaf serialisation).

A checkpoint is written to a temporary file in the same folder and moved into place with
``os.replace``, so a crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import equinox as eqx

from metalab.atomic import atomic_write


class Checkpointer:
    """Saves and restores one pytree (plus its step) under ``folder``."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        self.tree_path = self.folder / "state.eqx"
        self.meta_path = self.folder / "state.json"

    def save(self, tree: Any, step: int, **info: Any) -> None:
        """Atomically write ``tree`` and a JSON sidecar ``{"step": step, **info}``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.tree_path, lambda f: eqx.tree_serialise_leaves(f, tree))
        atomic_write(self.meta_path, json.dumps({"step": step, **info}))

    def info(self) -> dict | None:
        """The sidecar of the last checkpoint, or None if there is none."""
        if not (self.meta_path.exists() and self.tree_path.exists()):
            return None
        return json.loads(self.meta_path.read_text())

    def restore(self, like: Any) -> Any:
        """Load the saved leaves into a tree shaped like ``like``."""
        return eqx.tree_deserialise_leaves(self.tree_path, like)

