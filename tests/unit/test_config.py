"""Config loading: typed options, unknown keys rejected, errors name the key path + value."""

from __future__ import annotations

from pathlib import Path

import pytest

from shippers.config import config_schema, load_config, parse_config
from shippers.errors import ConfigError


def _files_source(**extra: object) -> dict:
    return {"type": "files", "paths": ["x.log"], "format": "panos", **extra}


def test_minimal_config_parses_with_defaults() -> None:
    cfg = parse_config({"sources": [_files_source()], "sinks": [{"type": "ndjson", "path": "o"}]})
    assert cfg.sources[0].type == "files"
    assert cfg.sources[0].options.paths == ["x.log"]
    assert cfg.sinks[0].options.path == "o"
    assert cfg.pipeline.queue_size == 16
    assert cfg.normalize.tz == "UTC"


def test_unknown_plugin_type_names_path_and_lists_known() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({"sources": [_files_source()], "sinks": [{"type": "elastic"}]})
    msg = str(e.value)
    assert "sinks[0].type" in msg and "'elastic'" in msg and "ndjson" in msg


def test_unknown_key_names_path_and_value() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({"sources": [_files_source(batch_line=5)]})
    assert e.value.path == "sources[0].batch_line"
    assert e.value.value == 5
    assert "batch_lines" in str(e.value)  # the known keys are listed: a typo is obvious


def test_wrong_type_names_path_and_value() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({"sources": [_files_source(batch_lines="many")]})
    assert e.value.path == "sources[0].batch_lines" and e.value.value == "many"


def test_literal_and_validate_errors() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({"sources": [{"type": "files", "paths": ["a"], "format": "csv"}]})
    assert e.value.path == "sources[0].format"
    with pytest.raises(ConfigError) as e:
        parse_config({"sources": [_files_source()], "pipeline": {"workers": 0}})
    assert e.value.path == "pipeline.workers" and e.value.value == 0


def test_missing_required_key_and_sections() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config({"sources": [{"type": "files", "format": "panos"}]})
    assert e.value.path == "sources[0].paths"
    with pytest.raises(ConfigError) as e:
        parse_config({})
    assert e.value.path == "sources"
    with pytest.raises(ConfigError) as e:
        parse_config({"sources": [_files_source()], "pipelines": {}})
    assert e.value.path == "pipelines"


def test_toml_syntax_error_names_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("[[sources]\ntype = 'files'\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(p) in str(e.value) and "line 1" in str(e.value)


def test_example_file_pipeline_config_loads() -> None:
    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "examples" / "files-to-ndjson.toml")
    assert [s.type for s in cfg.sources] == ["files", "files"]


def test_config_schema_has_a_branch_per_plugin() -> None:
    schema = config_schema()
    source_types = {
        b["properties"]["type"]["const"] for b in schema["properties"]["sources"]["items"]["oneOf"]
    }
    assert {"files"} <= source_types
    sink_types = {
        b["properties"]["type"]["const"] for b in schema["properties"]["sinks"]["items"]["oneOf"]
    }
    assert {"ndjson"} <= sink_types
