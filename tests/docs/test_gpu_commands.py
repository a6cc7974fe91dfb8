"""The GPU commands of ``docs/scaling.md`` ("On a GPU: the numbers to record") name real
benches and experiments, and their options build valid settings on the CPU (the benches run
at their smoke budget in ``test_smoke.py``; the paper regime trains two steps in a slow test)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from metalab.bench import BENCHES
from metalab.cli import _parse_config
from metalab.experiments import EXPERIMENTS

PAGE = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"


def gpu_commands() -> list[list[str]]:
    """The command lines of the section's bash block, comments dropped."""
    section = PAGE.read_text().split("## On a GPU: the numbers to record", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def test_every_gpu_command_builds_its_settings():
    commands = gpu_commands()
    assert {c[1] for c in commands} == {"bench", "run"} and len(commands) >= 4
    for _, verb, name, *options in commands:
        if verb == "bench":
            assert BENCHES[name].smoke
            _parse_config(BENCHES[name].config, [o for o in options if o != "--json"], name)
        else:
            experiment = EXPERIMENTS[name]
            own = [o for i, o in enumerate(options)
                   if o != "--out" and (i == 0 or options[i - 1] != "--out")]
            config = _parse_config(experiment.config, own, name).resolved()
            assert "--regime" not in own or config.regime == own[own.index("--regime") + 1]
