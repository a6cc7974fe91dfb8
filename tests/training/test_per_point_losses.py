"""``per_point_losses`` adds each sweep point's mean loss over its seeds (point-major members),
or with one point each seed's loss, and keeps a ``MetaStep`` a ``MetaStep``."""

import jax.numpy as jnp
import numpy as np

from metalab.training.seeds import per_point_losses
from metalab.training.trainer import MetaStep

LOSS = jnp.array([1.0, 3.0, 10.0, 20.0, 5.0, 7.0])  # 3 points x 2 seeds


def test_points_get_their_mean_over_seeds():
    state, metrics = per_point_losses(lambda s: (s, {"loss": LOSS}), 3, 2)("state")
    assert state == "state"
    np.testing.assert_allclose([metrics[f"loss/p{k}"] for k in range(3)], [2.0, 15.0, 6.0])


def test_one_point_gets_each_seeds_loss_and_a_meta_step_stays_one():
    step = MetaStep(lambda state: "inputs", lambda state, inputs: (state, {"loss": LOSS}))
    wrapped = per_point_losses(step, 1, 6)
    assert isinstance(wrapped, MetaStep) and wrapped.draw is step.draw
    _, metrics = wrapped.update("state", "inputs")
    np.testing.assert_allclose([metrics[f"loss/seed{i}"] for i in range(6)], LOSS)
