"""How a bandit policy learns the modes of a low-rank reward map (Rabinowitz 2019, the bandit
experiment): the map a policy's logits (or reward estimates) imply on probe contexts, projected
on each true mode and scaled so that 1 is the mode fully learned, and its mode-time ratios."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from metalab.analysis.modes import (
    linear_map_from_predictions,
    mode_coefficients,
    mode_time_ratio,
    scaled_progress,
)
from metalab.learners.bandit_agents import Stream
from metalab.tasks.linear import LinearTruth


def policy_progress(stream: Stream, truth: LinearTruth, logits: jax.Array,
                    chunk: int = 64) -> jax.Array:
    """Scaled progress [time, modes] of a policy's logits [time, tasks, probes, arms] (or
    reward estimates) on the stream's probe contexts, ``chunk`` time points per solve."""
    maps = jnp.concatenate([linear_map_from_predictions(logits[i : i + chunk],
                                                        stream.probes[None])
                            for i in range(0, logits.shape[0], chunk)])
    return scaled_progress(mode_coefficients(maps, truth.u[None], truth.v[None]), truth.coef)


def policy_metrics(name: str, progress: jax.Array, times: jax.Array, reward: jax.Array,
                   horizon: int) -> dict[str, float]:
    """``<name>/mode_time_ratio`` (at 50% and ``_90``), the mean expected reward over the first
    ``horizon`` interactions (an episode of the LSTM agent or Thompson sampling) and the
    ``final_reward`` over the last tenth of the run."""
    return {f"{name}/mode_time_ratio": float(mode_time_ratio(progress, times, 0.5)),
            f"{name}/mode_time_ratio_90": float(mode_time_ratio(progress, times, 0.9)),
            f"{name}/mean_reward": float(reward[:horizon].mean()),
            f"{name}/final_reward": float(reward[-max(1, reward.shape[0] // 10):].mean())}
