"""Online classification streams for learned learning rules (VS-ML, Kirsch & Schmidhuber,
NeurIPS 2021): one example per step, drawn from a data ``Family``.

Every stream draws a fresh random linear projection of the inputs, x -> x P with
P ~ N(0, 1/dim) of shape [dim, n_in], and (in ``Family.draw``) a fresh random assignment of
classes to labels. So no stream can be solved by remembering a previous one: the learner must
learn within the stream, and one input size ``n_in`` serves every family. This departs from
the authors' code, which draws one Glorot-uniform 784x784 projection per MPI worker, applies it
on half of the workers, and never permutes labels (their rule is permutation-symmetric by
construction; the per-stream permutation matters for the baselines, which are not).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from metalab.tasks.families import Family


class Stream(NamedTuple):
    """One online episode: inputs [T, n_in] and labels [T] in 0..n_classes-1."""

    x: jax.Array
    labels: jax.Array


def stream_classes(family: Family, n_classes: int) -> int:
    """How many classes a stream of ``family`` has when ``n_classes`` are asked for."""
    return n_classes if family.classes is None else min(n_classes, family.classes)


def draw_stream(family: Family, key: jax.Array, steps: int, n_classes: int, n_in: int
                ) -> Stream:
    """A stream of ``steps`` examples with a fresh projection to ``n_in`` inputs and fresh
    labels. Pure and jit-able; ``jax.vmap`` over keys gives a batch of streams."""
    k_draw, k_proj = jax.random.split(key)
    x, labels = family.draw(k_draw, steps, n_classes)
    proj = jax.random.normal(k_proj, (family.dim, n_in)) / jnp.sqrt(family.dim)
    return Stream(x @ proj, labels)
