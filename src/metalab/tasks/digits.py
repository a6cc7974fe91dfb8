"""scikit-learn's embedded digits (1797 8x8 images of 0-9; UCI optdigits test set) as image
classes: the default data set of the classification examples, needing no file.

Each digit is one class (with ``with_rotations``, four); the digit plays the part of an
Omniglot alphabet, so splits hold out whole digits. Every class keeps the same number of
examples (the smallest class's, 174). Pixel values 0..16 are scaled to 0..255.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from metalab.tasks.base import Task
from metalab.tasks.episodes import ImageClasses


def load_digits() -> ImageClasses:
    """Ten classes of [174, 8, 8, 1] uint8 images, ``group`` = the digit."""
    from sklearn.datasets import load_digits as sk_digits

    data = sk_digits()
    per_class = [data.images[data.target == d] for d in range(10)]
    n = min(len(x) for x in per_class)
    images = np.stack([x[:n] for x in per_class])[..., None]
    images = np.round(images * (255.0 / 16.0)).astype(np.uint8)
    return ImageClasses(images, np.arange(10, dtype=np.int32), tuple(str(d) for d in range(10)))


def digits_splits(seed: int, n_train: int, n_val: int,
                  label_noise: float = 0.0) -> tuple[Task, Task]:
    """(train/validation task, train+validation/test task) of scikit-learn's digits, pixels
    scaled to [0, 1], split by a permutation drawn with ``seed``; disjoint splits. With
    ``label_noise``, that fraction of the training split's labels (only) is replaced by a
    uniformly drawn digit (which may equal the true one), the same in both tasks."""
    from sklearn.datasets import load_digits

    data = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data.target))
    labels = data.target[order].copy()
    noisy = rng.permutation(n_train)[:round(label_noise * n_train)]
    labels[noisy] = rng.integers(0, 10, len(noisy))
    x = jnp.asarray(data.data[order] / 16.0, jnp.float32)
    y = jnp.asarray(labels, jnp.int32)
    a, b = n_train, n_train + n_val
    return Task(x[:a], y[:a], x[a:b], y[a:b]), Task(x[:b], y[:b], x[b:], y[b:])
