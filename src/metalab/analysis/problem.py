"""The problem of a learning-dynamics comparison (Rabinowitz 2019), as a frozen dataclass a
configuration extends: the task family (linear maps y = W x + noise with a geometric
spectrum, or random Fourier series) and the sizes of the models that learn it, with the
builders of the family, the plain learner's network, MAML / Meta-SGD and the LSTMs.

    problem = DynamicsProblem(hidden=16, noise=0.1)
    tasks = problem.distribution()          # LinearRegression(4, 4, 3.0, 0.3, ...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from metalab.errors import require, require_fields
from metalab.learners import Learner, maml, metasgd
from metalab.models import Model, deep_linear, lstm_plain, lstm_reader, mlp
from metalab.models.mlp import spread_kinks
from metalab.tasks import FourierSeries, LinearRegression


@dataclass(frozen=True)
class DynamicsProblem:
    """Task family and model sizes; ``noise`` and ``hidden`` must be set before building."""

    variant: Literal["linear", "fourier"] = "linear"
    basis: Literal["random", "fixed"] = "random"
    """linear: `random` U, V per task with the spectrum fixed (Rabinowitz 2019), or `fixed`
    U, V with Gaussian mode strengths (an exactly Gaussian prior)"""
    d_in: int = 4
    d_out: int = 4
    s_max: float = 3.0
    """largest singular value (geometric spectrum down to --s-min)"""
    s_min: float = 0.3
    n_freq: int = 5
    """fourier: frequencies 1..n on [-1, 1]"""
    decay: float = 0.0
    """fourier: prior amplitude of frequency k is k^-decay"""
    noise: float | None = None
    """observation noise std (linear 0.1, fourier 0.05)"""
    k_support: int = 20
    """support samples per task (the sequence the memory learner and Bayes read)"""
    hidden: int | None = None
    """hidden width: deep linear net (16) or both MLP layers (40)"""
    init_scale: float = 0.01
    """linear: init scale of the plain learner's deep linear net (small, Saxe et al. 2014)"""

    def check_problem(self) -> None:
        """``BadInput`` naming the first field out of range (called by ``__post_init__``)."""
        require_fields(self, positive_int=("d_in", "d_out", "n_freq", "hidden"))
        require(min(self.d_in, self.d_out) >= 2, "--d-in", "d-in and d-out must be >= 2")
        require_fields(self, at_least={"n_freq": 2})
        require(0 < self.s_min <= self.s_max, "--s-min", "need 0 < s-min <= s-max")
        require(self.noise is None or self.noise > 0, "--noise",
                "must be positive (the Bayes posterior needs observation noise)")
        require(self.k_support >= 2, "--k-support", "must be at least 2")
        require_fields(self, positive=("init_scale",))

    def distribution(self) -> LinearRegression | FourierSeries:
        """The task family of the variant (as many query points as support points)."""
        if self.variant == "linear":
            return LinearRegression(self.d_in, self.d_out, self.s_max, self.s_min,
                                    basis=self.basis, noise=self.noise,
                                    k_support=self.k_support, k_query=self.k_support)
        return FourierSeries(self.n_freq, self.decay, noise=self.noise,
                             k_support=self.k_support, k_query=self.k_support)

    def gd_model(self, meta_learned: bool) -> Model:
        """Deep linear net (linear) or ReLU MLP (Fourier); small init for the plain learner."""
        if self.variant == "linear":
            scale = 1.0 if meta_learned else self.init_scale
            return deep_linear((self.d_in, self.hidden, self.d_out), scale)
        return spread_kinks(mlp((1, self.hidden, self.hidden, 1), "relu"))

    def meta_learner(self, name: str, inner_lr: float) -> Learner:
        """MAML or Meta-SGD over the variant's model, inner step ``inner_lr``."""
        return {"maml": maml, "metasgd": metasgd}[name](self.gd_model(True), inner_lr)

    def memory_model(self, hidden: int, plain: bool = False) -> Model:
        """The LSTM reader (multiplicative read-out) or the plain LSTM of ``hidden`` units."""
        d, m = (self.d_in, self.d_out) if self.variant == "linear" else (1, 1)
        return (lstm_plain if plain else lstm_reader)(d, m, hidden)
