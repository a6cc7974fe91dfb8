"""The claims ``staggered-learners`` and ``concurrent-meta-learners`` (Rabinowitz 2019),
decided by the slope of log time-to-50% against log mode strength, per seed then over seeds.

Mode strength: the singular value on linear maps; on Fourier series the inverse frequency
(the amplitudes are equal at the default decay, and low frequencies are the "large" modes).
Either way a learner that fits large modes first has a negative slope and one that fits every
mode at one rate, like the Bayes-optimal learner, a slope near zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metalab.analysis.paired import slope
from metalab.runs.scoreboard import record_claim, regime

PAPER = "Rabinowitz 2019 (meta-learners' learning dynamics)"
PLAIN, META = ("learner", "online"), ("maml", "metasgd", "memory", "lstm")
CONCURRENT_MARGIN = 0.25  # |slope| under this: t50 varies by under 10^0.25 = 1.8x over the
# default linear spectrum (singular values 3 to 0.3)


def mode_order_claims(per_seed: dict[str, list[dict[str, float]]],
                      strengths: dict[str, np.ndarray], config: Any) -> list[dict]:
    """Per regression family and learner: the slope with its interval over seeds, from each
    seed's ``<learner>/t50_mode_<j>`` (``per_seed[family]``, mode 1 the largest) against
    ``strengths[family]``; plain learners are claimed staggered (slope < 0), meta-learners
    concurrent (``|slope| < CONCURRENT_MARGIN``)."""
    claims = []
    for family, x in strengths.items():
        summaries = per_seed.get(family, [])
        if not summaries:
            continue
        bayes = slope(x, _t50(summaries, "bayes", len(x)), direction="equal",
                      margin=CONCURRENT_MARGIN)
        beside = f"; Bayes slope {bayes.difference:+.2f}" if np.isfinite(bayes.difference) else ""
        axis = "singular value" if family == "linear" else "inverse frequency"
        for name in (n for n in (*PLAIN, *META) if f"{n}/t50_mode_1" in summaries[0]):
            concurrent = name in META
            times = _t50(summaries, name, len(x))
            stat = (slope(x, times, direction="equal", margin=CONCURRENT_MARGIN)
                    if concurrent else slope(x, times, direction="less"))
            claims.append(record_claim(
                f"{'concurrent-meta-learners' if concurrent else 'staggered-learners'}/"
                f"{family}/{name}", stat, paper=PAPER,
                claim=(f"{name} learns every mode concurrently, like Bayes" if concurrent else
                       f"{name} learns large modes first"),
                metric=f"slope of log t50 on log {axis} ({family}; seeds where every mode "
                       f"reached 50%{beside})", regime=regime(config)))
    return claims


def _t50(summaries: list[dict[str, float]], name: str, modes: int) -> np.ndarray:
    """[seeds, modes] times to 50% of ``name`` (NaN where the summary lacks a mode)."""
    return np.array([[s.get(f"{name}/t50_mode_{j + 1}", np.nan) for j in range(modes)]
                     for s in summaries])
