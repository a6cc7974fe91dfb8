"""Equinox and flax (nnx) networks as metalab models: the MAML meta-gradient through each equals
the one through the same network written as ``metalab.models.mlp`` with copied weights, and a
few meta-steps on sinusoids lower the meta-loss."""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from metalab.estimators import backprop
from metalab.learners import maml
from metalab.models import mlp
from metalab.models.adapters import from_equinox, from_flax
from metalab.tasks import Sinusoid
from metalab.training import init_state, make_meta_step, scan_steps

SIZES = (1, 16, 16, 1)
LR = 0.01


def equinox_net():
    """eqx.nn.MLP 1-16-16-1 (tanh) and its weights as ``mlp`` params (weights transposed)."""
    eqx = pytest.importorskip("equinox")
    model = from_equinox(lambda key: eqx.nn.MLP(1, 1, 16, 2, activation=jnp.tanh, key=key,
                                                use_final_bias=True))
    # an equinox MLP takes a vector; metalab's apply maps it over the batch axis
    params = model.init(jax.random.PRNGKey(0))
    copied = {f"layer{i}": {"w": params[f"layers.{i}.weight"].T,
                            "b": params[f"layers.{i}.bias"]} for i in range(3)}
    back = {f"layers.{i}.{n}": (lambda g, i=i, n=n: g[f"layer{i}"]["w"].T if n == "weight"
                                else g[f"layer{i}"]["b"])
            for i in range(3) for n in ("weight", "bias")}
    return model, params, copied, back


def flax_net():
    """The same network as an nnx module (kernels are [in, out], as in ``mlp``)."""
    nnx = pytest.importorskip("flax.nnx")

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs)
                                    for a, b in zip(SIZES[:-1], SIZES[1:], strict=True)])

        def __call__(self, x):
            for layer in self.layers[:-1]:
                x = jnp.tanh(layer(x))
            return self.layers[-1](x)

    model = from_flax(lambda key: Net(nnx.Rngs(key)))
    params = model.init(jax.random.PRNGKey(0))
    copied = {f"layer{i}": {"w": params[f"layers.{i}.kernel"], "b": params[f"layers.{i}.bias"]}
              for i in range(3)}
    back = {f"layers.{i}.{n}": (lambda g, i=i, n=n: g[f"layer{i}"]["w" if n == "kernel" else "b"])
            for i in range(3) for n in ("kernel", "bias")}
    return model, params, copied, back


NETS = {"equinox": equinox_net, "flax": flax_net}


@pytest.mark.parametrize("library", NETS)
def test_meta_gradient_matches_mlp_with_copied_weights(library):
    """Second-order MAML (2 inner steps) through the adapted module and through ``mlp``."""
    model, params, copied, back = NETS[library]()
    batch = Sinusoid(5, 5).sample(jax.random.PRNGKey(1), 4)
    key = jax.random.PRNGKey(2)
    estimate = backprop().estimate
    loss_a, grad_a, _ = estimate(maml(model, LR), {"init": params}, batch, key, 2)
    loss_b, grad_b, _ = estimate(maml(mlp(SIZES, "tanh"), LR), {"init": copied}, batch, key, 2)
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-5)
    assert set(grad_a["init"]) == set(back)
    for name, pick in back.items():
        np.testing.assert_allclose(grad_a["init"][name], pick(grad_b["init"]), rtol=1e-4,
                                   atol=1e-6)


@pytest.mark.parametrize("library", NETS)
def test_meta_training_lowers_the_meta_loss(library):
    """50 MAML meta-steps on sinusoids (one compiled program) lower the post-adaptation query
    loss on 100 held-out tasks; different keys give different initial weights."""
    model = NETS[library]()[0]
    learner, outer = maml(model, LR), optax.adam(1e-2)
    step = make_meta_step(learner, backprop(), optimizer=outer, tasks=Sinusoid(10, 10),
                          meta_batch=8, inner_steps=1, key=jax.random.PRNGKey(3))
    start = init_state(learner, outer, jax.random.PRNGKey(4))
    trained, _ = scan_steps(step, 50)(start)
    held = Sinusoid(10, 10).sample(jax.random.PRNGKey(7), 100)
    loss = jax.jit(lambda meta: backprop().estimate(learner, meta, held, None, 1)[0])
    assert loss(trained.meta) < 0.85 * loss(start.meta)  # 3.7 -> 2.8 here
    a, b = (ravel_pytree(model.init(jax.random.PRNGKey(k)))[0] for k in (5, 6))
    assert not np.allclose(a, b)


def test_missing_library_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "flax.nnx", None)  # import flax.nnx now raises
    with pytest.raises(ImportError, match=r"metalab\[flax\]"):
        from_flax(object())
