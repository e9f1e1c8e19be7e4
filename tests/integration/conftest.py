"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from tests.integration.test_fdr_support import Env


@pytest.fixture
def env(s3_endpoint: str, sqs_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Env:
    """The FDR test environment: a fresh source bucket, archive bucket and queue.

    The shipper takes credentials from the normal boto3 chain; both servers accept any.
    test_fdr_e2e.py overrides it with a shorter visibility timeout.
    """
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return Env.create(s3_endpoint, sqs_endpoint)
