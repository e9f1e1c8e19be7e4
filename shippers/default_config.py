"""The embedded default configuration: what `shippers run` does without `--config`.

Everything local, nothing to set up:

    $SHIPPERS_HOME (default ~/.shippers)
    ├── inbox/               drop Falcon FDR / PAN-OS files here (`shippers demo` fills it)
    │   ├── .done/           files whose every line is archived (or dead-lettered)
    │   └── .failed/         files that are neither format
    ├── archive/             raw/ and normalized/ — the same layout as the S3 archive
    ├── state/
    └── dead-letter.ndjson   lines that could not be normalized, with reason and bytes

Environment:
- `SHIPPERS_HOME`  — the directory above.
- `SHIPPERS_ES_URL` — when set (e.g. `http://127.0.0.1:9200`), documents are also indexed
  into Elasticsearch (`shippers-falcon-*`, `shippers-panos-*`); unset, no cluster is
  needed and nothing is sent anywhere.
- `SHIPPERS_TZ` — time zone of PAN-OS timestamps (they carry none); default UTC.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["default_config", "shippers_home"]


def shippers_home() -> Path:
    """`$SHIPPERS_HOME`, default `~/.shippers`."""
    return Path(os.environ.get("SHIPPERS_HOME") or "~/.shippers").expanduser()


def default_config() -> dict[str, Any]:
    """The config dict (same shape as a parsed TOML file) of the local default run."""
    home = shippers_home()
    archive = str(home / "archive")
    sinks: list[dict[str, Any]] = [{"type": "archive", "url": archive}]
    es_url = os.environ.get("SHIPPERS_ES_URL", "").strip()
    if es_url:
        sinks.append({"type": "elasticsearch", "hosts": [es_url]})
    return {
        "state_dir": str(home / "state"),
        "dead_letter": {"path": str(home / "dead-letter.ndjson")},
        "normalize": {"tz": os.environ.get("SHIPPERS_TZ", "UTC")},
        "sources": [{"type": "inbox", "path": str(home / "inbox"), "archive": archive}],
        "sinks": sinks,
    }
