"""Data families for online-learning streams (VS-ML, Kirsch & Schmidhuber 2021), all offline.

A ``Family`` is a classification data set reduced to flat, standardised feature vectors plus
a pure, jit-able ``draw(key, steps, n_classes)`` that returns one stream's raw inputs and
labels. For data sets with more classes than asked for, each stream uses a random subset of
classes in a random order, so the labels of a stream are a fresh permutation.

| name | source | dim | classes |
| --- | --- | --- | --- |
| digits | scikit-learn's embedded 8x8 digits | 64 | 10 |
| iris, wine, breast_cancer | scikit-learn's embedded tabular sets | 4, 13, 30 | 3, 3, 2 |
| mnist1d | ``mnist1d.make_dataset`` (Greydanus 2020), generated offline | 40 | 10 |
| omniglot | background characters from the official zips, downsampled | size^2 | 964 or fewer |
| random | 20 Gaussian inputs with random labels per stream (memorisation) | 32 | any |
| sum | Gaussian inputs, label = [sum(x) >= 0] | 16 | 2 |
| file | a user's ``.npz`` (arrays ``x``, ``y``) or IDX image/label pair | any | any |

Tabular and image sets are split into ``train`` and ``test`` examples (a fixed 70/30 split per
class; MNIST-1D's own split; Omniglot by alphabet), so a rule can be meta-trained on one split
and evaluated on the other. Features are standardised with the train split's statistics.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from metalab.errors import BadInput

Split = Literal["train", "test"]
Draw = Callable[[jax.Array, int, int], tuple[jax.Array, jax.Array]]
BUILTIN = ("digits", "iris", "wine", "breast_cancer", "mnist1d", "omniglot", "random", "sum")


@dataclass(frozen=True, eq=False)
class Family:
    """A data family: ``draw(key, steps, n_classes) -> (x [steps, dim], labels [steps])``
    with labels in 0..min(n_classes, classes)-1, pure and jit-able."""

    name: str
    dim: int
    classes: int | None  # None: as many as a stream asks for
    draw: Draw


def pooled(name: str, x: np.ndarray, y: np.ndarray) -> Family:
    """A family drawing examples from labelled data x [N, dim], y [N] (any label values).

    Each stream picks ``n_classes`` classes in random order (label k = the k-th picked), then
    each step a uniformly random label and a uniformly random example of it.
    """
    values = np.unique(y)
    groups = [x[y == v] for v in values]
    most = max(len(g) for g in groups)
    data = jnp.asarray(np.stack([np.resize(g, (most, x.shape[1])) for g in groups]),
                       jnp.float32)  # [K, most, dim], each class's rows repeated to `most`
    counts = jnp.asarray([len(g) for g in groups], jnp.int32)

    def draw(key: jax.Array, steps: int, n_classes: int) -> tuple[jax.Array, jax.Array]:
        k_cls, k_lab, k_ex = jax.random.split(key, 3)
        chosen = jax.random.permutation(k_cls, len(groups))[:n_classes]
        labels = jax.random.randint(k_lab, (steps,), 0, min(n_classes, len(groups)))
        cls = chosen[labels]
        idx = jnp.floor(jax.random.uniform(k_ex, (steps,)) * counts[cls]).astype(jnp.int32)
        return data[cls, idx], labels

    return Family(name, x.shape[1], len(groups), draw)


def memorise(dim: int = 32, examples: int = 20) -> Family:
    """``random``: each stream draws ``examples`` Gaussian inputs with random labels and
    repeats them in random order; only memorisation helps (the authors' `random` set)."""

    def draw(key: jax.Array, steps: int, n_classes: int) -> tuple[jax.Array, jax.Array]:
        k_x, k_y, k_i = jax.random.split(key, 3)
        x = jax.random.normal(k_x, (examples, dim))
        y = jax.random.randint(k_y, (examples,), 0, n_classes)
        idx = jax.random.randint(k_i, (steps,), 0, examples)
        return x[idx], y[idx]

    return Family("random", dim, None, draw)


def sign_of_sum(dim: int = 16) -> Family:
    """``sum``: Gaussian inputs, label [sum(x) >= 0] under a random relabelling per stream."""

    def draw(key: jax.Array, steps: int, n_classes: int) -> tuple[jax.Array, jax.Array]:
        k_x, k_p = jax.random.split(key)
        x = jax.random.normal(k_x, (steps, dim))
        flip = jax.random.bernoulli(k_p).astype(jnp.int32)
        return x, jnp.bitwise_xor((x.sum(-1) >= 0).astype(jnp.int32), flip)

    return Family("sum", dim, 2, draw)


def split_per_class(x: np.ndarray, y: np.ndarray, split: Split, seed: int = 0,
                    train_fraction: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """A fixed split of each class's examples into train and test, by a seeded shuffle."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(y), bool)
    for v in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == v))
        n = int(round(train_fraction * len(idx)))
        keep[idx[:n] if split == "train" else idx[n:]] = True
    return x[keep], y[keep]


def standardise(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Features of ``x`` scaled by the mean and std of ``reference`` (constant ones kept at 0)."""
    mean, std = reference.mean(0), reference.std(0)
    return ((x - mean) / np.where(std > 1e-6, std, 1.0)).astype(np.float32)


def sklearn_family(name: str, split: Split) -> Family:
    """digits, iris, wine or breast_cancer from scikit-learn's embedded copies."""
    from sklearn import datasets

    loader = {"digits": datasets.load_digits, "iris": datasets.load_iris,
              "wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}[name]
    x, y = loader(return_X_y=True)
    ref, _ = split_per_class(x, y, "train")
    xs, ys = split_per_class(x, y, split)
    return pooled(name, standardise(xs, ref), ys)


def mnist1d_family(split: Split) -> Family:
    """MNIST-1D (Greydanus 2020) generated by ``mnist1d.make_dataset`` with its default
    arguments (4,000 train and 1,000 test sequences of length 40); no download."""
    data = _mnist1d()
    x = data["x"] if split == "train" else data["x_test"]
    y = data["y"] if split == "train" else data["y_test"]
    return pooled("mnist1d", standardise(x, data["x"]), y)


@functools.cache
def _mnist1d() -> dict[str, np.ndarray]:
    """MNIST-1D's default data set, generated once per process (about a second)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise BadInput("--families", "mnist1d needs the `mnist1d` package: "
                       "pip install 'metalab[mnist1d]' (or drop mnist1d)") from e
    saved = np.random.get_state()  # make_dataset seeds numpy's global generator
    try:
        return make_dataset(get_dataset_args())
    finally:
        np.random.set_state(saved)


def omniglot_family(data: Path | str, split: Split, size: int = 8) -> Family:
    """Omniglot characters of the zips in ``data`` downsampled to ``size`` x ``size``; the
    alphabets are split 80/20 into train and test (seed 0), so test characters are unseen."""
    from PIL import Image

    from metalab.tasks.episodes import split_by_group
    from metalab.tasks.omniglot import load_omniglot

    classes = load_omniglot(data)
    n_test = max(1, len(np.unique(classes.group)) // 5)
    train, test = split_by_group(classes, n_test)

    def flat(images: np.ndarray) -> np.ndarray:
        small = [np.asarray(Image.fromarray(im[..., 0]).resize((size, size),
                                                               Image.Resampling.BOX))
                 for im in images.reshape(-1, *images.shape[2:])]
        return np.stack(small).reshape(len(small), -1).astype(np.float32) / 255.0

    ref = flat(train.images)
    chosen = train if split == "train" else test
    x = ref if split == "train" else flat(chosen.images)
    y = np.repeat(np.arange(len(chosen.images)), chosen.images.shape[1])
    return pooled("omniglot", standardise(x, ref), y)


def file_family(path: Path | str, split: Split) -> Family:
    """A user's data set: ``.npz`` with arrays ``x`` [N, ...] and ``y`` [N], or an IDX image
    file (e.g. ``train-images-idx3-ubyte[.gz]``) next to its labels file; 70/30 split."""
    x, y = read_labelled(Path(path))
    ref, _ = split_per_class(x, y, "train")
    xs, ys = split_per_class(x, y, split)
    return pooled(Path(path).name, standardise(xs, ref), ys)


def load_family(name: str, split: Split, omniglot: Path | str | None = None,
                size: int = 8, data_file: Path | str | None = None) -> Family:
    """The family ``name`` (see the module table); ``file`` reads ``data_file``."""
    if name in ("digits", "iris", "wine", "breast_cancer"):
        return sklearn_family(name, split)
    if name == "mnist1d":
        return mnist1d_family(split)
    if name == "omniglot":
        if omniglot is None:
            raise BadInput("--omniglot", "give the folder of the Omniglot zips")
        return omniglot_family(omniglot, split, size)
    if name == "random":
        return memorise()
    if name == "sum":
        return sign_of_sum()
    if name == "file":
        if data_file is None:
            raise BadInput("--data-file", "family `file` needs --data-file PATH (.npz or IDX)")
        return file_family(data_file, split)
    raise BadInput("--families", f"unknown family {name!r}; choose from {BUILTIN + ('file',)}")


def read_labelled(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(x [N, features] float, y [N]) from an ``.npz`` (``x``, ``y``) or an IDX image file
    whose labels file has the same name with ``images-idx3`` replaced by ``labels-idx1``."""
    if not path.is_file():
        raise BadInput("--data-file", f"{path} is not a file")
    if path.suffix == ".npz":
        with np.load(path) as z:
            if "x" not in z or "y" not in z:
                raise BadInput("--data-file", f"{path} needs arrays `x` and `y`")
            x, y = z["x"], z["y"]
    else:
        labels = path.with_name(path.name.replace("images-idx3", "labels-idx1"))
        if labels == path or not labels.is_file():
            raise BadInput("--data-file", f"no labels file {labels.name} next to {path.name}; "
                           "give an IDX images file (…images-idx3-ubyte) or an .npz")
        x, y = read_idx(path), read_idx(labels)
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y) or len(np.unique(y)) < 2:
        raise BadInput("--data-file", f"{path}: need x [N, ...] and y [N] with 2+ classes, "
                       f"got x {x.shape} and y {y.shape}")
    x = x.reshape(len(x), -1).astype(np.float32)
    labels = y if np.issubdtype(y.dtype, np.floating) else np.zeros(0)
    bad = int(np.size(x) - np.isfinite(x).sum() + np.size(labels) - np.isfinite(labels).sum())
    if bad:
        raise BadInput("--data-file", f"{path} holds {bad} non-finite values (NaN or inf); "
                       "the data, not the training, is at fault: remove or impute them")
    return x, y


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (LeCun's MNIST format), optionally gzipped; unsigned bytes only."""
    import gzip

    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise BadInput("--data-file", f"{path.name} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise BadInput("--data-file", f"{path.name}: header says {shape}, data has {body.size}")
    return body.reshape(shape)
