"""scan_steps draws a chunk's task batches ahead (one vmapped call) for a ``MetaStep``: the
same tasks and the same training as drawing them inside the scan, one step at a time."""

import jax
import numpy as np
import optax

from metalab.estimators.backprop import backprop
from metalab.learners.maml import maml
from metalab.models.mlp import mlp
from metalab.tasks.sinusoid import Sinusoid
from metalab.training import MetaStep, init_state, make_meta_step, scan_steps, trainer


def test_drawing_ahead_trains_like_drawing_inside_the_scan(monkeypatch):
    learner, opt = maml(mlp((1, 8, 8, 1)), 0.01), optax.adam(1e-2)
    step = make_meta_step(learner, backprop(), optimizer=opt, tasks=Sinusoid(), meta_batch=5,
                          inner_steps=1, key=jax.random.PRNGKey(1))
    assert isinstance(step, MetaStep)
    start = init_state(learner, opt, jax.random.PRNGKey(0))
    ahead_state, ahead = scan_steps(step, 7)(start)
    program = scan_steps(step, 7).lower(start).as_text()
    monkeypatch.setattr(trainer, "PRESAMPLE_MB", 0.0)  # too big to draw ahead: inside
    inside_state, inside = scan_steps(step, 7)(start)
    assert scan_steps(step, 7).lower(start).as_text() != program
    np.testing.assert_allclose(ahead["loss"], inside["loss"], rtol=1e-5)
    np.testing.assert_allclose(ahead["grad_norm"], inside["grad_norm"], rtol=1e-4)
    for a, b in zip(jax.tree.leaves(ahead_state.meta), jax.tree.leaves(inside_state.meta),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # the drawn inputs themselves are bit-identical: vmapped draws equal one-at-a-time draws
    steps = np.arange(7, dtype=np.int32)
    batched, draw = jax.jit(jax.vmap(step.draw))(steps), jax.jit(step.draw)
    for s in steps:
        one = draw(s)
        for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(batched), strict=True):
            np.testing.assert_array_equal(a, b[s])
