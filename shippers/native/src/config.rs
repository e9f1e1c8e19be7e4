//! The tables and Python helpers handed over by `configure` (see falcon_native.py).
//!
//! The Python modules stay the single source of truth for the data; here they are converted
//! once into byte-keyed Rust maps (looked up with the record's raw value bytes, which equal
//! Python str equality for valid UTF-8), keeping the Python value objects so documents carry
//! the very same (immutable) str objects Python would put there.

use std::collections::{HashMap, HashSet};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::hash::FxBuild;

pub type Bytes = Box<[u8]>;
pub type Table = HashMap<Bytes, PyObject, FxBuild>;

/// One CATEGORIZATION row: (kind, categories, types, outcome).
pub struct Cat {
    pub kind: PyObject,
    pub categories: Vec<PyObject>,
    pub types: Vec<PyObject>,
    pub outcome: PyObject,
}

/// One (record key, algorithm) pair of `_HASH_KEYS`.
pub struct HashKey {
    pub key: Bytes,
    pub key_obj: Py<PyString>,
    pub algo: Py<PyString>,
}

pub struct Config {
    /// Bumped by every `configure`: caches derived from an older configuration are dropped.
    pub generation: u64,
    pub consumed: HashSet<Bytes, FxBuild>,
    pub time_keys: Vec<Bytes>,
    pub hash_keys: Vec<HashKey>,
    pub process_keys: HashSet<Bytes, FxBuild>,
    pub user_keys: HashSet<Bytes, FxBuild>,
    pub network_keys: HashSet<Bytes, FxBuild>,
    pub file_keys: HashSet<Bytes, FxBuild>,
    pub fdr_markers: Vec<Bytes>,
    pub observer: Vec<(PyObject, PyObject)>,
    pub categorization: HashMap<Bytes, Cat, FxBuild>,
    // The `.get(...)` tables below keep only truthy values: the mapping only ever tests the
    // result for truth, so a falsy value behaves exactly like a missing one.
    pub dns_types: Table,
    pub iana_transport: Table,
    pub integrity_levels: Table,
    pub platform_os: Table,
    pub reg_value_types: Table,
    pub reg_operation_action: Table,
    pub module_load_events: HashSet<Bytes, FxBuild>,
    /// Keys whose values must be strings for the compiled mapping to take the line: Python's
    /// `mapped_keys` (every key the mapping reads), and, in case that set ever misses one,
    /// every key the Rust side reads by name (see `plan::read_keys`). A non-string value in
    /// one of them declines the line; in any other key it is a vendor field (`vendor_json`).
    pub strict: HashSet<Bytes, FxBuild>,
    pub valid_ip: PyObject,
    pub time_pair: PyObject,
    pub args: PyObject,
    pub to_int: PyObject,
    /// `vendor_json(key, raw)`: a non-string vendor value as crowdstrike.* holds it.
    pub vendor_json: PyObject,
}

fn item<'py>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)?
        .ok_or_else(|| PyValueError::new_err(format!("configure: missing key {key:?}")))
}

fn text(o: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    Ok(o.downcast::<PyString>()?.to_str()?.as_bytes().into())
}

fn str_set(o: &Bound<'_, PyAny>) -> PyResult<HashSet<Bytes, FxBuild>> {
    o.try_iter()?.map(|k| text(&k?)).collect()
}

fn str_list(o: &Bound<'_, PyAny>) -> PyResult<Vec<Bytes>> {
    o.try_iter()?.map(|k| text(&k?)).collect()
}

fn objects(o: &Bound<'_, PyAny>) -> PyResult<Vec<PyObject>> {
    o.try_iter()?.map(|k| Ok(k?.unbind())).collect()
}

/// A str → value dict, truthy values only (non-str keys can never match a record value).
fn table(o: &Bound<'_, PyAny>) -> PyResult<Table> {
    let d = o.downcast::<PyDict>()?;
    let mut out = Table::default();
    for (k, v) in d.iter() {
        if let Ok(k) = k.downcast::<PyString>() {
            if v.is_truthy()? {
                out.insert(k.to_str()?.as_bytes().into(), v.unbind());
            }
        }
    }
    Ok(out)
}

impl Config {
    pub fn from_dict(d: &Bound<'_, PyDict>, generation: u64) -> PyResult<Config> {
        let py = d.py();
        let mut hash_keys = Vec::new();
        for pair in item(d, "hash_keys")?.try_iter()? {
            let (k, a): (Bound<PyString>, Bound<PyString>) = pair?.extract()?;
            hash_keys.push(HashKey {
                key: k.to_str()?.as_bytes().into(),
                key_obj: k.unbind(),
                algo: a.unbind(),
            });
        }
        // The mapping keeps the found hashes as an {algo: value} dict; with distinct algos
        // and keys (as in `_HASH_KEYS`) a plain list in table order is the same thing.
        for (i, a) in hash_keys.iter().enumerate() {
            for b in &hash_keys[..i] {
                if a.key == b.key || a.algo.bind(py).to_str()? == b.algo.bind(py).to_str()? {
                    return Err(PyValueError::new_err("configure: hash_keys not distinct"));
                }
            }
        }
        let observer = item(d, "observer")?
            .downcast::<PyDict>()?
            .iter()
            .map(|(k, v)| (k.unbind(), v.unbind()))
            .collect();
        let mut categorization = HashMap::default();
        for (k, v) in item(d, "categorization")?.downcast::<PyDict>()?.iter() {
            let Ok(k) = k.downcast::<PyString>() else {
                continue;
            };
            let (kind, cats, types, outcome): (
                Bound<PyAny>,
                Bound<PyAny>,
                Bound<PyAny>,
                Bound<PyAny>,
            ) = v.extract()?;
            categorization.insert(
                k.to_str()?.as_bytes().into(),
                Cat {
                    kind: kind.unbind(),
                    categories: objects(&cats)?,
                    types: objects(&types)?,
                    outcome: outcome.unbind(),
                },
            );
        }
        let consumed = str_set(&item(d, "consumed")?)?;
        let time_keys = str_list(&item(d, "time_keys")?)?;
        let mut strict = str_set(&item(d, "mapped_keys")?)?;
        strict.extend(consumed.iter().cloned());
        strict.extend(time_keys.iter().cloned());
        strict.extend(hash_keys.iter().map(|h| h.key.clone()));
        strict.extend(crate::plan::read_keys().map(|k| Bytes::from(k.as_bytes())));
        Ok(Config {
            generation,
            consumed,
            time_keys,
            strict,
            hash_keys,
            process_keys: str_set(&item(d, "process_keys")?)?,
            user_keys: str_set(&item(d, "user_keys")?)?,
            network_keys: str_set(&item(d, "network_keys")?)?,
            file_keys: str_set(&item(d, "file_keys")?)?,
            fdr_markers: str_list(&item(d, "fdr_markers")?)?,
            observer,
            categorization,
            dns_types: table(&item(d, "dns_types")?)?,
            iana_transport: table(&item(d, "iana_transport")?)?,
            integrity_levels: table(&item(d, "integrity_levels")?)?,
            platform_os: table(&item(d, "platform_os")?)?,
            reg_value_types: table(&item(d, "reg_value_types")?)?,
            reg_operation_action: table(&item(d, "reg_operation_action")?)?,
            module_load_events: str_set(&item(d, "module_load_events")?)?,
            valid_ip: item(d, "valid_ip")?.unbind(),
            time_pair: item(d, "time_pair")?.unbind(),
            args: item(d, "args")?.unbind(),
            to_int: item(d, "to_int")?.unbind(),
            vendor_json: item(d, "vendor_json")?.unbind(),
        })
    }
}
