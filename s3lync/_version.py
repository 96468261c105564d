"""The package version (one place; pyproject.toml carries the same string)."""

__version__ = "1.0.0.dev0"
