"""Structured logs: one JSON object per line, level option, secrets redacted everywhere."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest

from shippers import metrics
from shippers.errors import ConfigError
from shippers.logging_setup import MASK, configure_logging, redact


@pytest.fixture
def logs():
    """Configure logging into a buffer; yields a function returning the parsed lines."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buf = io.StringIO()
    configure_logging("DEBUG", stream=buf)

    def lines() -> list[dict]:
        return [json.loads(line) for line in buf.getvalue().splitlines()]

    yield lines
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("password=hunter2 user=bob", "hunter2", "user=bob"),
        ("connect https://elastic:s3cr3t@es.local:9200/_bulk", "s3cr3t", "elastic:"),
        ("{'api_key': 'abc123', 'user': 'x'}", "abc123", "'user': 'x'"),
        ('{"client_secret": "zz9", "client_id": "cid"}', "zz9", '"client_id": "cid"'),
        ("Authorization: Bearer eyJhbGciOi.x.y", "eyJhbGciOi", "Bearer"),
        ("headers={'Authorization': 'Basic dXNlcjpwYXNz'}", "dXNlcjpwYXNz", "headers="),
        ("token: abc; next", "abc", "next"),
        ('es_password="with space"', "with space", "es_password="),
        ("aws_secret_access_key=AKIA/x+y region=eu", "AKIA/x+y", "region=eu"),
        ("X-Api-Key: k-123 host=a", "k-123", "host=a"),
    ],
)
def test_redact_masks_secret_values_and_keeps_the_rest(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out
    assert MASK in out
    assert kept in out


def test_redact_leaves_ordinary_text_alone() -> None:
    for text in ("tokens=5 max_tokens=3", "shipped 500 events to https://es:9200/_bulk"):
        assert redact(text) == text


def test_one_json_object_per_line_with_level_logger_and_extras(logs) -> None:
    log = logging.getLogger("shippers.test.logs")
    log.info("shipped %d events\nsecond line", 5, extra={"sink": "ndjson", "count": 5})
    log.debug("debug is on")
    (first, second) = logs()
    assert first["level"] == "INFO" and first["logger"] == "shippers.test.logs"
    assert first["msg"] == "shipped 5 events\nsecond line"  # a newline stays inside the event
    assert first["sink"] == "ndjson" and first["count"] == 5
    assert first["ts"].endswith("+00:00")
    assert second["msg"] == "debug is on"


def test_secrets_are_redacted_in_message_args_extras_and_tracebacks(logs) -> None:
    log = logging.getLogger("shippers.test.secrets")
    log.warning(
        "config %s",
        {"password": "p4ss", "hosts": ["https://u:pw9@es:9200"]},
        extra={"api_key": "k3y", "options": {"client_secret": "cs1", "region": "eu"}},
    )
    try:
        raise RuntimeError("login failed with token=t0ken")
    except RuntimeError:
        log.exception("request failed Authorization: ApiKey QUJD")
    raw = "\n".join(json.dumps(x) for x in logs())
    for secret in ("p4ss", "pw9", "k3y", "cs1", "t0ken", "QUJD"):
        assert secret not in raw, secret
    warning, error = logs()
    assert warning["api_key"] == MASK
    assert warning["options"] == {"client_secret": MASK, "region": "eu"}
    assert "https://u:***@es:9200" in warning["msg"]
    assert "RuntimeError" in error["exc_info"] and "token=***" in error["exc_info"]


def test_library_loggers_are_redacted_too(logs) -> None:
    # e.g. urllib3 / elastic_transport logging a URL with credentials
    logging.getLogger("elastic_transport.transport").warning(
        "GET https://elastic:changeme@127.0.0.1:9200/ [status:401]"
    )
    (line,) = logs()
    assert "changeme" not in line["msg"] and "elastic:***@" in line["msg"]


def test_level_option_filters_and_is_validated() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        buf = io.StringIO()
        configure_logging("warning", stream=buf)
        logging.getLogger("shippers.test.level").info("hidden")
        logging.getLogger("shippers.test.level").error("shown")
        assert [json.loads(x)["msg"] for x in buf.getvalue().splitlines()] == ["shown"]
        with pytest.raises(ConfigError) as e:
            configure_logging("LOUD")
        assert e.value.path == "metrics.log_level"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_log_events_are_counted_by_level(logs) -> None:
    before = metrics.value("shippers_log_messages_total", {"level": "error"})
    logging.getLogger("shippers.test.count").error("one")
    logging.getLogger("shippers.test.count").error("two")
    assert metrics.value("shippers_log_messages_total", {"level": "error"}) == before + 2


def test_run_logs_json_lines_on_stderr(tmp_path) -> None:
    """The real command: `shippers run` writes only JSON lines to stderr, redacted."""
    src = tmp_path / "in.log"
    src.write_bytes(b'{"event_simpleName":"x"}\n')
    missing = tmp_path / "missing" / "password=s3cr3t.log"  # logged as an error
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[metrics]\nlog_level = "DEBUG"\n[dead_letter]\npath = "{tmp_path / "dl.ndjson"}"\n'
        f'[[sources]]\ntype = "files"\npaths = ["{src}", "{missing}"]\nformat = "falcon"\n'
        f'[[sinks]]\ntype = "ndjson"\npath = "{tmp_path / "out.ndjson"}"\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "shippers", "run", "--once", "--config", str(cfg)],
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stderr.decode().splitlines()
    assert lines
    assert "s3cr3t" not in proc.stderr.decode()
    assert any(
        json.loads(x)["level"] == "ERROR" and "password=***" in json.loads(x)["msg"] for x in lines
    )
    for line in lines:
        event = json.loads(line)  # every line is one JSON event
        assert {"ts", "level", "logger", "msg"} <= event.keys()
