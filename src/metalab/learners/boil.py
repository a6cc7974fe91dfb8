"""BOIL, "body only (update) in inner loop" (Oh, Yoo, Kim & Yun, ICLR 2021), the mirror image of
ANIL: the inner loop adapts every layer except the head, which stays at its meta-learned value.

Meta-parameters ``{"init": theta}``; fast weights are theta without ``head``. The paper argues
that freezing the head forces the inner loop to change the representation (representation
change) rather than reuse features, which helps under domain shift. Learning where to learn
(von Oswald et al. 2021) compares sparse-MAML with both ANIL and BOIL.
"""

from __future__ import annotations

from metalab.learners.anil import split_learner
from metalab.learners.base import Learner
from metalab.learners.optimizers import Preconditioner
from metalab.models.base import Model


def boil(model: Model, inner_lr: float = 0.01, loss: str = "mse", head: str = "auto", *,
         inner_opt: Preconditioner = "sgd", momentum: float = 0.9) -> Learner:
    """Inner step on the body only: phi <- phi - inner_lr * grad, phi = theta without ``head``
    (``auto``: ``head`` for the conv net and ResNet-12, ``layer{n-1}`` for an n-layer MLP)."""
    return split_learner("boil", model, inner_lr, loss, head,
                         lambda theta, h: {k: v for k, v in theta.items() if k != h},
                         lambda theta, phi, h: {**phi, h: theta[h]},
                         inner_opt=inner_opt, momentum=momentum)
