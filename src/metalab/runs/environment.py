"""What a run ran on: package versions, Python, backend, devices and the git commit.

Recorded in ``config.json`` so that a result can be traced to the code and hardware that
produced it. Nothing here depends on time, so a resumed run on the same machine writes the
same bytes.
"""

from __future__ import annotations

import platform
import subprocess
from collections import Counter
from importlib import metadata
from pathlib import Path

import jax

from metalab.training import compile_level
from metalab.version import __version__


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit(folder: Path | None = None) -> str | None:
    """The commit of the git checkout holding ``folder`` (default: metalab's source), with
    ``+dirty`` when tracked files differ from it; None outside a checkout."""
    folder = folder or Path(__file__).resolve().parents[1]  # the metalab package
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=folder, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def describe() -> dict:
    """Versions, backend, device kinds and counts, process count, git commit and the LLVM
    level XLA compiles at (None: XLA's default; ``training.compile_level``)."""
    kinds = Counter(d.device_kind for d in jax.devices())
    return {
        "metalab": __version__,
        "jax": jax.__version__,
        "jaxlib": _version("jaxlib"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "backend": jax.default_backend(),
        "devices": [{"kind": kind, "count": count} for kind, count in sorted(kinds.items())],
        "process_count": jax.process_count(),
        "git_commit": git_commit(),
        "llvm_opt_level": compile_level.requested(),
    }
