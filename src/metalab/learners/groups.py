"""Parameter groups chosen by filters over the parameter tree (equinox's ``filter_spec``).

A filter is a value: a pytree of Python bools shaped like the parameters or like a prefix of
them (``{"layer0": False, "layer1": True}`` selects every leaf of ``layer1``), or a function
``(path, leaf) -> bool`` of a leaf's key path (``jax.tree_util`` keys: ``path[0].key`` is the
top-level group) and the leaf, given as a ``jax.ShapeDtypeStruct``: a filter reads the
structure, shapes and dtypes, never values, so it is resolved once, before any compute. A
string is a named preset: one of ``PRESETS`` (``"auto"``: the output layer) or a top-level key
of the parameters (``"head"``, ``"layer2"``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jax

from metalab.errors import BadInput
from metalab.models.base import Model, Params

Filter = str | Callable[[tuple, Any], bool] | Any
"""a preset name, a function ``(path, leaf) -> bool``, or a pytree of bools"""


def output_layer(theta: Params) -> str:
    """The key of the output layer: ``head`` if the model has it (conv net, ResNet-12), else
    the MLP layer ``layer{i}`` with the highest i."""
    if "head" in theta:
        return "head"
    layers = [k for k in theta if re.fullmatch(r"layer\d+", k)]
    if not layers:
        raise BadInput("head", f"no output layer found; pass head= one of {sorted(theta)} "
                               "or a filter")
    return max(layers, key=lambda k: int(k[5:]))


PRESETS: dict[str, Callable[[Params], str]] = {"auto": output_layer}
"""named groups, each a function of the parameters giving the top-level key it selects"""


def resolve_head(theta: Params, head: str) -> str:
    """The top-level key the string ``head`` names: a preset's, or ``head`` itself."""
    key = PRESETS[head](theta) if head in PRESETS else head
    if key not in theta:
        raise BadInput("head", f"model has no parameter group {head!r}; pass head= one of "
                               f"{sorted(theta)}, {sorted(PRESETS)} or a filter")
    return key


def select(theta: Params, spec: Filter) -> Any:
    """One Python bool per leaf of ``theta`` (a pytree shaped like it): whether ``spec``
    selects that leaf."""
    if isinstance(spec, str):
        key = resolve_head(theta, spec)
        spec = {k: k == key for k in theta}
    if callable(spec):
        return jax.tree_util.tree_map_with_path(lambda p, leaf: bool(spec(p, leaf)), theta)
    if not all(isinstance(b, bool) for b in jax.tree.leaves(spec)):
        raise BadInput("head", "a filter pytree holds Python bools only (True: selected)")
    try:
        return jax.tree.map(lambda b, sub: jax.tree.map(lambda _: b, sub), spec, theta)
    except (ValueError, TypeError) as err:
        raise BadInput("head", "a filter pytree must be shaped like the parameters or a "
                               f"prefix of them, {jax.tree.structure(theta)}") from err


def model_mask(model: Model, spec: Filter) -> Any:
    """``select`` over the shapes of ``model``'s parameters (no parameter is computed)."""
    return select(jax.eval_shape(model.init, jax.random.PRNGKey(0)), spec)

