"""Shared fixtures. Service fixtures live in tests/services/ and are session-scoped."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden import CORPUS

pytest_plugins = ["tests.services.fixtures"]


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.exists():
        pytest.fail(f"shared corpus not found at {CORPUS}: clone the repo beside ../shared")
    return CORPUS


@pytest.fixture
def event_schema_check():
    """Validate a document against schemas/ecs_event.schema.json; fail with every error."""
    from shippers.schema import schema_errors

    def check(doc: dict) -> None:
        errors = schema_errors(doc)
        assert not errors, f"schema violations: {errors}\n{doc}"

    return check
