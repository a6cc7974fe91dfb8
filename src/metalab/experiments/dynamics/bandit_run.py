"""One seed of the contextual-bandit family: meta-train the LSTM agent, trace every agent,
read each one's policy on the task's modes (Rabinowitz 2019, the bandit experiment) as the
probability of choosing each mode's best arm (``analysis.policy``)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from metalab.analysis import posterior_mode_sd, sign_progress, threshold_times
from metalab.analysis.policy import policy_coefficients, policy_metrics, policy_progress
from metalab.analysis.thompson import thompson_run
from metalab.learners import bandit_agents as B
from metalab.runs.rundir import RunDir
from metalab.runs.snapshots import train_snapshots
from metalab.tasks import LowRankBandit
from metalab.training import TrainState


def family(cfg: Any) -> LowRankBandit:
    """The bandit family of the study's settings."""
    return LowRankBandit(n_arms=cfg.n_arms, d_context=cfg.d_context, rank=cfg.rank,
                         noise=cfg.bandit_noise)


def run_seed(cfg: Any, seed: int, rundir: RunDir) -> tuple[dict[str, float], dict[str, dict]]:
    """(summary ``<agent>/<metric>``, per-agent progress details) of one seed."""
    bandit = family(cfg)
    keys = jax.random.split(jax.random.PRNGKey(seed), 5)
    stream, truth = B.make_stream(bandit, keys[0], cfg.eval_tasks, cfg.horizon)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(cfg.a2c_lr))
    params = B.lstm_agent_init(bandit, cfg.agent_hidden, keys[1])
    init = TrainState.create(params, optimizer)
    step = B.a2c_step(bandit, optimizer, cfg.meta_batch, cfg.horizon, cfg.gamma,
                      cfg.entropy_cost, keys[2])
    snaps = train_snapshots(rundir, "lstm", init, step, cfg.a2c_steps, count=cfg.meta_snapshots,
                            chunk=cfg.log_every, checkpoint_every=cfg.checkpoint_every)
    every = max(1, cfg.pg_steps // 400)
    pg_steps = cfg.pg_steps - cfg.pg_steps % every
    interactions = jnp.arange(cfg.horizon + 1, dtype=jnp.float32)
    pg_logits, pg_reward = B.pg_run(bandit, stream, keys[3], pg_steps, every, cfg.pg_hidden,
                                    cfg.pg_init_scale, cfg.pg_lr)
    lstm_logits, lstm_reward = B.lstm_run(snaps[-1][1], bandit, stream, keys[4])
    est, ts_reward, factors = thompson_run(bandit, stream, keys[4])
    sd = posterior_mode_sd(factors, truth.u[None], truth.v[None])
    runs = {"pg": (policy_progress(stream, truth, pg_logits), pg_reward,
                   jnp.arange(0, pg_steps + 1, every, dtype=jnp.float32)),
            "lstm": (policy_progress(stream, truth, lstm_logits), lstm_reward, interactions),
            "thompson": (sign_progress(policy_coefficients(stream, truth, est), sd, truth.coef),
                         ts_reward, interactions)}
    oracle = float(B.oracle_reward(stream.w[:, None], stream.contexts).mean())
    summary, details = {"oracle/mean_reward": oracle}, {}
    for name, (progress, reward, times) in runs.items():
        details[name] = {"progress": progress, "times": times, "unit": "interactions",
                         "t50": threshold_times(progress, times, 0.5),
                         "t90": threshold_times(progress, times, 0.9)}
        summary |= policy_metrics(name, progress, times, reward, cfg.horizon)
    for n, params in snaps:
        logits, reward = B.lstm_run(params, bandit, stream, keys[4])
        part = policy_metrics("lstm", policy_progress(stream, truth, logits), interactions, reward,
                        cfg.horizon)
        summary |= {f"lstm/meta_step_{n}/{k}": part[f"lstm/{k}"]
                    for k in ("mode_time_ratio", "mean_reward")}
    return summary, details

