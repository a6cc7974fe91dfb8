"""Learners take values, not names: a loss function, an optax transformation, a filter over
the parameter tree; the names stay as shorthands and give the same numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from metalab.errors import BadInput
from metalab.estimators import ESTIMATORS
from metalab.learners import INNER_OPTIMIZERS, LEARNERS, inner_loop
from metalab.models import mlp
from metalab.tasks import Sinusoid

LR = 0.05
MODEL = mlp((1, 6, 6, 1), "tanh")


def _task():
    return jax.tree.map(lambda a: a[0], Sinusoid(5, 5).sample(jax.random.PRNGKey(3), 1))


def _adapted_and_grad(learner, meta, steps=3):
    """Fast weights after ``steps`` inner steps and the backprop meta-gradient, compiled."""
    task = _task()

    def outer(m):
        phi = inner_loop(learner, m, task.support_x, task.support_y, steps).phi
        return learner.loss(m, phi, task.query_x, task.query_y), phi

    (_, phi), grad = jax.jit(jax.value_and_grad(outer, has_aux=True))(meta)
    return phi, grad


def _assert_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_callable_loss_is_used_as_is(x64):
    """A hand-written MSE gives the named one's adapted weights and meta-gradient; a loss
    with no shorthand (Huber) is what the learner's loss computes."""
    named = LEARNERS["maml"](MODEL, LR, "mse")
    own = LEARNERS["maml"](MODEL, LR, lambda pred, y: jnp.mean((pred - y) ** 2))
    meta = named.init(jax.random.PRNGKey(0))
    for a, b in zip(_adapted_and_grad(named, meta), _adapted_and_grad(own, meta), strict=True):
        jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-13), a, b)
    huber = LEARNERS["anil"](MODEL, LR, lambda p, y: optax.losses.huber_loss(p, y).mean())
    task = _task()
    pred = MODEL.apply(meta["init"], task.query_x)
    want = np.mean(np.where(np.abs(pred - task.query_y) < 1, 0.5 * (pred - task.query_y) ** 2,
                            np.abs(pred - task.query_y) - 0.5))
    got = huber.loss(meta, huber.start(meta), task.query_x, task.query_y)
    np.testing.assert_allclose(got, want, rtol=1e-13)


VALUES = {"sgd": optax.identity(), "momentum": optax.trace(decay=0.9),
          "nesterov": optax.trace(decay=0.9, nesterov=True), "adam": optax.scale_by_adam()}


@pytest.mark.parametrize("learner_name", ["maml", "metasgd"])
def test_optax_value_equals_its_shorthand_bit_for_bit(learner_name):
    assert set(VALUES) == set(INNER_OPTIMIZERS)
    meta = LEARNERS[learner_name](MODEL, LR).init(jax.random.PRNGKey(0))
    for name, value in VALUES.items():
        by_name = LEARNERS[learner_name](MODEL, LR, inner_opt=name)
        by_value = LEARNERS[learner_name](MODEL, LR, inner_opt=value)
        _assert_equal(_adapted_and_grad(by_name, meta), _adapted_and_grad(by_value, meta))


def test_optax_value_without_shorthand_is_the_heavy_ball_it_says(x64):
    """optax.trace(decay=0.5): phi_1 = phi_0 - r g_0, phi_2 = phi_1 - r (0.5 g_0 + g_1)."""
    learner = LEARNERS["maml"](MODEL, LR, inner_opt=optax.trace(decay=0.5))
    meta = learner.init(jax.random.PRNGKey(0))
    task = _task()
    grad = jax.grad(learner.inner_loss, argnums=1)
    phi0 = meta["init"]
    g0 = grad(meta, phi0, task.support_x, task.support_y)
    phi1 = jax.tree.map(lambda p, g: p - LR * g, phi0, g0)
    g1 = grad(meta, phi1, task.support_x, task.support_y)
    want = jax.tree.map(lambda p, a, b: p - LR * (0.5 * a + b), phi1, g0, g1)
    got = inner_loop(learner, meta, task.support_x, task.support_y, 2).phi
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-12), got, want)


def _head_filters(head: str):
    """The same group as a preset name, a function of the key path and a pytree of bools."""
    return ["auto", lambda path, leaf: path[0].key == head,
            {"layer0": False, "layer1": False, head: True}]


@pytest.mark.parametrize("learner_name", ["anil", "boil"])
def test_filter_selecting_the_head_equals_the_preset(learner_name):
    learners = [LEARNERS[learner_name](MODEL, LR, head=f) for f in _head_filters("layer2")]
    meta = learners[0].init(jax.random.PRNGKey(0))
    want = _adapted_and_grad(learners[0], meta)
    fast = {k for k, v in want[0].items() if jax.tree.leaves(v)}
    assert fast == ({"layer2"} if learner_name == "anil" else {"layer0", "layer1"})
    for learner in learners[1:]:
        _assert_equal(_adapted_and_grad(learner, meta), want)


def test_leaf_level_filter_adapts_only_what_it_selects():
    """ANIL over the head's weight matrix alone: its bias stays at its meta-learned value."""
    learner = LEARNERS["anil"](MODEL, LR,
                               head=lambda path, leaf: path[0].key == "layer2" and leaf.ndim == 2)
    meta = learner.init(jax.random.PRNGKey(0))
    phi, grad = _adapted_and_grad(learner, meta)
    assert [a.shape for a in jax.tree.leaves(phi)] == [(6, 1)]
    assert not np.allclose(phi["layer2"]["w"], meta["init"]["layer2"]["w"])
    assert np.all(np.isfinite(grad["init"]["layer2"]["b"]))


def test_inner_rate_is_exposed_where_fixed():
    fixed = ["maml", "anil", "boil", "cavia", "complex-synapse", "dual-system"]
    for name in fixed:
        assert LEARNERS[name](MODEL, LR).inner_lr == LR, name
    for name in ("metasgd", "sparse-maml", "sparse-relu-maml", "protonet"):
        assert LEARNERS[name](MODEL, LR).inner_lr is None, name


def test_bad_values_are_named():
    with pytest.raises(BadInput, match=r"loss: choose from \['cross_entropy', 'mse'\]"):
        LEARNERS["maml"](MODEL, LR, "l2")
    with pytest.raises(BadInput, match="loss: .*function"):
        LEARNERS["cavia"](mlp((5, 4, 1)), LR, 3)
    with pytest.raises(BadInput, match=r"inner_opt: .*\['adam', 'momentum', 'nesterov', 'sgd'\]"):
        LEARNERS["dual-system"](MODEL, LR, inner_opt="lbfgs")
    with pytest.raises(BadInput, match="inner_opt: .*GradientTransformation, got 0.9"):
        LEARNERS["metasgd"](MODEL, LR, inner_opt=0.9)
    with pytest.raises(BadInput, match="head: model has no parameter group 'head'"):
        LEARNERS["anil"](MODEL, LR, head="head")
    with pytest.raises(BadInput, match="head: anil would adapt no parameter"):
        LEARNERS["anil"](MODEL, LR, head=lambda path, leaf: False)
    with pytest.raises(BadInput, match="head: boil would adapt no parameter"):
        LEARNERS["boil"](MODEL, LR, head=True)
    with pytest.raises(BadInput, match="head: a filter pytree must be shaped like"):
        LEARNERS["anil"](MODEL, LR, head={"layer9": True})
    with pytest.raises(BadInput, match="head: a filter pytree holds Python bools"):
        LEARNERS["anil"](MODEL, LR, head={"layer0": 1, "layer1": 0, "layer2": 0})
    no_rate = LEARNERS["maml"](MODEL, LR)._replace(inner_lr=None)
    meta, tasks = no_rate.init(jax.random.PRNGKey(0)), Sinusoid(3, 3).sample(
        jax.random.PRNGKey(1), 1)
    with pytest.raises(BadInput, match="--alpha: learner 'maml' has no fixed inner rate"):
        ESTIMATORS["t1-t2"]().estimate(no_rate, meta, tasks, None, 2)
