"""Thompson sampling on low-rank contextual bandits: each pull follows a draw from the Gaussian
posterior of the reward map under the family's prior (exact for ``basis="fixed"``); its map
is the posterior mean (Rabinowitz 2019 compares meta-learned agents against it)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metalab.analysis.bayes import posterior_factor
from metalab.learners.bandit_agents import Stream, expected_reward
from metalab.tasks.bandit import LowRankBandit


def thompson_run(bandit: LowRankBandit, stream: Stream, key: jax.Array):
    """Posterior-mean reward estimates [T + 1, n, Q, arms] on the probes, expected reward
    [T, n] and posterior covariance factors [T + 1, n, arms d, q] of vec(W) (row-major) of
    Thompson sampling under the family's prior."""
    mean, factor = bandit.prior()
    horizon = stream.contexts.shape[1]

    def one(w, contexts, probes, k):
        def step(carry, inp):
            phi, r, t = carry
            x, kk = inp
            ks, kr = jax.random.split(kk)
            mask = jnp.arange(horizon) < t
            mu, chol = posterior_factor(phi, mean, factor, bandit.noise, r, mask)
            draw = (mu + chol @ jax.random.normal(ks, (chol.shape[1],))).reshape(w.shape)
            arm = jnp.argmax(draw @ x)
            reward = expected_reward(w, x, arm) + bandit.noise * jax.random.normal(kr)
            phi = phi.at[t].set(bandit.features(x, arm))
            return (phi, r.at[t].set(reward), t + 1), (mu, chol, expected_reward(w, x, arm))

        start = (jnp.zeros((horizon, mean.shape[0])), jnp.zeros((horizon,)), 0)
        (phi, r, _), (mus, chols, mean_r) = jax.lax.scan(
            step, start, (contexts, jax.random.split(k, horizon)))
        last, last_chol = posterior_factor(phi, mean, factor, bandit.noise, r)
        maps = jnp.concatenate([mus, last[None]]).reshape(horizon + 1, *w.shape)
        return (jnp.einsum("tad,qd->tqa", maps, probes), mean_r,
                jnp.concatenate([chols, last_chol[None]]))

    est, mean_r, chols = jax.jit(jax.vmap(one))(stream.w, stream.contexts, stream.probes,
                                                jax.random.split(key, stream.w.shape[0]))
    return jnp.swapaxes(est, 0, 1), mean_r.T, jnp.swapaxes(chols, 0, 1)
