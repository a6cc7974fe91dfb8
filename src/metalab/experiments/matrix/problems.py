"""The problems of ``metalab run matrix``: one small table per problem, never per pair.

A problem says what every pair trains and is scored on: the task distributions (training and
held out), the network (built with room for extra input features, CAVIA's context), the inner
rate (with a per-learner exception where a learner's own inner optimiser needs another), the
learner options it needs, and the learner properties it cannot host (ProtoNets' prototypes
need class labels, which a regression problem has none of).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metalab.errors import BadInput
from metalab.learners.base import PROTOTYPES
from metalab.models import mlp
from metalab.models.base import Model
from metalab.models.convnet import convnet
from metalab.tasks import Sinusoid
from metalab.tasks.base import TaskDistribution
from metalab.tasks.episodes import Episodes
from metalab.tasks.fewshot import check_classes, load_classes


@dataclass(frozen=True)
class Setup:
    """What one problem gives every pair: training and held-out task distributions, the
    network (``extra`` input features appended to the last axis), rates and options."""

    train: TaskDistribution
    held_out: TaskDistribution
    model: Callable[[int], Model]
    loss: str
    inner_lr: float
    metric: str  # what the score is, for the report ("query MSE", "accuracy")
    higher_is_better: bool
    rates: Mapping[str, float] = field(default_factory=dict)  # inner rate by learner
    options: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # options by learner
    excludes: Mapping[str, str] = field(default_factory=dict)  # property -> why not here

    def learner_rate(self, learner: str) -> float:
        """The inner rate ``learner`` adapts with on this problem."""
        return self.rates.get(learner, self.inner_lr)

    def direction(self) -> str:
        """Which way the score is better, in words."""
        return "higher is better" if self.higher_is_better else "lower is better"


CONTEXT = 4
"""CAVIA's context entries on every problem (appended to the input's last axis)"""
OPTIONS = {"cavia": {"context": CONTEXT}}
REGRESSION = {PROTOTYPES: "class labels (regression has none to build prototypes from)"}


def extra_inputs(options: dict[str, Any]) -> int:
    """Input features a learner appends to every example (CAVIA's context), else 0."""
    return int(options.get("context", 0))


def sinusoid(cfg: Any) -> Setup:
    """Sinusoid regression, 10 shots (Finn et al. 2017): ReLU MLP 1-h-h-1, inner SGD 0.01."""
    return Setup(
        train=Sinusoid(10, 10), held_out=Sinusoid(10, 100),
        model=lambda extra: mlp((1 + extra, cfg.hidden, cfg.hidden, 1)),
        loss="mse", inner_lr=0.01, metric="query MSE", higher_is_better=False,
        options=OPTIONS, excludes=REGRESSION)


def fewshot_problem(dataset: str, shape: tuple[int, int]) -> Callable[[Any], Setup]:
    """5-way 1-shot classification over ``dataset`` (4-block conv net, inner SGD 0.4 as in
    Finn et al. 2017; 0.1 for the complex synapse, whose inner optimiser is Nesterov SGD)."""

    def build(cfg: Any) -> Setup:
        train, test = load_classes(dataset, cfg.data, cfg.cache_dir,
                                           cfg.test_alphabets, 0)
        check_classes(train, "training", 5, 1 + cfg.q_query)
        check_classes(test, "test", 5, 1 + cfg.eval_query)
        return Setup(
            train=Episodes.of(train, 5, 1, cfg.q_query),
            held_out=Episodes.of(test, 5, 1, cfg.eval_query),
            model=lambda extra: convnet(5, (*shape, 1 + extra), width=cfg.width,
                                        conv=cfg.conv),
            loss="cross_entropy", inner_lr=0.4, metric="accuracy", higher_is_better=True,
            rates={"complex-synapse": 0.1}, options=OPTIONS)

    return build


PROBLEMS: dict[str, Callable[[Any], Setup]] = {
    "sinusoid": sinusoid,
    "omniglot-5w1s": fewshot_problem("omniglot", (28, 28)),
    "digits-5w1s": fewshot_problem("digits", (8, 8)),
}


def check_data(cfg: Any) -> None:
    """``BadInput`` before any compute if a chosen problem's data are missing."""
    if "omniglot-5w1s" not in cfg.problems:
        return
    try:
        load_classes("omniglot", cfg.data, cfg.cache_dir, cfg.test_alphabets, 0)
    except BadInput as err:
        said = str(err).removeprefix(f"{err.option}: ")
        raise BadInput(err.option, f"{said}; fetch it with `metalab data fetch omniglot` (or "
                       "give --data), or leave it out: --problems sinusoid digits-5w1s "
                       "(scikit-learn digits, embedded, no download)") from err
