"""The dual system's gains and shifts act on the pre-activation, and CAVIA's inner objective
holds the pull lam/2 ||c||^2 on its context: both against hand-written numpy."""

import jax
import jax.numpy as jnp
import numpy as np

from metalab.learners import LEARNERS
from metalab.models import mlp


def test_dual_system_applies_gains_and_shifts_before_the_activation(x64):
    """h_l = tanh(g_l * (W_l h + b_l) + s_l) with g != 1 and s != 0, read out linearly."""
    learner = LEARNERS["dual-system"](mlp((2, 5, 3, 1), "tanh"), 0.1)
    meta = learner.init(jax.random.PRNGKey(0))
    keys = iter(jax.random.split(jax.random.PRNGKey(1), 8))
    phi = {"gain": {k: 1.0 + jax.random.uniform(next(keys), v.shape, minval=-0.8, maxval=0.8)
                    for k, v in meta["init"]["gain"].items()},
           "shift": {k: jax.random.normal(next(keys), v.shape)
                     for k, v in meta["init"]["shift"].items()}}
    x = np.asarray(jax.random.normal(next(keys), (7, 2)))
    slow = jax.tree.map(np.asarray, meta["slow"])
    h = x
    for name in ("layer0", "layer1"):
        pre = h @ slow[name]["w"] + slow[name]["b"]
        h = np.tanh(np.asarray(phi["gain"][name]) * pre + np.asarray(phi["shift"][name]))
    want = h @ slow["layer2"]["w"] + slow["layer2"]["b"]
    got = learner.predict(meta, phi, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-12)
    y = np.asarray(jax.random.normal(next(keys), (7, 1)))
    np.testing.assert_allclose(float(learner.loss(meta, phi, jnp.asarray(x), jnp.asarray(y))),
                               np.mean((want - y) ** 2), rtol=1e-10)


def test_cavia_pulls_its_context_towards_zero_with_strength_lam(x64):
    """inner_loss = query-style loss + lam/2 ||c||^2, and its gradient in c adds lam * c."""
    lam = 0.7
    learner = LEARNERS["cavia"](mlp((1 + 3, 8, 1), "tanh"), 0.1, context=3, lam=lam)
    meta = learner.init(jax.random.PRNGKey(0))
    c = jnp.asarray([0.5, -1.5, 2.0])
    x = jax.random.normal(jax.random.PRNGKey(1), (6, 1))
    y = jax.random.normal(jax.random.PRNGKey(2), (6, 1))
    phi = {"context": c}
    data = float(learner.loss(meta, phi, x, y))
    assert abs(float(learner.inner_loss(meta, phi, x, y)) - (data + lam / 2 * 6.5)) < 1e-12
    g_inner = jax.grad(lambda p: learner.inner_loss(meta, p, x, y))(phi)["context"]
    g_data = jax.grad(lambda p: learner.loss(meta, p, x, y))(phi)["context"]
    np.testing.assert_allclose(np.asarray(g_inner - g_data), lam * np.asarray(c), rtol=1e-10)
    # lam = 0: no pull at all
    free = LEARNERS["cavia"](mlp((1 + 3, 8, 1), "tanh"), 0.1, context=3)
    assert float(free.inner_loss(meta, phi, x, y)) == data
