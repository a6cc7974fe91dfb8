"""BOIL, "body only (update) in inner loop" (Oh, Yoo, Kim & Yun, ICLR 2021), the mirror image of
ANIL: the inner loop adapts every layer except the head, which stays at its meta-learned value.

Meta-parameters ``{"init": theta}``; fast weights are theta without the head (None in its
place). The paper argues that freezing the head forces the inner loop to change the
representation (representation change) rather than reuse features, which helps under domain
shift. Learning where to learn (von Oswald et al. 2021) compares sparse-MAML with both ANIL
and BOIL.
"""

from __future__ import annotations

from metalab.learners.anil import split_learner
from metalab.learners.base import Learner, TaskLoss
from metalab.learners.groups import Filter
from metalab.learners.optimizers import InnerOpt
from metalab.models.base import Model


def boil(model: Model, inner_lr: float = 0.01, loss: str | TaskLoss = "mse",
         head: Filter = "auto", *, inner_opt: InnerOpt = "sgd") -> Learner:
    """Inner step on the body only: phi <- phi - inner_lr * grad, phi = theta without the
    leaves ``head`` selects (a filter or a preset name, as in ``anil``; ``auto``: ``head``
    for the conv net and ResNet-12, ``layer{n-1}`` for an n-layer MLP)."""
    return split_learner("boil", model, inner_lr, loss, head, adapt_head=False,
                         inner_opt=inner_opt)
