"""Networks written with equinox or flax (nnx) as metalab models.

A metalab ``Model`` keeps its parameters as a plain pytree of arrays, so learners and
estimators ``tree_map`` over them without filtering. An adapter splits a module into its
arrays and the rest (activation functions, sizes, the graph), keeps the rest fixed, and
exposes the arrays as a flat dict keyed by their path in the module (``"layers.0.weight"``);
``apply`` puts them back into the module and calls it. Each library is imported only when its
adapter is called (``pip install 'metalab[equinox]'`` or ``'metalab[flax]'``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import jax

from metalab.models.base import Model


def from_equinox(module: Any) -> Model:
    """A model of an equinox module, or of a function ``key -> module`` (so ``init`` draws new
    weights per key; a module's ``init`` returns its own weights whatever the key).

    ``apply(params, x)`` maps the module over the leading (batch) axis of ``x``, since
    equinox modules take one example.
    """
    eqx = _require("equinox", "equinox")
    make = (lambda key: module) if isinstance(module, eqx.Module) else module
    arrays, static = eqx.partition(make(jax.random.PRNGKey(0)), eqx.is_array)
    rebuild = _flat(arrays)[1]

    def init(key: jax.Array) -> dict[str, jax.Array]:
        return _flat(eqx.partition(make(key), eqx.is_array)[0])[0]

    def apply(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        return jax.vmap(eqx.combine(rebuild(params), static))(x)

    return Model(init, apply)


def from_flax(module: Any) -> Model:
    """A model of a flax ``nnx.Module``, or of a function ``key -> module`` (e.g.
    ``lambda key: Net(rngs=nnx.Rngs(key))``, so ``init`` draws new weights per key).

    Only ``nnx.Param`` variables are parameters; other state (random-number streams, batch
    statistics) is fixed at its value in the first module built. ``apply(params, x)`` calls
    the module on ``x`` as it is (nnx layers take a batch).
    """
    nnx = _require("flax.nnx", "flax")
    make = (lambda key: module) if isinstance(module, nnx.Module) else module
    graph, params, rest = nnx.split(make(jax.random.PRNGKey(0)), nnx.Param, ...)
    rebuild = _flat(params, ".value")[1]  # each Param keeps its array as ``.value``

    def init(key: jax.Array) -> dict[str, jax.Array]:
        return _flat(nnx.split(make(key), nnx.Param, ...)[1], ".value")[0]

    def apply(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        return nnx.merge(graph, rebuild(params), rest)(x)

    return Model(init, apply)


def _flat(tree: Any, suffix: str = ""
          ) -> tuple[dict[str, jax.Array], Callable[[dict[str, jax.Array]], Any]]:
    """``tree``'s leaves keyed by their path (less ``suffix``), and the map from such a dict
    back to a tree."""
    pairs, treedef = jax.tree_util.tree_flatten_with_path(tree)
    names = [jax.tree_util.keystr(path, simple=True, separator=".").removesuffix(suffix)
             for path, _ in pairs]
    if len(set(names)) != len(names):  # short names can collide; the full paths cannot
        names = [jax.tree_util.keystr(path) for path, _ in pairs]

    def rebuild(params: dict[str, jax.Array]) -> Any:
        return jax.tree_util.tree_unflatten(treedef, [params[name] for name in names])

    return dict(zip(names, (leaf for _, leaf in pairs), strict=True)), rebuild


def _require(module: str, extra: str) -> Any:
    """``module`` imported, or an ImportError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"this adapter needs {module.split('.')[0]}; install it with "
                          f"pip install 'metalab[{extra}]'") from e
