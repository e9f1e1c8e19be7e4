"""Session-scoped pytest fixtures for every real service (one section per service).

Each section is owned by the issue that brought the service; keep them independent.
"""

from __future__ import annotations


# --- Prometheus (Debian package `prometheus`): issue 6 -------------------------------------
import pytest as _pytest_prom  # noqa: E402


@_pytest_prom.fixture(scope="session")
def prometheus():
    """A real Prometheus scraping every 1s whatever `prometheus.scrape([targets])` names."""
    from tests.services import require
    from tests.services.prometheus import HOW_TO_ENABLE, start

    server = require(f"Prometheus ({HOW_TO_ENABLE})", start)
    yield server
    server.stop()
