//! Module state: the configuration (global), and the caches derived from it (per thread).
//!
//! - CONFIG holds the `Arc<Config>` that `configure` replaces; it is held only to clone or
//!   swap the Arc (no Python code runs under it), so taking it never waits on the GIL.
//! - The caches (plans, IP verdicts, parse buffers) are per thread: the pipeline normalizes
//!   on several worker threads, and a shared cache would need a lock held across the Python
//!   helpers `normalize_fdr` calls (which may release the GIL). Per thread there is no lock;
//!   a re-entrant call (a helper calling back into `normalize_fdr`) finds the caches
//!   borrowed and declines — the Python path produces the same document.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::{Bytes, Config};
use crate::hash::FxBuild;
use crate::json::Field;
use crate::plan::Plans;
use crate::time::Horizon;

/// valid_ip verdicts by address text (as falcon's `_IP_CACHE`, cleared past 8192 entries).
pub type IpCache = HashMap<Bytes, bool, FxBuild>;

pub struct Caches {
    /// The Config.generation these caches were derived from.
    pub generation: u64,
    pub plans: Plans,
    pub ips: IpCache,
    pub horizon: Horizon,
    /// Reused parse buffers: steady-state parsing allocates nothing.
    pub fields: Vec<Field>,
    pub scratch: Vec<u8>,
}

static CONFIG: Mutex<Option<Arc<Config>>> = Mutex::new(None);
static GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    // Dropped at thread exit, possibly without the GIL: pyo3 then defers the Python
    // reference releases of the plans' key strings to the next GIL acquisition.
    static CACHES: RefCell<Option<Caches>> = const { RefCell::new(None) };
}

pub fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// Installs a new configuration; returns the old one, to be dropped by the caller outside
/// the lock (dropping Python objects may run arbitrary code).
pub fn set_config(cfg: Config) -> Option<Arc<Config>> {
    let mut slot = CONFIG.lock().unwrap_or_else(PoisonError::into_inner);
    slot.replace(Arc::new(cfg))
}

pub fn config() -> Option<Arc<Config>> {
    CONFIG
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Runs `f` with this thread's caches for configuration `cfg`; None when they are in use
/// (a re-entrant call).
pub fn with_caches<R>(cfg: &Config, f: impl FnOnce(&mut Caches) -> R) -> Option<R> {
    CACHES.with(|cell| {
        let mut guard = cell.try_borrow_mut().ok()?;
        let stale = match &*guard {
            Some(c) => c.generation != cfg.generation,
            None => true,
        };
        if stale {
            *guard = Some(Caches {
                generation: cfg.generation,
                plans: Plans::default(),
                ips: IpCache::default(),
                horizon: Horizon::new(),
                fields: Vec::with_capacity(64),
                scratch: Vec::new(),
            });
        }
        guard.as_mut().map(f)
    })
}
