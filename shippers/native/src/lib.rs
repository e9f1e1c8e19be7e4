//! `shippers._fdr_native`: the FDR mapping of falcon_plan.py (`_mapped`), compiled.
//!
//! `normalize_fdr(line)` returns the same `(document, doc id)` as the Python path, or None to
//! leave the line to Python. It handles one flat JSON object with a usable time whose keys
//! the mapping reads hold strings (other keys may hold any JSON value: those go to
//! crowdstrike.* through Python's `vendor_json`), and declines everything else — detection
//! records, duplicate keys, non-string values in mapped keys (see json.rs and plan.rs). An
//! error raised by a Python helper (e.g. orjson rejecting a value) is returned as such: the
//! caller then takes the Python path, which reports the line. The tables and a few helpers whose exact Python semantics
//! matter (IP validation, rare time formats, command-line splitting, Python's int()) come
//! from Python through `configure`, so the data has one source of truth.
//!
//! Modules: json (the flat-object parser), time (epoch values), config (the configured
//! tables), plan (per-layout decisions), mapping (the document), state (globals), py and
//! hash (helpers).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

mod config;
mod hash;
mod json;
mod mapping;
mod plan;
mod py;
mod state;
mod time;

use json::Record;
use mapping::Ctx;

/// Installs the tables and helpers (see falcon_native.py); may be called again to replace
/// them (caches built from the old ones are dropped).
#[pyfunction]
fn configure(tables: &Bound<'_, PyDict>) -> PyResult<()> {
    let cfg = config::Config::from_dict(tables, state::next_generation())?;
    // Dropped here, outside the lock.
    let _old = state::set_config(cfg);
    Ok(())
}

/// `content_id(line)`: blake2b(line + b"\x1f", digest_size=16), hex.
fn doc_id<'py>(py: Python<'py>, line: &[u8]) -> PyResult<Bound<'py, PyString>> {
    // blake2b_simd picks its AVX2/SSE4.1 code at run time (about twice the portable speed;
    // hashing the line is a noticeable share of the per-event cost).
    let digest = blake2b_simd::Params::new()
        .hash_length(16)
        .to_state()
        .update(line)
        .update(b"\x1f")
        .finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, b) in digest.as_bytes().iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
    py::new_str(py, &out, true)
}

type Doc<'py> = (Bound<'py, PyDict>, Bound<'py, PyString>);

/// One FDR line → (ECS document, doc id), or None: the Python path decides.
#[pyfunction]
fn normalize_fdr<'py>(py: Python<'py>, line: &[u8]) -> PyResult<Option<Doc<'py>>> {
    let Some(cfg) = state::config() else {
        return Ok(None);
    };
    state::with_caches(&cfg, |c| -> PyResult<Option<Doc<'py>>> {
        let state::Caches {
            plans,
            ips,
            horizon,
            fields,
            scratch,
            ..
        } = c;
        let Some(has_raw) = json::parse(line, fields, scratch) else {
            return Ok(None);
        };
        let rec = Record {
            line,
            scratch,
            fields,
        };
        // `o.get("event_simpleName") or ""` (a duplicate key declines in the plan; a
        // non-string name declines here, before its raw text could name a plan).
        let name_at = (0..rec.fields.len()).find(|&i| rec.key(i) == b"event_simpleName");
        if name_at.is_some_and(|i| rec.fields[i].raw) {
            return Ok(None);
        }
        let name = name_at.map_or(&b""[..], |i| rec.val(i));
        let plan = plans.get(py, &cfg, &rec, name);
        if plan.decline {
            return Ok(None);
        }
        // A non-string value where the mapping reads a string: Python's general path decides
        // (it may map it differently or reject the event). Checked before any value is read.
        if has_raw && (0..rec.fields.len()).any(|i| rec.fields[i].raw && plan.strict[i]) {
            return Ok(None);
        }
        let mut cx = Ctx {
            py,
            cfg: &cfg,
            plan,
            rec: &rec,
            strs: vec![None; rec.fields.len()],
            ips,
            horizon,
        };
        // The first time key that yields a time; none: Python stamps the receive time.
        let mut tp = None;
        for &pos in &plan.time_pos {
            let pos = pos as usize;
            if !rec.val(pos).is_empty() {
                tp = cx.time(pos)?;
                if tp.is_some() {
                    break;
                }
            }
        }
        let Some(tp) = tp else {
            return Ok(None);
        };
        let id = doc_id(py, line)?;
        mapping::build(&mut cx, tp, id).map(Some)
    })
    .unwrap_or(Ok(None))
}

#[pymodule]
fn _fdr_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(configure, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_fdr, m)?)?;
    Ok(())
}
