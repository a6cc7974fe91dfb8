"""Estimators that need the inner problem's step size read it from the learner
(``Learner.inner_lr``) instead of being given it a second time."""

import jax
import numpy as np
import pytest

from metalab.estimators import ESTIMATORS
from metalab.estimators.closed_form import LinearTasks, linear_model
from metalab.learners import LEARNERS

LR = 0.1


@pytest.mark.parametrize("name", ["implicit-neumann", "t1-t2"])
def test_step_read_from_the_learner_equals_passing_it(x64, name):
    learner = LEARNERS["maml"](linear_model(4), LR)
    meta = learner.init(jax.random.PRNGKey(1))
    tasks = LinearTasks(dim=4, k_support=8, k_query=12).sample(jax.random.PRNGKey(0), 3)

    def grad(**settings):
        est = ESTIMATORS[name](**settings)
        return jax.jit(lambda m: est.estimate(learner, m, tasks, None, 50)[1])(meta)

    read, given = grad(), grad(alpha=LR)
    jax.tree.map(np.testing.assert_array_equal, read, given)
    other = grad(alpha=LR / 2)  # the step matters, so reading the right one is checked
    assert not np.allclose(other["init"]["w"], read["init"]["w"])
