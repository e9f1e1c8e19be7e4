"""`shippers setup` and `shippers retention` against a real Elasticsearch node."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from shippers.cli import main
from shippers.es_client import ElasticsearchOptions, make_client
from shippers.es_setup import detect_features
from shippers.templates import render_templates
from tests.integration.elasticsearch_support import indices, make_records, make_sink

pytestmark = pytest.mark.elasticsearch


def test_setup_is_idempotent_and_detects_the_cluster(es_url, es_prefix, capsys):
    for _ in range(2):
        assert main(["setup", "--es", es_url, "--index-prefix", es_prefix]) == 0
    out = capsys.readouterr().out
    feats = detect_features(make_client(ElasticsearchOptions(hosts=[es_url])))
    # The no-X-Pack distribution: no ILM, no data streams — detected, not assumed.
    assert out.count(f"ILM: {'yes' if feats.ilm else 'no'}") == 2
    got = requests.get(f"{es_url}/_index_template/{es_prefix}-falcon", timeout=10).json()
    tpl = got["index_templates"][0]["index_template"]
    expected = render_templates(es_prefix)[f"index_template.{es_prefix}-falcon.json"]
    assert tpl["index_patterns"] == expected["index_patterns"]
    assert tpl["composed_of"] == expected["composed_of"]
    ilm_comp = requests.get(f"{es_url}/_component_template/{es_prefix}-ilm", timeout=10)
    assert (ilm_comp.status_code == 200) == feats.ilm


def test_documents_get_the_generated_mapping(es_url, es_prefix, tmp_path):
    t = make_sink(es_url, es_prefix, tmp_path)
    try:
        t.sink.write(make_records(5, "falcon") + make_records(5, "panos"))
        t.sink.flush()
    finally:
        t.close()
    assert t.letters() == []
    (falcon_index,) = [i for i in indices(es_url, es_prefix) if "-falcon-" in i]
    m = requests.get(f"{es_url}/{falcon_index}/_mapping", timeout=10).json()
    props = m[falcon_index]["mappings"]["properties"]
    assert props["source"]["properties"]["ip"]["type"] == "ip"
    assert props["@timestamp"]["type"] == "date"
    assert props["process"]["properties"]["pid"]["type"] == "long"
    # Vendor values are keyword even when they look like numbers; labels too (bool value).
    cs = props["crowdstrike"]["properties"]
    assert cs["TargetProcessId"]["type"] == "keyword"
    assert props["labels"]["properties"]["replayed"]["type"] == "keyword"
    aliases = requests.get(f"{es_url}/{falcon_index}/_alias", timeout=10).json()
    assert set(aliases[falcon_index]["aliases"]) == {f"{es_prefix}-falcon", f"{es_prefix}-all"}


def test_retention_deletes_exactly_the_older_dated_indices(es_url, es_prefix, capsys):
    assert main(["setup", "--es", es_url, "--index-prefix", es_prefix]) == 0
    today = datetime.now(UTC).date()
    ages = {"falcon": [40, 20, 16, 10, 0], "panos": [30, 15, 3, 1]}
    names = {
        f"{es_prefix}-{src}-{today - timedelta(days=a):%Y.%m.%d}": a
        for src, days in ages.items()
        for a in days
    }
    untouchable = [f"{es_prefix}-falcon-keep", f"{es_prefix}x-panos-2001.01.01"]
    for name in [*names, *untouchable]:
        r = requests.put(f"{es_url}/{name}", timeout=60)
        assert r.status_code == 200, r.text
    days = 14
    # An index of day D ends at D+1; it goes when that is before now - 14 days.
    older = {n for n, age in names.items() if age > days}
    assert older and older != set(names)

    assert main(["retention", "--es", es_url, "--index-prefix", es_prefix,
                 "--days", str(days), "--dry-run"]) == 0  # fmt: skip
    listed = {line.split()[-1] for line in capsys.readouterr().out.splitlines()
              if line.startswith("would delete ") and "indices" not in line}  # fmt: skip
    assert listed == older
    assert set(indices(es_url, es_prefix)) >= set(names)  # dry run deleted nothing

    assert main(["retention", "--es", es_url, "--index-prefix", es_prefix,
                 "--days", str(days)]) == 0  # fmt: skip
    remaining = set(indices(es_url, es_prefix))
    assert remaining == (set(names) - older) | {f"{es_prefix}-falcon-keep"}
    r = requests.get(f"{es_url}/{es_prefix}x-panos-2001.01.01", timeout=10)
    assert r.status_code == 200
    requests.delete(f"{es_url}/{es_prefix}x-panos-2001.01.01", timeout=30)


def test_sink_applies_retention_on_a_cluster_without_ilm(es_url, es_prefix, tmp_path):
    t = make_sink(es_url, es_prefix, tmp_path, retention_days=7)
    old = datetime.now(UTC) - timedelta(days=30)
    new = datetime.now(UTC) - timedelta(days=1)
    try:
        t.sink.write(make_records(3, "panos", start=old) + make_records(3, "panos", start=new))
        t.sink.flush()
        assert len(indices(es_url, es_prefix)) == 2
        deleted = t.sink.apply_retention()
    finally:
        t.close()
    assert deleted == [f"{es_prefix}-panos-{old:%Y.%m.%d}"]
    assert indices(es_url, es_prefix) == [f"{es_prefix}-panos-{new:%Y.%m.%d}"]
