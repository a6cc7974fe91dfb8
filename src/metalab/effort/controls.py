"""Control signals applied during learning, their neutral values, effort and bounds.

Carrasco-Davis, Masis and Saxe 2023 (arXiv 2310.19919) optimise signals that change *how* a
network learns. Each signal here is optional (``None`` means absent, i.e. neutral) and they
combine freely; every signal carries a leading time axis [T], one value per integration step:

- ``gain``: per-weight multiplicative gain g, the network computes with W~ = W * (1 + g) and
  the gradient on W is the gradient on W~ scaled by 1 + g (neutral 0);
- ``lr``: a learning-rate multiplier, a schedule over time (neutral 1); it multiplies the
  whole update, weight decay included;
- ``decay``: a weight-decay coefficient lambda(t) added to the training loss as
  lambda ||W||^2 / 2 (neutral 0): with ``lr`` the hyper-parameter (bilevel) case of the paper;
- ``engagement``: weight of each task (or item) in the training loss, a curriculum (neutral 1);
- ``gating``: per-task gates on the hidden units, so only the gated units of the task being
  trained learn and compute its output, for continual learning (neutral 1).

The control is stored in natural units and kept inside its ``Bounds`` by projection after
each optimiser step (projected gradient ascent), so the neutral, uncontrolled point is exactly
representable; with an engagement budget the gradient is first restricted to the budget plane
(``tangent``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from optax import projections

SIGNALS = ("gain", "lr", "engagement", "gating", "decay")


class Weights(NamedTuple):
    """The two weight matrices of y = W2 act(W1 x)."""

    w1: jax.Array  # [hidden, d_in]
    w2: jax.Array  # [d_out, hidden]


class Control(NamedTuple):
    """A control trajectory; absent signals are ``None``."""

    gain: Weights | None = None  # [T, hidden, d_in], [T, d_out, hidden]
    lr: jax.Array | None = None  # [T]
    engagement: jax.Array | None = None  # [T, K]
    gating: jax.Array | None = None  # [T, K, hidden]
    decay: jax.Array | None = None  # [T]


NEUTRAL = {"gain": 0.0, "lr": 1.0, "engagement": 1.0, "gating": 1.0, "decay": 0.0}


class Bounds(NamedTuple):
    """Box bounds (low, high) of each signal; ``budget`` fixes the engagement total per step.

    With a budget the engagement lies on the simplex {psi >= 0, sum psi = budget} at every step
    (a curriculum that reallocates a fixed amount of practice), and its box is ignored.
    """

    gain: tuple[float, float] = (-0.5, 2.0)
    lr: tuple[float, float] = (0.0, 4.0)
    engagement: tuple[float, float] = (0.0, 4.0)
    gating: tuple[float, float] = (0.0, 1.0)
    decay: tuple[float, float] = (0.0, 2.0)
    budget: float | None = None


def neutral(
    steps: int, w: Weights, n_tasks: int = 1, signals: Sequence[str] = ("gain",)
) -> Control:
    """The uncontrolled trajectory of the given signals (gains and decay 0; rate, engagement
    and gates 1)."""
    unknown = set(signals) - set(SIGNALS)
    if unknown:
        raise ValueError(f"unknown control signals {sorted(unknown)}; choose from {SIGNALS}")
    hidden = w.w1.shape[0]
    shapes = {
        "gain": Weights((steps, *w.w1.shape), (steps, *w.w2.shape)),
        "lr": (steps,),
        "engagement": (steps, n_tasks),
        "gating": (steps, n_tasks, hidden),
        "decay": (steps,),
    }
    fields = {}
    for name in signals:
        shape = shapes[name]
        if name == "gain":
            fields[name] = Weights(jnp.zeros(shape.w1), jnp.zeros(shape.w2))
        else:
            # a strong dtype, as the optimised controls have: a weakly typed neutral control
            # would compile every program it enters a second time
            fields[name] = jnp.full(shape, NEUTRAL[name], dtype=w.w1.dtype)
    return Control(**fields)


def effort(control: Control) -> jax.Array:
    """Squared distance from the neutral control at each step [T]: ||u(t) - u_neutral||^2."""
    total = 0.0
    for name in SIGNALS:
        value = getattr(control, name)
        if value is None:
            continue
        for leaf in jax.tree.leaves(value):
            dev = (leaf - NEUTRAL[name]).reshape(leaf.shape[0], -1)
            total = total + jnp.sum(dev**2, axis=1)
    return jnp.asarray(total)


def project(control: Control, bounds: Bounds) -> Control:
    """The nearest control inside ``bounds`` (box clip; simplex per step for a budget)."""
    fields = {}
    for name in SIGNALS:
        value = getattr(control, name)
        if value is None:
            fields[name] = None
        elif name == "engagement" and bounds.budget is not None:
            fields[name] = jax.vmap(projections.projection_simplex, (0, None))(
                value, bounds.budget
            )
        else:
            lo, hi = getattr(bounds, name)
            fields[name] = jax.tree.map(lambda x, lo=lo, hi=hi: jnp.clip(x, lo, hi), value)
    return Control(**fields)


def tangent(grad: Control, bounds: Bounds) -> Control:
    """The gradient projected onto the budget's plane: the engagement gradient minus its mean
    over tasks at each step. Without this, a per-coordinate optimiser such as Adam turns a
    gradient that favours every task (all positive) into equal steps the simplex projection
    then cancels."""
    if grad.engagement is None or bounds.budget is None:
        return grad
    return grad._replace(engagement=grad.engagement - grad.engagement.mean(1, keepdims=True))


def completed(control: Control, full: Control) -> Control:
    """``control`` with each absent signal set to ``full``'s (neutral) one: the same trajectory
    and cost, and one pytree structure for every control of a run, so that evaluation and
    re-simulation compile once rather than once per combination of signals."""
    return full._replace(**{k: v for k, v in control._asdict().items() if v is not None})
