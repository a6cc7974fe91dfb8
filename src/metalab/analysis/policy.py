"""Progress of a bandit policy on each mode of a low-rank reward map, read as the probability
of choosing that mode's best arm: a scale-free measure for policies whose logits have no
natural scale (REINFORCE grows them without bound; a probability stays in [0, 1]).

On a reward map W = sum_i c_i u_i v_i^T (``tasks.LowRankBandit``) mode i alone pays
u_ia c_i z in context x, z = v_i^T x, so its best arm is argmax_a u_ia c_i z. The policy
restricted to mode i acts on its own map read out on that mode, u_i m_i z (m_i = u_i^T L v_i
for a logit map L): a softmax policy picks the best arm with probability
softmax(u_i m_i z)_best; Thompson sampling, acting greedily on a posterior draw, picks it
exactly when the drawn m_i has the sign of c_i, with probability Phi(sign(c_i) mu_i / sd_i)
under a Gaussian posterior (Thompson 1933; Russo et al. 2018). Progress rescales the
probability from the zero map's (chance: 1 / arms for softmax, 1/2 for the sign) to 1.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm

from metalab.analysis.modes import (
    linear_map_from_predictions,
    mode_coefficients,
    mode_time_ratio,
    threshold_times,
)


def softmax_best_arm_progress(coef: jax.Array, true: jax.Array, u: jax.Array,
                              z: jax.Array) -> jax.Array:
    """Progress [time, modes] of softmax policies: (P - 1/arms) / (1 - 1/arms), P the
    probability, averaged over tasks and contexts, that the policy restricted to mode i picks
    mode i's best arm. ``coef`` [time, tasks, modes]: the logit map's coefficient m_i on each
    mode; ``true`` [tasks, modes]: c_i; ``u`` [tasks, arms, modes]; ``z`` [tasks, contexts,
    modes]: v_i^T x of the contexts averaged over (e.g. probes x ~ N(0, I))."""
    arms = u.shape[1]
    logits = jnp.einsum("nar,tnr,nqr->tnqra", u, coef, z)
    best = jnp.argmax(jnp.einsum("nar,nr,nqr->nqra", u, true, z), axis=-1)  # [n, Q, r]
    prob = jnp.take_along_axis(jax.nn.softmax(logits, axis=-1), best[None, ..., None],
                               axis=-1)[..., 0]
    return (prob.mean(axis=(1, 2)) - 1.0 / arms) / (1.0 - 1.0 / arms)


def sign_progress(mean: jax.Array, sd: jax.Array, true: jax.Array) -> jax.Array:
    """Progress [time, modes] of Thompson sampling: 2 P - 1, P = Phi(sign(c_i) mu_i / sd_i)
    averaged over tasks, the probability that a posterior draw's coefficient on mode i has
    the true sign (so that acting on the mode picks its best arm). ``mean``, ``sd`` [time,
    tasks, modes]: the posterior mean and standard deviation of m_i; ``true`` [tasks, modes]."""
    prob = norm.cdf(jnp.sign(true)[None] * mean / sd)
    return 2.0 * prob.mean(axis=1) - 1.0


def posterior_mode_sd(factor: jax.Array, u: jax.Array, v: jax.Array) -> jax.Array:
    """Posterior standard deviation [..., modes] of each mode coefficient u_i^T W v_i, from a
    factor C [..., arms d, q] of the covariance C C^T of vec(W) (W [arms, d] row-major), left
    modes u [..., arms, r] and right modes v [..., d, r]."""
    arms, d = u.shape[-2], v.shape[-2]
    cols = jnp.swapaxes(factor, -1, -2).reshape(*factor.shape[:-2], factor.shape[-1], arms, d)
    proj = jnp.einsum("...ar,...kad,...dr->...kr", u, cols, v)  # [..., q, r]
    return jnp.sqrt(jnp.sum(proj**2, axis=-2))


def policy_coefficients(stream: Any, truth: Any, values: jax.Array) -> jax.Array:
    """Mode coefficients [time, tasks, modes] of the linear part of values [time, tasks,
    probes, arms] (logits or reward estimates) on the probes."""
    maps = jnp.concatenate([linear_map_from_predictions(values[i : i + 64], stream.probes[None])
                            for i in range(0, values.shape[0], 64)])
    return mode_coefficients(maps, truth.u[None], truth.v[None])


def policy_progress(stream: Any, truth: Any, logits: jax.Array) -> jax.Array:
    """Best-arm progress [time, modes] of a softmax policy from its logits on the probes."""
    z = jnp.einsum("nqd,ndr->nqr", stream.probes, truth.v)
    return softmax_best_arm_progress(policy_coefficients(stream, truth, logits), truth.coef,
                                     truth.u, z)


def policy_metrics(name: str, progress: jax.Array, times: jax.Array, reward: jax.Array,
                   horizon: int) -> dict[str, float]:
    """Mode-time ratios, times to 50% per mode (``t50_mode_<j>``, j = 1 the strongest) and the
    mean expected reward over the first ``horizon`` interactions (the LSTM's and Thompson's
    episode) and over the whole run."""
    t50 = threshold_times(progress, times, 0.5)
    return {f"{name}/mode_time_ratio": float(mode_time_ratio(progress, times, 0.5)),
            **{f"{name}/t50_mode_{j + 1}": float(t) for j, t in enumerate(t50)},
            f"{name}/mode_time_ratio_90": float(mode_time_ratio(progress, times, 0.9)),
            f"{name}/mean_reward": float(reward[:horizon].mean()),
            f"{name}/final_reward": float(reward[-max(1, reward.shape[0] // 10):].mean())}
