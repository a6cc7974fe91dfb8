"""Fetch and verify the official Omniglot release (Lake, Salakhutdinov & Tenenbaum 2015).

Every file is pinned by size and SHA-256 (the image zips' values are those TensorFlow Datasets
publishes; the one-shot runs' were taken from the official file). A download streams to a
temporary file beside the target, is checked, and only then renamed into place, so a
truncated transfer, a moved link or an HTML error page saved as data never looks like a
dataset. Nothing downloads by itself: only ``metalab data fetch`` calls ``fetch``.

The data folder is ``--data`` if given, else ``$METALAB_DATA/omniglot``, else
``~/.cache/metalab/data/omniglot``: never relative to the current directory.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from metalab.errors import BadInput

BASE_URL = "https://github.com/brendenlake/omniglot/raw/master/python"
CHUNK = 1 << 16


class Pinned(NamedTuple):
    """A release file: its path under the base URL, size in bytes and SHA-256."""

    path: str
    size: int
    sha256: str


OMNIGLOT = {
    "images_background.zip": Pinned(
        "images_background.zip", 9464212,
        "ad41ab679c8b5d90b271ef46be6987cc81211774a695c29dcc5367b2b26ee640"),
    "images_evaluation.zip": Pinned(
        "images_evaluation.zip", 6462886,
        "1f61a8f3366785b057fc117d9228e78a16e3d976c8953b2a10fcc74cf0609cee"),
    "images_background_small1.zip": Pinned(
        "images_background_small1.zip", 1319022,
        "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4"),
    "images_background_small2.zip": Pinned(
        "images_background_small2.zip", 1580917,
        "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f"),
    "all_runs.zip": Pinned(
        "one-shot-classification/all_runs.zip", 352787,
        "437c1eeab0af8484112e1b4cc0f3d541ec727f7c47b9b202da738af9dfd6c325"),
}


def data_dir(data: str | Path | None = None) -> Path:
    """The Omniglot folder: ``data``, else ``$METALAB_DATA/omniglot``, else the user cache."""
    if data is not None:
        return Path(data).expanduser()
    root = os.environ.get("METALAB_DATA")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "metalab" / "data"
    return base / "omniglot"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check(path: Path, pinned: Pinned) -> str | None:
    """None if ``path`` has the pinned size and hash, else what is wrong."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size != pinned.size:
        return f"{size} bytes, expected {pinned.size}"
    digest = sha256_of(path)
    if digest != pinned.sha256:
        return f"SHA-256 {digest}, expected {pinned.sha256}"
    return None


def verify(folder: Path, names: list[str] | None = None) -> dict[str, str | None]:
    """{file: problem or None} for ``names`` (default: every pinned file present in
    ``folder``)."""
    names = names or [n for n in OMNIGLOT if (folder / n).exists()]
    return {n: check(folder / n, OMNIGLOT[n]) for n in names}


def fetch(
    name: str,
    folder: Path,
    *,
    base_url: str = BASE_URL,
    retries: int = 3,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Download release file ``name`` into ``folder`` unless a verified copy is there.

    Streams to ``.<name>.<pid>.part``, checks size and SHA-256, renames into place; retries
    network errors ``retries`` times. ``BadInput`` (exit 2) naming the URL, the expected size
    and hash, what arrived and where to put the file by hand, if it cannot be had.
    """
    if name not in OMNIGLOT:
        raise BadInput("FILES", f"unknown file {name!r}; choose from {', '.join(OMNIGLOT)}")
    pinned, target = OMNIGLOT[name], folder / name
    if check(target, pinned) is None:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    url = f"{base_url.rstrip('/')}/{pinned.path}"
    part = folder / f".{name}.{os.getpid()}.part"
    problem = ""
    for attempt in range(retries):
        try:
            received = _stream(url, part, progress)
        except (urllib.error.URLError, OSError) as e:
            if isinstance(e, urllib.error.HTTPError):
                e.close()
            problem = f"could not download ({e})"
            time.sleep(min(2**attempt, 4) * 0.1)
            continue
        problem = check(part, pinned) or ""
        if not problem:
            os.replace(part, target)
            return target
        problem = f"received {received} bytes: {problem}"
        break  # a wrong file will not become right by asking again
    part.unlink(missing_ok=True)
    raise BadInput("--dir", f"{url}: {problem}. Expected {pinned.size} bytes with SHA-256 "
                   f"{pinned.sha256}. Download it by hand and put it at {target}, then run "
                   "`metalab data verify`.")


def _stream(url: str, part: Path, progress: Callable[[int], None] | None) -> int:
    """Copy the body at ``url`` to ``part``; returns the bytes received."""
    received = 0
    with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as f:
        for block in iter(lambda: response.read(CHUNK), b""):
            f.write(block)
            received += len(block)
            if progress is not None:
                progress(len(block))
    return received
