"""The diagonal Fisher of a one-output network against a finite-difference Jacobian (the
many-output case: ``test_importance.py``)."""

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from metalab.analysis.fisher import fisher
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
