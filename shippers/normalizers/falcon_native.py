"""The optional compiled FDR mapping (`shippers._fdr_native`, Rust, shippers/native/).

The Python mapping is the reference (`_mapped` in falcon_plan.py for all-string records,
`normalize_fdr` in falcon.py otherwise); the compiled module builds the same documents for
what FDR writes — one flat JSON object, strings in every key the mapping reads, any JSON in
the vendor keys it only carries into crowdstrike.* (those values are parsed by orjson through
`vendor_json`) — and declines (returns None) for anything else, which then takes the Python
path: a non-string value in a mapped key, duplicate keys, escapes or text it does not handle
exactly like orjson, nesting deeper than 128, detection records, records without a usable
time. `tests/unit/test_falcon_native.py` asserts identical documents.

The tables and the few helpers whose exact Python semantics matter (IP validation, the
rarer time formats, command-line splitting) are handed over from Python at load time, so
there is one source of truth for the data. Set SHIPPERS_FDR_NATIVE=0 to force Python.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

__all__ = ["NATIVE_ENV", "load_native"]

NATIVE_ENV = "SHIPPERS_FDR_NATIVE"

NativeFn = Callable[[bytes], "tuple[dict[str, Any], str] | None"]


def load_native() -> NativeFn | None:
    """normalize_fdr(line) of the compiled module, configured; None when absent or disabled."""
    if os.environ.get(NATIVE_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        from .. import _fdr_native  # type: ignore[attr-defined]
    except ImportError:
        return None
    # Only modules falcon.py has fully loaded by the time it calls this (no falcon_plan).
    from . import falcon, falcon_events, falcon_time

    try:
        _configure(_fdr_native, falcon, falcon_events, falcon_time)
    except Exception as e:
        # A module built from other sources (a stale build in a checkout) may not accept
        # today's tables: run on the Python mapping rather than not at all.
        logging.getLogger(__name__).warning(
            "compiled FDR mapping not used (%s: %s); rebuild with `pip install -e .`",
            type(e).__name__,
            e,
        )
        return None
    fn: NativeFn = _fdr_native.normalize_fdr
    return fn


def _configure(native: Any, falcon: Any, falcon_events: Any, falcon_time: Any) -> None:
    native.configure(
        {
            "consumed": falcon._CONSUMED,
            "time_keys": falcon._TIME_KEYS,
            "hash_keys": falcon._HASH_KEYS,
            "process_keys": falcon._PROCESS_KEYS,
            "user_keys": falcon._USER_KEYS,
            "network_keys": falcon._NETWORK_KEYS,
            "file_keys": falcon._FILE_KEYS,
            "fdr_markers": falcon._FDR_MARKERS,
            "observer": falcon.OBSERVER,
            "categorization": falcon_events.CATEGORIZATION,
            "dns_types": falcon_events.DNS_TYPES,
            "iana_transport": falcon_events.IANA_TRANSPORT,
            "integrity_levels": falcon_events.INTEGRITY_LEVELS,
            "module_load_events": falcon_events.MODULE_LOAD_EVENTS,
            "platform_os": falcon_events.PLATFORM_OS,
            "reg_value_types": falcon_events.REG_VALUE_TYPES,
            "reg_operation_action": falcon_events.REG_OPERATION_ACTION,
            # Keys the mapping reads (consumed or shared): their values must be strings.
            "mapped_keys": falcon._MAPPED,
            # Python helpers, called on what the compiled code does not decide itself.
            "valid_ip": falcon.valid_ip,
            "time_pair": falcon_time.time_pair,
            "args": falcon.command_line_args,
            "to_int": falcon.to_int,
            "vendor_json": falcon.vendor_json_value,
        }
    )
