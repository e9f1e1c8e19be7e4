//! Per-layout plans, as `Plan` in falcon_plan.py.
//!
//! FDR events of one `event_simpleName` come with the same keys in the same order. All that
//! depends only on (name, keys) is decided once per layout: where each field the mapping
//! reads sits in the record, which keys stay under crowdstrike.* (as Python str objects,
//! so no key string is created per event), which sections run, the categorization, which
//! positions must hold strings — and whether the layout is one we decline altogether.

use std::collections::{HashMap, HashSet};
use std::hash::Hasher;

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::config::{Cat, Config};
use crate::hash::{Fx, FxBuild};
use crate::json::Record;

macro_rules! fields {
    ($($id:ident = $name:literal,)*) => {
        /// The record fields the mapping reads by name (`o.get("...")` in falcon_plan.py).
        // Every name is listed (the lookup table is built from them), not every variant is
        // read by the mapping.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms, dead_code)]
        #[derive(Clone, Copy)]
        #[repr(usize)]
        pub enum F { $($id,)* }
        const NAMES: &[&str] = &[$($name,)*];
    };
}

fields! {
    event_simpleName = "event_simpleName",
    id = "id",
    aid = "aid",
    cid = "cid",
    aip = "aip",
    ConfigBuild = "ConfigBuild",
    AgentVersion = "AgentVersion",
    ComputerName = "ComputerName",
    hostname = "hostname",
    MachineDomain = "MachineDomain",
    LogonDomain = "LogonDomain",
    event_platform = "event_platform",
    OSVersionString = "OSVersionString",
    SensorId = "SensorId",
    ConfigStateHash = "ConfigStateHash",
    CommandLine = "CommandLine",
    ImageFileName = "ImageFileName",
    ContextImageFileName = "ContextImageFileName",
    OriginalFilename = "OriginalFilename",
    TargetImageFileName = "TargetImageFileName",
    ContextBaseFileName = "ContextBaseFileName",
    RawProcessId = "RawProcessId",
    EtwRawProcessId = "EtwRawProcessId",
    TargetProcessId = "TargetProcessId",
    ContextProcessId = "ContextProcessId",
    ParentProcessId = "ParentProcessId",
    ParentBaseFileName = "ParentBaseFileName",
    ProcessGroupId = "ProcessGroupId",
    ContextThreadId = "ContextThreadId",
    EtwRawThreadId = "EtwRawThreadId",
    IntegrityLevel = "IntegrityLevel",
    SuspiciousHandleOpenReason = "SuspiciousHandleOpenReason",
    ServiceDisplayName = "ServiceDisplayName",
    ExitCode = "ExitCode",
    ProcessStartTime = "ProcessStartTime",
    ProcessEndTime = "ProcessEndTime",
    UserName = "UserName",
    GID = "GID",
    RGID = "RGID",
    RUID = "RUID",
    UserIsAdmin = "UserIsAdmin",
    UserPrincipal = "UserPrincipal",
    UID = "UID",
    UserSid = "UserSid",
    FileOperatorSid = "FileOperatorSid",
    ConnectionDirection = "ConnectionDirection",
    CurrentLocalIP = "CurrentLocalIP",
    LocalIP = "LocalIP",
    LocalAddressIP4 = "LocalAddressIP4",
    LocalAddressIP6 = "LocalAddressIP6",
    RemoteAddressIP4 = "RemoteAddressIP4",
    RemoteAddressIP6 = "RemoteAddressIP6",
    LocalPort = "LocalPort",
    RemotePort = "RemotePort",
    MAC = "MAC",
    PhysicalAddress = "PhysicalAddress",
    Protocol = "Protocol",
    DomainName = "DomainName",
    RequestType = "RequestType",
    TargetFileName = "TargetFileName",
    SourceFileName = "SourceFileName",
    Size = "Size",
    FileIdentifier = "FileIdentifier",
    DiskParentDeviceInstanceId = "DiskParentDeviceInstanceId",
    RegObjectName = "RegObjectName",
    RegValueName = "RegValueName",
    RegStringValue = "RegStringValue",
    RegType = "RegType",
    RegOperationType = "RegOperationType",
}

pub const NF: usize = NAMES.len();
/// Position of a field that is not in the record.
pub const ABSENT: u16 = u16::MAX;

/// Detection records stay in Python (`_detection_fields` is not ported: it reads keys outside
/// the mapped set, of any JSON type).
const DECLINED_KEYS: [&[u8]; 2] = [b"DetectName", b"SeverityName"];
/// `Plan.host_related`'s candidates, in order.
const HOST_RELATED: [&[u8]; 2] = [b"LogonServer", b"ClientComputerName"];
/// Keys read by name besides `NAMES` (and the configured time and hash keys). "metadata" is
/// not mapped but routes: with an object there (and an object "event") FalconNormalizer
/// takes the event-stream path, so a non-string "metadata" must decline.
const OTHER_READ: [&str; 7] = [
    "LogonServer",
    "ClientComputerName",
    "ContextTimeStamp",
    "Tags",
    "DetectName",
    "SeverityName",
    "metadata",
];

/// Every key the compiled mapping (or the routing before it) reads by name: their values
/// must be strings (see `Config::strict`).
pub fn read_keys() -> impl Iterator<Item = &'static str> {
    NAMES.iter().chain(OTHER_READ.iter()).copied()
}

pub struct Vendor {
    pub pos: u16,
    pub key: Py<PyString>,
    /// `"Count" in key`: the value becomes an int when it is one.
    pub count: bool,
}

pub struct Plan {
    // The layout itself, to verify a cache hit (the map is keyed by a hash of it).
    name: Box<[u8]>,
    keys: Vec<Box<[u8]>>,
    /// Duplicate keys, a detection record, or not an FDR record at all.
    pub decline: bool,
    /// Per record position: the key is one the mapping reads, so a non-string value there
    /// declines the line (elsewhere it is a vendor value for `vendor_json`).
    pub strict: Box<[bool]>,
    /// Record position of each `F` field (ABSENT when missing).
    pub pos: [u16; NF],
    pub vendor: Vec<Vendor>,
    pub time_pos: Vec<u16>,
    /// (record position, index into Config.hash_keys) of the hash keys present.
    pub hashes: Vec<(u16, usize)>,
    pub host_related: Vec<u16>,
    pub run_process: bool,
    pub run_user: bool,
    pub run_network: bool,
    pub run_file: bool,
    /// `ContextTimeStamp` / `Tags` are vendor keys of this layout (so `cs.get` can find them).
    pub cts: Option<u16>,
    pub tags: Option<u16>,
    pub is_dns: bool,
    pub is_smb_share: bool,
    pub is_module_load: bool,
    pub process_hash: bool,
    pub file_hash: bool,
    pub action_override: Option<&'static str>,
    /// The event name (a non-empty `event_simpleName`) and its categorization row, if any.
    pub name_obj: Option<Py<PyString>>,
    pub cat: Option<CatRef>,
    /// `"Directory" in name` (for file.type).
    pub name_has_directory: bool,
}

/// A CATEGORIZATION row, copied out of the config (the plan cache lives independently).
pub struct CatRef {
    pub kind: PyObject,
    pub categories: Vec<PyObject>,
    pub types: Vec<PyObject>,
    pub outcome: PyObject,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The layout hash: name and keys, each length-prefixed (so no two layouts share a stream).
pub fn layout_hash(rec: &Record, name: &[u8]) -> u64 {
    let mut h = Fx::default();
    h.write_usize(name.len());
    h.write(name);
    for i in 0..rec.fields.len() {
        let k = rec.key(i);
        h.write_usize(k.len());
        h.write(k);
    }
    h.finish()
}

impl Plan {
    pub fn matches(&self, rec: &Record, name: &[u8]) -> bool {
        *self.name == *name
            && self.keys.len() == rec.fields.len()
            && self
                .keys
                .iter()
                .enumerate()
                .all(|(i, k)| **k == *rec.key(i))
    }

    pub fn new(py: Python<'_>, cfg: &Config, rec: &Record, name: &[u8]) -> Plan {
        let n = rec.fields.len();
        let keys: Vec<Box<[u8]>> = (0..n).map(|i| rec.key(i).into()).collect();
        let mut seen: HashSet<&[u8], FxBuild> = HashSet::default();
        let mut decline = n >= ABSENT as usize;
        for k in &keys {
            if !seen.insert(k) {
                decline = true; // duplicate key: orjson keeps the last, we leave it to it
            }
        }
        if DECLINED_KEYS.iter().any(|k| seen.contains(k)) {
            decline = true;
        }
        if !seen.contains(&b"event_simpleName"[..])
            && !cfg.fdr_markers.iter().any(|k| seen.contains(&**k))
        {
            decline = true; // not an FDR record: the Python path raises its ParseError
        }
        let index: HashMap<&[u8], u16, FxBuild> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (&**k, i as u16))
            .collect();
        let at = |k: &[u8]| index.get(k).copied();
        let mut pos = [ABSENT; NF];
        for (f, name) in NAMES.iter().enumerate() {
            pos[f] = at(name.as_bytes()).unwrap_or(ABSENT);
        }
        let mut vendor = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            if !cfg.consumed.contains(k) {
                // Valid UTF-8: the whole line was validated by the parser.
                let s = std::str::from_utf8(k).unwrap_or_default();
                vendor.push(Vendor {
                    pos: i as u16,
                    key: PyString::new(py, s).unbind(),
                    count: contains(k, b"Count"),
                });
            }
        }
        let vendor_at = |k: &[u8]| at(k).filter(|_| !cfg.consumed.contains(k));
        let any_in = |set: &HashSet<Box<[u8]>, FxBuild>| keys.iter().any(|k| set.contains(k));
        let action_override = if name.ends_with(b"Written") {
            Some("creation")
        } else if name == b"DriverLoad" || name == b"KernelModeLoadImage" {
            Some("load")
        } else {
            None
        };
        let cat = cfg.categorization.get(name).map(|c: &Cat| CatRef {
            kind: c.kind.clone_ref(py),
            categories: c.categories.iter().map(|o| o.clone_ref(py)).collect(),
            types: c.types.iter().map(|o| o.clone_ref(py)).collect(),
            outcome: c.outcome.clone_ref(py),
        });
        let name_obj = if name.is_empty() {
            None
        } else {
            Some(PyString::new(py, std::str::from_utf8(name).unwrap_or_default()).unbind())
        };
        Plan {
            name: name.into(),
            decline,
            strict: keys.iter().map(|k| cfg.strict.contains(k)).collect(),
            pos,
            time_pos: cfg.time_keys.iter().filter_map(|k| at(k)).collect(),
            hashes: cfg
                .hash_keys
                .iter()
                .enumerate()
                .filter_map(|(j, hk)| at(&hk.key).map(|p| (p, j)))
                .collect(),
            host_related: HOST_RELATED.iter().filter_map(|k| at(k)).collect(),
            run_process: any_in(&cfg.process_keys),
            run_user: any_in(&cfg.user_keys),
            run_network: any_in(&cfg.network_keys),
            run_file: any_in(&cfg.file_keys),
            cts: vendor_at(b"ContextTimeStamp"),
            tags: vendor_at(b"Tags"),
            is_dns: contains(name, b"DnsRequest"),
            is_smb_share: contains(name, b"SmbServerShareOpenedEtw"),
            is_module_load: cfg.module_load_events.contains(name),
            process_hash: contains(name, b"Process") || contains(name, b"Service"),
            file_hash: contains(name, b"File")
                || contains(name, b"Directory")
                || contains(name, b"Executable"),
            action_override,
            name_obj,
            cat,
            name_has_directory: contains(name, b"Directory"),
            vendor,
            keys,
        }
    }
}

/// Plans by layout hash; a bucket holds the (rare) layouts whose hashes collide.
#[derive(Default)]
pub struct Plans {
    map: HashMap<u64, Vec<Plan>, FxBuild>,
    count: usize,
}

/// Distinct layouts are few (a handful per event type); the bound only guards memory
/// against a feed whose keys vary wildly (as `_MAX_PLANS`).
const MAX_PLANS: usize = 4096;

impl Plans {
    pub fn clear(&mut self) {
        self.map.clear();
        self.count = 0;
    }

    /// The plan of this record's layout, built on first sight.
    pub fn get(&mut self, py: Python<'_>, cfg: &Config, rec: &Record, name: &[u8]) -> &Plan {
        let h = layout_hash(rec, name);
        let found = self
            .map
            .get(&h)
            .and_then(|b| b.iter().position(|p| p.matches(rec, name)));
        if let Some(i) = found {
            return &self.map[&h][i];
        }
        if self.count >= MAX_PLANS {
            self.clear();
        }
        let plan = Plan::new(py, cfg, rec, name);
        self.count += 1;
        let bucket = self.map.entry(h).or_default();
        bucket.push(plan);
        bucket.last().unwrap()
    }
}
