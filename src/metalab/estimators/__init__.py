"""Meta-gradient estimators behind one interface.

``ESTIMATORS`` maps a CLI name to a factory taking keyword settings and returning an
``Estimator``; ``supporting(learner)`` lists the names whose requirements the learner meets;
``register_estimator`` adds one from user code.
"""

from functools import partial

from metalab.errors import BadInput
from metalab.estimators.backprop import backprop, first_order, truncated
from metalab.estimators.base import (
    Estimate,
    Estimator,
    mean_estimates,
    mean_over_tasks,
    mean_value_and_grad,
    supports,
)
from metalab.estimators.contrastive import contrastive, contrastive_symmetric
from metalab.estimators.evolution import antithetic_gradient, evolution
from metalab.estimators.implicit import cg, implicit, implicit_neumann, neumann, t1_t2
from metalab.estimators.pretrain import pretrain
from metalab.estimators.prototypical import prototypical
from metalab.estimators.proximal import with_proximal
from metalab.estimators.reptile import reptile
from metalab.estimators.task_map import map_tasks
from metalab.learners.base import Learner
from metalab.registry import Registry

ESTIMATORS: Registry = Registry("estimator", "--estimator")
for _name, _factory in [
    ("backprop", backprop),
    ("first-order", first_order),
    ("backprop-remat", partial(backprop, remat=True)),
    ("truncated", truncated),
    ("reptile", reptile),
    ("implicit", implicit),
    ("implicit-neumann", implicit_neumann),
    ("t1-t2", t1_t2),
    ("contrastive", contrastive),
    ("contrastive-symmetric", contrastive_symmetric),
    ("evolution", evolution),
    ("prototypical", prototypical),
    ("pretrain", pretrain),
]:
    ESTIMATORS.register(_name, _factory)


def register_estimator(name: str, factory, *, replace: bool = False):
    """Make ``factory(**settings) -> Estimator`` available as ``name``."""
    return ESTIMATORS.register(name, factory, replace=replace)


def supporting(learner: Learner) -> list[str]:
    """Names of the registered estimators (at default settings) that can drive ``learner``."""
    return ESTIMATORS.select(lambda make: supports(make(), learner))


def require_support(estimator: str, learner: Learner, option: str = "--estimator") -> None:
    """``BadInput`` naming the pair and the alternatives unless estimator ``estimator`` (a
    registered name) can drive ``learner``; raised before any compute."""
    missing = ESTIMATORS[estimator]().requires - learner.properties
    if missing:
        raise BadInput(option, f"estimator {estimator!r} cannot drive learner {learner.name!r} "
                       f"(it needs {', '.join(sorted(missing))}); for this learner choose from "
                       f"{', '.join(supporting(learner))}")


__all__ = [
    "ESTIMATORS", "Estimate", "Estimator", "antithetic_gradient", "backprop", "cg",
    "contrastive", "contrastive_symmetric", "evolution", "first_order", "implicit",
    "implicit_neumann", "map_tasks", "mean_estimates", "mean_over_tasks",
    "mean_value_and_grad", "neumann", "pretrain", "prototypical", "register_estimator", "reptile",
    "require_support", "supporting", "supports", "t1_t2", "truncated", "with_proximal",
]
