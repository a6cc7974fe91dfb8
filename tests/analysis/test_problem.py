"""``analysis.problem.DynamicsProblem``: the task family and models it builds match its
fields, and out-of-range fields are refused by name."""

import jax
import numpy as np
import pytest

from metalab.analysis.problem import DynamicsProblem
from metalab.errors import BadInput


def test_linear_family_has_the_configured_spectrum_and_sizes():
    problem = DynamicsProblem(d_in=3, d_out=5, s_max=2.0, s_min=0.5, hidden=6, noise=0.1,
                              k_support=7)
    dist = problem.distribution()
    np.testing.assert_allclose(dist.singular_values(), [2.0, 1.0, 0.5], rtol=1e-6)
    task = dist.sample(jax.random.PRNGKey(0), 2)
    assert task.support_x.shape == (2, 7, 3) and task.query_y.shape == (2, 7, 5)
    plain = problem.gd_model(meta_learned=False).init(jax.random.PRNGKey(1))
    big = problem.gd_model(meta_learned=True).init(jax.random.PRNGKey(1))
    assert [p.shape for p in jax.tree.leaves(plain)] == [p.shape for p in jax.tree.leaves(big)]
    # the plain learner starts from init_scale (0.01) times the meta-learned scale
    np.testing.assert_allclose(jax.tree.leaves(plain)[0], 0.01 * jax.tree.leaves(big)[0],
                               rtol=1e-6)
    assert "lr" in problem.meta_learner("metasgd", 0.05).init(jax.random.PRNGKey(2))


def test_fourier_family_reads_one_input():
    problem = DynamicsProblem(variant="fourier", n_freq=3, hidden=4, noise=0.05, k_support=5)
    task = problem.distribution().sample(jax.random.PRNGKey(0), 1)
    assert task.support_x.shape == (1, 5, 1)
    lstm = problem.memory_model(8, plain=True)
    assert lstm.init(jax.random.PRNGKey(0))  # builds for one input, one output


@pytest.mark.parametrize("field, value, flag", [("d_in", 1, "--d-in"), ("s_min", 5.0, "--s-min"),
                                               ("noise", 0.0, "--noise"),
                                               ("k_support", 1, "--k-support")])
def test_out_of_range_fields_are_refused_by_name(field, value, flag):
    with pytest.raises(BadInput, match=flag):
        DynamicsProblem(**{field: value}).check_problem()
