//! A parser for exactly one shape of JSON: one flat object whose values are all strings.
//!
//! That is what FDR lines are, and it is all the compiled mapping handles. Anything else —
//! a number, null, bool, nested value, trailing bytes, invalid UTF-8, a raw control character
//! in a string, an escape we do not decode exactly as orjson does — makes `parse` return
//! `None`, and the line takes the Python path (orjson decides what it is). Declining is
//! always safe; accepting something orjson would read differently is not.
//!
//! Strings without escapes (nearly all of them) are not copied: a `Str` is a range of the
//! input line. Only strings with escapes are decoded, into one scratch buffer per line.

/// A decoded string: a byte range of the line, or of the scratch buffer when it had escapes.
#[derive(Clone, Copy, Debug)]
pub struct Str {
    pub start: u32,
    pub end: u32,
    /// Decoded into the scratch buffer (the string had escapes).
    pub scratch: bool,
    /// Only ASCII bytes: the Python str can be built by a plain copy.
    pub ascii: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub key: Str,
    pub val: Str,
}

/// The parsed record: the line, the scratch buffer and the fields, in record order.
pub struct Record<'a> {
    pub line: &'a [u8],
    pub scratch: &'a [u8],
    pub fields: &'a [Field],
}

impl<'a> Record<'a> {
    #[inline]
    pub fn bytes(&self, s: Str) -> &'a [u8] {
        let src = if s.scratch { self.scratch } else { self.line };
        &src[s.start as usize..s.end as usize]
    }
    #[inline]
    pub fn key(&self, i: usize) -> &'a [u8] {
        self.bytes(self.fields[i].key)
    }
    #[inline]
    pub fn val(&self, i: usize) -> &'a [u8] {
        self.bytes(self.fields[i].val)
    }
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Fills `fields` (and `scratch`, for strings with escapes) from `line`; false = decline.
///
/// The caller keeps both buffers between lines, so steady state parsing allocates nothing.
pub fn parse(line: &[u8], fields: &mut Vec<Field>, scratch: &mut Vec<u8>) -> bool {
    fields.clear();
    scratch.clear();
    // Lines are at most a few MB (the caller caps them), so u32 offsets suffice; validate the
    // whole line once: every string is then valid UTF-8 too (they are cut at ASCII quotes).
    if line.len() >= u32::MAX as usize || std::str::from_utf8(line).is_err() {
        return false;
    }
    let n = line.len();
    let mut i = 0;
    while i < n && is_ws(line[i]) {
        i += 1;
    }
    if i >= n || line[i] != b'{' {
        return false;
    }
    i += 1;
    while i < n && is_ws(line[i]) {
        i += 1;
    }
    if i < n && line[i] == b'}' {
        i += 1;
    } else {
        loop {
            if i >= n || line[i] != b'"' {
                return false;
            }
            let Some((key, j)) = string(line, i + 1, scratch) else {
                return false;
            };
            i = j;
            while i < n && is_ws(line[i]) {
                i += 1;
            }
            if i >= n || line[i] != b':' {
                return false;
            }
            i += 1;
            while i < n && is_ws(line[i]) {
                i += 1;
            }
            // Only string values: anything else (number, null, nested) is the Python path's.
            if i >= n || line[i] != b'"' {
                return false;
            }
            let Some((val, j)) = string(line, i + 1, scratch) else {
                return false;
            };
            i = j;
            fields.push(Field { key, val });
            while i < n && is_ws(line[i]) {
                i += 1;
            }
            if i >= n {
                return false;
            }
            match line[i] {
                b',' => {
                    i += 1;
                    while i < n && is_ws(line[i]) {
                        i += 1;
                    }
                }
                b'}' => {
                    i += 1;
                    break;
                }
                _ => return false,
            }
        }
    }
    while i < n && is_ws(line[i]) {
        i += 1;
    }
    i == n
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of each byte of the 8 that is '"', '\\', a control character (< 0x20) or non-ASCII
/// (>= 0x80). The classic zero-byte tricks may also flag bytes *after* a flagged one (borrow
/// propagation), never before: the lowest set bit is exact, which is all the scanner uses.
#[inline]
fn special(x: u64) -> u64 {
    let q = x ^ (LO * b'"' as u64);
    let b = x ^ (LO * b'\\' as u64);
    let has_q = q.wrapping_sub(LO) & !q;
    let has_b = b.wrapping_sub(LO) & !b;
    let has_ctl = x.wrapping_sub(LO * 0x20) & !x;
    (has_q | has_b | has_ctl | x) & HI
}

/// The string starting at `start` (just past its opening quote): (decoded, index past the
/// closing quote), or None to decline.
#[inline]
fn string(line: &[u8], start: usize, scratch: &mut Vec<u8>) -> Option<(Str, usize)> {
    let n = line.len();
    let mut i = start;
    let mut ascii = true;
    loop {
        // Eight bytes at a time over plain ASCII text, the common case.
        while i + 8 <= n {
            let x = u64::from_le_bytes(line[i..i + 8].try_into().unwrap());
            let m = special(x);
            if m != 0 {
                // Straight to the first special byte.
                i += (m.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        if i >= n {
            return None;
        }
        let c = line[i];
        match c {
            b'"' => {
                let s = Str {
                    start: start as u32,
                    end: i as u32,
                    scratch: false,
                    ascii,
                };
                return Some((s, i + 1));
            }
            b'\\' => return escaped(line, start, i, ascii, scratch),
            0..=0x1f => return None,
            0x80..=0xff => {
                ascii = false;
                i += 1;
            }
            _ => i += 1,
        }
    }
}

/// The rest of a string that has an escape at `esc`: decoded into `scratch`.
#[cold]
fn escaped(
    line: &[u8],
    start: usize,
    mut i: usize,
    mut ascii: bool,
    scratch: &mut Vec<u8>,
) -> Option<(Str, usize)> {
    let n = line.len();
    let out_start = scratch.len();
    scratch.extend_from_slice(&line[start..i]);
    loop {
        if i >= n {
            return None;
        }
        let c = line[i];
        match c {
            b'"' => {
                let s = Str {
                    start: out_start as u32,
                    end: scratch.len() as u32,
                    scratch: true,
                    ascii,
                };
                return Some((s, i + 1));
            }
            b'\\' => {
                if i + 1 >= n {
                    return None;
                }
                let e = line[i + 1];
                i += 2;
                let simple = match e {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => 0,
                    _ => return None,
                };
                if e != b'u' {
                    scratch.push(simple);
                    continue;
                }
                let hi = hex4(line, i)?;
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by an escaped low one; a lone
                    // surrogate is declined (orjson rejects it).
                    if i + 6 > n || line[i] != b'\\' || line[i + 1] != b'u' {
                        return None;
                    }
                    let lo = hex4(line, i + 2)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else if (0xDC00..0xE000).contains(&hi) {
                    return None;
                } else {
                    hi
                };
                let ch = char::from_u32(cp)?;
                if !ch.is_ascii() {
                    ascii = false;
                }
                let mut buf = [0u8; 4];
                scratch.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            0..=0x1f => return None,
            _ => {
                if c >= 0x80 {
                    ascii = false;
                }
                scratch.push(c);
                i += 1;
            }
        }
    }
}

fn hex4(line: &[u8], i: usize) -> Option<u32> {
    if i + 4 > line.len() {
        return None;
    }
    let mut v = 0u32;
    for &b in &line[i..i + 4] {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | d as u32;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &[u8]) -> Option<Vec<(String, String)>> {
        let mut f = Vec::new();
        let mut sc = Vec::new();
        if !parse(s, &mut f, &mut sc) {
            return None;
        }
        let r = Record {
            line: s,
            scratch: &sc,
            fields: &f,
        };
        Some(
            (0..f.len())
                .map(|i| {
                    (
                        String::from_utf8(r.key(i).to_vec()).unwrap(),
                        String::from_utf8(r.val(i).to_vec()).unwrap(),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn shapes() {
        assert_eq!(run(b" { } ").unwrap().len(), 0);
        let v = run(br#"{"a":"b", "c" : "d\"e\u00e9\ud83d\ude00"}"#).unwrap();
        assert_eq!(v[1].1, "d\"e\u{e9}\u{1F600}");
        assert!(run(br#"{"a":1}"#).is_none());
        assert!(run(br#"{"a":"b",}"#).is_none());
        assert!(run(br#"{"a":"b"}x"#).is_none());
        assert!(run(br#"{"a":"\ud83d"}"#).is_none());
        assert!(run(b"{\"a\":\"\x01\"}").is_none());
        assert!(run(br#"{"a":"\x"}"#).is_none());
    }
}
