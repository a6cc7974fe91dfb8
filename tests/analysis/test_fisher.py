"""The diagonal Fisher against a finite-difference Jacobian, and ``consolidation``'s rows
against adapting by hand: with every lambda equal, the learned and fixed strengths coincide."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from metalab.analysis.fisher import STRENGTHS, consolidation, fisher
from metalab.evaluation import adapt
from metalab.learners import LEARNERS
from metalab.models import mlp
from metalab.tasks import Sinusoid


def _setup():
    learner = LEARNERS["complex-synapse"](mlp((1, 4, 1), "tanh"), 0.05, lam=0.5)
    meta = learner.init(jax.random.PRNGKey(0))
    dist = Sinusoid(5, 5)
    return learner, meta, dist


def test_fisher_is_the_mean_squared_output_gradient():
    learner, meta, dist = _setup()
    x = dist.sample(jax.random.PRNGKey(1), 1).query_x[0]
    phi = meta["omega"]
    flat, unravel = ravel_pytree(phi)
    eps = 1e-3
    jac = np.stack([(np.asarray(learner.predict(meta, unravel(flat + eps * e), x)[:, 0])
                     - np.asarray(learner.predict(meta, unravel(flat - eps * e), x)[:, 0]))
                    / (2 * eps) for e in np.eye(flat.shape[0])], axis=1)
    np.testing.assert_allclose(np.asarray(fisher(learner, meta, phi, x)),
                               (jac**2).mean(0), rtol=2e-2, atol=1e-5)


def test_consolidation_rows_by_hand():
    learner, meta, dist = _setup()
    earlier = dist.sample(jax.random.PRNGKey(2), 3)
    a, b = dist.sample(jax.random.PRNGKey(3), 2), dist.sample(jax.random.PRNGKey(4), 2)
    out = consolidation(learner, meta, earlier, (a, b), steps=3)
    n = ravel_pytree(meta["omega"])[0].shape[0]
    assert out["lambda"].shape == out["fisher"].shape == (n,)
    assert out["forgetting"].shape == (len(STRENGTHS), 2)
    # the init's lambda is one value everywhere: learned and fixed strengths are the same
    np.testing.assert_allclose(out["forgetting"][0], out["forgetting"][1], rtol=1e-5)
    rows = []
    for i in range(2):
        ta, tb = (jax.tree.map(lambda v, i=i: v[i], t) for t in (a, b))
        phi_a = adapt(learner, meta, ta, 3)
        phi_b = adapt(learner, {"omega": phi_a, "rho": meta["rho"]}, tb, 3)
        rows.append([learner.loss(meta, phi_b, ta.query_x, ta.query_y)
                     - learner.loss(meta, phi_a, ta.query_x, ta.query_y),
                     learner.loss(meta, phi_b, tb.query_x, tb.query_y)])
    np.testing.assert_allclose(np.asarray(out["forgetting"][0]),
                               np.mean(np.asarray(jnp.array(rows)), 0), rtol=1e-4, atol=1e-6)
