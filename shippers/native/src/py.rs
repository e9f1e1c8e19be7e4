//! Python object helpers for the hot path.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyo3::BoundObject;

/// A Python str from valid UTF-8 bytes. ASCII text (nearly every FDR value) is copied
/// straight into a new compact str, skipping the UTF-8 decoder.
#[inline]
pub fn new_str<'py>(py: Python<'py>, b: &[u8], ascii: bool) -> PyResult<Bound<'py, PyString>> {
    if ascii {
        debug_assert!(b.is_ascii());
        // SAFETY: PyUnicode_New(n, 127) returns a compact ASCII str with room for n bytes
        // (or NULL with an exception set); we fill exactly n ASCII bytes before anyone else
        // sees the object, as CPython's own ASCII constructors do.
        unsafe {
            let p = ffi::PyUnicode_New(b.len() as ffi::Py_ssize_t, 127);
            if p.is_null() {
                return Err(PyErr::fetch(py));
            }
            std::ptr::copy_nonoverlapping(b.as_ptr(), ffi::PyUnicode_DATA(p) as *mut u8, b.len());
            Ok(Bound::from_owned_ptr(py, p).downcast_into_unchecked())
        }
    } else {
        // The parser validated the whole line as UTF-8, and every slice we take is cut at
        // ASCII characters, so this never fails; fall back to the checked path regardless.
        match std::str::from_utf8(b) {
            Ok(s) => Ok(PyString::new(py, s)),
            Err(e) => Err(pyo3::exceptions::PyValueError::new_err(e.to_string())),
        }
    }
}

/// A new dict with room for `n` items: documents' larger dicts (crowdstrike.*, process,
/// the document itself) would otherwise be re-hashed two or three times while filling.
#[inline]
pub fn dict_with_capacity(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyDict>> {
    // SAFETY: _PyDict_NewPresized returns a new reference to a dict, or NULL on error.
    unsafe {
        let p = ffi::_PyDict_NewPresized(n as ffi::Py_ssize_t);
        if p.is_null() {
            return Err(PyErr::fetch(py));
        }
        Ok(Bound::from_owned_ptr(py, p).downcast_into_unchecked())
    }
}

/// `d[k] = v`: PyDict_SetItem without pyo3's generic wrapper (not inlined, ~100 calls per
/// document; values are borrowed, the dict takes its own reference).
#[inline(always)]
pub fn put<'py, V>(d: &Bound<'py, PyDict>, k: &Bound<'py, PyString>, v: V) -> PyResult<()>
where
    V: IntoPyObject<'py>,
{
    let py = d.py();
    let v = v.into_pyobject(py).map_err(Into::into)?;
    // SAFETY: three live objects; PyDict_SetItem does not steal references.
    if unsafe { ffi::PyDict_SetItem(d.as_ptr(), k.as_ptr(), v.as_borrowed().as_ptr()) } < 0 {
        return Err(PyErr::fetch(py));
    }
    Ok(())
}

/// Python `a == b` for two str objects (identity first: values are often the same object).
#[inline]
pub fn same(a: &Bound<'_, PyString>, b: &Bound<'_, PyString>) -> bool {
    // SAFETY: both are str objects; PyUnicode_Compare cannot fail on two str.
    a.as_ptr() == b.as_ptr() || unsafe { ffi::PyUnicode_Compare(a.as_ptr(), b.as_ptr()) == 0 }
}

/// `_append`: append unless an equal str is already in the list.
#[inline]
pub fn append<'py>(list: &mut Vec<Bound<'py, PyString>>, v: Bound<'py, PyString>) {
    if !list.iter().any(|x| same(x, &v)) {
        list.push(v);
    }
}

/// Python's `str.isspace()` for an ASCII character (what `split()`/`strip()` use).
#[inline]
pub fn ascii_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ')
}

/// Python's `str.split()` (no separator) over ASCII bytes: the non-empty runs.
pub fn split_ascii_ws(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    b.split(|&c| ascii_space(c)).filter(|s| !s.is_empty())
}

/// Python's `str.strip()` over ASCII bytes.
pub fn strip_ascii_ws(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if ascii_space(*first) {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if ascii_space(*last) {
            b = rest;
        } else {
            break;
        }
    }
    b
}
