"""MAML: a learned initialisation adapted by a fixed inner optimiser (Finn et al. 2017)."""

from __future__ import annotations

from metalab.learners.base import Learner
from metalab.learners.gradient import init_learner
from metalab.learners.optimizers import Preconditioner
from metalab.models.base import Model


def maml(model: Model, inner_lr: float = 0.01, loss: str = "mse", *,
         inner_opt: Preconditioner = "sgd", momentum: float = 0.9) -> Learner:
    """Meta-parameters ``{"init": theta}``; inner step phi <- phi - inner_lr * grad (plain
    SGD) or ``inner_opt``'s direction (momentum, Nesterov, Adam) at rate ``inner_lr``."""
    return init_learner("maml", model, loss, lambda meta: inner_lr, inner_opt=inner_opt,
                        momentum=momentum)
