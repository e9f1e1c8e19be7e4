"""Falcon API helpers: clouds, host trust, Retry-After, options validation, appId."""

from __future__ import annotations

import email.utils
import time

import pytest

from shippers.errors import ConfigError
from shippers.options import build_options
from shippers.sources.falcon_auth import (
    HostRejected,
    check_host,
    redact,
    registrable_domain,
    resolve_base_url,
    retry_after_seconds,
)
from shippers.sources.falcon_stream import FalconStreamOptions, default_app_id


@pytest.mark.parametrize(
    ("cloud", "url"),
    [
        ("us-1", "https://api.crowdstrike.com"),
        ("us-2", "https://api.us-2.crowdstrike.com"),
        ("eu-1", "https://api.eu-1.crowdstrike.com"),
        ("us-gov-1", "https://api.laggar.gcw.crowdstrike.com"),
    ],
)
def test_clouds(cloud, url):
    assert resolve_base_url(cloud) == url


def test_base_url_overrides_cloud_and_bad_values_name_the_key():
    assert resolve_base_url("us-1", "http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    with pytest.raises(ConfigError, match=r"sources\.cloud"):
        resolve_base_url("mars-1", "", "sources.cloud")
    with pytest.raises(ConfigError, match="base_url"):
        resolve_base_url("us-1", "ftp://x", "sources.cloud")


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("firehose.eu-1.crowdstrike.com", "crowdstrike.com"),
        ("api.laggar.gcw.crowdstrike.com", "crowdstrike.com"),
        ("api.us-gov-2.crowdstrike.mil", "crowdstrike.mil"),
        ("evil.example.co.uk", "example.co.uk"),
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
    ],
)
def test_registrable_domain(host, domain):
    assert registrable_domain(host) == domain


def test_check_host():
    api = "https://api.eu-1.crowdstrike.com"
    check_host("https://firehose.eu-1.crowdstrike.com/sensors/x/0?appId=a", api, [], "feed")
    check_host("http://127.0.0.1:9/x", "http://127.0.0.1:8", [], "feed")  # tests: same host
    with pytest.raises(HostRejected, match="allow_hosts"):
        check_host("https://firehose.attacker.com/x", api, [], "feed")
    with pytest.raises(HostRejected, match="downgrades"):
        check_host("http://firehose.crowdstrike.com/x", api, [], "feed")
    check_host("https://feed.proxy.example/x", api, ["feed.proxy.example"], "feed")
    check_host("https://a.proxy.example/x", api, [".proxy.example"], "feed")
    with pytest.raises(HostRejected):
        check_host("https://proxy.example.evil/x", api, [".proxy.example"], "feed")


def test_retry_after():
    assert retry_after_seconds("7", 60) == 7
    assert retry_after_seconds(None, 60) == 60
    assert retry_after_seconds("soon", 60) == 60
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_seconds(later, 60) <= 31


def test_redact():
    assert redact("token abcdef leaked", ["abcdef", ""]) == "token *** leaked"


def test_options_validation_and_secret_hidden():
    opts = build_options(
        FalconStreamOptions, {"client_id": "id", "client_secret": "hunter2-secret"}, "sources[0]"
    )
    assert "hunter2-secret" not in repr(opts)
    with pytest.raises(ConfigError, match=r"sources\[0\].client_secret"):
        build_options(FalconStreamOptions, {"client_id": "id"}, "sources[0]")
    with pytest.raises(ConfigError, match=r"sources\[0\].app_id"):
        build_options(
            FalconStreamOptions,
            {"client_id": "id", "client_secret": "s", "app_id": "has_underscore"},
            "sources[0]",
        )
    with pytest.raises(ConfigError, match="refresh_fraction"):
        build_options(
            FalconStreamOptions,
            {"client_id": "id", "client_secret": "s", "refresh_fraction": 1.5},
            "sources[0]",
        )


def test_secret_from_environment(monkeypatch):
    monkeypatch.setenv("FALCON_SECRET_FOR_TEST", "from-env")
    opts = build_options(
        FalconStreamOptions,
        {"client_id": "id", "client_secret_env": "FALCON_SECRET_FOR_TEST"},
        "s",
    )
    assert opts.secret() == "from-env"


def test_default_app_ids_are_valid_and_distinct():
    a, b = default_app_id(), default_app_id()
    assert a != b
    for x in (a, b):
        assert x.isalnum() and len(x) <= 32
