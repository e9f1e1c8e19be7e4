"""Golden test: our Falcon FDR documents against Elastic's expected ECS output."""

from __future__ import annotations

from pathlib import Path

import pytest

from shippers.normalizers.falcon import FalconNormalizer
from tests.golden import agreement, compare, load_allowed_differences, load_expected

ALLOWED = Path(__file__).resolve().parent.parent / "golden_differences_falcon.tsv"
MIN_AGREEMENT = 0.95


def _aligned_pairs(corpus: Path):
    """(our document, Elastic's document) for every expected doc, aligned by event.original."""
    normalizer = FalconNormalizer()
    pairs = []
    for log in sorted((corpus / "crowdstrike-fdr").glob("*.log")):
        expected = load_expected(log)
        if not expected:
            continue
        by_line = {line.decode(): line for line in log.read_bytes().splitlines()}
        for exp in expected:
            original = exp.get("event", {}).get("original")
            assert original in by_line, f"{log.name}: expected doc has no matching input line"
            doc, _ = normalizer.normalize(by_line[original])
            pairs.append((log.name, doc, exp))
    return pairs


def test_fdr_agreement_with_elastic(corpus: Path) -> None:
    pairs = _aligned_pairs(corpus)
    assert len(pairs) >= 60, "the FDR corpus should give dozens of aligned documents"
    results = [compare(doc, exp, i) for i, (_, doc, exp) in enumerate(pairs)]
    total, agreeing, diffs = agreement(results)
    share = agreeing / total
    print(
        f"\nFalcon FDR golden agreement: {agreeing}/{total} (document, field) pairs"
        f" = {share:.2%} over {len(pairs)} documents"
    )
    for d in diffs:
        print(
            f"  doc {d.doc_index} {pairs[d.doc_index][0]} {d.field}: {d.expected!r} vs {d.actual!r}"
        )
    assert share >= MIN_AGREEMENT

    allowed = load_allowed_differences(ALLOWED)
    unexplained = sorted({d.field for d in diffs} - set(allowed))
    assert not unexplained, f"differences not listed in {ALLOWED.name}: {unexplained}"


def test_allowed_differences_are_all_reasoned() -> None:
    allowed = load_allowed_differences(ALLOWED)
    assert allowed, "the differences file lists at least the known deliberate differences"
    for field, reason in allowed.items():
        assert reason, f"{field} has no reason"


@pytest.mark.parametrize("field", ["event.kind", "event.category", "event.type", "event.action"])
def test_categorization_fields_agree_everywhere(corpus: Path, field: str) -> None:
    """Dashboards filter on these: every expected value must be reproduced exactly."""
    for i, (_, doc, exp) in enumerate(_aligned_pairs(corpus)):
        _, diffs = compare(doc, exp, i)
        assert not [d for d in diffs if d.field == field], diffs
