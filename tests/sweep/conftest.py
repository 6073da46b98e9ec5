"""Fixtures of the sweeper tests (helpers live in helpers.py)."""

from .helpers import postgres_url  # noqa: F401  (re-exported as a fixture)
