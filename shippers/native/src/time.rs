//! Falcon epoch times, as `epoch_ms` / `format_ms` in falcon_time.py, for the two plain
//! forms FDR uses (`1625677521162`, `1625677521.137`). Every other form (ISO text, NT ticks,
//! anything odd) is left to the Python `time_pair` by the caller.

use std::time::{SystemTime, UNIX_EPOCH};

/// Larger values can only be Windows NT ticks (handled by Python).
const NT_THRESHOLD: f64 = 72_057_594_037_927_936.0; // 0x0100000000000000
/// 12+ digits: milliseconds, else seconds.
const MS_THRESHOLD: f64 = 100_000_000_000.0;
/// A time beyond now + this is rejected as future-dated.
const SKEW_MS: i64 = 86_400_000;
/// 10000-01-01: from here on Python's strftime("%Y") is no longer 4 digits (only reachable
/// with a clock set far ahead): left to Python.
const YEAR_10000_MS: i64 = 253_402_300_800_000;

pub enum Epoch {
    /// Not a time (Python's epoch_ms returns None).
    Invalid,
    Ms(i64),
    /// A form this module does not decide: ask Python's time_pair.
    Python,
}

/// `[0-9]+` or `[0-9]+\.[0-9]+`, where Python's `float(value)` and Rust's `parse::<f64>`
/// agree (both are correctly rounded).
fn plain_number(v: &[u8]) -> Option<f64> {
    let mut dot = None;
    for (i, &b) in v.iter().enumerate() {
        if b == b'.' {
            if dot.is_some() {
                return None;
            }
            dot = Some(i);
        } else if !b.is_ascii_digit() {
            return None;
        }
    }
    match dot {
        Some(d) if d == 0 || d + 1 == v.len() => return None,
        _ => {}
    }
    if v.is_empty() {
        return None;
    }
    // All ASCII by the loop above.
    std::str::from_utf8(v).ok()?.parse::<f64>().ok()
}

/// The latest acceptable time (now + skew), refreshed only when a value exceeds it, as
/// falcon_time's `_horizon`: the common path makes no clock call.
pub struct Horizon(i64);

impl Horizon {
    pub fn new() -> Self {
        Horizon(0)
    }

    fn accepts(&mut self, ms: i64) -> bool {
        if ms <= self.0 {
            return true;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.0 = now + SKEW_MS;
        ms <= self.0
    }
}

/// `epoch_ms(value)` for a string value, or `Epoch::Python` for forms decided in Python.
pub fn epoch_ms(v: &[u8], horizon: &mut Horizon) -> Epoch {
    let Some(num) = plain_number(v) else {
        return Epoch::Python;
    };
    if num <= 0.0 {
        return Epoch::Invalid;
    }
    let ms = if num > NT_THRESHOLD {
        return Epoch::Python;
    } else if num >= MS_THRESHOLD {
        // Python int(float): truncation; num < 2**57 here, exact in i64.
        num as i64
    } else {
        // Python round(float) rounds half to even.
        (num * 1000.0).round_ties_even() as i64
    };
    if ms <= 0 || !horizon.accepts(ms) {
        return Epoch::Invalid;
    }
    if ms >= YEAR_10000_MS {
        return Epoch::Python;
    }
    Epoch::Ms(ms)
}

/// Days since 1970-01-01 → (year, month, day) (H. Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `format_ms(ms)`: `2025-04-01T11:59:59.999Z`, for 0 < ms (so years 1970..=9999).
pub fn format_ms(ms: i64) -> [u8; 24] {
    let s = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000) as u32;
    let days = s.div_euclid(86_400);
    let sod = s.rem_euclid(86_400) as u32;
    let (y, mo, d) = civil_from_days(days);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let y = y.clamp(0, 9999) as u32; // epoch_ms leaves other years to Python
    put(&mut out[0..4], y, 4);
    put(&mut out[5..7], mo, 2);
    put(&mut out[8..10], d, 2);
    put(&mut out[11..13], sod / 3600, 2);
    put(&mut out[14..16], sod / 60 % 60, 2);
    put(&mut out[17..19], sod % 60, 2);
    put(&mut out[20..23], frac, 3);
    out
}

fn put(dst: &mut [u8], mut v: u32, width: usize) {
    for i in (0..width).rev() {
        dst[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(&format_ms(1625677521162), b"2021-07-07T17:05:21.162Z");
        assert_eq!(&format_ms(1), b"1970-01-01T00:00:00.001Z");
        assert_eq!(&format_ms(951782400000), b"2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn parses() {
        let mut h = Horizon::new();
        assert!(matches!(
            epoch_ms(b"1625677521.137", &mut h),
            Epoch::Ms(1625677521137)
        ));
        assert!(matches!(
            epoch_ms(b"1625677521162", &mut h),
            Epoch::Ms(1625677521162)
        ));
        assert!(matches!(epoch_ms(b"0", &mut h), Epoch::Invalid));
        assert!(matches!(epoch_ms(b"2021-01-01", &mut h), Epoch::Python));
        assert!(matches!(
            epoch_ms(b"99999999999999", &mut h),
            Epoch::Invalid
        ));
    }
}
