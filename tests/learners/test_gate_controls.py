"""Controls of learning where to learn: random masks keep exactly the learned per-tensor
sparsity, and a fixed-gate MAML reproduces sparse-MAML's inner loop for the same gate."""

import jax
import numpy as np

from metalab.learners import LEARNERS, inner_loop
from metalab.learners.sparse import fixed_gate_maml, permuted_gate, update_fractions, update_gate
from metalab.models import mlp
from metalab.tasks import Sinusoid


def _learned_gate():
    """A sparse-MAML gate with a different sparsity in every tensor."""
    learner = LEARNERS["sparse-maml"](mlp((1, 12, 12, 1)), 0.1)
    meta = learner.init(jax.random.PRNGKey(0))
    shifts = iter([-0.3, 0.2, 0.0, 0.35, -0.1, 0.45])
    meta = {**meta, "mask": jax.tree.map(lambda m: m + next(shifts), meta["mask"])}
    return learner, meta, update_gate(learner, meta)


def test_random_masks_use_exactly_the_learned_per_tensor_sparsity():
    _, _, gate = _learned_gate()
    for r in range(3):
        rand = permuted_gate(jax.random.PRNGKey(r), gate)
        for g, q in zip(jax.tree.leaves(gate), jax.tree.leaves(rand), strict=True):
            assert g.shape == q.shape and set(np.unique(q)) <= {0.0, 1.0}
            assert int(q.sum()) == int(g.sum())  # the same count, not just the same fraction
        assert update_fractions(rand) == update_fractions(gate)
        assert any(np.any(np.asarray(g) != np.asarray(q)) for g, q in
                   zip(jax.tree.leaves(gate), jax.tree.leaves(rand), strict=True) if g.size > 12)


def test_fixed_gate_maml_adapts_like_sparse_maml_with_that_gate():
    learner, meta, gate = _learned_gate()
    fixed = fixed_gate_maml(mlp((1, 12, 12, 1)), 0.1, gate)
    task = jax.tree.map(lambda a: a[0], Sinusoid(5, 5).sample(jax.random.PRNGKey(1), 1))
    a = inner_loop(learner, meta, task.support_x, task.support_y, 4).phi
    b = inner_loop(fixed, {"init": meta["init"]}, task.support_x, task.support_y, 4).phi
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
