//! `shippers._fdr_native`: the FDR mapping of falcon_plan.py (`_mapped`), compiled.
//!
//! `normalize_fdr(line)` returns the same `(document, doc id)` as the Python fast path, or
//! None to leave the line to Python. It handles the common case only — one flat JSON object
//! of string values, with a usable time — and declines everything else (see json.rs and
//! plan.rs for the exact rules). The tables and a few helpers whose exact Python semantics
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
        if !json::parse(line, fields, scratch) {
            return Ok(None);
        }
        let rec = Record {
            line,
            scratch,
            fields,
        };
        // `o.get("event_simpleName") or ""` (a duplicate key declines in the plan).
        let name = (0..rec.fields.len())
            .find(|&i| rec.key(i) == b"event_simpleName")
            .map_or(&b""[..], |i| rec.val(i));
        let plan = plans.get(py, &cfg, &rec, name);
        if plan.decline {
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
