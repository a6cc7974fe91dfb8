"""BOIL and ANIL over one shared construction: BOIL is Meta-SGD whose head rates are 0 and body
rates inner_lr (an independent learner gives the reference); the head is found for MLPs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.learners import LEARNERS, inner_loop
from metalab.learners.groups import resolve_head
from metalab.models import mlp
from metalab.tasks import Sinusoid


def test_boil_equals_metasgd_with_frozen_head(x64):
    model = mlp((1, 6, 6, 1), "tanh")
    boil = LEARNERS["boil"](model, 0.2)
    msgd = LEARNERS["metasgd"](model, 0.2)
    meta = jax.tree.map(lambda a: a.astype(jnp.float64), boil.init(jax.random.PRNGKey(0)))
    lrs = {k: jax.tree.map(lambda p, k=k: jnp.full_like(p, 0.0 if k == "layer2" else 0.2), v)
           for k, v in meta["init"].items()}
    meta_sgd = {"init": meta["init"], "lr": lrs}
    task = jax.tree.map(lambda a: a[0].astype(jnp.float64),
                        Sinusoid(5, 5).sample(jax.random.PRNGKey(1), 1))

    def outer(learner, m):
        phi = inner_loop(learner, m, task.support_x, task.support_y, 3).phi
        return learner.loss(m, phi, task.query_x, task.query_y)

    gb = jax.jit(jax.grad(lambda m: outer(boil, m)))(meta)
    gs = jax.jit(jax.grad(lambda m: outer(msgd, m)))(meta_sgd)
    np.testing.assert_allclose(outer(boil, meta), outer(msgd, meta_sgd), rtol=1e-12)
    for a, b in zip(jax.tree.leaves(gb["init"]), jax.tree.leaves(gs["init"]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-13)
    phi = inner_loop(boil, meta, task.support_x, task.support_y, 1).phi
    assert jax.tree.leaves(phi["layer2"]) == []  # the head is not a fast weight
    assert not np.allclose(phi["layer0"]["w"], meta["init"]["layer0"]["w"])


def test_head_is_found_or_named():
    theta = {f"layer{i}": {} for i in range(12)}
    assert resolve_head(theta, "auto") == "layer11"
    assert resolve_head({"block0": {}, "head": {}}, "auto") == "head"
    assert resolve_head(theta, "layer3") == "layer3"
    with pytest.raises(ValueError, match="no parameter group 'head'"):
        resolve_head(theta, "head")
