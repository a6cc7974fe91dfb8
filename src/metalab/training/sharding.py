"""Data parallelism: split a leading axis (tasks, seeds, ES perturbations) across devices.

Every helper lays one leading axis over a one-axis ``jax.sharding.Mesh`` of all devices
(``jax.devices()``: the local ones, or every process's after ``jax.distributed.initialize``),
leaving everything else replicated; XLA then inserts the cross-device means (of the
meta-gradient over tasks, of the ES estimate over perturbations). With one device, or an axis
that does not divide evenly, the value is returned unchanged, so the same program runs on a
laptop and on eight GPUs. Inside ``jit`` the split is a ``with_sharding_constraint``; outside
it the same call moves concrete arrays. Tests fake devices on CPU with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

T = TypeVar("T")


AXIS = "data"


def mesh() -> Mesh:
    """The one-axis mesh ``("data",)`` over every device (all processes' when distributed);
    one axis name for tasks, seeds and populations, so constraints nested by ``vmap`` (tasks
    inside seeds) agree on the mesh."""
    return Mesh(np.array(jax.devices()), (AXIS,))


def split_leading(tree: T) -> T:
    """Split the leading axis of every array of rank >= 1 across devices; scalars stay
    replicated. Unchanged with one device or when any leading size does not divide by the
    device count."""
    devices = jax.device_count()
    leaves = [x for x in jax.tree.leaves(tree) if np.ndim(x) >= 1]
    if devices == 1 or not leaves or any(x.shape[0] % devices for x in leaves):
        return tree
    split = NamedSharding(mesh(), PartitionSpec(AXIS))
    whole = NamedSharding(split.mesh, PartitionSpec())
    return jax.tree.map(
        lambda x: jax.lax.with_sharding_constraint(x, split if np.ndim(x) >= 1 else whole),
        tree)


def shard_tasks(batch: T) -> T:
    """The task batch [B, ...] split across devices (the meta-step's data parallelism)."""
    return split_leading(batch)


def shard_seeds(state: T) -> T:
    """A seed-stacked train state [S, ...] split across devices, one group of seeds each."""
    return split_leading(state)


def sharded_fitness_map(fn: Callable[[jax.Array], jax.Array], directions: jax.Array) -> Any:
    """A ``fitness_map`` for ``estimators.evolution.antithetic_gradient``: the 2P perturbation
    directions [2P, D] are split across devices and evaluated with ``vmap`` on each."""
    return jax.vmap(fn)(split_leading(directions))
