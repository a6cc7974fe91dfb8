"""The 20 official 20-way one-shot classification runs of Lake et al. (2015), ``all_runs.zip``.

Run ``runNN`` holds ``training/classMM.png`` (one drawing of each of 20 characters),
``test/itemMM.png`` (20 other drawings) and ``class_labels.txt``, whose lines pair each test
item with the training image of its character. Images are decoded like the Omniglot loader's.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from metalab.errors import BadInput
from metalab.tasks.download import data_dir
from metalab.tasks.omniglot import decode


class OneShotRuns(NamedTuple):
    """support [R, 20, 28, 28, 1] uint8 (one image per class), query [R, 20, 28, 28, 1],
    labels [R, 20] int: the support index of each query image's class."""

    support: np.ndarray
    query: np.ndarray
    labels: np.ndarray


def load_runs(path: Path | str | None, option: str = "--data") -> OneShotRuns:
    """Read ``all_runs.zip`` (or the folder holding it; empty or None: the data folder of
    ``download.data_dir``); ``BadInput`` names ``option``."""
    path = data_dir(path or None)
    if path.is_dir():
        path = path / "all_runs.zip"
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise BadInput(option, f"{path} is not a readable zip of the official one-shot runs "
                       f"({e})") from e
    with archive:
        names = set(archive.namelist())
        runs = sorted({n.split("/")[0] for n in names if n.endswith("/class_labels.txt")})
        if not runs:
            raise BadInput(option, f"{path.name} holds no runNN/class_labels.txt")
        out = [_read_run(archive, names, run, option) for run in runs]
    support, query, labels = (np.stack(a) for a in zip(*out, strict=True))
    return OneShotRuns(support[..., None], query[..., None], labels)


def _read_run(archive: zipfile.ZipFile, names: set[str], run: str, option: str):
    """(support [20, 28, 28], query [20, 28, 28], labels [20]) of one run."""
    pairs = [line.split() for line in
             archive.read(f"{run}/class_labels.txt").decode().splitlines() if line.strip()]
    if any(len(p) != 2 for p in pairs):
        raise BadInput(option, f"{run}/class_labels.txt: expected lines 'test/... training/...'")
    train_files = sorted({t for _, t in pairs})
    for file in [f for p in pairs for f in p]:
        if file not in names:
            raise BadInput(option, f"{run}/class_labels.txt names {file}, which is missing")
    support = np.stack([decode(archive.read(f), f, option) for f in train_files])
    query = np.stack([decode(archive.read(q), q, option) for q, _ in pairs])
    labels = np.array([train_files.index(t) for _, t in pairs], dtype=np.int32)
    return support, query, labels
