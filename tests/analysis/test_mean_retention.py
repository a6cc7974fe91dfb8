"""``mean_retention`` (one program for every seed) scores each seed exactly as the per-seed
evaluation it replaces."""

import jax
import numpy as np

from metalab.analysis.retention import mean_retention
from metalab.estimators.stream import retention_matrix
from metalab.learners import LEARNERS
from metalab.models import mlp
from metalab.tasks.sine_stream import SineStream


def test_mean_retention_equals_mean_of_per_stream_matrices():
    streams = SineStream(3, 4, 4).sample(jax.random.PRNGKey(3), 5)
    learner = LEARNERS["sparse-maml"](mlp((4, 8, 1)), 0.05, "mse")
    evaluate = mean_retention(learner, streams, 2)
    one = jax.jit(lambda meta, stream: retention_matrix(learner, meta, stream, 2))
    for seed in (0, 1):
        meta = learner.init(jax.random.PRNGKey(seed))
        want = np.mean([np.asarray(one(meta, jax.tree.map(lambda a, i=i: a[i], streams)))
                        for i in range(5)], 0)
        np.testing.assert_allclose(evaluate(meta), want, rtol=1e-5, atol=1e-6)
