"""Learners: what is meta-learned and how the inner loop runs; ``OnlineLearner`` is the
sibling contract for learners that learn online from a stream (``learners/online.py``).

``LEARNERS`` maps a name to a factory ``(model, inner_lr, loss, **options) -> Learner``;
``register_learner`` adds one from user code. Factories take values: ``loss`` a function
``(pred, y) -> scalar`` (or a name in ``LOSSES``), ``inner_opt`` an optax transformation (or a
name in ``INNER_OPTIMIZERS``), ANIL's and BOIL's ``head`` a filter (``learners/groups.py``).
"""

from metalab.learners.anil import anil
from metalab.learners.base import (
    FIXED_RULE,
    GRADIENT_INNER_LOOP,
    LEARNED_INIT,
    LOSSES,
    PROTOTYPES,
    PROXIMAL,
    SPARSE_UPDATES,
    Learner,
    TaskLoss,
    cross_entropy,
    loss_fn,
    mse,
)
from metalab.learners.boil import boil
from metalab.learners.cavia import cavia
from metalab.learners.complex_synapse import complex_synapse
from metalab.learners.dual_system import dual_system
from metalab.learners.gradient import init_learner
from metalab.learners.groups import PRESETS, Filter, select
from metalab.learners.inner import InnerState, inner_loop, inner_start, solve, trajectory
from metalab.learners.maml import maml
from metalab.learners.metasgd import metasgd
from metalab.learners.online import OnlineLearner, online_correct, online_loss, run_stream
from metalab.learners.online_gradient import gradient_step, online_gradient, scale_by_fan_in
from metalab.learners.optimizers import (
    INNER_OPTIMIZERS,
    InnerOpt,
    inner_optimizer,
    preconditioner,
    scale_by_rates,
)
from metalab.learners.protonet import protonet
from metalab.learners.sparse import sparse_maml, sparse_relu_maml, update_gate
from metalab.registry import Registry

LEARNERS: Registry = Registry("learner", "--learner")
for _name, _factory in [("maml", maml), ("metasgd", metasgd), ("anil", anil), ("boil", boil),
                        ("protonet", protonet), ("sparse-maml", sparse_maml),
                        ("sparse-relu-maml", sparse_relu_maml),
                        ("complex-synapse", complex_synapse), ("dual-system", dual_system),
                        ("cavia", cavia)]:
    LEARNERS.register(_name, _factory)


def register_learner(name: str, factory, *, replace: bool = False):
    """Make ``factory(model, inner_lr, loss, **options) -> Learner`` available as ``name``."""
    return LEARNERS.register(name, factory, replace=replace)


__all__ = [
    "FIXED_RULE", "GRADIENT_INNER_LOOP", "INNER_OPTIMIZERS", "LEARNED_INIT", "LEARNERS", "LOSSES",
    "PRESETS", "PROTOTYPES", "PROXIMAL", "SPARSE_UPDATES", "Filter", "InnerOpt", "InnerState",
    "Learner", "TaskLoss", "anil", "boil", "cavia", "complex_synapse", "cross_entropy",
    "dual_system", "init_learner", "inner_loop", "inner_optimizer", "inner_start", "loss_fn",
    "maml", "metasgd", "mse", "preconditioner", "protonet", "register_learner", "scale_by_rates",
    "select", "solve", "sparse_maml", "sparse_relu_maml", "trajectory", "update_gate",
    "OnlineLearner", "gradient_step", "online_correct", "online_gradient", "online_loss",
    "run_stream", "scale_by_fan_in",
]
