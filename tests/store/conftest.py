"""The store tests' fixtures: `serve` starts a real `digigami serve` (tests/security)."""

from tests.security.conftest import serve

__all__ = ["serve"]
