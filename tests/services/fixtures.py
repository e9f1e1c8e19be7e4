"""Session-scoped pytest fixtures for every real service (one section per service).

Each section is owned by the issue that brought the service; keep them independent.
"""

from __future__ import annotations
