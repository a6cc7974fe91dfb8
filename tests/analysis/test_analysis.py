"""Learning-dynamics analysis against closed forms: Bayes posterior, mode projections, GD rates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from metalab.analysis import (
    bayes_predictions,
    fourier_coefficients,
    frequency_grid,
    gradient_trajectory,
    linear_map_from_predictions,
    mode_coefficients,
    mode_progress,
    mode_time_ratio,
    posterior_mean,
    posterior_trajectory,
    threshold_times,
    trajectory_similarity,
)
from metalab.learners import maml
from metalab.models import deep_linear, lstm_plain, lstm_reader
from metalab.tasks import FourierSeries, LinearRegression


def _direct_posterior_mean(phi, y, mean, factor, noise):
    """Kernel (data-space) form, mu + S Phi^T (Phi S Phi^T + s^2 I)^-1 (y - Phi mu), in numpy."""
    phi = np.asarray(phi).reshape(-1, phi.shape[-1])
    cov = np.asarray(factor) @ np.asarray(factor).T
    gram = phi @ cov @ phi.T + noise**2 * np.eye(phi.shape[0])
    resid = np.asarray(y).ravel() - phi @ np.asarray(mean)
    return np.asarray(mean) + cov @ phi.T @ np.linalg.solve(gram, resid)


@pytest.mark.parametrize("rank", [3, 12])
def test_posterior_mean_matches_direct_linear_algebra(x64, rank):
    k = jax.random.split(jax.random.PRNGKey(0), 4)
    phi = jax.random.normal(k[0], (7, 2, 12))
    y = jax.random.normal(k[1], (7, 2))
    mean = jax.random.normal(k[2], (12,))
    factor = jax.random.normal(k[3], (12, rank))
    got = jax.jit(posterior_mean)(phi, y, mean, factor, 0.3)
    np.testing.assert_allclose(got, _direct_posterior_mean(phi, y, mean, factor, 0.3), rtol=1e-9)
    traj = jax.jit(posterior_trajectory)(phi, y, mean, factor, 0.3)
    np.testing.assert_allclose(traj[0], mean, rtol=1e-12)
    for t in (1, 4, 7):
        want = _direct_posterior_mean(phi[:t], y[:t], mean, factor, 0.3)
        np.testing.assert_allclose(traj[t], want, rtol=1e-9)


@pytest.mark.parametrize("basis", ["fixed", "random"])
def test_linear_prior_matches_sampled_maps(basis):
    dist = LinearRegression(d_in=3, d_out=2, basis=basis)
    w = dist.sample_truth(jax.random.PRNGKey(1), 40000).maps().reshape(40000, -1)
    mean, factor = dist.prior()
    np.testing.assert_allclose(np.cov(np.asarray(w).T), factor @ factor.T, atol=0.06)
    np.testing.assert_allclose(w.mean(0), mean, atol=0.03)


def test_haar_pair_is_each_matrix_qr_in_one_lapack_call():
    """Both orthogonal factors come from one batched QR call (two at once can deadlock
    jaxlib 0.10's CPU LAPACK on a 2-thread pool), and each equals numpy's QR (sign-fixed) of
    its own Gaussian matrix, padding or not."""
    from metalab.tasks.linear import haar_pair

    ku, kv = jax.random.split(jax.random.PRNGKey(4))
    u, v = haar_pair(ku, kv, 6, 3, 2)
    for got, key, n in ((u, ku, 6), (v, kv, 3)):
        q, r = np.linalg.qr(np.asarray(jax.random.normal(key, (n, n)), np.float64))
        np.testing.assert_allclose(got, (q * np.sign(np.diag(r)))[:, :2], atol=2e-5)
    sample = jax.jit(lambda k: LinearRegression(d_in=3, d_out=6).sample(k, 64))
    hlo = sample.lower(jax.random.PRNGKey(0)).compile().as_text()
    assert hlo.count("custom_call_target=\"lapack_sgeqrf") == 1


def test_task_targets_follow_features(x64):
    lin = LinearRegression(d_in=3, d_out=2, noise=0.0)
    key = jax.random.PRNGKey(2)
    task = jax.jit(lin.sample, static_argnums=1)(key, 4)
    w = lin.sample_truth(jax.random.split(key, 3)[0], 4).maps()
    want = jnp.einsum("nkmp,np->nkm", lin.features(task.support_x), w.reshape(4, -1))
    np.testing.assert_allclose(task.support_y, want, atol=1e-10)
    four = FourierSeries(noise=0.0)
    task = jax.jit(four.sample, static_argnums=1)(key, 4)
    coef = four.sample_truth(jax.random.split(key, 3)[0], 4)
    np.testing.assert_allclose(task.query_y, jax.vmap(four.function)(coef, task.query_x),
                               atol=1e-10)


def test_bayes_beats_least_squares_on_its_own_prior():
    dist = LinearRegression(d_in=4, d_out=4, basis="fixed", noise=0.5, k_support=6, k_query=50)
    task = dist.sample(jax.random.PRNGKey(3), 300)

    @jax.jit
    def errors(task):
        bayes = jax.vmap(lambda sx, sy, qx: bayes_predictions(
            dist.features, dist.prior(), dist.noise, sx, sy, qx)[-1])(
            task.support_x, task.support_y, task.query_x)
        ls = jax.vmap(lambda sx, sy, qx: qx @ jnp.linalg.lstsq(sx, sy)[0])(
            task.support_x, task.support_y, task.query_x)
        return jnp.mean((bayes - task.query_y) ** 2), jnp.mean((ls - task.query_y) ** 2)

    bayes, ls = errors(task)
    assert bayes < 0.8 * ls


def test_mode_projection_recovers_known_modes(x64):
    truth = LinearRegression(d_in=6, d_out=4).sample_truth(jax.random.PRNGKey(4), 3)
    partial = jnp.array([0.9, 0.5, 0.2, 0.0])
    learned = truth._replace(coef=truth.coef * partial[None]).maps()
    coef = mode_coefficients(learned, truth.u, truth.v)
    np.testing.assert_allclose(coef, truth.coef * partial[None], atol=1e-12)
    progress = mode_progress(coef[None], truth.coef)
    np.testing.assert_allclose(progress[0], partial, atol=1e-12)
    x = jax.random.normal(jax.random.PRNGKey(5), (3, 20, 6))
    preds = jnp.einsum("nmd,nqd->nqm", learned, x) + 0.7
    np.testing.assert_allclose(linear_map_from_predictions(preds, x), learned, atol=1e-10)


def test_fourier_coefficients_recover_series(x64):
    dist = FourierSeries(n_freq=4, half_period=2.0)
    coef = dist.sample_truth(jax.random.PRNGKey(6), 3)
    grid = frequency_grid(32, 2.0)
    values = jax.vmap(dist.function, in_axes=(0, None))(coef, grid)[..., 0] + 1.5
    np.testing.assert_allclose(fourier_coefficients(values, grid, 4, 2.0), coef, atol=1e-10)


def _whitened_inputs(key, n, d):
    """n inputs [n, d] with X^T X / n = I exactly."""
    q, _ = jnp.linalg.qr(jax.random.normal(key, (n, d)))
    return q * jnp.sqrt(n)


def test_one_layer_gd_modes_follow_exponential_rate(x64):
    d, m, n, lr, steps = 5, 3, 12, 0.05, 60
    truth = LinearRegression(d_in=d, d_out=m).sample_truth(jax.random.PRNGKey(7), 1)
    x = _whitened_inputs(jax.random.PRNGKey(8), n, d)
    y = x @ truth.maps()[0].T
    learner = maml(deep_linear((d, m)), inner_lr=lr)
    meta = {"init": jax.tree.map(jnp.zeros_like, deep_linear((d, m)).init(jax.random.PRNGKey(0)))}
    preds = gradient_trajectory(learner, meta, x, y, x, steps)
    maps = linear_map_from_predictions(preds, x[None])[:, None]  # [time, task, m, d]
    coef = mode_coefficients(maps, truth.u, truth.v)
    progress = mode_progress(coef, truth.coef)
    # mse = |W - W*|_F^2 / m for whitened inputs, so W_t - W* = (1 - 2 lr / m)^t (W_0 - W*)
    analytic = 1.0 - (1.0 - 2.0 * lr / m) ** jnp.arange(steps + 1)
    np.testing.assert_allclose(progress, jnp.broadcast_to(analytic[:, None], progress.shape),
                               atol=1e-9)
    np.testing.assert_allclose(mode_time_ratio(progress, jnp.arange(steps + 1.0)), 1.0,
                               atol=1e-9)


def test_two_layer_gd_modes_follow_saxe_sigmoids(x64):
    d, n, lr, steps, a0 = 3, 9, 0.005, 2500, 1e-3
    s = jnp.array([2.0, 1.0, 0.5])
    truth = LinearRegression(d_in=d, d_out=d).sample_truth(jax.random.PRNGKey(9), 1)
    u, v = truth.u[0], truth.v[0]
    x = _whitened_inputs(jax.random.PRNGKey(10), n, d)
    y = x @ (v * s[None]) @ u.T
    # balanced init along the modes, layer0 = sqrt(a0) V, layer1 = sqrt(a0) U^T: product a0 U V^T
    meta = {"init": {"layer0": {"w": jnp.sqrt(a0) * v}, "layer1": {"w": jnp.sqrt(a0) * u.T}}}
    preds = gradient_trajectory(maml(deep_linear((d, d, d)), inner_lr=lr), meta, x, y, x,
                                steps, every=25)
    coef = mode_coefficients(linear_map_from_predictions(preds, x[None]), u, v)
    t = lr * jnp.arange(0, steps + 1, 25)[:, None]
    # gradient flow of mse = |W - W*|^2 / d: da/dt = (4 / d) a (s - a), a logistic in t
    analytic = 1.0 / (1.0 + (s[None] / a0 - 1.0) * jnp.exp(-4.0 * s[None] * t / d))
    np.testing.assert_allclose(coef / s[None], analytic, atol=0.03)
    ratio = mode_time_ratio(coef / s[None], t[:, 0])
    half = d * jnp.log(s / a0 - 1.0) / (4.0 * s)  # time of the logistic's midpoint
    assert float(ratio) == pytest.approx(float(half[-1] / half[0]), rel=0.03)  # about 3.3


def test_threshold_times_interpolate_and_flag_unreached():
    progress = jnp.array([[0.0, 0.0], [0.4, 0.1], [0.8, 0.2]])
    got = threshold_times(progress, jnp.array([0.0, 1.0, 2.0]), 0.6)
    np.testing.assert_allclose(got[0], 1.5)
    assert got[1] == jnp.inf


def test_trajectory_similarity_is_clock_free_and_sees_staggering():
    target = jnp.array([1.0, 1.0])
    t = jnp.linspace(0.0, 2.0, 401)[:, None]
    uniform = jnp.minimum(t / 2.0, 1.0) * target[None]
    faster = jnp.minimum(t, 1.0) * target[None]
    staggered = jnp.concatenate([jnp.minimum(t, 1.0), jnp.clip(t - 1.0, 0.0, 1.0)], axis=1)
    assert trajectory_similarity(faster, uniform, target) == pytest.approx(1.0, abs=1e-6)
    # at 75% progress the staggered learner has only the second component left: cos = 1/sqrt 2
    got = trajectory_similarity(staggered, uniform, target, levels=(0.75,))
    assert got == pytest.approx(2**-0.5, abs=1e-4)


def test_lstm_reader_is_causal():
    model = lstm_reader(2, 1, hidden=8, features=4)
    params = model.init(jax.random.PRNGKey(11))
    k = jax.random.split(jax.random.PRNGKey(12), 3)
    sx, sy, qx = (jax.random.normal(k[0], (5, 2)), jax.random.normal(k[1], (5, 1)),
                  jax.random.normal(k[2], (4, 2)))
    out = model.apply(params, (sx, sy, qx))
    assert out.shape == (6, 4, 1)
    changed = model.apply(params, (sx, sy.at[3].add(1.0), qx))
    np.testing.assert_allclose(out[:4], changed[:4])
    assert not np.allclose(out[4:], changed[4:])


def _numpy_plain_lstm(params, sx, sy, qx):
    """The plain LSTM written out in numpy, step by step: a second implementation."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731

    def cell(h, c, inp):
        i, f, g, o = np.split(inp @ p["wx"] + h @ p["wh"] + p["b"], 4)
        c = sig(f) * c + sig(i) * np.tanh(g)
        return sig(o) * np.tanh(c), c

    h = c = np.zeros(p["wh"].shape[0])
    out = []
    for t in range(len(sx) + 1):
        if t:
            h, c = cell(h, c, np.concatenate([sx[t - 1], sy[t - 1], [0.0]]))
        out.append([cell(h, c, np.concatenate([q, np.zeros(sy.shape[1]), [1.0]]))[0]
                    @ p["out_w"] + p["out_b"] for q in qx])
    return np.array(out)


def test_plain_lstm_reads_queries_only_through_the_cell(x64):
    model = lstm_plain(2, 3, hidden=6)
    params = model.init(jax.random.PRNGKey(13))
    k = jax.random.split(jax.random.PRNGKey(14), 3)
    sx, sy, qx = (jax.random.normal(k[0], (4, 2)), jax.random.normal(k[1], (4, 3)),
                  jax.random.normal(k[2], (5, 2)))
    apply = jax.jit(model.apply)
    out = apply(params, (sx, sy, qx))
    np.testing.assert_allclose(out, _numpy_plain_lstm(params, *map(np.asarray, (sx, sy, qx))),
                               rtol=1e-10)
    # the read-out is linear in h only: cut the x rows of the input weights and the query
    # has no other path to the output
    assert set(params) == {"wx", "wh", "b", "out_w", "out_b"}
    assert params["out_w"].shape == (6, 3)
    cut = {**params, "wx": params["wx"].at[:2].set(0.0)}
    np.testing.assert_array_equal(apply(cut, (sx, sy, qx)), apply(cut, (sx, sy, qx + 1.0)))
    assert not np.allclose(out, apply(params, (sx, sy, qx + 1.0)))
    changed = apply(params, (sx, sy.at[2].add(1.0), qx))  # causal in the support
    np.testing.assert_allclose(out[:3], changed[:3])
    assert not np.allclose(out[3:], changed[3:])


def test_learning_dynamics_config_rejects_bad_input_before_compute():
    from metalab.errors import BadInput
    from metalab.experiments.dynamics.experiment import LearningDynamicsConfig

    with pytest.raises(BadInput, match="--noise"):
        LearningDynamicsConfig(noise=0.0)
    with pytest.raises(BadInput, match="--s-min"):
        LearningDynamicsConfig(s_min=4.0, s_max=3.0)
    with pytest.raises(BadInput, match="--learners"):
        LearningDynamicsConfig(learners=("learner", "lsmt"))
    with pytest.raises(BadInput, match="--lstm-queries"):
        LearningDynamicsConfig(lstm_queries=21)
    cfg = LearningDynamicsConfig(variant="fourier", quick=True).resolved()
    assert cfg.hidden == 40 and cfg.noise == 0.05 and cfg.meta_steps <= 500


@pytest.mark.slow
def test_learning_dynamics_runs_end_to_end(tmp_path):
    from metalab.experiments.dynamics.experiment import LearningDynamicsConfig, run
    from metalab.runs.rundir import RunDir

    cfg = LearningDynamicsConfig(meta_steps=20, memory_steps=20, lstm_steps=20,
                                 learner_steps=30, eval_tasks=20, log_every=10,
                                 checkpoint_every=10, meta_snapshots=2).resolved()
    summary = run(cfg, RunDir(tmp_path))
    for name in ("learner", "online", "maml", "metasgd", "memory", "lstm", "bayes"):
        assert f"{name}/mode_time_ratio" in summary and f"{name}/bayes_similarity" in summary
    assert "lstm/meta_step_10/final_query_mse" in summary
    assert "maml/shift_noisy/mode_time_ratio" in summary
    assert summary["bayes/bayes_similarity"] == pytest.approx(1.0)
    assert (tmp_path / "mode_progress.png").exists()


def test_study_rejects_bad_input_and_spreads_snapshots():
    from metalab.errors import BadInput
    from metalab.experiments.dynamics.study import DynamicsStudyConfig
    from metalab.runs.snapshots import snapshot_steps

    assert snapshot_steps(1000, 3, 100) == [300, 700, 1000]
    assert snapshot_steps(50, 4, 100) == [50]
    with pytest.raises(BadInput, match="--families"):
        DynamicsStudyConfig(families=("linear", "cifar"))
    with pytest.raises(BadInput, match="--rank"):
        DynamicsStudyConfig(n_arms=3, rank=3)


def test_resumed_snapshots_keep_the_stage_metrics(tmp_path):
    """A resumed run whose snapshots all exist skips training; its metrics lines must stay
    (they were truncated when the skipped stage never confirmed them)."""
    import jax.numpy as jnp

    from metalab.runs.rundir import RunDir
    from metalab.runs.snapshots import train_snapshots
    from metalab.training import TrainState

    def step(state):
        return state._replace(meta=state.meta * 0.5, step=state.step + 1), {"loss": state.meta}

    init = TrainState(jnp.asarray(1.0), (), jnp.zeros((), jnp.int32))
    cfg = {"count": 2, "chunk": 2, "checkpoint_every": 2}
    first = RunDir(tmp_path)
    snaps = train_snapshots(first, "s", init, step, 4, **cfg)
    lines = (tmp_path / "metrics.jsonl").read_text()
    resumed = RunDir(tmp_path, resume=True)
    assert [n for n, _ in train_snapshots(resumed, "s", init, step, 4, **cfg)] == \
        [n for n, _ in snaps]
    resumed.log({"stage": "after", "step": 1})  # ends the replay: unconfirmed lines are cut
    assert (tmp_path / "metrics.jsonl").read_text() == lines + '{"stage": "after", "step": 1}\n'
