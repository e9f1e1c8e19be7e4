"""`shippers kibana-import` against a local HTTP server that checks the request the way
Kibana's saved objects import API documents it:

    POST <kibana>[/s/<space_id>]/api/saved_objects/_import?overwrite=true
    kbn-xsrf: <any value>             (required; Kibana answers 400 without it)
    Content-Type: multipart/form-data (one part named `file`, an .ndjson file)

The server answers like Kibana: `{"success", "successCount", "successResults", "errors"}`,
reporting a `missing_references` error for a reference to an object that is neither in
the upload nor already stored — so a dangling reference fails here as it would there.
"""

from __future__ import annotations

import base64
import json
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from shippers.cli import main
from shippers.kibana import KibanaImportError, import_saved_objects, load_saved_objects


class FakeKibana:
    """Records each import request; validates it like Kibana; stores the objects."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.stored: dict[tuple[str, str], dict] = {}
        self.force_status: int | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, payload = fake.handle(self.path, dict(self.headers), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
        headers = {k.lower(): v for k, v in headers.items()}
        url = urlsplit(path)
        query = parse_qs(url.query)
        record = {"path": url.path, "query": query, "headers": headers}
        self.requests.append(record)
        if self.force_status:
            return self.force_status, {"statusCode": self.force_status, "message": "forced"}
        if not url.path.endswith("/api/saved_objects/_import"):
            return 404, {"statusCode": 404, "message": "Not Found"}
        parts = url.path.split("/")
        record["space"] = parts[2] if url.path.startswith("/s/") else "default"
        if "kbn-xsrf" not in headers:
            return 400, {"statusCode": 400, "message": "Request must contain a kbn-xsrf header."}
        if query.get("overwrite") != ["true"]:
            return 400, {"statusCode": 400, "message": "expected overwrite=true"}
        ctype = headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data") or "boundary=" not in ctype:
            return 415, {"statusCode": 415, "message": "Unsupported Media Type"}
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
        )
        files = [
            p
            for p in msg.iter_parts()
            if p.get_param("name", header="content-disposition") == "file"
        ]
        others = [p for p in msg.iter_parts() if p not in files]
        if len(files) != 1 or others:
            return 400, {"statusCode": 400, "message": "[request body.file]: expected one file"}
        filename = files[0].get_filename() or ""
        if not filename.endswith(".ndjson"):
            return 415, {"statusCode": 415, "message": f"Unsupported file extension {filename}"}
        record["filename"] = filename
        objects = []
        for line in files[0].get_payload(decode=True).decode().splitlines():
            if line.strip():
                try:
                    objects.append(json.loads(line))
                except ValueError:
                    return 400, {"statusCode": 400, "message": "Unexpected token in JSON"}
        record["objects"] = objects
        incoming = {(o["type"], o["id"]) for o in objects}
        errors, results = [], []
        for o in objects:
            missing = [
                {"type": r["type"], "id": r["id"]}
                for r in o.get("references", [])
                if (r["type"], r["id"]) not in incoming and (r["type"], r["id"]) not in self.stored
            ]
            if missing:
                errors.append(
                    {
                        "type": o["type"],
                        "id": o["id"],
                        "title": o["attributes"].get("title"),
                        "error": {"type": "missing_references", "references": missing},
                    }
                )
            else:
                results.append(
                    {
                        "type": o["type"],
                        "id": o["id"],
                        "meta": {"title": o["attributes"].get("title")},
                    }
                )
        for o in objects:
            if not errors:
                self.stored[(o["type"], o["id"])] = o
        return 200, {
            "success": not errors,
            "successCount": len(results),
            "successResults": results,
            **({"errors": errors} if errors else {}),
        }


@pytest.fixture
def kibana():
    k = FakeKibana()
    yield k
    k.stop()


def test_cli_imports_every_saved_object_as_kibana_documents(kibana, capsys) -> None:
    expected = load_saved_objects()
    assert main(["kibana-import", "--kibana", kibana.url]) == 0
    (req,) = kibana.requests
    assert req["path"] == "/api/saved_objects/_import"
    assert req["query"] == {"overwrite": ["true"]}
    assert req["headers"]["kbn-xsrf"]
    assert "authorization" not in req["headers"]
    assert req["objects"] == expected
    assert set(kibana.stored) == {(o["type"], o["id"]) for o in expected}
    assert f"imported {len(expected)} saved objects" in capsys.readouterr().out


def test_import_is_idempotent_with_overwrite(kibana) -> None:
    first = import_saved_objects(kibana.url)
    second = import_saved_objects(kibana.url)
    assert first.success_count == second.success_count == len(load_saved_objects())


def test_space_and_api_key(kibana, monkeypatch) -> None:
    monkeypatch.setenv("KIBANA_API_KEY", "aWQ6a2V5")
    assert main(["kibana-import", "--kibana", kibana.url + "/", "--space", "soc"]) == 0
    (req,) = kibana.requests
    assert req["path"] == "/s/soc/api/saved_objects/_import"
    assert req["headers"]["authorization"] == "ApiKey aWQ6a2V5"


def test_basic_auth(kibana) -> None:
    code = main(["kibana-import", "--kibana", kibana.url, "--user", "elastic", "--password", "pw"])
    assert code == 0
    auth = kibana.requests[0]["headers"]["authorization"]
    assert auth.startswith("Basic ")
    assert base64.b64decode(auth.split()[1]) == b"elastic:pw"


def test_missing_reference_is_an_error(kibana) -> None:
    dashboards_only = [o for o in load_saved_objects() if o["type"] == "dashboard"]
    with pytest.raises(KibanaImportError, match="missing_references"):
        import_saved_objects(kibana.url, objects=dashboards_only)


def test_http_error_exits_1_with_kibana_message(kibana, capsys) -> None:
    kibana.force_status = 403
    assert main(["kibana-import", "--kibana", kibana.url]) == 1
    assert "HTTP 403" in capsys.readouterr().err


def test_unreachable_kibana_exits_1(capsys) -> None:
    from tests.services import free_port

    assert main(["kibana-import", "--kibana", f"http://127.0.0.1:{free_port()}"]) == 1
    assert "cannot reach" in capsys.readouterr().err


def test_setup_with_only_kibana_imports_the_saved_objects(kibana) -> None:
    # `shippers setup --kibana URL` (issue 6): the same import, without an ES connection
    assert main(["setup", "--kibana", kibana.url]) == 0
    (req,) = kibana.requests
    assert req["path"] == "/api/saved_objects/_import"
    assert req["objects"] == load_saved_objects()
