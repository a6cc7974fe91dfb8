"""N-way K-shot classification episodes over a set of image classes (Vinyals et al. 2016).

An episode draws N classes, then K support and Q query images of each; labels are the
positions 0..N-1 of the drawn classes, so they carry no information across episodes. Sampling
is one pure, jit-able function of a PRNG key: random permutations come from ``argsort`` of
uniform noise over the whole batch at once, with no Python loop per episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from metalab.tasks.base import Task


class ImageClasses(NamedTuple):
    """Images grouped by class, as stored on the host.

    images: [C, E, H, W, 1] uint8, strokes 255 and background 0, E examples per class.
    group: [C] int, the alphabet (or other super-class) of each class, for splits.
    names: C class names, e.g. ``Latin/character03/rot90``.
    """

    images: np.ndarray
    group: np.ndarray
    names: tuple[str, ...]


def with_rotations(classes: ImageClasses) -> ImageClasses:
    """Every class plus its rotations by 90, 180 and 270 degrees as new classes of the same
    group (Santoro et al. 2016; Finn et al. 2017), so C classes become 4C."""
    rotated = [np.rot90(classes.images, r, axes=(2, 3)) for r in range(4)]
    names = tuple(f"{n}/rot{90 * r}" for r in range(4) for n in classes.names)
    return ImageClasses(
        np.ascontiguousarray(np.concatenate(rotated)), np.tile(classes.group, 4), names
    )


def split_by_group(
    classes: ImageClasses, n_test_groups: int, seed: int = 0
) -> tuple[ImageClasses, ImageClasses]:
    """(train, test): the classes of ``n_test_groups`` groups drawn with ``seed`` are test."""
    groups = np.unique(classes.group)
    test_groups = np.random.default_rng(seed).permutation(groups)[:n_test_groups]
    test = np.isin(classes.group, test_groups)
    return subset(classes, ~test), subset(classes, test)


def subset(classes: ImageClasses, keep: np.ndarray) -> ImageClasses:
    """The classes where the boolean mask ``keep`` is true."""
    names = tuple(n for n, k in zip(classes.names, keep, strict=True) if k)
    return ImageClasses(classes.images[keep], classes.group[keep], names)


def split_by_class(
    classes: ImageClasses, sizes: Sequence[int], seed: int
) -> tuple[ImageClasses, ...]:
    """Consecutive blocks of ``sizes`` classes of a permutation drawn with ``seed``, then the
    remaining classes: ``len(sizes) + 1`` disjoint parts, each in the original class order
    (the character-level split of Vinyals et al. 2016; apply before ``with_rotations`` so
    that the rotations of a character stay on its side)."""
    n = len(classes.names)
    if sum(sizes) > n:
        raise ValueError(f"cannot take {sum(sizes)} of {n} classes")
    order = np.random.default_rng(seed).permutation(n)
    blocks = np.split(order, np.cumsum(sizes))
    return tuple(subset(classes, np.isin(np.arange(n), block)) for block in blocks)


def concat(parts: Sequence[ImageClasses]) -> ImageClasses:
    """The classes of all ``parts`` in order, groups renumbered so that parts share none."""
    offsets = np.cumsum([0] + [int(p.group.max()) + 1 for p in parts[:-1]])
    return ImageClasses(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.group + o for p, o in zip(parts, offsets, strict=True)]),
        tuple(n for p in parts for n in p.names),
    )


@dataclass(frozen=True, eq=False)
class Episodes:
    """N-way K-shot episodes with Q queries per class over ``images`` [C, E, H, W, 1] uint8.

    ``sample(key, n)`` returns a ``Task`` batch: support_x [n, N*K, H, W, 1] float32 in [0, 1],
    support_y [n, N*K] int32, query_x [n, N*Q, H, W, 1], query_y [n, N*Q], class-major order.
    """

    images: jax.Array
    n_way: int
    k_shot: int
    q_query: int

    @staticmethod
    def of(classes: ImageClasses, n_way: int, k_shot: int, q_query: int) -> Episodes:
        """Episodes over host ``classes``, copied to the default device once."""
        return Episodes(jnp.asarray(classes.images), n_way, k_shot, q_query)

    def classes_and_examples(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """Class indices [n, N] (distinct within an episode) and example indices [n, N, K+Q]
        (distinct within a class)."""
        n_classes, n_examples = self.images.shape[:2]
        kc, ke = jax.random.split(key)
        classes = jnp.argsort(jax.random.uniform(kc, (n, n_classes)), axis=1)[:, : self.n_way]
        noise = jax.random.uniform(ke, (n, self.n_way, n_examples))
        examples = jnp.argsort(noise, axis=2)[:, :, : self.k_shot + self.q_query]
        return classes, examples

    def sample(self, key: jax.Array, n: int) -> Task:
        """A batch of n episodes; see the class docstring."""
        classes, examples = self.classes_and_examples(key, n)
        x = self.images[classes[:, :, None], examples].astype(jnp.float32) / 255.0
        y = jnp.broadcast_to(
            jnp.arange(self.n_way, dtype=jnp.int32)[None, :, None], examples.shape
        )
        k = self.k_shot

        def flat(a: jax.Array) -> jax.Array:
            return a.reshape(n, -1, *a.shape[3:])

        return Task(flat(x[:, :, :k]), flat(y[:, :, :k]), flat(x[:, :, k:]), flat(y[:, :, k:]))
