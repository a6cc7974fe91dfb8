"""The image classes of a few-shot experiment: Omniglot by protocol, or scikit-learn digits.

    split = load_split("digits", "small", "", "", test_groups=3, split_seed=0)
    check_classes(split.test, "test", n_way=5, per_class=1 + 15)   # BadInput before compute

Digits need no files: 10 digits as "alphabets" (``test_groups`` of them held out), each
digit's rotations as new classes, as Omniglot's protocols do (``omniglot_splits.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metalab.errors import BadInput
from metalab.tasks.digits import load_digits
from metalab.tasks.episodes import ImageClasses, split_by_group, with_rotations
from metalab.tasks.omniglot_splits import Split, hold_out_characters
from metalab.tasks.omniglot_splits import load_split as load_omniglot_split

DEFAULT_DATA = ""
"""empty: ``$METALAB_DATA/omniglot``, else ``~/.cache/metalab/data/omniglot`` (never relative
to the working directory; ``metalab data fetch omniglot`` fills it)"""


def load_split(dataset: str, split: str, data: str, cache_dir: str, test_groups: int,
               split_seed: int, val_characters: int = 0) -> Split:
    """The classes of Omniglot ``split`` (``tasks/omniglot_splits.py``), rotations included;
    digits: ``test_groups`` digits held out (``split`` must be ``small``); ``val_characters``
    training characters (digits) held out for validation (``small`` only)."""
    if dataset != "digits":
        return load_omniglot_split(split, data, Path(cache_dir) if cache_dir else None,
                                   test_groups, split_seed, val_characters)
    if split != "small":
        raise BadInput("--split", f"digits have no {split} split (it is an Omniglot "
                       "protocol); use --split small, which holds out --test-alphabets digits")
    base = load_digits()
    n_groups = len(np.unique(base.group))
    if not 0 < test_groups < n_groups:
        raise BadInput("--test-alphabets", f"must be between 1 and {n_groups - 1} "
                       f"(digits has {n_groups} alphabets)")
    train, test = split_by_group(base, test_groups, split_seed)
    train, val = hold_out_characters(train, val_characters, split_seed, "digits")
    held = "no validation split" if val is None else f"{val_characters} held out for validation"
    return Split("digits", with_rotations(train), val, with_rotations(test),
                 f"scikit-learn digits, {test_groups} digits held out for testing (split seed "
                 f"{split_seed}), {held}, rotations as new classes (x4)")


def load_classes(dataset: str, data: str, cache_dir: str, test_groups: int,
                 split_seed: int, split: str = "small") -> tuple[ImageClasses, ImageClasses]:
    """(train, test) classes of ``load_split`` (rotations included; validation dropped)."""
    parts = load_split(dataset, split, data, cache_dir, test_groups, split_seed)
    return parts.train, parts.test


def check_classes(classes: ImageClasses, which: str, n_way: int, per_class: int) -> None:
    """``BadInput`` if ``classes`` cannot make ``n_way`` episodes of ``per_class`` images."""
    if len(classes.names) < n_way:
        raise BadInput("--n-way", f"the {which} split has {len(classes.names)} classes, fewer "
                       f"than N = {n_way}; lower --n-way or --test-alphabets")
    if classes.images.shape[1] < per_class:
        raise BadInput("--k-shot", f"classes have {classes.images.shape[1]} images, fewer "
                       f"than K + Q = {per_class}")
