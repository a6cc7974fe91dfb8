"""The per-method evaluators of where-to-learn and continual (one program for every seed) score
each seed exactly as the per-seed evaluation they replace."""

import jax
import numpy as np

from metalab.estimators.stream import retention_matrix
from metalab.experiments.fewshot import common as fewshot
from metalab.experiments.where_to_learn.continual import evaluator
from metalab.experiments.where_to_learn.experiment import seed_accuracies
from metalab.learners import LEARNERS
from metalab.models import Model, mlp
from metalab.tasks.episodes import Episodes
from metalab.tasks.sine_stream import SineStream


def test_seed_accuracies_equal_fewshot_evaluate():
    train, _ = fewshot.load_classes("digits", "", "", 3, 0)
    sample = Episodes.of(train, 5, 1, 2).sample
    linear = Model(lambda key: {"w": jax.random.normal(key, (64, 5)) * 0.1},
                   lambda p, x: x.reshape(*x.shape[:-3], 64) @ p["w"])
    learner = LEARNERS["maml"](linear, 0.4, "cross_entropy")
    metas = [learner.init(jax.random.PRNGKey(s)) for s in (0, 1)]
    key = jax.random.PRNGKey(7)
    got = seed_accuracies(learner, metas, sample, key, 60, 1, chunk=25)
    want = float(fewshot.evaluate(learner, metas[1], sample, key, 60, 1, chunk=25,
                                  task_map="auto").mean())
    np.testing.assert_allclose(got[1], want, rtol=0, atol=1e-7)


def test_continual_evaluator_equals_mean_retention_matrix():
    streams = SineStream(3, 4, 4).sample(jax.random.PRNGKey(3), 5)
    learner = LEARNERS["sparse-maml"](mlp((4, 8, 1)), 0.05, "mse")
    evaluate = evaluator(learner, streams, 2)
    one = jax.jit(lambda meta, stream: retention_matrix(learner, meta, stream, 2))
    for seed in (0, 1):
        meta = learner.init(jax.random.PRNGKey(seed))
        want = np.mean([np.asarray(one(meta, jax.tree.map(lambda a, i=i: a[i], streams)))
                        for i in range(5)], 0)
        np.testing.assert_allclose(evaluate(meta), want, rtol=1e-5, atol=1e-6)
