"""`shippers normalize`: raw Falcon FDR / PAN-OS lines → one ECS document per line on stdout.

Input order is kept. Each document carries `log.offset` (byte offset of its line in the
decompressed input), `log.file.path` when read from a file, and its deterministic id under
`_id` (the key the Elasticsearch sink turns into the bulk `_id`). Unparseable lines go to
the dead-letter file (or stderr) with offset, reason and original text; a summary line on
stderr counts them. Exit 0 unless usage or I/O fails.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import orjson


def register(sub: Any) -> None:
    p = sub.add_parser(
        "normalize",
        help="normalize Falcon FDR / PAN-OS lines to ECS NDJSON on stdout",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--format", required=True, choices=["falcon-fdr", "falcon", "panos"])
    p.add_argument("--tz", default="UTC", help="time zone of PAN-OS timestamps (IANA or ±HH:MM)")
    p.add_argument(
        "--keep-original", action="store_true", help="keep the raw line in event.original"
    )
    p.add_argument(
        "--dead-letter", metavar="FILE", help="dead-letter NDJSON file (default: stderr)"
    )
    p.add_argument(
        "files", nargs="*", default=["-"], metavar="FILE", help="plain or .gz; '-' = stdin"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..lines import iter_lines, open_path
    from ..normalizers import get_normalizer
    from ..pipeline import normalize_one
    from ..plugin import NormalizerOptions
    from ..record import ID_FIELD, DeadLetter, Provenance
    from ..sinks.dead_letter import DeadLetterSink

    try:
        normalizer = get_normalizer(
            args.format, NormalizerOptions(tz=args.tz, keep_original=args.keep_original)
        )
    except ValueError as e:  # bad --tz
        raise ConfigError("--tz", str(e), args.tz) from None
    dead = DeadLetterSink(args.dead_letter) if args.dead_letter else DeadLetterSink()
    out = sys.stdout.buffer
    dumps = orjson.dumps
    read = normalized = dead_lettered = 0
    status = 0
    source = "normalize"
    try:
        for path in args.files:
            try:
                stream = open_path(path)
            except OSError as e:
                print(f"shippers normalize: cannot open {path}: {e.strerror}", file=sys.stderr)
                status = 1
                continue
            location = "-" if path == "-" else str(path)
            with stream:
                buf: list[bytes] = []
                for offset, line in iter_lines(stream):
                    read += 1
                    prov = Provenance(source, location if location != "-" else "", offset)
                    result = normalize_one(normalizer, line, prov)
                    if isinstance(result, DeadLetter):
                        dead.write(result)
                        dead_lettered += 1
                        continue
                    buf.append(dumps({ID_FIELD: result.doc_id, **result.doc}))
                    normalized += 1
                    if len(buf) >= 512:
                        out.write(b"\n".join(buf) + b"\n")
                        buf.clear()
                if buf:
                    out.write(b"\n".join(buf) + b"\n")
        out.flush()
    finally:
        dead.close()
        print(
            orjson.dumps(
                {"read": read, "normalized": normalized, "dead_lettered": dead_lettered}
            ).decode(),
            file=sys.stderr,
        )
    return status
