"""The claims ``contrastive-sinusoid`` and ``contrastive-omniglot``: the symmetric contrastive
rule matches or outperforms every other meta-gradient estimator, paired over seeds."""

from __future__ import annotations

from typing import Any

import numpy as np

from metalab.analysis.paired import paired
from metalab.runs.scoreboard import record_claim, regime

PAPER = "Zucchet et al. 2022 (contrastive meta-learning)"
SYMMETRIC = "contrastive-symmetric"
ACCURACY_MARGIN = 0.02  # two points of accuracy: a difference that does not matter
MSE_MARGIN = 0.1  # a tenth of the other estimator's mean query MSE


def estimator_claims(per_seed: dict[str, np.ndarray], config: Any) -> list[dict]:
    """One claim per problem, learner and estimator other than the symmetric rule, from
    ``per_seed["<problem>/<learner>/<estimator>"]`` (the mean score on the same held-out tasks
    per seed, every estimator from the same initialisations): the symmetric rule's score
    minus the other's, no worse than it by more than the margin (Student-t over seeds)."""
    claims = []
    for key, b in per_seed.items():
        problem, learner, estimator = key.split("/")
        a = per_seed.get(f"{problem}/{learner}/{SYMMETRIC}")
        if estimator == SYMMETRIC or a is None:
            continue
        sinusoid = problem == "sinusoid"
        stat = (paired(a, b, direction="at-most", margin=MSE_MARGIN * float(np.mean(b)))
                if sinusoid else paired(a, b, direction="at-least", margin=ACCURACY_MARGIN))
        name = ("contrastive-sinusoid" if sinusoid
                else f"contrastive-omniglot/{problem.removeprefix('omniglot-')}")
        metric = ("query MSE on held-out tasks (lower is better; margin 10% of the other's)"
                  if sinusoid else "test accuracy on held-out episodes (margin 2 points)")
        claims.append(record_claim(
            f"{name}/{learner}/{estimator}", stat, paper=PAPER,
            claim=f"{learner}: the symmetric contrastive rule matches or outperforms "
                  f"{estimator}", metric=f"{metric}, symmetric - {estimator}",
            regime=regime(config), means=(float(np.mean(a)), float(np.mean(b)))))
    return claims
