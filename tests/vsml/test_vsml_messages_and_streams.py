"""A deep VS-ML network's hidden layers learn from the backward messages of the same step
(``backward=True``), and every stream draws a fresh projection P ~ N(0, 1/dim) of its inputs,
independent of the examples."""

import jax
import jax.numpy as jnp
import numpy as np

from metalab.tasks.families import Family
from metalab.tasks.online import draw_stream
from metalab.vsml.network import vsml


def _after_one_step(backward: bool, label: int):
    learner = vsml(hidden=(3,), state_size=4, message_size=3, ticks=1, backward=backward)
    rule = learner.init(jax.random.PRNGKey(0))
    state = learner.start(rule, jax.random.PRNGKey(1), 5, 2)
    x = jax.random.normal(jax.random.PRNGKey(2), (5,))
    state, _ = learner.step(rule, state, x, jnp.asarray(label))
    return state


def test_hidden_layer_learns_from_this_steps_label_in_the_backward_phase():
    """With ``backward`` the label of step 1 reaches the hidden layer within step 1: its
    state after the step depends on the label. Without it (forward-only) feedback reaches
    the layers one step later, so after step 1 the hidden layer has not seen the label."""
    a, b = _after_one_step(True, 0), _after_one_step(True, 1)
    hidden_gap = float(jnp.abs(a.layers[0].c - b.layers[0].c).max())
    assert hidden_gap > 1e-6
    assert float(jnp.abs(a.layers[1].c - b.layers[1].c).max()) > 1e-6
    a, b = _after_one_step(False, 0), _after_one_step(False, 1)
    assert float(jnp.abs(a.layers[0].c - b.layers[0].c).max()) == 0.0
    assert float(jnp.abs(a.feedback[1] - b.feedback[1]).max()) > 0  # arrives next step


def _identity_family(dim: int) -> Family:
    """Each stream's examples are the rows of the identity, so x @ P is P itself."""
    def draw(key, steps, n_classes):
        return jnp.eye(dim)[:steps], jnp.arange(steps) % n_classes

    return Family("identity", dim, None, draw)


def test_each_stream_draws_a_fresh_projection_with_variance_one_over_dim():
    dim, n_in = 400, 16
    family = _identity_family(dim)
    p1 = np.asarray(draw_stream(family, jax.random.PRNGKey(0), dim, 2, n_in).x)
    p2 = np.asarray(draw_stream(family, jax.random.PRNGKey(1), dim, 2, n_in).x)
    assert p1.shape == (dim, n_in)
    for p in (p1, p2):  # N(0, 1/dim): 6400 draws, so the variance is within ~5%
        assert abs(p.var() * dim - 1.0) < 0.1 and abs(p.mean()) < 0.01
    assert abs(np.corrcoef(p1.ravel(), p2.ravel())[0, 1]) < 0.05  # fresh per stream


def test_the_projection_does_not_depend_on_the_examples():
    """Two families drawing different examples with the same key share the projection."""
    dim, n_in = 6, 4
    one = _identity_family(dim)
    twice = Family("twice", dim, None, lambda k, s, c: (2.0 * jnp.eye(dim)[:s],
                                                        jnp.arange(s) % c))
    key = jax.random.PRNGKey(3)
    p = draw_stream(one, key, dim, 2, n_in).x
    np.testing.assert_allclose(draw_stream(twice, key, dim, 2, n_in).x, 2.0 * p, rtol=1e-6)
