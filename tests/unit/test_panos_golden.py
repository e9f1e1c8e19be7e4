"""PAN-OS normalizer against Elastic's expected output (shared/corpus/elastic/panw-panos).

Documents are aligned by `event.original` (the exact input line). Expected documents
whose `event.original` is not a line of the sample (the config sample's expected file is
from another commit; the system expected file has three extra documents) are checked by
normalizing that `event.original` itself. Every line of every sample, with or without an
expected file, must be accounted for: a document that validates against the event schema,
or a ParseError with a reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shippers.errors import ParseError
from shippers.normalizers.panos import PanosNormalizer
from shippers.plugin import NormalizerOptions
from tests.golden import Diff, agreement, compare, load_allowed_differences, load_expected

ALLOWED = Path(__file__).resolve().parent.parent / "golden_differences_panos.tsv"
MIN_AGREEMENT = 0.95


def _samples(corpus: Path) -> list[Path]:
    logs = sorted((corpus / "panw-panos").glob("*.log"))
    assert logs, "no PAN-OS samples in the corpus"
    return logs


def _tz(log: Path) -> str:
    """The `_conf.tz_offset` Elastic's test used (`UTC`/`local` mean UTC)."""
    cfg = log.with_name(log.name + "-config.yml")
    m = re.search(r"tz_offset:\s*[\"']?([^\"'\s]+)", cfg.read_text()) if cfg.exists() else None
    tz = m.group(1) if m else "UTC"
    return "UTC" if tz.lower() in ("utc", "local") else tz


def _lines(log: Path) -> list[str]:
    return [ln for ln in log.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _golden_pairs(corpus: Path) -> list[tuple[str, str, dict]]:
    """(sample name, input line, expected document) for every expected document."""
    pairs = []
    for log in _samples(corpus):
        lines = set(_lines(log))
        for exp in load_expected(log):
            original = exp.get("event", {}).get("original")
            assert original, f"{log.name}: expected document without event.original"
            # In the sample → that line; otherwise (other commit) its own original.
            assert original in lines or log.name.endswith(
                ("config-sample.log", "system-sample.log")
            )
            pairs.append((log.name, original, exp))
    return pairs


def test_golden_agreement(corpus: Path) -> None:
    results = []
    per_file: dict[str, list[int]] = {}
    normalizers: dict[str, PanosNormalizer] = {}
    pairs = _golden_pairs(corpus)
    assert len(pairs) >= 30
    for index, (name, original, expected) in enumerate(pairs):
        log = corpus / "panw-panos" / name
        norm = normalizers.setdefault(name, PanosNormalizer(NormalizerOptions(tz=_tz(log))))
        doc, _ = norm.normalize(original.encode())
        pairs_n, diffs = compare(doc, expected, index)
        results.append((pairs_n, diffs))
        stats = per_file.setdefault(name, [0, 0])
        stats[0] += pairs_n
        stats[1] += len(diffs)
    total, agreed, diffs = agreement(results)
    share = agreed / total
    for name, (n, d) in sorted(per_file.items()):
        print(f"  {name}: {n - d}/{n}")
    print(f"PAN-OS golden agreement: {agreed}/{total} = {share:.2%}")
    allowed = load_allowed_differences(ALLOWED)
    unexplained: list[Diff] = [d for d in diffs if d.field not in allowed]
    assert not unexplained, "differences not listed in golden_differences_panos.tsv:\n" + "\n".join(
        f"  doc {d.doc_index} {pairs[d.doc_index][0]} {d.field}: "
        f"expected {d.expected!r}, got {d.actual!r}"
        for d in unexplained
    )
    assert share >= MIN_AGREEMENT, f"agreement {share:.2%} below {MIN_AGREEMENT:.0%}"


def test_allowed_differences_are_explained() -> None:
    allowed = load_allowed_differences(ALLOWED)
    for field, reason in allowed.items():
        assert reason, f"{field}: a listed difference needs a reason"


@pytest.mark.parametrize(
    "sample", ["config", "globalprotect", "system", "threat", "traffic", "userid"]
)
def test_every_line_accounted_for(corpus: Path, sample: str, event_schema_check) -> None:
    log = corpus / "panw-panos" / f"test-panw-panos-{sample}-sample.log"
    norm = PanosNormalizer(NormalizerOptions(tz=_tz(log)))
    lines = _lines(log)
    assert lines
    normalized = failed = 0
    for line in lines:
        try:
            doc, doc_id = norm.normalize(line.encode())
        except ParseError as e:
            assert e.reason, "a ParseError must carry a reason"
            failed += 1
            continue
        event_schema_check(doc)
        assert re.fullmatch(r"[0-9a-f]{32}", doc_id)
        assert doc["event"]["dataset"] == "panw.panos"
        assert doc["observer"]["vendor"] == "Palo Alto Networks"
        normalized += 1
    assert normalized + failed == len(lines)
    # The samples are all valid PAN-OS lines: none should be refused.
    assert failed == 0, f"{failed} of {len(lines)} {sample} lines refused"
