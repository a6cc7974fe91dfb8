"""Figures for run folders, drawn without pyplot.

``subplots`` builds a ``matplotlib.figure.Figure`` directly, so no GUI backend is ever selected
(no ``matplotlib.use`` anywhere, nothing global): ``RunDir.save_figure`` renders it to PNG
through the Agg canvas every ``Figure`` carries.
"""

from __future__ import annotations

from typing import Any

from matplotlib import colormaps
from matplotlib.figure import Figure


def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
    """A new figure and its axes, as ``pyplot.subplots`` returns them."""
    fig_kw = {k: kwargs.pop(k) for k in ("figsize", "dpi", "layout") if k in kwargs}
    fig = Figure(**fig_kw)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def colormap(name: str, values: Any) -> Any:
    """RGBA colours of ``values`` (in [0, 1], or integers for qualitative maps) in colormap
    ``name``."""
    return colormaps[name](values)
