"""Every ```python block of docs/*.md and README.md runs as written: each page in a fresh
interpreter, its blocks in order in one namespace (``blocks.py``), from an empty folder. A
block opts out only with a first line ``# not run by tests: <reason>``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from blocks import python_blocks, skip_reason

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
WITH_CODE = [page for page in PAGES if python_blocks(page.read_text())]
# what a page must print besides running (its own asserts check the numbers)
PRINTS = {
    "extending.md": ["estimator 'implicit' cannot drive learner 'tensor-rates'",
                     "backprop query MSE", "first-order query MSE"],
}


@pytest.mark.parametrize("page", WITH_CODE, ids=lambda page: page.name)
def test_page_runs(page, tmp_path):
    """The page's blocks in a fresh interpreter (registrations it makes stay there)."""
    # Without Eigen's multi-threading: in one suite run a docs subprocess hung in XLA's CPU
    # runtime (main thread in BlockUntilReady, every pool worker idle; 2026-12-01), the
    # intermittent wedge PyAutoLabs/PyAutoFit#1530 reports and avoids with this flag.
    env = {**os.environ, "XLA_FLAGS": " ".join(
        [os.environ.get("XLA_FLAGS", ""), "--xla_cpu_multi_thread_eigen=false"]).strip()}
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("blocks.py")),
                           str(page)], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-6000:]
    for text in PRINTS.get(page.name, ()):
        assert text in proc.stdout


def test_opting_out_needs_a_reason():
    """Every skipped block in the pages states why; a bare marker is refused."""
    reasons = [skip_reason(code) for page in WITH_CODE
               for _, code in python_blocks(page.read_text())]
    assert all(reason is None or reason for reason in reasons)
    assert skip_reason("# not run by tests: needs a GPU\nimport jax\n") == "needs a GPU"
    assert skip_reason("import jax  # not run by tests: no\n") is None
    with pytest.raises(ValueError, match="must say why"):
        skip_reason("# not run by tests:\nimport jax\n")


def test_blocks_are_found_with_their_lines():
    page = "text\n```python\na = 1\n```\n\n```bash\nls\n```\n```python\nb = a\n```\n"
    assert python_blocks(page) == [(2, "a = 1\n"), (9, "b = a\n")]
