"""Registered experiments, one subpackage per line of work: ``metalab run NAME``.

``EXPERIMENTS`` holds the built-ins; ``register_experiment`` adds one from user code, and
installed packages add theirs through the entry-point group ``metalab.experiments`` (each
entry point names an ``Experiment``), which ``load_plugins`` reads once when the CLI starts.
"""

import sys
from importlib.metadata import entry_points

from metalab.experiments.contrastive import beta_error, hyperparameters, importance
from metalab.experiments.contrastive import experiment as contrastive
from metalab.experiments.dynamics import experiment as dynamics
from metalab.experiments.dynamics import study as dynamics_study
from metalab.experiments.effort import continual as effort_continual
from metalab.experiments.effort import curriculum as effort_curriculum
from metalab.experiments.effort import gain as effort_gain
from metalab.experiments.effort import hyper as effort_hyper
from metalab.experiments.effort import interfere as effort_interfere
from metalab.experiments.effort import maml as effort_maml
from metalab.experiments.effort import myopic as effort_myopic
from metalab.experiments.effort import nonlinear as effort_nonlinear
from metalab.experiments.effort import phase as effort_phase
from metalab.experiments.effort import switch as effort_switch
from metalab.experiments.estimators import accuracy as estimator_accuracy
from metalab.experiments.fewshot import omniglot, oneshot_runs
from metalab.experiments.matrix import experiment as matrix
from metalab.experiments.sinusoid import experiment as sinusoid
from metalab.experiments.vsml import backprop as vsml_backprop
from metalab.experiments.vsml import experiment as vsml
from metalab.experiments.where_to_learn import continual
from metalab.experiments.where_to_learn import controls as where_to_learn_controls
from metalab.experiments.where_to_learn import decide as sparse_maml
from metalab.experiments.where_to_learn import experiment as where_to_learn
from metalab.registry import Registry
from metalab.runs.experiment import Experiment

ENTRY_POINT_GROUP = "metalab.experiments"

EXPERIMENTS: Registry[Experiment] = Registry("experiment", "EXPERIMENT")
for _module in (sinusoid, effort_gain, effort_nonlinear, effort_curriculum, effort_maml,
                effort_continual, effort_myopic, effort_hyper, effort_interfere, effort_switch,
                effort_phase,
                dynamics, dynamics_study, estimator_accuracy, omniglot, oneshot_runs,
                where_to_learn, sparse_maml, continual, where_to_learn_controls, vsml,
                vsml_backprop, contrastive,
                hyperparameters, beta_error, importance, matrix):
    EXPERIMENTS.register(_module.EXPERIMENT.name, _module.EXPERIMENT)


def register_experiment(experiment: Experiment, *, replace: bool = False) -> Experiment:
    """Make ``experiment`` available to ``metalab run`` and ``metalab list``."""
    return EXPERIMENTS.register(experiment.name, experiment, replace=replace)


def load_plugins() -> list[str]:
    """Register the experiments installed packages declare under ``metalab.experiments``;
    returns their names. An entry point that fails to load (an import error, not an
    ``Experiment``, a name taken) is reported in one line on stderr and skipped."""
    loaded = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in EXPERIMENTS:
            continue
        try:
            experiment = point.load()
            if not isinstance(experiment, Experiment):
                raise TypeError(f"{point.value} is a {type(experiment).__name__}, "
                                "not a metalab Experiment")
            register_experiment(experiment)
        except Exception as e:  # a broken plugin must not break the CLI
            first = (str(e).splitlines() or [""])[0]
            print(f"metalab: plugin {point.name!r} ({point.value}) failed to load and is "
                  f"skipped: {type(e).__name__}: {first}", file=sys.stderr)
            continue
        loaded.append(experiment.name)
    return loaded


__all__ = ["EXPERIMENTS", "Experiment", "load_plugins", "register_experiment"]
