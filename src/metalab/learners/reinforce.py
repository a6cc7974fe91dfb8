"""REINFORCE (Williams 1992): a policy learns from the reward of the action it sampled.

The policy-gradient step is a gradient step (``learners.online_gradient.gradient_step``) on
the score-function surrogate -(r - b) log pi(a | x), whose gradient is the REINFORCE estimate
of minus the expected reward's gradient; the baseline b is a running mean of rewards,
b <- b + rate (r - b), which lowers the estimate's variance without biasing it. The step is
taken by any optax transformation (``optax.sgd(lr)``: theta <- theta + lr (r - b) grad log pi).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from metalab.learners.online_gradient import gradient_step


class ReinforceState(NamedTuple):
    """A policy's parameters, its optimiser's state and the reward baseline."""

    params: Any
    opt_state: optax.OptState
    baseline: jax.Array  # scalar: running mean of the rewards


def reinforce_start(params: Any, optimizer: optax.GradientTransformation) -> ReinforceState:
    """The state before any interaction: the baseline at zero."""
    return ReinforceState(params, optimizer.init(params), jnp.zeros(()))


def reinforce_update(policy: Callable[[Any, jax.Array], jax.Array],
                     optimizer: optax.GradientTransformation, state: ReinforceState,
                     x: jax.Array, action: jax.Array, reward: jax.Array,
                     baseline_rate: float = 0.05) -> ReinforceState:
    """The state after ``action`` in context ``x`` earned ``reward``; ``policy(params, x)``
    gives the logits of the softmax policy the action was sampled from."""
    advantage = reward - state.baseline

    def surrogate(params: Any) -> tuple[jax.Array, None]:
        return -advantage * jax.nn.log_softmax(policy(params, x))[action], None

    params, opt_state, _ = gradient_step(surrogate, optimizer, state.params, state.opt_state)
    return ReinforceState(params, opt_state, state.baseline + baseline_rate * advantage)
