"""The VS-ML claim ``vsml-unseen-families`` decided from the evaluation's paired streams."""

from __future__ import annotations

from typing import Any

import numpy as np

from metalab.analysis.paired import paired
from metalab.runs.scoreboard import record_claim, regime

PAPER = "Kirsch & Schmidhuber 2021 (VS-ML)"


def unseen_claims(curves: dict[str, dict[str, np.ndarray]], families: tuple[str, ...],
                  first: str, config: Any) -> list[dict]:
    """``vsml-unseen-families`` (mean over the families other than ``first``) and, with two
    or more unseen families, ``vsml-unseen-families/<family>``: online accuracy of the rule
    meta-trained on ``first`` minus online SGD at its best rate, on the same held-out streams
    (``curves[name][family]``: correct predictions [seeds, streams, steps]); a bootstrap over
    streams within seeds."""
    unseen = [f for f in families if f != first]
    if not unseen or "sgd" not in curves:
        return []
    accuracy = {n: {f: curves[n][f].mean(axis=2) for f in unseen} for n in ("vsml", "sgd")}
    claims = []
    per_family = [(f"/{f}", [f]) for f in unseen] if len(unseen) > 1 else []
    for suffix, fams in [("", unseen), *per_family]:
        a, b = (np.mean([accuracy[n][f] for f in fams], axis=0) for n in ("vsml", "sgd"))
        where = "the mean over unseen families" if not suffix else f"unseen family {fams[0]}"
        claims.append(record_claim(
            f"vsml-unseen-families{suffix}", paired(a, b, unit="tasks"), paper=PAPER,
            claim=f"a rule meta-trained on {first} learns unseen families online better than "
                  "online SGD", metric=f"online accuracy on {where}, rule - SGD (best rate "
                  "of its grid on these streams)", regime=regime(config),
            figure="Figs 6, 8 (no per-point values)", means=(float(a.mean()), float(b.mean()))))
    return claims
