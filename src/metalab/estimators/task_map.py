"""How a per-task function is mapped over the leading task axis of a batch.

The strategies compute the same values; they differ in the program XLA gets, which on CPU
dominates the cost of a conv-net meta-step (measurements in ``benchmarks/RESULTS.md``):

* ``"vmap"``: one batched program. Per-task weights turn dense layers into batched matrix
  products and ``lax.conv`` into grouped convolutions (slow on CPU; fast on GPU).
* ``"map"``: ``lax.map``, a sequential loop over tasks; small program, one task at a time,
  whose activations stay in cache (with ``mean_value_and_grad`` taking each task's gradient
  inside the loop).
* ``"unroll"``: a Python loop over tasks inside the traced function; every task's ops are
  visible to XLA at once, so independent tasks run in parallel, at the price of a program
  (and a compile time) that grows with the meta-batch.
* ``"auto"``: ``auto_strategy()``: ``map`` on CPU, ``vmap`` on accelerators. On CPU the conv
  net also picks its ``im2col`` convolution (``models/convnet.py``), as XLA's CPU convolution
  gradients are slow even ungrouped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

STRATEGIES = ("auto", "vmap", "map", "unroll")


def auto_strategy() -> str:
    """The strategy ``"auto"`` resolves to: ``map`` on CPU, ``vmap`` elsewhere.

    On CPU a task at a time keeps the conv net's activations small (second-order MAML, meta-batch
    32: ``map`` about 2x faster than ``vmap``, whose per-task weights give batched products over
    [tasks, ...] buffers); ``unroll`` compiles for minutes (88 s at meta-batch 32). On
    accelerators one batched program fills the device. See ``benchmarks/RESULTS.md``.
    """
    return "map" if jax.default_backend() == "cpu" else "vmap"


def check_strategy(strategy: str) -> None:
    """Raise ``ValueError`` for an unknown strategy name."""
    if strategy not in STRATEGIES:
        raise ValueError(f"task mapping must be one of {STRATEGIES}, got {strategy!r}")


def resolve(strategy: str) -> str:
    """The concrete strategy a name stands for (``auto`` resolved for this backend)."""
    check_strategy(strategy)
    return auto_strategy() if strategy == "auto" else strategy


def map_tasks(fn: Callable[[Any], Any], tasks: Any, strategy: str = "vmap") -> Any:
    """``fn`` applied to each task (leading axis of every leaf of ``tasks``), outputs stacked."""
    strategy = resolve(strategy)
    if strategy == "vmap":
        return jax.vmap(fn)(tasks)
    if strategy == "map":
        return jax.lax.map(fn, tasks)
    n = jax.tree.leaves(tasks)[0].shape[0]
    outs = [fn(jax.tree.map(lambda a, i=i: a[i], tasks)) for i in range(n)]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *outs)
