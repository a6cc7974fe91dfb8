"""Omniglot (Lake, Salakhutdinov & Tenenbaum 2015) from the official release zips.

Reads every ``images_background*.zip`` and ``images_evaluation*.zip`` in a folder (layout
``<split>/<alphabet>/<characterNN>/<id>_<drawer>.png``, 105x105 black strokes on white),
resizes each drawing to 28x28 with area averaging, and stores strokes as 255 and background as
0. The decoded arrays are cached in a compressed ``.npz`` named after the SHA-256 of the zips,
so a changed or replaced zip is decoded afresh. Every problem with the files raises
``BadInput`` naming ``--data`` before any compute.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from metalab.atomic import atomic_write
from metalab.errors import BadInput
from metalab.tasks.download import data_dir
from metalab.tasks.episodes import ImageClasses

SIZE = 28
PATTERNS = ("images_background*.zip", "images_evaluation*.zip")
CACHE_VERSION = "1"


def default_cache_dir() -> Path:
    """``$METALAB_CACHE`` or ``~/.cache/metalab``."""
    return Path(os.environ.get("METALAB_CACHE", Path.home() / ".cache" / "metalab"))


def find_zips(data: Path | str | None) -> list[Path]:
    """The official image zips in ``data`` (empty or None: ``download.data_dir()``), sorted;
    ``BadInput`` if there are none."""
    data = data_dir(data or None)
    if not data.is_dir():
        raise BadInput("--data", f"{data} is not a folder; give the folder holding the "
                       "Omniglot zips (images_background*.zip, images_evaluation*.zip), or "
                       "fetch them there with `metalab data fetch omniglot`")
    zips = sorted({p for pattern in PATTERNS for p in data.glob(pattern)})
    if not zips:
        raise BadInput("--data", f"no images_background*.zip or images_evaluation*.zip in "
                       f"{data}; give the folder of the official Omniglot release, or fetch "
                       "it with `metalab data fetch omniglot`")
    return zips


def decode(png: bytes, where: str, option: str = "--data") -> np.ndarray:
    """A 105x105 Omniglot PNG as a [28, 28] uint8 array, strokes 255, background 0."""
    try:
        img = Image.open(io.BytesIO(png)).convert("L")
    except (UnidentifiedImageError, OSError) as e:
        raise BadInput(option, f"{where} is not a readable PNG ({e})") from e
    ink = Image.fromarray(255 - np.asarray(img, dtype=np.uint8))
    return np.asarray(ink.resize((SIZE, SIZE), Image.Resampling.BOX), dtype=np.uint8)


def read_zip(path: Path) -> dict[tuple[str, str], list[np.ndarray]]:
    """{(alphabet, character): drawings} of one zip, in file-name order."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise BadInput("--data", f"{path} is not a readable zip ({e}); replace it with the "
                       "official file") from e
    chars: dict[tuple[str, str], list[np.ndarray]] = {}
    with archive:
        names = sorted(n for n in archive.namelist() if n.lower().endswith(".png"))
        for name in names:
            parts = name.split("/")
            if len(parts) != 4:
                raise BadInput("--data", f"{path.name}: {name} is not laid out as "
                               "<split>/<alphabet>/<character>/<image>.png")
            try:
                png = archive.read(name)
            except (zipfile.BadZipFile, OSError, ValueError) as e:
                raise BadInput("--data", f"{path.name}: cannot read {name} ({e})") from e
            chars.setdefault((parts[1], parts[2]), []).append(decode(png, f"{path.name}:{name}"))
    if not chars:
        raise BadInput("--data", f"{path.name} holds no <split>/<alphabet>/<character>/*.png")
    return chars


def decode_all(zips: list[Path]) -> ImageClasses:
    """Characters of all ``zips`` as classes grouped by alphabet (no rotations).

    A character found in several zips counts once: the two official small background sets
    share the alphabets Greek and Latin, drawing for drawing (242 distinct characters of 8
    alphabets, not 136 + 156 of 10)."""
    chars: dict[tuple[str, str], list[np.ndarray]] = {}
    for path in zips:
        for key, drawings in read_zip(path).items():
            if key in chars and not np.array_equal(np.stack(chars[key]), np.stack(drawings)):
                raise BadInput("--data", f"{path.name}: {'/'.join(key)} differs from the "
                               "character of that name in another zip")
            chars[key] = drawings
    counts = {len(v) for v in chars.values()}
    if len(counts) != 1:
        raise BadInput("--data", f"characters have different numbers of drawings "
                       f"{sorted(counts)}; expected the same number (20) for every character")
    keys = sorted(chars)
    alphabets = sorted({a for a, _ in keys})
    images = np.stack([np.stack(chars[k]) for k in keys])[..., None]
    group = np.array([alphabets.index(a) for a, _ in keys], dtype=np.int32)
    return ImageClasses(images, group, tuple(f"{a}/{c}" for a, c in keys))


def fingerprint(files: list[Path]) -> str:
    """SHA-256 over the names and bytes of ``files`` and the cache version."""
    h = hashlib.sha256(CACHE_VERSION.encode())
    for path in files:
        h.update(path.name.encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def load_omniglot(data: Path | str | None, cache_dir: Path | str | None = None) -> ImageClasses:
    """All characters of the Omniglot zips in ``data`` (cached under ``cache_dir``)."""
    return load_zips(find_zips(data), cache_dir)


def load_zips(zips: list[Path], cache_dir: Path | str | None = None) -> ImageClasses:
    """The characters of exactly ``zips`` (see ``decode_all``), decoded once and cached
    under ``cache_dir`` by the zips' fingerprint."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    file = cache / f"omniglot-{fingerprint(zips)[:20]}.npz"
    if file.exists():
        with np.load(file) as z:
            return ImageClasses(z["images"], z["group"], tuple(z["names"].tolist()))
    classes = decode_all(zips)
    cache.mkdir(parents=True, exist_ok=True)
    atomic_write(file, lambda f: np.savez_compressed(f, images=classes.images,
                                                     group=classes.group,
                                                     names=np.array(classes.names)))
    return classes
