"""The loss a contrastive estimator reports is the query loss at the free solution phi_0 (the
learner's own adaptation), not at a nudged one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.estimators import ESTIMATORS
from metalab.learners import LEARNERS, inner_loop
from metalab.models import mlp
from metalab.tasks import Sinusoid


@pytest.mark.parametrize("name", ["contrastive", "contrastive-symmetric"])
def test_contrastive_reports_the_query_loss_at_the_free_solution(x64, name):
    steps, beta = 20, 0.5  # a strong nudge: the nudged solutions fit the query clearly better
    learner = LEARNERS["cavia"](mlp((1 + 2, 16, 1), "tanh"), 0.1, context=2, lam=0.5)
    meta = learner.init(jax.random.PRNGKey(0))
    tasks = Sinusoid(5, 10).sample(jax.random.PRNGKey(1), 3)
    est = ESTIMATORS[name](beta=beta)
    loss, _, _ = jax.jit(est.estimate, static_argnums=(0, 4))(
        learner, meta, tasks, jax.random.PRNGKey(2), steps)

    def free(task):
        phi = inner_loop(learner, meta, task.support_x, task.support_y, steps).phi
        return learner.loss(meta, phi, task.query_x, task.query_y)

    def nudged(task):  # roughly where a nudged phase ends
        def objective(m, p, x, y):
            return (learner.inner_loss(m, p, x, y)
                    + beta * learner.loss(m, p, task.query_x, task.query_y))

        phi = inner_loop(learner, meta, task.support_x, task.support_y, 2 * steps,
                         objective=objective).phi
        return learner.loss(meta, phi, task.query_x, task.query_y)

    want = float(jnp.mean(jax.vmap(free)(tasks)))
    other = float(jnp.mean(jax.vmap(nudged)(tasks)))
    assert abs(want - other) > 1e-3 * want  # the two differ enough to tell apart
    np.testing.assert_allclose(float(loss), want, rtol=1e-8)


def test_the_free_phase_never_reads_the_query_set():
    """phi_0 minimises the inner loss alone: with a poisoned (NaN) query set the free phase's
    gradient norm is the one of the clean run (the query enters the nudged phases only)."""
    learner = LEARNERS["cavia"](mlp((1 + 2, 16, 1), "tanh"), 0.1, context=2, lam=0.5)
    meta = learner.init(jax.random.PRNGKey(0))
    tasks = Sinusoid(5, 10).sample(jax.random.PRNGKey(1), 3)
    poisoned = tasks._replace(query_x=jnp.full_like(tasks.query_x, jnp.nan))
    est = ESTIMATORS["contrastive"](beta=0.1)
    stats = [est.estimate(learner, meta, t, jax.random.PRNGKey(2), 10)[2]["free_grad_norm"]
             for t in (tasks, poisoned)]
    assert np.isfinite(float(stats[1]))
    np.testing.assert_allclose(float(stats[1]), float(stats[0]), rtol=1e-6)
