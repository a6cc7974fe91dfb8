"""The pretrain estimator against the least-squares gradient written out in numpy, and what
it may drive."""

import jax
import numpy as np

from metalab.estimators import ESTIMATORS, supporting
from metalab.estimators.closed_form import LinearTasks, linear_model
from metalab.learners import LEARNERS
from metalab.models import mlp


def test_pretrain_is_the_query_mse_gradient_at_the_start_weights(x64):
    """loss = mean_i |Xq_i w - yq_i|^2 / K, grad = mean_i 2 Xq_i^T (Xq_i w - yq_i) / K, for
    any inner step count and whatever the support sets hold."""
    tasks = LinearTasks(dim=4, k_support=6, k_query=9).sample(jax.random.PRNGKey(0), 3)
    learner = LEARNERS["maml"](linear_model(4), 0.1)
    meta = learner.init(jax.random.PRNGKey(1))
    est = ESTIMATORS["pretrain"]()
    w = np.asarray(meta["init"]["w"])
    xq, yq = np.asarray(tasks.query_x), np.asarray(tasks.query_y)
    residual = xq @ w - yq  # [n, K, 1]
    want_loss = np.mean(residual**2)
    want_grad = np.mean([2.0 * x.T @ r / len(r) for x, r in zip(xq, residual, strict=True)], 0)
    scrambled = tasks._replace(support_y=tasks.support_y + 100.0)
    for steps, batch in ((0, tasks), (5, tasks), (5, scrambled)):
        loss, grad, metrics = jax.jit(est.estimate, static_argnums=(0, 4))(
            learner, meta, batch, jax.random.PRNGKey(2), steps)
        np.testing.assert_allclose(loss, want_loss, rtol=1e-12)
        np.testing.assert_allclose(grad["init"]["w"], want_grad, rtol=1e-12)
        assert metrics == {}


def test_pretrain_drives_learned_initialisations_only():
    body = mlp((1, 8, 1))
    assert "pretrain" in supporting(LEARNERS["maml"](body, 0.01))
    assert "pretrain" not in supporting(LEARNERS["metasgd"](body, 0.01))  # rates untrainable
    assert "pretrain" not in supporting(LEARNERS["protonet"](body))
