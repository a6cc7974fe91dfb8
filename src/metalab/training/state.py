"""The one outer update every meta-trainer in metalab applies: gradients in, optax update
applied, state out (the shape of flax's ``TrainState.apply_gradients``).

The optimiser is passed to ``apply_gradients`` rather than stored, so the state stays a pytree
of arrays only: it can be vmapped over seeds, sharded, checkpointed and scanned as it is.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

Metrics = dict[str, jax.Array]


class TrainState(NamedTuple):
    """Everything the outer loop changes: meta-parameters, optimiser state, steps done."""

    meta: Any
    opt_state: optax.OptState
    step: jax.Array  # int32 scalar: meta-steps completed

    @classmethod
    def create(cls, meta: Any, optimizer: optax.GradientTransformation) -> TrainState:
        """The state at ``meta`` with ``optimizer``'s initial state and no step done."""
        return cls(meta, optimizer.init(meta), jnp.zeros((), jnp.int32))

    def apply_gradients(self, grads: Any, optimizer: optax.GradientTransformation
                        ) -> TrainState:
        """One outer update: ``optimizer``'s step on ``grads`` (a descent direction of the
        meta-loss) applied to ``meta``, and the step count advanced."""
        updates, opt_state = optimizer.update(grads, self.opt_state, self.meta)
        return TrainState(optax.apply_updates(self.meta, updates), opt_state, self.step + 1)
