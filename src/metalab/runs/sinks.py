"""Optional metric sinks (``--log tensorboard|wandb|mlflow``) fed the records of ``metrics.jsonl``.

``metrics.jsonl`` stays the source of truth: a sink receives each record when it is first
written there (lines a resumed run only confirms are not sent again), as scalars named
``<stage>/<metric>`` at the record's ``step``; the run's settings (``config.json``'s
experiment and fields) are sent once as W&B ``config``, MLflow params and TensorBoard hparams.
Each sink's package is an optional extra
(``pip install "metalab[tensorboard]"``, ``[wandb]``, ``[mlflow]``); ``require`` checks they
import before a run folder is written.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from metalab.errors import BadInput

#: sink name -> (module imported, extra that installs it)
PACKAGES = {"tensorboard": ("tensorboardX", "tensorboard"), "wandb": ("wandb", "wandb"),
            "mlflow": ("mlflow", "mlflow")}


class Sink(Protocol):
    """A destination for metric records besides ``metrics.jsonl``."""

    name: str
    options: dict[str, str]  # settings a resumed run must reuse (saved in config.json)

    def settings(self, values: dict[str, Any]) -> None: ...

    def write(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def scalars(record: dict[str, Any]) -> tuple[int | None, dict[str, float]]:
    """The step and the finite numeric entries of one record, named ``<stage>/<metric>``."""
    stage = record.get("stage")
    prefix = f"{stage}/" if stage else ""
    values = {f"{prefix}{k}": float(v) for k, v in record.items()
              if k not in ("stage", "step") and isinstance(v, (int, float))
              and not isinstance(v, bool) and math.isfinite(v)}
    step = record.get("step")
    return (int(step) if isinstance(step, (int, float)) else None), values


def flat_settings(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``config`` as flat scalars a tracker accepts: numbers, strings and booleans as they
    are, nested mappings as ``outer.inner``, anything else (lists, None) as its text."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= flat_settings(value, f"{name}.")
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = str(list(value) if isinstance(value, tuple) else value)
    return out


def require(names: Sequence[str]) -> None:
    """``BadInput`` naming the extra to install if a sink's package does not import."""
    for name in names:
        if name not in PACKAGES:
            raise BadInput("--log", f"unknown sink {name!r}; choose from {', '.join(PACKAGES)}")
        module, extra = PACKAGES[name]
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise BadInput("--log", f"{name} needs the {module} package ({e}); install it "
                           f"with pip install \"metalab[{extra}]\" or drop --log {name}") from e


class TensorBoard:
    """Event files under ``<run>/tensorboard`` (``tensorboard --logdir RUN``)."""

    name = "tensorboard"

    def __init__(self, folder: Path, experiment: str):
        from tensorboardX import SummaryWriter

        self.options: dict[str, str] = {}
        self._writer = SummaryWriter(logdir=str(folder / "tensorboard"))
        self._counter = 0

    def settings(self, values: dict[str, Any]) -> None:
        self._writer.add_hparams(flat_settings(values), {}, name="hparams")

    def write(self, record: dict[str, Any]) -> None:
        step, values = scalars(record)
        self._counter += 1
        for tag, value in values.items():
            self._writer.add_scalar(tag, value, self._counter if step is None else step)

    def close(self) -> None:
        self._writer.close()


class WandB:
    """A Weights & Biases run named after the run folder, in ``project`` (else $WANDB_PROJECT,
    else ``metalab``) of ``entity`` (else $WANDB_ENTITY, else the user's default). Stages
    restart their steps, so the step is logged as a metric ``<stage>/step`` rather than as
    W&B's own monotone step."""

    name = "wandb"

    def __init__(self, folder: Path, experiment: str, project: str | None = None,
                 entity: str | None = None):
        import wandb

        project = project or os.environ.get("WANDB_PROJECT") or "metalab"
        entity = entity or os.environ.get("WANDB_ENTITY") or None
        self.options = {"project": project} | ({"entity": entity} if entity else {})
        self._run = wandb.init(project=project, entity=entity, name=folder.name,
                               dir=str(folder), group=experiment, resume="allow")

    def settings(self, values: dict[str, Any]) -> None:
        self._run.config.update(flat_settings(values), allow_val_change=True)

    def write(self, record: dict[str, Any]) -> None:
        step, values = scalars(record)
        if step is not None and record.get("stage"):
            values[f"{record['stage']}/step"] = float(step)
        if values:
            self._run.log(values)

    def close(self) -> None:
        self._run.finish()


class MLflow:
    """An MLflow run (tracking URI from ``MLFLOW_TRACKING_URI``, else ``<run>/mlruns``)."""

    name = "mlflow"

    def __init__(self, folder: Path, experiment: str):
        import mlflow

        if not os.environ.get("MLFLOW_TRACKING_URI"):
            mlflow.set_tracking_uri((folder / "mlruns").resolve().as_uri())
        mlflow.set_experiment(experiment)
        self.options: dict[str, str] = {}
        self._mlflow = mlflow
        self._run = mlflow.start_run(run_name=folder.name)

    def settings(self, values: dict[str, Any]) -> None:
        self._mlflow.log_params({k: str(v)[:500] for k, v in flat_settings(values).items()})

    def write(self, record: dict[str, Any]) -> None:
        step, values = scalars(record)
        if values:
            self._mlflow.log_metrics(values, step=step or 0)

    def close(self) -> None:
        self._mlflow.end_run()


SINKS = {"tensorboard": TensorBoard, "wandb": WandB, "mlflow": MLflow}


def open_sinks(names: Iterable[str], folder: Path, experiment: str,
               options: Mapping[str, Mapping[str, str]] | None = None) -> list[Sink]:
    """One open sink per name (checked by ``require`` first); ``options[name]`` holds a
    sink's keyword settings (W&B's ``project`` and ``entity``)."""
    options = options or {}
    return [SINKS[name](folder, experiment, **options.get(name, {})) for name in names]
