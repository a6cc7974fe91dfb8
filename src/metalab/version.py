"""The version of metalab (also in pyproject.toml and CITATION.cff)."""

__version__ = "0.3.0"
