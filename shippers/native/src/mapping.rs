//! The document, as `_mapped` (and `_process`, `_user`, `_network`, `_fdr_file`,
//! `_fdr_registry`) in falcon_plan.py / falcon.py build it — line by line, in the same order.
//! For a line with non-string values (only ever in keys the mapping does not read) the
//! reference is the general `normalize_fdr`: the same document, except that crowdstrike.*
//! holds `vendor_value` of those values (`_split_record`), which Python computes for us.
//!
//! Key order is part of the output (documents are compared serialized), so the document is
//! built from real Python dicts filled in exactly the sequence Python fills them; Python's
//! dict then does the rest (a re-assigned key keeps its place, a new one goes last). Every
//! dict and list is created per document (sinks mutate documents in place); only immutable
//! str/int objects (keys, table values) are shared between documents.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::config::{Config, Table};
use crate::json::Record;
use crate::plan::{Plan, ABSENT, F};
use crate::py::{append, dict_with_capacity, new_str, put, split_ascii_ws, strip_ascii_ws};
use crate::state::IpCache;
use crate::time::{epoch_ms, format_ms, Epoch, Horizon};

/// Everything one document is built from.
pub struct Ctx<'py, 'a> {
    pub py: Python<'py>,
    pub cfg: &'a Config,
    pub plan: &'a Plan,
    pub rec: &'a Record<'a>,
    /// The Python str of each record value, created on first use (a value placed in several
    /// fields is one object, as in Python).
    pub strs: Vec<Option<Bound<'py, PyString>>>,
    pub ips: &'a mut IpCache,
    pub horizon: &'a mut Horizon,
}

/// A time: epoch ms and its ECS text (`time_pair`'s tuple).
pub type Pair<'py> = (i64, Bound<'py, PyAny>);

macro_rules! set {
    ($py:expr, $d:expr, $k:literal, $v:expr) => {
        put(&$d, intern!($py, $k), $v)?
    };
}

/// `{key: value}`, a fresh dict.
fn one<'py>(
    py: Python<'py>,
    k: &Bound<'py, PyString>,
    v: impl IntoPyObject<'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    put(&d, k, v)?;
    Ok(d)
}

/// `d.setdefault(key, {})` with the dict tracked on the Rust side.
fn setdefault<'py>(
    py: Python<'py>,
    slot: &mut Option<Bound<'py, PyDict>>,
    parent: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyDict>> {
    if let Some(d) = slot {
        return Ok(d.clone());
    }
    let d = PyDict::new(py);
    parent.set_item(key, &d)?;
    *slot = Some(d.clone());
    Ok(d)
}

fn lookup<'t>(t: &'t Table, v: Option<&[u8]>) -> Option<&'t PyObject> {
    t.get(v.unwrap_or(b""))
}

/// `basename`: the last component of a Windows or POSIX path, as a byte range.
fn basename(b: &[u8]) -> &[u8] {
    let sep = match b.first() {
        Some(b'\\') => b'\\',
        Some(b'/') => b'/',
        _ => return b,
    };
    match b.iter().rposition(|&c| c == sep) {
        Some(i) => &b[i + 1..],
        None => b,
    }
}

/// Python's `int(v)` for the plain `-?[0-9]+` form, within Elasticsearch's long; `Err(())`
/// for other forms (decided by Python's int()).
fn plain_int(v: &[u8]) -> Result<Option<i64>, ()> {
    let (neg, digits) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() {
        return Err(());
    }
    let mut mag: u64 = 0;
    let mut overflow = false;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(());
        }
        match mag
            .checked_mul(10)
            .and_then(|m| m.checked_add((c - b'0') as u64))
        {
            Some(m) => mag = m,
            None => overflow = true,
        }
    }
    if overflow {
        return Ok(None);
    }
    Ok(if neg {
        if mag <= 1 << 63 {
            Some((mag as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(mag).ok()
    })
}

impl<'py, 'a> Ctx<'py, 'a> {
    /// Record position of a field, when present.
    #[inline]
    fn at(&self, f: F) -> Option<usize> {
        match self.plan.pos[f as usize] {
            ABSENT => None,
            p => Some(p as usize),
        }
    }

    /// `o.get(f)` as bytes.
    #[inline]
    fn raw(&self, f: F) -> Option<&'a [u8]> {
        let rec: &'a Record<'a> = self.rec;
        self.at(f).map(|p| rec.val(p))
    }

    /// `o.get(f)` when truthy (present and non-empty): its record position.
    #[inline]
    fn get(&self, f: F) -> Option<usize> {
        self.at(f).filter(|&p| !self.rec.val(p).is_empty())
    }

    /// `o.get(a) or o.get(b) or ...` when truthy.
    #[inline]
    fn first(&self, fs: &[F]) -> Option<usize> {
        fs.iter().find_map(|&f| self.get(f))
    }

    /// The str of the value at a record position.
    #[inline]
    fn s(&mut self, pos: usize) -> PyResult<Bound<'py, PyString>> {
        if let Some(s) = &self.strs[pos] {
            return Ok(s.clone());
        }
        let v = self.rec.fields[pos].val;
        let s = new_str(self.py, self.rec.bytes(v), v.ascii)?;
        self.strs[pos] = Some(s.clone());
        Ok(s)
    }

    /// A str for a slice of the value at `pos` (the value's own object when it is all of it).
    fn sub(&mut self, pos: usize, part: &[u8]) -> PyResult<Bound<'py, PyString>> {
        let whole = self.rec.val(pos);
        if part.len() == whole.len() {
            return self.s(pos);
        }
        new_str(self.py, part, self.rec.fields[pos].val.ascii)
    }

    /// `_int(o[pos])`: an int within long range, else None (non-empty values only).
    fn int(&mut self, pos: usize) -> PyResult<Option<Bound<'py, PyAny>>> {
        let v = self.rec.val(pos);
        if v.is_empty() {
            return Ok(None);
        }
        match plain_int(v) {
            Ok(Some(n)) => Ok(Some(n.into_pyobject(self.py)?.into_any())),
            Ok(None) => Ok(None),
            Err(()) => {
                // " 12", "+5", "1_000", non-ASCII digits ...: Python's own int().
                let s = self.s(pos)?;
                let r = self.cfg.to_int.bind(self.py).call1((s,))?;
                Ok(if r.is_none() { None } else { Some(r) })
            }
        }
    }

    /// `time_pair(o[pos])` (non-empty values only).
    pub fn time(&mut self, pos: usize) -> PyResult<Option<Pair<'py>>> {
        match epoch_ms(self.rec.val(pos), self.horizon) {
            Epoch::Invalid => Ok(None),
            Epoch::Ms(ms) => {
                let text = new_str(self.py, &format_ms(ms), true)?;
                Ok(Some((ms, text.into_any())))
            }
            Epoch::Python => {
                let s = self.s(pos)?;
                let r = self.cfg.time_pair.bind(self.py).call1((s,))?;
                if r.is_none() {
                    return Ok(None);
                }
                let t = r.downcast::<PyTuple>()?;
                Ok(Some((t.get_item(0)?.extract::<i64>()?, t.get_item(1)?)))
            }
        }
    }

    /// `valid_ip(s)` is not None (cached per text; empty text is never an address).
    fn valid_ip(&mut self, b: &[u8], s: &Bound<'py, PyString>) -> PyResult<bool> {
        if b.is_empty() {
            return Ok(false);
        }
        if let Some(&ok) = self.ips.get(b) {
            return Ok(ok);
        }
        let ok = !self.cfg.valid_ip.bind(self.py).call1((s,))?.is_none();
        if self.ips.len() > 8192 {
            self.ips.clear();
        }
        self.ips.insert(b.into(), ok);
        Ok(ok)
    }

    /// `valid_ip(o.get(f))` when valid: the value's str.
    fn valid_field(&mut self, f: F) -> PyResult<Option<Bound<'py, PyString>>> {
        let Some(pos) = self.get(f) else {
            return Ok(None);
        };
        let s = self.s(pos)?;
        Ok(if self.valid_ip(self.rec.val(pos), &s)? {
            Some(s)
        } else {
            None
        })
    }

    /// `[ip for ip in o[pos].split() if valid_ip(ip)]`.
    fn split_ips(&mut self, pos: usize, out: &mut Vec<Bound<'py, PyString>>) -> PyResult<()> {
        let v = self.rec.val(pos);
        if self.rec.fields[pos].val.ascii {
            for part in split_ascii_ws(v) {
                let s = self.sub(pos, part)?;
                if self.valid_ip(part, &s)? {
                    out.push(s);
                }
            }
        } else {
            // Python's split() knows the Unicode whitespace: let it split.
            let whole = self.s(pos)?;
            for part in whole.call_method0(intern!(self.py, "split"))?.try_iter()? {
                let s = part?.downcast_into::<PyString>()?;
                let text = s.to_str()?.as_bytes().to_vec();
                if self.valid_ip(&text, &s)? {
                    out.push(s);
                }
            }
        }
        Ok(())
    }
}

/// One document: (doc, id). `tp` is the event time (found by the caller, which declines
/// records without one).
pub fn build<'py>(
    cx: &mut Ctx<'py, '_>,
    tp: Pair<'py>,
    doc_id: Bound<'py, PyString>,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyString>)> {
    let py = cx.py;
    let p = cx.plan;
    let cfg = cx.cfg;

    // --- crowdstrike.*: the record minus consumed keys, empty values dropped, counts as ints
    let cs = dict_with_capacity(py, p.vendor.len() + 2)?;
    for v in &p.vendor {
        let pos = v.pos as usize;
        if cx.rec.fields[pos].raw {
            // A non-string value (never in a key the mapping reads; the caller checked):
            // `vendor_value(k, v)` as `_split_record` computes it, in record order, with
            // orjson parsing the slice. null is dropped there (`if v is not None`); it is
            // the one value skipped without asking Python (orjson reads `null` as None).
            let raw = cx.rec.val(pos);
            if raw == b"null" {
                continue;
            }
            let val = cfg
                .vendor_json
                .bind(py)
                .call1((v.key.bind(py), PyBytes::new(py, raw)))?;
            if !val.is_none() {
                put(&cs, v.key.bind(py), val)?;
            }
            continue;
        }
        if cx.rec.val(pos).is_empty() {
            continue;
        }
        if v.count {
            if let Some(n) = cx.int(pos)? {
                put(&cs, v.key.bind(py), n)?;
                continue;
            }
        }
        put(&cs, v.key.bind(py), cx.s(pos)?)?;
    }

    // --- time and identity
    // Presized where a document's dicts outgrow a fresh dict's 5 slots (saves re-hashing).
    let event = dict_with_capacity(py, 10)?;
    set!(py, event, "module", intern!(py, "crowdstrike"));
    set!(py, event, "dataset", intern!(py, "crowdstrike.fdr"));
    let observer = dict_with_capacity(py, cfg.observer.len() + 4)?;
    for (k, v) in &cfg.observer {
        observer.set_item(k.bind(py), v.bind(py))?;
    }
    let host = PyDict::new(py);
    let ts = tp.1;
    set!(py, event, "created", &ts);
    let doc = dict_with_capacity(py, 14)?;
    set!(py, doc, "event", &event);
    set!(py, doc, "observer", &observer);
    set!(py, doc, "host", &host);
    set!(py, doc, "@timestamp", &ts);
    {
        let mut id = Vec::with_capacity(128);
        let mut ascii = true;
        for (i, f) in [F::id, F::aid, F::cid].into_iter().enumerate() {
            if i > 0 {
                id.push(b'|');
            }
            if let Some(pos) = cx.at(f) {
                id.extend_from_slice(cx.rec.val(pos));
                ascii &= cx.rec.fields[pos].val.ascii;
            }
        }
        set!(py, event, "id", new_str(py, &id, ascii)?);
    }
    if let Some(name) = &p.name_obj {
        let name = name.bind(py);
        set!(py, event, "action", name);
        match &p.cat {
            None => set!(py, event, "kind", intern!(py, "event")),
            Some(cat) => {
                set!(py, event, "kind", cat.kind.bind(py));
                set!(py, event, "category", PyList::new(py, &cat.categories)?);
                set!(py, event, "type", PyList::new(py, &cat.types)?);
                set!(py, event, "outcome", cat.outcome.bind(py));
            }
        }
        set!(py, doc, "message", name);
    }
    let mut related_ip: Vec<Bound<PyString>> = Vec::new();
    let mut related_user: Vec<Bound<PyString>> = Vec::new();
    let mut related_hosts: Vec<Bound<PyString>> = Vec::new();
    let mut related_hash: Vec<Bound<PyString>> = Vec::new();

    // --- observer / host
    let aid = cx.get(F::aid);
    if let Some(aid) = aid {
        let s = cx.s(aid)?;
        set!(py, observer, "serial_number", &s);
        set!(py, host, "id", &s);
    }
    if let Some(aip) = cx.get(F::aip) {
        let mut ips = Vec::new();
        cx.split_ips(aip, &mut ips)?;
        if !ips.is_empty() {
            set!(py, observer, "ip", PyList::new(py, &ips)?);
            set!(py, observer, "address", PyList::new(py, &ips)?);
            related_ip.extend(ips);
        }
    }
    if let Some(build) = cx.first(&[F::ConfigBuild, F::AgentVersion]) {
        set!(py, observer, "version", cx.s(build)?);
    }
    if let Some(h) = cx.first(&[F::ComputerName, F::hostname]) {
        let s = cx.s(h)?;
        set!(py, host, "hostname", &s);
        set!(py, host, "name", &s);
        related_hosts.push(s);
    }
    if let Some(d) = cx.first(&[F::MachineDomain, F::LogonDomain]) {
        set!(py, host, "domain", cx.s(d)?);
    }
    let platform = cx.at(F::event_platform);
    let os_type = platform.and_then(|pos| cfg.platform_os.get(cx.rec.val(pos)));
    let mut host_os: Option<Bound<PyDict>> = None;
    if let Some(os_type) = os_type {
        let d = one(py, intern!(py, "type"), os_type.bind(py))?;
        set!(py, host, "os", &d);
        host_os = Some(d);
    } else if let Some(pf) = cx.get(F::event_platform) {
        set!(py, cs, "event_platform", cx.s(pf)?);
    }
    if let Some(osver) = cx.get(F::OSVersionString) {
        let d = setdefault(py, &mut host_os, &host, intern!(py, "os"))?;
        set!(py, d, "version", cx.s(osver)?);
    }
    if let Some(sensor) = cx.get(F::SensorId).or(aid) {
        set!(
            py,
            doc,
            "device",
            one(py, intern!(py, "id"), cx.s(sensor)?)?
        );
    }

    // --- hashes (all-zero means absent): (index into cfg.hash_keys, value), in table order
    let mut hashes: Vec<(usize, Bound<PyString>)> = Vec::new();
    for &(pos, j) in &p.hashes {
        let pos = pos as usize;
        let h = cx.rec.val(pos);
        if !h.is_empty() && h.iter().any(|&c| c != b'0') {
            let s = cx.s(pos)?;
            hashes.push((j, s.clone()));
            related_hash.push(s);
        }
    }
    if let Some(csh) = cx.get(F::ConfigStateHash) {
        related_hash.push(cx.s(csh)?);
    }
    let hash_dict = |hashes: &[(usize, Bound<'py, PyString>)]| -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (j, h) in hashes {
            d.set_item(cfg.hash_keys[*j].algo.bind(py), h)?;
        }
        Ok(d)
    };

    // --- process / user
    let process = if p.run_process {
        dict_with_capacity(py, 16)?
    } else {
        PyDict::new(py)
    };
    if p.run_process {
        let os_type = os_type.is_some();
        // _process
        let mut args: Option<Bound<PyAny>> = None;
        if let Some(cmd) = cx.get(F::CommandLine) {
            let cmd = cx.s(cmd)?;
            set!(py, process, "command_line", &cmd);
            if os_type {
                let a = cfg.args.bind(py).call1((cmd,))?;
                set!(py, process, "args", &a);
                set!(py, process, "args_count", a.len()?);
                args = Some(a);
            }
        }
        let mut image = cx.first(&[F::ImageFileName, F::ContextImageFileName]);
        if p.is_module_load {
            if let Some(img) = image {
                let dll = PyDict::new(py);
                let path = cx.rec.val(img);
                set!(py, dll, "path", cx.s(img)?);
                set!(py, dll, "name", cx.sub(img, basename(path))?);
                if !hashes.is_empty() {
                    set!(py, dll, "hash", hash_dict(&hashes)?);
                    hashes.clear();
                }
                if let Some(ofn) = cx.get(F::OriginalFilename) {
                    let pe = one(py, intern!(py, "original_file_name"), cx.s(ofn)?)?;
                    set!(py, dll, "pe", pe);
                }
                set!(py, doc, "dll", dll);
            }
            image = cx.get(F::TargetImageFileName);
        }
        if let Some(img) = image {
            set!(py, process, "executable", cx.s(img)?);
            let base = basename(cx.rec.val(img));
            let mut pname: Option<Bound<PyString>> = None;
            if !base.is_empty() {
                pname = Some(cx.sub(img, base)?);
            } else if let Some(a) = &args {
                if a.is_truthy()? {
                    // args[0].replace("\\", "/").rsplit("/", 1)[-1], in Python.
                    let first = a.get_item(0)?;
                    let r = first
                        .call_method1(intern!(py, "replace"), ("\\", "/"))?
                        .call_method1(intern!(py, "rsplit"), ("/", 1))?
                        .get_item(-1)?
                        .downcast_into::<PyString>()?;
                    if r.is_truthy()? {
                        pname = Some(r);
                    }
                }
            }
            if let Some(pname) = pname {
                set!(py, process, "name", pname);
            }
        }
        if let Some(c) = cx.get(F::ContextBaseFileName) {
            set!(py, process, "name", cx.s(c)?);
        }
        let mut pid = match cx.get(F::RawProcessId) {
            Some(pos) => cx.int(pos)?,
            None => None,
        };
        if pid.is_none() {
            if let Some(pos) = cx.get(F::EtwRawProcessId) {
                pid = cx.int(pos)?;
            }
        }
        if let Some(pid) = pid {
            set!(py, process, "pid", pid);
        }
        if let Some(e) = cx.first(&[F::TargetProcessId, F::ContextProcessId]) {
            set!(py, process, "entity_id", cx.s(e)?);
        }
        let ppid = cx.get(F::ParentProcessId);
        let pbase = cx.get(F::ParentBaseFileName);
        if ppid.is_some() || pbase.is_some() {
            let parent = PyDict::new(py);
            if let Some(ppid) = ppid {
                set!(py, parent, "entity_id", cx.s(ppid)?);
            }
            if let Some(pbase) = pbase {
                set!(py, parent, "name", cx.s(pbase)?);
            }
            set!(py, process, "parent", parent);
        }
        if let Some(pgid) = cx.get(F::ProcessGroupId) {
            if let Some(n) = cx.int(pgid)? {
                set!(py, process, "pgid", n);
                let gl = one(py, intern!(py, "entity_id"), cx.s(pgid)?)?;
                set!(py, process, "group_leader", gl);
            }
        }
        let mut tid = match cx.get(F::ContextThreadId) {
            Some(pos) => cx.int(pos)?,
            None => None,
        };
        if tid.is_none() {
            if let Some(pos) = cx.get(F::EtwRawThreadId) {
                tid = cx.int(pos)?;
            }
        }
        if let Some(tid) = tid {
            set!(py, process, "thread", one(py, intern!(py, "id"), tid)?);
        }
        if let Some(il) = lookup(&cfg.integrity_levels, cx.raw(F::IntegrityLevel)) {
            let token = one(py, intern!(py, "integrity_level_name"), il.bind(py))?;
            set!(py, process, "Ext", one(py, intern!(py, "token"), token)?);
        }
        if let Some(r) = cx.get(F::SuspiciousHandleOpenReason) {
            set!(py, event, "reason", cx.s(r)?);
        }
        if let Some(t) = cx.get(F::ServiceDisplayName) {
            set!(py, process, "title", cx.s(t)?);
        }
        if let Some(ec) = cx.get(F::ExitCode) {
            if let Some(n) = cx.int(ec)? {
                set!(py, process, "exit_code", n);
            }
        }
        let start = cx.get(F::ProcessStartTime);
        let end = cx.get(F::ProcessEndTime);
        if start.is_some() || end.is_some() {
            let st = match start {
                Some(pos) => cx.time(pos)?,
                None => None,
            };
            let et = match end {
                Some(pos) => cx.time(pos)?,
                None => None,
            };
            if let Some(st) = &st {
                set!(py, process, "start", &st.1);
            }
            if let Some(et) = &et {
                set!(py, process, "end", &et.1);
            }
            if let (Some(st), Some(et)) = (&st, &et) {
                if et.0 >= st.0 {
                    set!(py, process, "uptime", (et.0 - st.0).div_euclid(1000));
                }
            }
        }
        if !hashes.is_empty() && p.process_hash {
            set!(py, process, "hash", hash_dict(&hashes)?);
            hashes.clear();
        }
    }
    if p.run_user {
        user(cx, &process, &doc, &mut related_user)?;
    }
    for &pos in &p.host_related {
        let pos = pos as usize;
        if !cx.rec.val(pos).is_empty() {
            append(&mut related_hosts, cx.s(pos)?);
        }
    }

    // --- network / DNS
    let network = PyDict::new(py);
    let mut destination: Option<Bound<PyDict>> = None;
    if p.run_network {
        destination = net(cx, &doc, &network, &mut related_ip)?;
    }
    if p.is_dns {
        let dns = PyDict::new(py);
        set!(py, dns, "type", intern!(py, "query"));
        let question = PyDict::new(py);
        if let Some(q) = cx.get(F::DomainName) {
            set!(py, question, "name", cx.s(q)?);
        }
        let rtype = cx.get(F::RequestType);
        if let Some(qtype) = lookup(&cfg.dns_types, cx.raw(F::RequestType)) {
            set!(py, question, "type", qtype.bind(py));
        } else if let Some(rt) = rtype {
            set!(py, cs, "RequestType", cx.s(rt)?);
        }
        if !question.is_empty() {
            set!(py, dns, "question", question);
        }
        set!(py, doc, "dns", dns);
        set!(py, network, "protocol", intern!(py, "dns"));
    } else if let Some(dom) = cx.get(F::DomainName) {
        if p.is_smb_share {
            let d = setdefault(py, &mut destination, &doc, intern!(py, "destination"))?;
            set!(py, d, "domain", cx.s(dom)?);
        } else {
            set!(py, cs, "DomainName", cx.s(dom)?);
        }
    }
    if !network.is_empty() {
        set!(py, doc, "network", network);
    }

    // --- file
    let mut file: Option<Bound<PyDict>> = None;
    if p.run_file {
        file = fdr_file(cx, &doc)?;
    }
    if !hashes.is_empty() {
        if p.file_hash {
            let d = setdefault(py, &mut file, &doc, intern!(py, "file"))?;
            set!(py, d, "hash", hash_dict(&hashes)?);
        } else {
            // Hashes of an event family Elastic does not place: kept in crowdstrike.*
            for (j, h) in &hashes {
                cs.set_item(cfg.hash_keys[*j].key_obj.bind(py), h)?;
            }
        }
    }

    // --- registry / action (detection records were declined)
    if let Some(rk) = cx.get(F::RegObjectName) {
        registry(cx, rk, &doc, &event)?;
    }
    if let Some(a) = p.action_override {
        event.set_item(intern!(py, "action"), PyString::intern(py, a))?;
    }

    // --- related
    if !process.is_empty() {
        set!(py, doc, "process", process);
    }
    let related = PyDict::new(py);
    if !related_ip.is_empty() {
        set!(py, related, "ip", PyList::new(py, &related_ip)?);
    }
    if !related_user.is_empty() {
        set!(py, related, "user", PyList::new(py, &related_user)?);
    }
    if !related_hosts.is_empty() {
        set!(py, related, "hosts", PyList::new(py, &related_hosts)?);
    }
    if !related_hash.is_empty() {
        // list(dict.fromkeys(...)): first occurrences, in order.
        let mut uniq = Vec::with_capacity(related_hash.len());
        for h in related_hash {
            append(&mut uniq, h);
        }
        set!(py, related, "hash", PyList::new(py, &uniq)?);
    }
    if !related.is_empty() {
        set!(py, doc, "related", related);
    }

    if let Some(pos) = p.cts {
        let pos = pos as usize;
        // cs["ContextTimeStamp"] is the raw value here (when non-empty).
        if !cx.rec.val(pos).is_empty() {
            if let Some(tp) = cx.time(pos)? {
                set!(py, cs, "ContextTimeStamp", tp.1);
            }
        }
    }
    if let Some(pos) = p.tags {
        let pos = pos as usize;
        if !cx.rec.val(pos).is_empty() {
            set!(py, cs, "Tags", tags(cx, pos)?);
        }
    }
    set!(py, doc, "crowdstrike", cs);
    Ok((doc, doc_id))
}

/// `_fdr_registry`: registry.* for a record with a non-empty RegObjectName (at `rk`), and
/// event.action from RegOperationType.
fn registry<'py>(
    cx: &mut Ctx<'py, '_>,
    rk: usize,
    doc: &Bound<'py, PyDict>,
    event: &Bound<'py, PyDict>,
) -> PyResult<()> {
    let py = cx.py;
    let cfg = cx.cfg;
    let registry = PyDict::new(py);
    let key = cx.s(rk)?;
    set!(py, registry, "key", &key);
    let value_name = cx.get(F::RegValueName);
    match value_name {
        Some(vn) => {
            // f"{reg_key}\\{value_name}": a new str, ASCII when both parts are.
            let (k, v) = (cx.rec.val(rk), cx.rec.val(vn));
            let mut path = Vec::with_capacity(k.len() + 1 + v.len());
            path.extend_from_slice(k);
            path.push(b'\\');
            path.extend_from_slice(v);
            let ascii = cx.rec.fields[rk].val.ascii && cx.rec.fields[vn].val.ascii;
            set!(py, registry, "path", new_str(py, &path, ascii)?);
            set!(py, registry, "value", cx.s(vn)?);
        }
        None => set!(py, registry, "path", &key),
    }
    if let Some(data) = cx.get(F::RegStringValue) {
        let reg_data = PyDict::new(py);
        set!(py, reg_data, "strings", PyList::new(py, [cx.s(data)?])?);
        if let Some(t) = lookup(&cfg.reg_value_types, cx.raw(F::RegType)) {
            set!(py, reg_data, "type", t.bind(py));
        }
        set!(py, registry, "data", reg_data);
    }
    set!(py, doc, "registry", registry);
    if let Some(a) = lookup(&cfg.reg_operation_action, cx.raw(F::RegOperationType)) {
        set!(py, event, "action", a.bind(py));
    }
    Ok(())
}

/// `[t.strip() for t in tags.split(",") if t.strip()]`.
fn tags<'py>(cx: &mut Ctx<'py, '_>, pos: usize) -> PyResult<Bound<'py, PyList>> {
    let py = cx.py;
    let out = PyList::empty(py);
    if cx.rec.fields[pos].val.ascii {
        let v = cx.rec.val(pos);
        for part in v.split(|&c| c == b',') {
            let t = strip_ascii_ws(part);
            if !t.is_empty() {
                out.append(cx.sub(pos, t)?)?;
            }
        }
    } else {
        // Unicode whitespace: Python's own split/strip.
        let whole = cx.s(pos)?;
        for part in whole
            .call_method1(intern!(py, "split"), (",",))?
            .try_iter()?
        {
            let t = part?.call_method0(intern!(py, "strip"))?;
            if t.is_truthy()? {
                out.append(t)?;
            }
        }
    }
    Ok(out)
}

/// `_user`: user.* / group.*.
fn user<'py>(
    cx: &mut Ctx<'py, '_>,
    process: &Bound<'py, PyDict>,
    doc: &Bound<'py, PyDict>,
    related_user: &mut Vec<Bound<'py, PyString>>,
) -> PyResult<()> {
    let py = cx.py;
    let user = PyDict::new(py);
    let id = intern!(py, "id");
    if let Some(u) = cx.get(F::UserName) {
        let s = cx.s(u)?;
        set!(py, user, "name", &s);
        related_user.push(s);
    }
    let mut group: Option<Bound<PyDict>> = None;
    if let Some(gid) = cx.get(F::GID) {
        let gid = cx.s(gid)?;
        set!(py, user, "group", one(py, id, &gid)?);
        set!(py, process, "group", one(py, id, &gid)?);
        let g = one(py, id, &gid)?;
        set!(py, doc, "group", &g);
        group = Some(g);
    }
    if let Some(rgid) = cx.get(F::RGID) {
        let rgid = cx.s(rgid)?;
        set!(py, process, "real_group", one(py, id, &rgid)?);
        let g = setdefault(py, &mut group, doc, intern!(py, "group"))?;
        set!(
            py,
            g,
            "Ext",
            one(py, intern!(py, "real"), one(py, id, &rgid)?)?
        );
    }
    if let Some(ruid) = cx.get(F::RUID) {
        let ruid = cx.s(ruid)?;
        set!(py, process, "real_user", one(py, id, &ruid)?);
        set!(
            py,
            user,
            "Ext",
            one(py, intern!(py, "real"), one(py, id, &ruid)?)?
        );
    }
    if cx.raw(F::UserIsAdmin) == Some(b"1") {
        set!(py, user, "roles", PyList::new(py, [intern!(py, "admin")])?);
    }
    if let Some(pr) = cx.get(F::UserPrincipal) {
        let principal = cx.s(pr)?;
        set!(py, user, "email", &principal);
        let v = cx.rec.val(pr);
        let mut at = v
            .iter()
            .enumerate()
            .filter(|(_, &c)| c == b'@')
            .map(|(i, _)| i);
        if let (Some(i), None) = (at.next(), at.next()) {
            let (left, right) = (&v[..i], &v[i + 1..]);
            if !right.is_empty() {
                set!(py, user, "domain", cx.sub(pr, right)?);
            }
            if !left.is_empty() {
                let l = cx.sub(pr, left)?;
                set!(py, user, "full_name", &l);
                append(related_user, l);
            }
        }
        append(related_user, principal);
    }
    if let Some(uid) = cx.first(&[F::UID, F::UserSid, F::FileOperatorSid]) {
        let uid = cx.s(uid)?;
        set!(py, user, "id", &uid);
        append(related_user, uid);
    }
    if !user.is_empty() {
        set!(py, doc, "user", user);
    }
    Ok(())
}

/// `_network`: source/destination by ConnectionDirection (0 outbound, 1 inbound). Returns
/// doc["destination"] when it was set (a later `setdefault` adds to it).
fn net<'py>(
    cx: &mut Ctx<'py, '_>,
    doc: &Bound<'py, PyDict>,
    network: &Bound<'py, PyDict>,
    related_ip: &mut Vec<Bound<'py, PyString>>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let py = cx.py;
    let direction = cx.raw(F::ConnectionDirection);
    let mut local_ip = match cx.valid_field(F::CurrentLocalIP)? {
        Some(ip) => Some(ip),
        None => cx.valid_field(F::LocalIP)?,
    };
    let mut local_ips = Vec::new();
    for f in [F::LocalAddressIP4, F::LocalAddressIP6] {
        if let Some(pos) = cx.get(f) {
            cx.split_ips(pos, &mut local_ips)?;
        }
    }
    if local_ip.is_none() {
        local_ip = local_ips.first().cloned();
    }
    let remote_ip = match cx.valid_field(F::RemoteAddressIP4)? {
        Some(ip) => Some(ip),
        None => cx.valid_field(F::RemoteAddressIP6)?,
    };
    let lport = match cx.get(F::LocalPort) {
        Some(pos) => cx.int(pos)?,
        None => None,
    };
    let rport = match cx.get(F::RemotePort) {
        Some(pos) => cx.int(pos)?,
        None => None,
    };
    let mac = cx.first(&[F::MAC, F::PhysicalAddress]);
    match direction {
        Some(b"0") => set!(py, network, "direction", intern!(py, "outbound")),
        Some(b"1") => set!(py, network, "direction", intern!(py, "inbound")),
        Some(d) if !d.is_empty() => set!(py, network, "direction", intern!(py, "unknown")),
        _ => {}
    }
    let local = PyDict::new(py);
    let remote = PyDict::new(py);
    if let Some(ip) = &local_ip {
        set!(py, local, "address", ip);
        set!(py, local, "ip", ip);
    }
    if let Some(port) = lport {
        set!(py, local, "port", port);
    }
    if let Some(mac) = mac {
        set!(py, local, "mac", upper(cx, mac)?);
    }
    if let Some(ip) = &remote_ip {
        set!(py, remote, "address", ip);
        set!(py, remote, "ip", ip);
    }
    if let Some(port) = rport {
        set!(py, remote, "port", port);
    }
    let inbound = direction == Some(b"1");
    let (src, dst, src_ip, dst_ip) = if inbound {
        (&remote, &local, &remote_ip, &local_ip)
    } else {
        (&local, &remote, &local_ip, &remote_ip)
    };
    if !src.is_empty() {
        set!(py, doc, "source", src);
    }
    let mut destination = None;
    if !dst.is_empty() {
        set!(py, doc, "destination", dst);
        destination = Some(dst.clone());
    }
    for ip in local_ips {
        append(related_ip, ip);
    }
    if let Some(ip) = src_ip {
        append(related_ip, ip.clone());
    }
    if let Some(ip) = dst_ip {
        append(related_ip, ip.clone());
    }
    if let Some(proto) = cx.get(F::Protocol) {
        set!(py, network, "iana_number", cx.s(proto)?);
        if let Some(t) = cx.cfg.iana_transport.get(cx.rec.val(proto)) {
            set!(py, network, "transport", t.bind(py));
        }
    }
    Ok(destination)
}

/// `mac.upper()`.
fn upper<'py>(cx: &mut Ctx<'py, '_>, pos: usize) -> PyResult<Bound<'py, PyAny>> {
    let v = cx.rec.val(pos);
    if !cx.rec.fields[pos].val.ascii {
        return cx.s(pos)?.call_method0(intern!(cx.py, "upper"));
    }
    if !v.iter().any(u8::is_ascii_lowercase) {
        return Ok(cx.s(pos)?.into_any());
    }
    Ok(new_str(cx.py, &v.to_ascii_uppercase(), true)?.into_any())
}

/// `_fdr_file`: file.* from TargetFileName/SourceFileName. Returns doc["file"] when set.
fn fdr_file<'py>(
    cx: &mut Ctx<'py, '_>,
    doc: &Bound<'py, PyDict>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let py = cx.py;
    let target = cx.get(F::TargetFileName);
    let source = cx.get(F::SourceFileName);
    let file = PyDict::new(py);
    if let Some(fp) = target.or(source) {
        let path = cx.rec.val(fp);
        set!(py, file, "path", cx.s(fp)?);
        let is_dir = cx.plan.name_has_directory || matches!(path.last(), Some(b'\\' | b'/'));
        set!(
            py,
            file,
            "type",
            if is_dir {
                intern!(py, "dir")
            } else {
                intern!(py, "file")
            }
        );
        // len(fpath) > 1, in code points.
        let chars = if cx.rec.fields[fp].val.ascii {
            path.len()
        } else {
            path.iter().filter(|&&c| (c & 0xC0) != 0x80).count()
        };
        if chars > 1 {
            let mut p = path;
            if is_dir {
                while let [rest @ .., b'/' | b'\\'] = p {
                    p = rest;
                }
            }
            let idx = p
                .iter()
                .rposition(|&c| c == b'\\')
                .or_else(|| p.iter().rposition(|&c| c == b'/'));
            if let Some(idx) = idx {
                let fname = &p[idx + 1..];
                set!(py, file, "name", cx.sub(fp, fname)?);
                set!(py, file, "directory", cx.sub(fp, &p[..idx])?);
                if let Some(dot) = fname.iter().rposition(|&c| c == b'.') {
                    if !is_dir {
                        set!(py, file, "extension", cx.sub(fp, &fname[dot + 1..])?);
                    }
                }
            }
        }
        if let (Some(_), Some(src)) = (target, source) {
            let orig = PyDict::new(py);
            set!(py, orig, "path", cx.s(src)?);
            set!(py, orig, "name", cx.sub(src, basename(cx.rec.val(src)))?);
            set!(py, file, "Ext", one(py, intern!(py, "original"), orig)?);
        }
    }
    if let Some(size) = cx.get(F::Size) {
        if let Some(n) = cx.int(size)? {
            set!(py, file, "size", n);
        }
    }
    if let Some(inode) = cx.get(F::FileIdentifier) {
        set!(py, file, "inode", cx.s(inode)?);
    }
    if let Some(dev) = cx.get(F::DiskParentDeviceInstanceId) {
        set!(py, file, "device", cx.s(dev)?);
    }
    if file.is_empty() {
        return Ok(None);
    }
    set!(py, doc, "file", &file);
    Ok(Some(file))
}
