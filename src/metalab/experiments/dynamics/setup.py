"""The task family, models and meta-learners of the learning-dynamics experiment, per variant
(its configuration's sizes); the held-out sets and prediction trajectories are
``metalab.analysis.predictions``."""

from __future__ import annotations

from typing import Any

from metalab.learners import Learner, maml, metasgd
from metalab.models import Model, deep_linear, lstm_plain, lstm_reader, mlp
from metalab.models.mlp import spread_kinks
from metalab.tasks import FourierSeries, LinearRegression


def distribution(cfg: Any) -> LinearRegression | FourierSeries:
    """The task family of the configured variant."""
    if cfg.variant == "linear":
        return LinearRegression(cfg.d_in, cfg.d_out, cfg.s_max, cfg.s_min, basis=cfg.basis,
                                noise=cfg.noise, k_support=cfg.k_support, k_query=cfg.k_support)
    return FourierSeries(cfg.n_freq, cfg.decay, noise=cfg.noise, k_support=cfg.k_support,
                         k_query=cfg.k_support)


def gd_model(cfg: Any, meta_learned: bool) -> Model:
    """Deep linear net (linear) or ReLU MLP (Fourier); small init for the plain learner."""
    if cfg.variant == "linear":
        scale = 1.0 if meta_learned else cfg.init_scale
        return deep_linear((cfg.d_in, cfg.hidden, cfg.d_out), scale)
    return spread_kinks(mlp((1, cfg.hidden, cfg.hidden, 1), "relu"))


def meta_learner(name: str, cfg: Any) -> Learner:
    """MAML or Meta-SGD over the variant's model, inner step ``inner_lr``."""
    return {"maml": maml, "metasgd": metasgd}[name](gd_model(cfg, True), cfg.inner_lr)


def memory_model(cfg: Any, plain: bool = False) -> Model:
    """The LSTM reader (multiplicative read-out) or the plain LSTM, for the variant's sizes."""
    d, m = (cfg.d_in, cfg.d_out) if cfg.variant == "linear" else (1, 1)
    return (lstm_plain if plain else lstm_reader)(d, m, cfg.memory_hidden)
