"""miniImageNet (Vinyals et al. 2016) with the class split of Ravi & Larochelle 2017 (64 train,
16 validation, 20 test classes of 600 images), read from a user's folder; the data is not
redistributable, so metalab never downloads it.

Two common layouts are read:

* ``pickle``: ``mini-imagenet-cache-{train,val,test}.pkl``, each a dict with ``image_data``
  uint8 [N, 84, 84, 3] and ``class_dict`` {class name: [row indices]} (the cache many
  few-shot codebases share);
* ``folders``: ``{train,val,test}/<class>/<image>.{jpg,jpeg,png}`` (the images of the
  Ravi-Larochelle csv files, any size; resized to 84x84 with bicubic filtering).

``load_miniimagenet(folder)`` finds the layout and returns one ``ImageClasses`` per split
(images [C, E, 84, 84, 3] uint8, E the smallest class size, so a complete copy has E = 600).
Whatever is missing is listed in one ``BadInput`` naming ``--data`` (exit code 2), before
any compute.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from metalab.errors import BadInput
from metalab.tasks.episodes import ImageClasses

SIZE = 84
SPLITS = ("train", "val", "test")
PICKLE = "mini-imagenet-cache-{}.pkl"
SUFFIXES = (".jpg", ".jpeg", ".png")


def load_miniimagenet(folder: str | Path) -> dict[str, ImageClasses]:
    """{split: classes} for ``train``, ``val`` and ``test`` from either layout (see module)."""
    root = Path(folder).expanduser()
    pickles = [root / PICKLE.format(s) for s in SPLITS]
    dirs = [root / s for s in SPLITS]
    if any(p.is_file() for p in pickles):
        missing = [p.name for p in pickles if not p.is_file()]
        _require(not missing, root, f"the pickle layout is missing {', '.join(missing)}")
        return {s: _from_pickle(p) for s, p in zip(SPLITS, pickles, strict=True)}
    if any(d.is_dir() for d in dirs):
        missing = [d.name + "/" for d in dirs if not d.is_dir()]
        _require(not missing, root, f"the folder layout is missing {', '.join(missing)}")
        return {s: _from_folders(d) for s, d in zip(SPLITS, dirs, strict=True)}
    raise _bad(root, "found neither layout: missing "
               f"{', '.join(p.name for p in pickles)} (pickle layout) and "
               f"{', '.join(d.name + '/' for d in dirs)} (folder layout)")


def _bad(root: Path, what: str) -> BadInput:
    """The error for a folder that does not hold miniImageNet, saying what is missing."""
    return BadInput("--data", f"no usable miniImageNet in {root}: {what}. Give a folder "
                    "with mini-imagenet-cache-{train,val,test}.pkl, or with train/ val/ "
                    "test/ holding one folder of images per class (the Ravi-Larochelle "
                    "split); metalab cannot download it (not redistributable).")


def _require(ok: bool, root: Path, what: str) -> None:
    if not ok:
        raise _bad(root, what)


def _classes(per_class: list[np.ndarray], names: list[str], where: Path) -> ImageClasses:
    """Stack classes, keeping the first E images of each (E = the smallest class)."""
    _require(len(per_class) > 0, where.parent, f"{where.name} holds no classes")
    e = min(len(c) for c in per_class)
    _require(e > 0, where.parent, f"{where.name} has a class without images")
    images = np.stack([c[:e] for c in per_class])
    return ImageClasses(images, np.arange(len(names)), tuple(names))


def _from_pickle(path: Path) -> ImageClasses:
    try:
        with path.open("rb") as f:
            data = pickle.load(f)  # noqa: S301 - the user's own data file
        images, index = np.asarray(data["image_data"]), data["class_dict"]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError) as e:
        raise _bad(path.parent, f"{path.name} is not a miniImageNet cache (a dict with "
                   f"image_data and class_dict): {e!r}") from e
    _require(images.ndim == 4 and images.shape[1:] == (SIZE, SIZE, 3), path.parent,
             f"{path.name} image_data has shape {images.shape}, expected [N, 84, 84, 3]")
    names = sorted(index)
    return _classes([images[np.asarray(index[n])].astype(np.uint8) for n in names], names, path)


def _from_folders(split: Path) -> ImageClasses:
    names = sorted(d.name for d in split.iterdir() if d.is_dir())
    per_class = []
    for name in names:
        files = sorted(p for p in (split / name).iterdir() if p.suffix.lower() in SUFFIXES)
        per_class.append(np.stack([_read(p) for p in files]) if files
                         else np.zeros((0, SIZE, SIZE, 3), np.uint8))
    return _classes(per_class, names, split)


def _read(path: Path) -> np.ndarray:
    """One image as uint8 [84, 84, 3] (RGB, bicubic resize when needed)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (SIZE, SIZE):
                im = im.resize((SIZE, SIZE), Image.Resampling.BICUBIC)
            return np.asarray(im, np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise _bad(path.parents[2], f"{path} is not a readable image: {e}") from e
