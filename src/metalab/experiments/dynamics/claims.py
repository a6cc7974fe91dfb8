"""The claims ``staggered-learners`` and ``concurrent-meta-learners`` (Rabinowitz 2019),
decided by the slope of log time-to-50% against log mode strength, per seed then over seeds;
and ``meta-learners-near-bayes``, decided by the log-ratio of a meta-learner's error to the
Bayesian reference's on the same seeds.

Mode strength: the singular value on linear maps and bandit reward maps; on Fourier series the
inverse frequency (the amplitudes are equal at the default decay, and low frequencies are the
"large" modes). Either way a learner that fits large modes first has a negative slope and one
that fits every mode at one rate, like the Bayes-optimal learner, a slope near zero. On the
bandit progress is the probability of each mode's best arm (``analysis.policy``), the
reference is Thompson sampling and the error is the regret per pull over the first episode.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metalab.analysis.paired import INCONCLUSIVE, Paired, paired, seed_slopes, slope
from metalab.runs.scoreboard import record_claim, regime

PAPER = "Rabinowitz 2019 (meta-learners' learning dynamics)"
PLAIN, META = ("learner", "online", "pg"), ("maml", "metasgd", "memory", "lstm")
NEAR_BAYES_FACTOR = 2.0  # "near Bayes": error at most twice the Bayesian reference's
CONCURRENT_MARGIN = 0.25  # |slope| under this: t50 varies by under 10^0.25 = 1.8x over the
# default linear spectrum (singular values 3 to 0.3)


def mode_order_claims(per_seed: dict[str, list[dict[str, float]]],
                      strengths: dict[str, np.ndarray], config: Any) -> list[dict]:
    """Per family and learner: the slope with its interval over seeds, from each seed's
    ``<learner>/t50_mode_<j>`` (``per_seed[family]``, mode 1 the largest) against
    ``strengths[family]``; plain learners are claimed staggered (slope < 0), meta-learners
    concurrent (``|slope| < CONCURRENT_MARGIN``)."""
    claims = []
    for family, x in strengths.items():
        summaries = per_seed.get(family, [])
        if not summaries:
            continue
        bayes = slope(x, _t50(summaries, _reference(family), len(x)), direction="equal",
                      margin=CONCURRENT_MARGIN)
        beside = (f"; {_reference(family).capitalize()} slope {bayes.difference:+.2f}"
                  if np.isfinite(bayes.difference) else "")
        axis = "inverse frequency" if family == "fourier" else "singular value"
        for name in (n for n in (*PLAIN, *META) if f"{n}/t50_mode_1" in summaries[0]):
            concurrent = name in META
            times = _t50(summaries, name, len(x))
            stat = (_concurrent(x, times, _t50(summaries, "thompson", len(x)))
                    if concurrent and family == "bandit" else
                    slope(x, times, direction="equal", margin=CONCURRENT_MARGIN)
                    if concurrent else slope(x, times, direction="less"))
            claims.append(record_claim(
                f"{'concurrent-meta-learners' if concurrent else 'staggered-learners'}/"
                f"{family}/{name}", stat, paper=PAPER,
                claim=(f"{name} learns every mode concurrently, like Bayes" if concurrent else
                       f"{name} learns large modes first"),
                metric=(f"slope of log t50 on log {axis} minus Thompson sampling's, per "
                        f"seed (bandit: best-arm progress staggers even Bayes)"
                        if concurrent and family == "bandit" else
                        f"slope of log t50 on log {axis} ({family}; seeds where every mode "
                        f"reached 50%{beside})"), regime=regime(config)))
    return claims


def near_bayes_claims(per_seed: dict[str, list[dict[str, float]]], config: Any
                      ) -> list[dict]:
    """Per family and meta-learner: the mean over seeds of log(error / the reference's
    error), with its Student-t interval; claimed at most log ``NEAR_BAYES_FACTOR``. Error:
    final query MSE (regression), regret per pull over the first episode (bandit)."""
    claims = []
    for family, summaries in per_seed.items():
        ref = _reference(family)
        for name in (n for n in META if f"{n}/mode_time_ratio" in summaries[0]):
            mine, theirs = (np.array([_error(s, n, family) for s in summaries])
                            for n in (name, ref))
            stat = paired(np.log(mine), np.log(theirs), direction="at-most",
                          margin=float(np.log(NEAR_BAYES_FACTOR)))
            what = "regret per pull, first episode" if family == "bandit" else "query MSE"
            claims.append(record_claim(
                f"meta-learners-near-bayes/{family}/{name}", stat, paper=PAPER,
                claim=f"{name}'s error is near the Bayesian reference's ({ref})",
                metric=f"log({what} of {name} / of {ref}) ({family}; margin "
                       f"log {NEAR_BAYES_FACTOR:g}: at most {NEAR_BAYES_FACTOR:g}x; "
                       f"ratio of means {mine.mean() / theirs.mean():.3g}x)",
                means=(float(mine.mean()), float(theirs.mean())), regime=regime(config)))
    return claims


def slopes(per_seed: dict[str, list[dict[str, float]]], strengths: dict[str, np.ndarray]
           ) -> dict[str, float]:
    """``<learner>/<family>/t50_slope`` (mean over seeds), ``..._low``, ``..._high`` (95%
    interval) and ``..._seeds`` (seeds where every mode reached 50%) of every learner with
    times to 50%, the references included, and ``<learner>/<family>/error_over_bayes``
    (mean over seeds of each meta-learner's error over the reference's)."""
    out: dict[str, float] = {}
    for family, x in strengths.items():
        summaries = per_seed.get(family, [])
        names = [k.split("/")[0] for k in (summaries[0] if summaries else {})
                 if k.endswith("/t50_mode_1")]
        for name in names:
            stat = slope(x, _t50(summaries, name, len(x)))
            key = f"{name}/{family}/t50_slope"
            out |= {key: stat.difference, f"{key}_low": stat.low, f"{key}_high": stat.high,
                    f"{key}_seeds": float(stat.n)}
            if name in META:
                out[f"{name}/{family}/error_over_bayes"] = float(np.mean(
                    [_error(s, name, family) / _error(s, _reference(family), family)
                     for s in summaries]))
    return out


def _concurrent(x: np.ndarray, times: np.ndarray, reference: np.ndarray):
    """A meta-learner's slope minus the Bayesian reference's, paired over the seeds where
    both have one: on the bandit, where a mode's best-arm probability grows with its strength
    under any learner, concurrent means staggered no more than Thompson sampling."""
    mine, theirs = seed_slopes(x, times), seed_slopes(x, reference)
    both = np.isfinite(mine) & np.isfinite(theirs)
    if not both.any():
        return Paired(np.nan, np.nan, np.nan, 0, "seeds", "equal", INCONCLUSIVE)
    return paired(mine[both], theirs[both], direction="equal", margin=CONCURRENT_MARGIN)


def _reference(family: str) -> str:
    """The Bayesian reference learner of a family."""
    return "thompson" if family == "bandit" else "bayes"


def _error(summary: dict[str, float], name: str, family: str) -> float:
    """A learner's error in one seed: query MSE, or regret per pull over the first episode."""
    if family == "bandit":
        return summary["oracle/mean_reward"] - summary[f"{name}/mean_reward"]
    return summary[f"{name}/final_query_mse"]


def _t50(summaries: list[dict[str, float]], name: str, modes: int) -> np.ndarray:
    """[seeds, modes] times to 50% of ``name`` (NaN where the summary lacks a mode)."""
    return np.array([[s.get(f"{name}/t50_mode_{j + 1}", np.nan) for j in range(modes)]
                     for s in summaries])
