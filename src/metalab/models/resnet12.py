"""ResNet-12, the few-shot backbone of Oreshkin et al. 2018 (TADAM) and Lee et al. 2019
(MetaOptNet), which von Oswald et al. 2021 also meta-train with sparse-MAML.

Four residual blocks; block i has three 3x3 convolutions with ``widths[i]`` filters, each
followed by batch normalisation with the statistics of the batch it is applied to (as the
4-block conv net, so adapted weights normalise each support or query set by its own
statistics) and leaky ReLU (slope 0.1) after the first two and after the sum; the shortcut is a
1x1 convolution with batch normalisation; each block ends with 2x2 max-pooling. Global
average pooling and a linear head ``head`` give the logits. Channels last, ``[..., H, W, C]``.
Params: ``block{i}`` = {w1, w2, w3 [3, 3, Cin, C], ws [Cin, C], g1..g3, b1..b3, gs, bs [C]}.
Convolutions have no bias (batch norm cancels it). No DropBlock: the learners here need a
deterministic function of the weights.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from metalab.models.base import Model
from metalab.models.convnet import CONVS, batch_norm, conv_im2col, conv_xla, default_conv, max_pool

SLOPE = 0.1


def resnet12(n_way: int | None, image_shape: tuple[int, int, int] = (84, 84, 3),
             widths: tuple[int, ...] = (64, 128, 256, 512), conv: str = "auto") -> Model:
    """ResNet-12 with an ``n_way`` head (``None``, or params without ``head``: the pooled
    features); ``widths`` (64, 160, 320, 640) is the wider variant."""
    if conv not in CONVS:
        raise ValueError(f"conv must be one of {CONVS}, got {conv!r}")
    if len(widths) == 0 or min(widths) <= 0:
        raise ValueError(f"widths must be positive, got {widths}")
    c = image_shape[-1]

    def init(key: jax.Array) -> dict:
        keys = jax.random.split(key, 4 * len(widths) + 1)
        params, c_in = {}, c
        for i, width in enumerate(widths):
            k = keys[4 * i: 4 * i + 4]
            block = {"ws": jax.random.normal(k[3], (c_in, width)) * math.sqrt(2.0 / c_in)}
            for j, cj in enumerate((c_in, width, width), start=1):
                block[f"w{j}"] = jax.random.normal(k[j - 1], (3, 3, cj, width)) * math.sqrt(
                    2.0 / (9 * cj))
            for name in ("1", "2", "3", "s"):
                block[f"g{name}"] = jnp.ones((width,))
                block[f"b{name}"] = jnp.zeros((width,))
            params[f"block{i}"] = block
            c_in = width
        if n_way is not None:
            params["head"] = {"w": jax.random.normal(keys[-1], (c_in, n_way))
                              * math.sqrt(1.0 / c_in), "b": jnp.zeros((n_way,))}
        return params

    def apply(params: dict, x: jax.Array) -> jax.Array:
        impl = conv_im2col if (conv if conv != "auto" else default_conv()) == "im2col" else conv_xla
        single = x.ndim == 3
        if single:
            x = x[None]
        for i in range(len(widths)):
            p = params[f"block{i}"]
            h = x
            for j in ("1", "2", "3"):
                h = batch_norm(impl(h, p[f"w{j}"]), p[f"g{j}"], p[f"b{j}"])
                if j != "3":
                    h = jax.nn.leaky_relu(h, SLOPE)
            short = batch_norm(jnp.einsum("...c,co->...o", x, p["ws"]), p["gs"], p["bs"])
            x = max_pool(jax.nn.leaky_relu(h + short, SLOPE))
        x = x.mean(axis=(1, 2))
        if "head" in params:
            x = x @ params["head"]["w"] + params["head"]["b"][None, :]
        return x[0] if single else x

    return Model(init, apply)
