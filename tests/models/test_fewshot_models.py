"""Conv net, ANIL, ProtoNets and task-mapping strategies, each against a second implementation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.estimators import ESTIMATORS
from metalab.estimators.prototypical import prototypical
from metalab.estimators.task_map import map_tasks
from metalab.learners import LEARNERS, inner_loop
from metalab.learners.protonet import distance_logits, prototypes, query_logits
from metalab.models import mlp
from metalab.models.convnet import batch_norm, conv_im2col, conv_xla, convnet, max_pool
from metalab.tasks.base import Task


def _images(key, n, size=8):
    return jax.random.uniform(key, (n, size, size, 1))


def test_im2col_conv_equals_xla_conv_with_gradients():
    """Same outputs and input/weight gradients, also vmapped over per-task weights."""
    kx, kw = jax.random.split(jax.random.PRNGKey(0))
    x = jax.random.normal(kx, (2, 2, 5, 4, 3))
    w = jax.random.normal(kw, (2, 3, 3, 3, 4))

    def value_and_grads(conv):
        f = lambda x, w: jnp.sum(jnp.sin(jax.vmap(conv)(x, w)))  # noqa: E731
        return jax.jit(jax.value_and_grad(f, (0, 1)))(x, w)

    (a, ga), (b, gb) = value_and_grads(conv_xla), value_and_grads(conv_im2col)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    for u, v in zip(ga, gb, strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-4)


def test_im2col_second_order_meta_gradient_equals_xla(x64):
    """MAML's meta-gradient differentiates the inner gradient, i.e. the im2col conv's custom
    backward pass: it must equal the one through ``lax.conv`` (float64)."""
    task = _episode(jax.random.PRNGKey(2), n_way=2, size=6)

    def meta_grad(conv):
        learner = LEARNERS["maml"](convnet(2, (6, 6, 1), width=3, blocks=2, conv=conv), 0.4,
                                   "cross_entropy")
        meta = learner.init(jax.random.PRNGKey(0))

        def outer(m):
            phi = inner_loop(learner, m, task.support_x, task.support_y, 2).phi
            return learner.loss(m, phi, task.query_x, task.query_y)

        return jax.jit(jax.value_and_grad(outer))(meta)

    (a, ga), (b, gb) = meta_grad("xla"), meta_grad("im2col")
    np.testing.assert_allclose(a, b, rtol=1e-12)
    for u, v in zip(jax.tree.leaves(ga), jax.tree.leaves(gb), strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-9, atol=1e-12)


def test_max_pool_and_batch_norm_match_references():
    """max_pool equals lax.reduce_window (floor on odd sides); batch norm gives zero mean and
    unit variance per channel before the affine part."""
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 7, 6, 3))
    ref = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    np.testing.assert_array_equal(max_pool(x), ref)
    assert max_pool(jnp.ones((2, 1, 1, 3))).shape == (2, 1, 1, 3)
    y = batch_norm(x * 3.0 + 2.0, jnp.ones(3), jnp.zeros(3))
    np.testing.assert_allclose(y.mean((0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var((0, 1, 2)), 1.0, atol=1e-3)


def test_convnet_shapes_and_implementations_agree():
    """Finn et al.'s net: 64 features for 28x28 (and for 8x8 digits); both convs agree."""
    for size in (28, 8):
        nets = {c: convnet(5, (size, size, 1), width=8, conv=c) for c in ("xla", "im2col")}
        params = nets["xla"].init(jax.random.PRNGKey(0))
        assert params["head"]["w"].shape == (8, 5)
        x = _images(jax.random.PRNGKey(1), 4, size)
        out = {c: jax.jit(net.apply)(params, x) for c, net in nets.items()}
        assert out["xla"].shape == (4, 5)
        np.testing.assert_allclose(out["xla"], out["im2col"], rtol=1e-4, atol=1e-4)
    body = {k: v for k, v in params.items() if k != "head"}
    assert jax.eval_shape(nets["xla"].apply, body, x).shape == (4, 8)


def _episode(key, n_way=3, k=2, q=2, size=8):
    ks, kq = jax.random.split(key)
    sy = jnp.repeat(jnp.arange(n_way), k)
    qy = jnp.repeat(jnp.arange(n_way), q)
    return Task(_images(ks, n_way * k, size), sy, _images(kq, n_way * q, size), qy)


def test_anil_equals_metasgd_with_frozen_body(x64):
    """ANIL = Meta-SGD whose body learning rates are 0 and head rates inner_lr: same adapted
    predictions and the same meta-gradient of the initialisation."""
    model = convnet(3, (4, 4, 1), width=3, blocks=2, conv="xla")
    anil = LEARNERS["anil"](model, 0.3, "cross_entropy")
    msgd = LEARNERS["metasgd"](model, 0.3, "cross_entropy")
    meta = anil.init(jax.random.PRNGKey(0))
    lrs = {k: jax.tree.map(lambda p, k=k: jnp.full_like(p, 0.3 if k == "head" else 0.0), v)
           for k, v in meta["init"].items()}
    meta_sgd = {"init": meta["init"], "lr": lrs}
    task = _episode(jax.random.PRNGKey(1), size=4)

    def outer(learner, m):
        phi = inner_loop(learner, m, task.support_x, task.support_y, 2).phi
        return learner.loss(m, phi, task.query_x, task.query_y)

    ga = jax.jit(jax.grad(lambda m: outer(anil, m)))(meta)
    gs = jax.jit(jax.grad(lambda m: outer(msgd, m)))(meta_sgd)
    np.testing.assert_allclose(outer(anil, meta), outer(msgd, meta_sgd), rtol=1e-10)
    for a, b in zip(jax.tree.leaves(ga["init"]), jax.tree.leaves(gs["init"]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)
    phi = inner_loop(anil, meta, task.support_x, task.support_y, 1).phi
    assert not np.allclose(phi["head"]["w"], meta["init"]["head"]["w"])


def test_prototypes_and_logits_against_numpy():
    """Class means and -squared distances; absent label values are never predicted."""
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(6, 4)).astype(np.float32)
    labels = np.array([0, 2, 0, 2, 2, 0])
    protos, present = prototypes(jnp.asarray(emb), jnp.asarray(labels))
    np.testing.assert_allclose(protos[0], emb[labels == 0].mean(0), rtol=1e-5)
    np.testing.assert_allclose(protos[2], emb[labels == 2].mean(0), rtol=1e-5)
    np.testing.assert_array_equal(present, [True, False, True, False, False, False])
    q = rng.normal(size=(3, 4)).astype(np.float32)
    logits = distance_logits(jnp.asarray(q), protos, present)
    expect = -((q[:, None, :] - np.asarray(protos)[None]) ** 2).sum(-1)
    np.testing.assert_allclose(logits[:, [0, 2]], expect[:, [0, 2]], rtol=1e-4, atol=1e-4)
    assert set(np.asarray(jnp.argmax(logits, -1))) <= {0, 2}


def test_prototypical_gradient_matches_finite_differences(x64):
    """The ProtoNet estimator's meta-gradient against central differences along a direction."""
    learner = LEARNERS["protonet"](mlp((64, 8, 5), "tanh"))
    meta = learner.init(jax.random.PRNGKey(0))
    tasks = jax.tree.map(lambda *a: jnp.stack(a),
                         *[_episode(jax.random.PRNGKey(i)) for i in range(2)])
    tasks = tasks._replace(support_x=tasks.support_x.reshape(2, 6, 64),
                           query_x=tasks.query_x.reshape(2, 6, 64))
    est = prototypical()
    estimate = jax.jit(lambda m: est.estimate(learner, m, tasks, jax.random.PRNGKey(0), 0))
    loss, grad, _ = estimate(meta)
    direction = jax.tree.map(lambda p: jax.random.normal(jax.random.PRNGKey(3), p.shape), meta)
    eps = 1e-5

    def at(s):
        m = jax.tree.map(lambda p, d: p + s * d, meta, direction)
        return estimate(m)[0]

    fd = (at(eps) - at(-eps)) / (2 * eps)
    analytic = sum(jnp.vdot(g, d) for g, d in
                   zip(jax.tree.leaves(grad), jax.tree.leaves(direction), strict=True))
    np.testing.assert_allclose(analytic, fd, rtol=1e-6)
    manual = np.mean([
        -jnp.mean(jax.nn.log_softmax(query_logits(learner, meta, t))[jnp.arange(6), t.query_y])
        for t in (jax.tree.map(lambda a, i=i: a[i], tasks) for i in range(2))])
    np.testing.assert_allclose(loss, manual, rtol=1e-10)


@pytest.mark.parametrize("strategy", ["map", "unroll"])
def test_task_map_strategies_agree_with_vmap(strategy):
    """Same second-order MAML loss and meta-gradient on the conv net, however tasks map."""
    net = convnet(2, (4, 4, 1), width=3, blocks=2, conv="xla")
    learner = LEARNERS["maml"](net, 0.4, "cross_entropy")
    meta = learner.init(jax.random.PRNGKey(0))
    tasks = jax.tree.map(lambda *a: jnp.stack(a),
                         *[_episode(jax.random.PRNGKey(i), n_way=2, size=4) for i in range(2)])
    ref = jax.jit(lambda m: ESTIMATORS["backprop"]().estimate(learner, m, tasks, None, 1))(meta)
    got = jax.jit(lambda m: ESTIMATORS["backprop"](task_map=strategy).estimate(
        learner, m, tasks, None, 1))(meta)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(got[1]), jax.tree.leaves(ref[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    stacked = map_tasks(lambda t: t.support_y.sum(), tasks, strategy)
    np.testing.assert_array_equal(stacked, [2, 2])
