"""`shippers demo`: copy the bundled sample Falcon FDR and PAN-OS logs into the inbox.

The samples tell one small story: user jdoe on WKSTN-0142 opens a macro document, Word
starts PowerShell, which resolves telemetry.badcdn.example and connects to
203.0.113.50:443 — a connection the PAN-OS firewall logged as well. After
`shippers run --once`, `shippers hunt --ip 203.0.113.50` shows both sides.
"""

from __future__ import annotations

import argparse
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

# The address both samples share (endpoint connection + firewall session).
SHARED_IP = "203.0.113.50"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="copy sample Falcon + PAN-OS logs into the local inbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--inbox", metavar="DIR", help="inbox directory (default: $SHIPPERS_HOME/inbox)")
    p.set_defaults(func=run)


def demo_files() -> list[Any]:
    """The bundled sample files (importlib resources, so it works from a wheel too)."""
    root = resources.files("shippers") / "data" / "demo"
    return sorted((f for f in root.iterdir() if f.is_file()), key=lambda f: f.name)


def run(args: argparse.Namespace) -> int:
    from ..default_config import shippers_home

    home = shippers_home()
    inbox = Path(args.inbox).expanduser() if args.inbox else home / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for f in demo_files():
        with resources.as_file(f) as src:
            shutil.copyfile(src, inbox / f.name)
        print(f"copied {f.name} → {inbox / f.name}")
    print(
        f"""
Next:
  shippers run --once                  # normalize the inbox into {home / "archive"}
  shippers hunt --ip {SHARED_IP}      # endpoint + firewall view of one connection
  shippers hunt --domain badcdn.example --format json
  shippers hunt --user jdoe --since 2024-05-14T09:00:00Z --until 2024-05-14T10:00:00Z
  shippers hunt --ip {SHARED_IP} --print-athena-sql   # the same hunt for Athena

Set SHIPPERS_ES_URL=http://127.0.0.1:9200 before `run` to index into Elasticsearch too."""
    )
    return 0
