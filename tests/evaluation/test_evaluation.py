"""adapt / evaluate against hand computations: one SGD step of a linear model in closed form,
adaptation curves against numpy gradient descent, ProtoNets against a numpy nearest-prototype
classifier, seeds scored as one program against one at a time, and the task-drawing contract."""

import jax
import jax.numpy as jnp
import numpy as np

from metalab.evaluation import (
    adapt,
    adaptation_curves,
    evaluate,
    seed_scores,
    task_curves,
    task_scores,
)
from metalab.learners import maml, protonet
from metalab.models.base import Model
from metalab.stats import mean_ci95
from metalab.tasks.base import Task
from metalab.tasks.sinusoid import Sinusoid

LINEAR = Model(lambda key: {"w": jax.random.normal(key, (3, 1))}, lambda p, x: x @ p["w"])
LINEAR_1D = Model(lambda key: {"w": jax.random.normal(key, (1, 1))}, lambda p, x: x @ p["w"])


def _linear_tasks(key, n=6, k=5):
    kx, kw, kq = jax.random.split(key, 3)
    w = jax.random.normal(kw, (n, 3, 1))
    xs = jax.random.normal(kx, (n, k, 3))
    xq = jax.random.normal(kq, (n, k, 3))
    return Task(xs, jnp.einsum("nkd,ndo->nko", xs, w), xq, jnp.einsum("nkd,ndo->nko", xq, w))


def test_adapt_is_one_sgd_step_of_the_mse_in_closed_form():
    learner = maml(LINEAR, 0.1, "mse")
    meta = learner.init(jax.random.PRNGKey(0))
    task = jax.tree.map(lambda a: a[0], _linear_tasks(jax.random.PRNGKey(1)))
    phi = adapt(learner, meta, task, 1)
    x, y, w = (np.asarray(a, np.float64) for a in (task.support_x, task.support_y,
                                                     meta["init"]["w"]))
    expected = w - 0.1 * 2.0 / y.size * x.T @ (x @ w - y)
    np.testing.assert_allclose(phi["w"], expected, rtol=1e-5, atol=1e-6)


def test_regression_score_is_the_query_mse_after_adaptation():
    learner = maml(LINEAR, 0.1, "mse")
    meta = learner.init(jax.random.PRNGKey(0))
    tasks = _linear_tasks(jax.random.PRNGKey(2))
    scores = np.asarray(task_scores(learner, meta, tasks, steps=2))
    for i in range(len(scores)):
        task = jax.tree.map(lambda a, i=i: a[i], tasks)
        phi = adapt(learner, meta, task, 2)
        mse = np.mean((np.asarray(task.query_x) @ np.asarray(phi["w"])
                       - np.asarray(task.query_y)) ** 2)
        np.testing.assert_allclose(scores[i], mse, rtol=1e-5)
    score = evaluate(learner, meta, tasks, steps=2, chunk=4)  # chunks of 4 and 2 tasks
    np.testing.assert_allclose(score.per_task, scores, rtol=1e-6)
    assert (score.mean, score.ci95) == mean_ci95(score.per_task)


def test_protonet_adapts_in_closed_form_to_the_nearest_prototype():
    embed = Model(lambda key: {"w": jax.random.normal(key, (4, 3))}, lambda p, x: x @ p["w"])
    learner = protonet(embed)
    meta = learner.init(jax.random.PRNGKey(0))
    key_x, key_q = jax.random.split(jax.random.PRNGKey(3))
    labels = jnp.tile(jnp.arange(3), (4, 2))  # 4 episodes, 3 classes x 2 shots
    centres = 3.0 * jax.random.normal(key_x, (4, 3, 4))
    support = jnp.take_along_axis(centres, labels[..., None], 1) + jax.random.normal(
        key_q, (4, 6, 4))
    query = centres + 0.5 * jax.random.normal(jax.random.PRNGKey(4), (4, 3, 4))
    tasks = Task(support, labels, query, jnp.tile(jnp.arange(3), (4, 1)))
    got = np.asarray(task_scores(learner, meta, tasks, steps=0))
    w = np.asarray(meta["init"]["w"])
    for i, acc in enumerate(got):
        emb_s, emb_q = np.asarray(support[i]) @ w, np.asarray(query[i]) @ w
        protos = np.stack([emb_s[np.asarray(labels[i]) == c].mean(0) for c in range(3)])
        nearest = np.argmin(((emb_q[:, None] - protos[None]) ** 2).sum(-1), axis=1)
        assert acc == np.mean(nearest == np.arange(3))


def test_drawn_tasks_depend_on_the_key_only():
    dist = Sinusoid(5, 5)
    learner = maml(LINEAR_1D, 0.1, "mse")
    meta = learner.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(5)
    a = evaluate(learner, meta, dist.sample, steps=1, key=key, n=7, chunk=3)
    b = evaluate(learner, meta, dist.sample, steps=1, key=key, n=7, chunk=3)
    c = evaluate(learner, meta, dist.sample, steps=1, key=jax.random.PRNGKey(6), n=7, chunk=3)
    assert a.per_task.shape == (7,)
    np.testing.assert_array_equal(a.per_task, b.per_task)
    assert not np.allclose(a.per_task, c.per_task)


def test_adaptation_curves_follow_numpy_gradient_descent(x64):
    """Column t is the query MSE after t SGD steps on the support MSE, every ``every`` steps;
    chunks of 4 and 2 tasks give the rows of one call (to rounding: batch shapes change XLA's
    reductions)."""
    learner = maml(LINEAR, 0.1, "mse")
    meta = learner.init(jax.random.PRNGKey(0))
    tasks = _linear_tasks(jax.random.PRNGKey(2))
    curves = adaptation_curves(learner, meta, tasks, steps=4, every=2, chunk=4)
    assert curves.shape == (6, 3)
    for i in range(6):
        xs, ys, xq, yq = (np.asarray(a[i]) for a in tasks)
        w, want = np.asarray(meta["init"]["w"]), []
        for t in range(5):
            if t % 2 == 0:
                want.append(np.mean((xq @ w - yq) ** 2))
            w = w - 0.1 * 2.0 / ys.size * xs.T @ (xs @ w - ys)
        np.testing.assert_allclose(curves[i], want, rtol=1e-10)
    whole = jax.jit(lambda m: task_curves(learner, m, tasks, steps=4, every=2))(meta)
    np.testing.assert_allclose(np.asarray(whole), curves, rtol=1e-14)


def test_closed_form_curve_is_flat_at_the_closed_form_score():
    embed = Model(lambda key: {"w": jax.random.normal(key, (3, 2))}, lambda p, x: x @ p["w"])
    learner = protonet(embed)
    meta = learner.init(jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 4, 3))
    labels = jnp.tile(jnp.array([0, 1, 0, 1]), (3, 1))
    tasks = Task(x, labels, x[:, ::-1], labels)
    curves = adaptation_curves(learner, meta, tasks, steps=3)
    scores = np.asarray(task_scores(learner, meta, tasks, steps=0))
    np.testing.assert_array_equal(curves, np.repeat(scores[:, None], 4, axis=1))


def test_seed_scores_equal_each_seed_scored_alone():
    """Stacked meta-parameters scored as one vmapped program, on tasks drawn in chunks: each
    row is that seed's ``evaluate`` on the same tasks."""
    dist = Sinusoid(5, 5)
    learner = maml(LINEAR_1D, 0.1, "mse")
    metas = [learner.init(jax.random.PRNGKey(s)) for s in (0, 1, 2)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *metas)
    key = jax.random.PRNGKey(5)
    got = seed_scores(learner, stacked, dist.sample, steps=2, key=key, n=7, chunk=3)
    assert got.shape == (3, 7)
    for s, meta in enumerate(metas):
        alone = evaluate(learner, meta, dist.sample, steps=2, key=key, n=7, chunk=3)
        np.testing.assert_allclose(got[s], alone.per_task, rtol=1e-6)


def test_trace_error_names_a_network_that_does_not_fit_the_tasks():
    """A 1-input MLP on sinusoids traces; a 3-input MLP on the same tasks does not, and the
    error says why (traced only: nothing runs)."""
    from metalab.evaluation import trace_error
    from metalab.models import mlp

    dist = Sinusoid(5, 5)
    assert trace_error(maml(mlp((1, 8, 1)), 0.01), dist.sample) == ""
    why = trace_error(maml(mlp((3, 8, 1)), 0.01), dist.sample)
    assert why and "shape" in why.lower(), why
