"""Fully connected network, 1-40-40-1 with ReLU by default (Finn et al. 2017)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from metalab.models.base import Model

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "linear": lambda h: h,
}


def mlp(sizes: Sequence[int] = (1, 40, 40, 1), activation: str = "relu") -> Model:
    """An MLP with layers named ``layer{i}`` holding ``w`` [in, out] and ``b`` [out].

    Weights and biases start uniform in +-1/sqrt(fan_in) (the common PyTorch default). A
    He-scaled start makes gradient steps of 0.01 on sinusoids with |x| <= 5 unstable.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    act = ACTIVATIONS[activation]

    def init(key: jax.Array) -> dict:
        keys = jax.random.split(key, 2 * (len(sizes) - 1))
        params = {}
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            bound = 1.0 / jnp.sqrt(n_in)
            w = jax.random.uniform(keys[2 * i], (n_in, n_out), minval=-bound, maxval=bound)
            b = jax.random.uniform(keys[2 * i + 1], (n_out,), minval=-bound, maxval=bound)
            params[f"layer{i}"] = {"w": w, "b": b}
        return params

    def apply(params: dict, x: jax.Array) -> jax.Array:
        n = len(sizes) - 1
        for i in range(n):
            layer = params[f"layer{i}"]
            x = x @ layer["w"] + jnp.expand_dims(layer["b"], tuple(range(x.ndim - 1)))
            if i < n - 1:
                x = act(x)
        return x

    return Model(init, apply)


def spread_kinks(model: Model) -> Model:
    """First-layer biases drawn so the ReLU kinks lie uniformly on [-1, 1] rather than all at
    x = 0 (zero biases), so a 1-D MLP can bend anywhere on the task interval."""

    def init(key: jax.Array) -> dict:
        k_model, k_kink = jax.random.split(key)
        params = model.init(k_model)
        w = params["layer0"]["w"][0]
        kinks = jax.random.uniform(k_kink, w.shape, minval=-1.0, maxval=1.0)
        return {**params, "layer0": {"w": params["layer0"]["w"], "b": -w * kinks}}

    return Model(init, model.apply)
