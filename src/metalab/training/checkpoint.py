"""Checkpoints of any pytree of arrays as one atomic file with a format version.

``state.ckpt`` holds a magic line, a JSON header line (``format``, ``step``, the body's byte
count, any extra info) and the equinox-serialised leaves. It is written through
``atomic_write`` (temporary file, fsync, rename), so a crash leaves either the previous
checkpoint or the new one, never a tree and a step that disagree. Checkpoints of format 1
(``state.eqx`` plus a ``state.json`` sidecar, written by metalab before 0.2) are still read;
the next save replaces them.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from metalab.atomic import atomic_write
from metalab.errors import BadInput

FORMAT = 2
MAGIC = b"metalab-checkpoint\n"


class Checkpointer:
    """Saves and restores one pytree (plus its step) under ``folder``."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        self.path = self.folder / "state.ckpt"
        self.tree_path = self.folder / "state.eqx"  # format 1
        self.meta_path = self.folder / "state.json"  # format 1

    def save(self, tree: Any, step: int, **info: Any) -> None:
        """Atomically replace the checkpoint by ``tree`` at ``step`` (plus ``info``)."""
        body = io.BytesIO()
        eqx.tree_serialise_leaves(body, tree)
        header = json.dumps({"format": FORMAT, "step": step, "bytes": body.tell(), **info})
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, MAGIC + header.encode() + b"\n" + body.getvalue())
        for old in (self.meta_path, self.tree_path):
            old.unlink(missing_ok=True)

    def info(self) -> dict | None:
        """``{"step": step, **info}`` of the checkpoint, or None if there is none.

        Raises ``BadInput`` naming the file if it is damaged or from a newer metalab.
        """
        if self.path.exists():
            header, _ = self._read()
            return {k: v for k, v in header.items() if k not in ("format", "bytes")}
        if self.meta_path.exists() and self.tree_path.exists():
            return json.loads(self.meta_path.read_text())
        return None

    def restore(self, like: Any) -> Any:
        """Load the saved leaves into a tree shaped like ``like``."""
        if not self.path.exists():
            return self._load(self.tree_path.read_bytes(), like)
        _, body = self._read()
        return self._load(body, like)

    def _read(self) -> tuple[dict, bytes]:
        """The header and body of ``state.ckpt``, checked for format and length."""
        raw = self.path.read_bytes()
        head, _, body = raw[len(MAGIC):].partition(b"\n")
        try:
            header = json.loads(head) if raw.startswith(MAGIC) else None
        except ValueError:
            header = None
        if not isinstance(header, dict) or "step" not in header:
            raise self._damaged("is not a metalab checkpoint (damaged header)")
        if header.get("format") != FORMAT:
            raise self._damaged(f"has format {header.get('format')}, this metalab reads "
                                f"{FORMAT} and 1")
        if header.get("bytes") != len(body):
            raise self._damaged(f"is truncated ({len(body)} of {header.get('bytes')} bytes)")
        return header, body

    def _load(self, body: bytes, like: Any) -> Any:
        try:
            tree = eqx.tree_deserialise_leaves(io.BytesIO(body), like)
        except Exception as e:  # noqa: BLE001 - any decoding failure means a damaged file
            raise self._damaged(f"does not match this run's state ({e})") from e
        if not all(np.isfinite(x).all() for x in jax.tree.leaves(tree)
                   if np.issubdtype(np.asarray(x).dtype, np.inexact)):
            raise self._damaged("holds non-finite values (a diverged state)")
        return tree

    def _damaged(self, why: str) -> BadInput:
        return BadInput(str(self.folder), f"checkpoint {why}; delete {self.folder} to "
                        "restart this stage from scratch, or resume with the metalab "
                        "version that wrote it")
