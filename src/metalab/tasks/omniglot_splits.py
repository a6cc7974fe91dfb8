"""Omniglot evaluation protocols: which characters meta-train, validate and test.

``small`` (the offline default): the official small background sets
(``images_background_small1/2.zip``; 242 distinct characters of 8 alphabets), with
``test_alphabets`` whole alphabets drawn with ``seed`` held out for testing and, where
``val_characters`` > 0, that many characters of the remaining alphabets (drawn with ``seed``)
held out for validation. metalab's own protocol, for machines without the full release.

``standard`` (Lake, Salakhutdinov & Tenenbaum 2015): meta-train on the 964 characters of the
30 background alphabets (``images_background.zip``), test on the 659 characters of the 20
evaluation alphabets (``images_evaluation.zip``); no validation split.

``vinyals`` (Vinyals et al. 2016; Santoro et al. 2016; Finn et al. 2017): the 1623 characters
of both zips, ordered by zip (background first), alphabet and character name, permuted by
``numpy.random.default_rng(seed).permutation``; the first 1200 meta-train, the remaining 423
test, and the last 100 of the 1200 are held out for validation, as in Finn et al.'s code: 1100
/ 100 / 423. (Finn's code shuffles with Python's ``random.seed(1)`` over folders in file-system
order, which no other machine reproduces; ours is fixed by the seed alone.)

Every split then adds each character's rotations by 90, 180 and 270 degrees as new classes
(Santoro et al. 2016), on its character's side, so classes = 4 x characters.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from metalab.errors import BadInput
from metalab.tasks.download import data_dir
from metalab.tasks.episodes import (
    ImageClasses,
    concat,
    split_by_class,
    split_by_group,
    with_rotations,
)
from metalab.tasks.omniglot import load_zips

SPLITS = ("small", "standard", "vinyals")
SMALL = ("images_background_small1.zip", "images_background_small2.zip")
FULL = ("images_background.zip", "images_evaluation.zip")
VINYALS_TRAIN = 1200
"""meta-training characters of the Vinyals split, validation included"""
VINYALS_VAL = 100
"""validation characters, held out of the 1200 (Finn et al. 2017's code)"""
ROTATIONS = "rotations by 90, 180 and 270 degrees as new classes (x4)"


class Split(NamedTuple):
    """Classes (rotations included) of each side of a protocol, and a sentence for reports."""

    name: str
    train: ImageClasses
    val: ImageClasses | None
    test: ImageClasses
    description: str


def split_zips(split: str, data: Path | str | None) -> list[Path]:
    """The zips ``split`` reads from ``data`` (None or empty: ``download.data_dir()``);
    ``BadInput`` naming the zips it needs, where they were looked for and how to get them."""
    if split not in SPLITS:
        raise BadInput("--split", f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    folder = data_dir(data or None)
    if not folder.is_dir():
        raise BadInput("--data", f"{folder} is not a folder; give the folder holding the "
                       f"Omniglot zips ({' and '.join(SMALL)} for --split small, "
                       f"{' and '.join(FULL)} for standard and vinyals), or fetch them there "
                       f"with `metalab data fetch omniglot --dir {folder}`")
    if split == "small":
        found = [folder / n for n in SMALL if (folder / n).is_file()]
        if not found:
            raise BadInput("--data", f"--split small needs {' or '.join(SMALL)} (the official "
                           f"small background sets); neither is in {folder}. Fetch them with "
                           f"`metalab data fetch omniglot --dir {folder} --files "
                           f"{' '.join(SMALL)}`, or give --data the folder holding them"
                           + _other_split_hint(folder))
        return found
    missing = [n for n in FULL if not (folder / n).is_file()]
    if missing:
        raise BadInput("--data", f"--split {split} needs {' and '.join(FULL)} (the full "
                       f"release); {' and '.join(missing)} not found in {folder}. Fetch them "
                       f"with `metalab data fetch omniglot --dir {folder} --files "
                       f"{' '.join(FULL)}`, give --data the folder holding them, or use "
                       "--split small (the small background sets, the offline default)")
    return [folder / n for n in FULL]


def _other_split_hint(folder: Path) -> str:
    """A pointer to ``--split standard`` when the full release is what ``folder`` holds."""
    if all((folder / n).is_file() for n in FULL):
        return f" (it holds {' and '.join(FULL)}: use --split standard or vinyals)"
    return ""


def load_split(split: str, data: Path | str | None, cache_dir: Path | str | None = None,
               test_alphabets: int = 3, seed: int = 0, val_characters: int = 0) -> Split:
    """The classes of ``split`` (see the module docstring); ``test_alphabets`` and
    ``val_characters`` are used by ``small`` only, ``seed`` by ``small`` (alphabets and
    validation characters) and ``vinyals`` (characters)."""
    zips = split_zips(split, data)
    if split == "small":
        return _small(load_zips(zips, cache_dir), [z.name for z in zips], test_alphabets, seed,
                      val_characters)
    background, evaluation = (load_zips([z], cache_dir) for z in zips)
    if split == "standard":
        return Split(split, with_rotations(background), None, with_rotations(evaluation),
                     f"split `standard` (Lake et al. 2015): the background alphabets "
                     f"({_count(background)}, {FULL[0]}) meta-train, the evaluation alphabets "
                     f"({_count(evaluation)}, {FULL[1]}) test; no validation split; "
                     f"{ROTATIONS}")
    both = concat([background, evaluation])
    n = len(both.names)
    if n <= VINYALS_TRAIN:
        raise BadInput("--data", f"--split vinyals meta-trains on {VINYALS_TRAIN} characters "
                       f"and tests on the rest, but {' and '.join(FULL)} in {zips[0].parent} "
                       f"hold {n}; the official release holds 1623")
    train, val, test = split_by_class(both, [VINYALS_TRAIN - VINYALS_VAL, VINYALS_VAL], seed)
    return Split(split, with_rotations(train), with_rotations(val), with_rotations(test),
                 f"split `vinyals` (Vinyals et al. 2016; validation as in Finn et al. 2017): "
                 f"the {n} characters of {' and '.join(FULL)} permuted with seed {seed}: "
                 f"{len(train.names)} training, {len(val.names)} validation and "
                 f"{len(test.names)} test characters; {ROTATIONS}")


def _count(classes: ImageClasses) -> str:
    """'N characters of A alphabets'."""
    return f"{len(classes.names)} characters of {len(np.unique(classes.group))} alphabets"


def _small(base: ImageClasses, names: list[str], test_alphabets: int, seed: int,
           val_characters: int) -> Split:
    """The ``small`` split of the small background sets ``base``."""
    n_groups = len(np.unique(base.group))
    if not 0 < test_alphabets < n_groups:
        raise BadInput("--test-alphabets", f"must be between 1 and {n_groups - 1} "
                       f"(omniglot has {n_groups} alphabets)")
    train, test = split_by_group(base, test_alphabets, seed)
    train, val = hold_out_characters(train, val_characters, seed, "omniglot")
    return Split("small", with_rotations(train), val, with_rotations(test),
                 f"split `small`: the official small background sets ({_count(base)}, "
                 f"{' and '.join(names)}), {test_alphabets} alphabets held out for testing "
                 f"(split seed {seed}): {len(train.names)} training, "
                 f"{_validation(val)} and {len(test.names)} test characters; {ROTATIONS}")


def hold_out_characters(train: ImageClasses, n: int, seed: int, dataset: str
                        ) -> tuple[ImageClasses, ImageClasses | None]:
    """(training, validation): ``n`` characters of ``train`` (before rotations) drawn with
    ``seed`` held out for validation; (``train``, None) when ``n`` is 0."""
    if n == 0:
        return train, None
    if not 0 < n <= len(train.names) - 5:
        raise BadInput("--val-characters", f"must be between 0 and {len(train.names) - 5} "
                       f"({dataset} has {len(train.names)} training characters here, and "
                       "meta-training needs at least 5)")
    val, rest = split_by_class(train, [n], seed)
    return rest, with_rotations(val)


def _validation(val: ImageClasses | None) -> str:
    """'N validation' characters, or 'no validation'."""
    return "no validation" if val is None else f"{len(val.names) // 4} validation"

