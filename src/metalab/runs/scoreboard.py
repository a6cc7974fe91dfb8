"""The reproduction scoreboard: claims of the papers, decided by runs, and ``metalab claims``.

An experiment that tests a paper's claim writes a claim record (``record_claim``) into its
``summary.json`` under ``claims``: a stable id, the paper, the claim in words, our metric, the
paired difference with its 95% interval and verdict (``metalab.analysis.paired``), the regime
the run was in (``quick``, ``default`` or ``paper``) and the paper's own figure where it gives
one. ``collect`` gathers them from finished run folders (sweeps and seed folders included) and
``table`` writes them as one Markdown table. See docs/claims.md.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metalab.analysis.paired import Paired
from metalab.errors import BadInput
from metalab.runs.claim import MARKER

COLUMNS = ("claim id", "paper", "claim", "our metric", "paper's figure",
           "difference [95% CI]", "verdict", "regime", "run")


def regime(config: Any) -> str:
    """``quick`` for a ``--quick`` run, ``paper`` for ``--regime paper``, else ``default``.

    A resolved configuration whose ``resolved()`` clears ``quick`` counts as quick when
    resolving it with ``quick`` set changes nothing (it is already at the quick budget)."""
    if getattr(config, "quick", False):
        return "quick"
    if dataclasses.is_dataclass(config) and hasattr(config, "quick") \
            and hasattr(config, "resolved") \
            and dataclasses.replace(config, quick=True).resolved() == config:
        return "quick"
    return "paper" if getattr(config, "regime", "") == "paper" else "default"


def decides(config: Any) -> bool:
    """False for a run scored on validation data (``evaluate_on``): such runs choose settings,
    and a claim decided on them would be decided on the data that tuned it."""
    return getattr(config, "evaluate_on", "test") != "validation"


def record_claim(claim_id: str, stat: Paired, *, paper: str, claim: str, metric: str,
                 regime: str, figure: str = "",
                 means: tuple[float, float] | None = None) -> dict[str, Any]:
    """One claim record for ``summary.json``: ``stat`` is the paired difference (a - b) or
    slope deciding it, ``metric`` says what a and b are, ``means`` their means if given,
    ``figure`` the paper's number (non-finite numbers become null)."""
    return {"id": claim_id, "paper": paper, "claim": claim, "metric": metric,
            "means": None if means is None else [_finite(m) for m in means],
            "figure": figure, "difference": _finite(stat.difference), "low": _finite(stat.low),
            "high": _finite(stat.high), "n": stat.n, "unit": stat.unit,
            "direction": stat.direction, "verdict": stat.verdict, "regime": regime}


def collect(paths: Sequence[Path]) -> tuple[list[tuple[Path, dict]], list[str]]:
    """``(run folder, claim record)`` for every claim in the finished runs among ``paths`` and
    their sub-folders, and a note for each unfinished run skipped; ``BadInput`` for a missing
    path, or when no finished run holds a claim."""
    rows: list[tuple[Path, dict]] = []
    notes: list[str] = []
    for path in paths:
        if not path.exists():
            raise BadInput("RUN", f"{path} does not exist; give run folders (or folders "
                           "holding runs) written by metalab run or metalab sweep")
        for run in sorted({p.parent for p in path.rglob("config.json")}):
            if (run / MARKER).exists() or not (run / "summary.json").is_file():
                notes.append(f"skipped {run}: the run has not finished")
                continue
            rows += [(run, c) for c in _claims(run)]
    if not rows:
        raise BadInput("RUN", f"no claims in the finished runs under {', '.join(map(str, paths))}"
                       "; claims are written by experiments that test a paper's claim (see "
                       "docs/claims.md): give their finished run folders")
    return rows, notes


def table(rows: Sequence[tuple[Path | str, dict]]) -> str:
    """The claims as one Markdown table, one row per claim and run."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for run, c in rows:
        cells = (f"`{c.get('id', '?')}`", c.get("paper", ""), c.get("claim", ""), _metric(c),
                 c.get("figure") or "", _interval(c), c.get("verdict", ""),
                 c.get("regime", ""), str(run))
        lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    return "\n".join(lines) + "\n"


def report_section(claims: Sequence[dict]) -> list[str]:
    """The ``report.md`` sections stating a run's claims (none without claims)."""
    if not claims:
        return []
    return ["## Paper claims (paired differences; collect with `metalab claims`)",
            table([("this run", c) for c in claims]).rstrip("\n")]


def _claims(run: Path) -> list[dict]:
    try:
        claims = json.loads((run / "summary.json").read_text()).get("claims", [])
    except (ValueError, AttributeError) as e:
        raise BadInput("RUN", f"{run / 'summary.json'} is unreadable ({e}); restore it or "
                       "leave the run out") from e
    if not isinstance(claims, list) or not all(isinstance(c, dict) for c in claims):
        raise BadInput("RUN", f"{run / 'summary.json'}: 'claims' is not a list of records; "
                       "restore it or leave the run out")
    return claims


def _metric(c: dict) -> str:
    means = c.get("means")
    if not means:
        return c.get("metric", "")
    return f"{c.get('metric', '')}: {_num(means[0])} vs {_num(means[1])}"


def _interval(c: dict) -> str:
    unit = f"{c.get('n', '?')} {c.get('unit', '')}".strip()
    low, high, diff = c.get("low"), c.get("high"), c.get("difference")
    if low is None or high is None or diff is None:
        return f"{_num(diff, '+')} (no interval, {unit})"
    digits = max(0, 2 - math.floor(math.log10(high - low))) if high > low else 3
    return f"{diff:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}] ({unit})"


def _num(x: Any, sign: str = "") -> str:
    return "n/a" if x is None else f"{x:{sign}.3g}"


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
