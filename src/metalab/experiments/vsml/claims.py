"""The VS-ML claim ``vsml-unseen-families`` decided from the evaluation's paired streams."""

from __future__ import annotations

from typing import Any

import numpy as np

from metalab.analysis.paired import paired
from metalab.runs.scoreboard import record_claim, regime

PAPER = "Kirsch & Schmidhuber 2021 (VS-ML)"
LOO = "vsml-leave-one-out"  # the curves of the rules meta-trained on all families but one


def unseen_claims(curves: dict[str, dict[str, np.ndarray]], test: tuple[str, ...], first: str,
                  baselines: tuple[str, ...], config: Any, rule: str = "vsml") -> list[dict]:
    """Online accuracy of the rule meta-trained on ``first`` minus each baseline's, on the
    same held-out streams of the ``test`` families (``curves[name][family]``: correct
    predictions [seeds, streams, steps]); a bootstrap over streams within seeds.

    ``vsml-unseen-families/<baseline>`` on the mean over the test families and, with two or
    more, ``vsml-unseen-families/<baseline>/<family>`` on each; ``vsml-unseen-families``
    against the baseline with the highest mean over the test families (the hardest one).
    With ``rule=LOO`` the rule's curves on each family come from the rule meta-trained on all
    the others (``first`` names them), under the ids ``vsml-leave-one-out[...]``."""
    present = [b for b in baselines if b in curves]
    if not test or rule not in curves or not present:
        return []
    accuracy = {n: {f: curves[n][f].mean(axis=2) for f in test} for n in (rule, *present)}
    name = "vsml-unseen-families" if rule == "vsml" else LOO
    strongest = max(present, key=lambda n: np.mean([accuracy[n][f] for f in test]))
    groups = [("", list(test))] + ([(f"/{f}", [f]) for f in test] if len(test) > 1 else [])
    claims = []
    for prefix, base, parts in [("", strongest, groups[:1]),
                                *((f"/{b}", b, groups) for b in present)]:
        for tail, fams in parts:
            a, b = (np.mean([accuracy[n][f] for f in fams], axis=0) for n in (rule, base))
            where = f"test family {fams[0]}" if tail else "the mean over test families " + \
                ", ".join(fams)
            claims.append(record_claim(
                f"{name}{prefix}{tail}", paired(a, b, unit="tasks"),
                paper=PAPER, claim=f"a rule meta-trained on {first} learns unseen families "
                f"online better than {base}", metric=f"online accuracy on {where}, rule - "
                f"{base}" + ("" if prefix else " (the strongest baseline there)"),
                regime=regime(config), figure="Figs 6, 8 (no per-point values)",
                means=(float(a.mean()), float(b.mean()))))
    return claims
