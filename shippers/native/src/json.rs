//! A parser for exactly one shape of JSON: one flat object of string keys.
//!
//! That is what FDR lines are, and it is all the compiled mapping handles. String values are
//! decoded here (the mapping reads them); any other value — number, true/false/null, object,
//! array — is only delimited: its raw byte range is recorded (`Field::raw`) and, if the
//! mapping keeps it, orjson parses exactly that slice (through Python's `vendor_json`).
//! Anything else — trailing bytes, invalid UTF-8, a raw control character in a string, an
//! escape we do not decode exactly as orjson does, nesting deeper than `MAX_DEPTH` — makes
//! `parse` return `None`, and the line takes the Python path (orjson decides what it is).
//! Declining is always safe; accepting something orjson would read differently is not.
//!
//! Why delimiting is enough: in a valid line, a scalar value (number, true, false, null)
//! contains no `,` `}` or whitespace and is followed by one of them, and a container ends at
//! its matching bracket once strings (with their escapes) are skipped. So when the line is
//! valid the ranges found are exactly its values; when it is not, either the structure
//! checks here fail or orjson rejects a slice (an error: the Python path reports the line).
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
    /// The decoded string value, or (`raw`) the range of a non-string value in the line.
    pub val: Str,
    /// The value is not a string: `val` is its undecoded JSON text (never read as a str).
    pub raw: bool,
}

/// Deepest container nesting accepted in a value. orjson refuses a document nested deeper
/// than 1024 levels, so a slice at depth 1024 would parse alone yet fail in its line; FDR
/// values nest two or three levels. Deeper values are declined, well short of that edge
/// (and of Python's recursion limit, which `vendor_value` recurses against).
const MAX_DEPTH: usize = 128;

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

/// The index of the first non-whitespace byte at or after `i` (JSON whitespace only).
#[inline]
fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && is_ws(line[i]) {
        i += 1;
    }
    i
}

/// Fills `fields` (and `scratch`, for strings with escapes) from `line`. None = decline;
/// Some(true) when some value is not a string (see `Field::raw`).
///
/// The caller keeps both buffers between lines, so steady state parsing allocates nothing.
pub fn parse(line: &[u8], fields: &mut Vec<Field>, scratch: &mut Vec<u8>) -> Option<bool> {
    fields.clear();
    scratch.clear();
    // Lines are at most a few MB (the caller caps them), so u32 offsets suffice; validate the
    // whole line once: every string is then valid UTF-8 too (they are cut at ASCII quotes).
    if line.len() >= u32::MAX as usize || std::str::from_utf8(line).is_err() {
        return None;
    }
    let mut has_raw = false;
    let n = line.len();
    let mut i = 0;
    i = skip_ws(line, i);
    if i >= n || line[i] != b'{' {
        return None;
    }
    i += 1;
    i = skip_ws(line, i);
    if i < n && line[i] == b'}' {
        i += 1;
    } else {
        loop {
            if i >= n || line[i] != b'"' {
                return None;
            }
            let (key, j) = string(line, i + 1, scratch)?;
            i = j;
            i = skip_ws(line, i);
            if i >= n || line[i] != b':' {
                return None;
            }
            i += 1;
            i = skip_ws(line, i);
            if i >= n {
                return None;
            }
            if line[i] == b'"' {
                let (val, j) = string(line, i + 1, scratch)?;
                i = j;
                fields.push(Field {
                    key,
                    val,
                    raw: false,
                });
            } else {
                // A number, true/false/null, object or array: delimited, not decoded.
                let j = skip_value(line, i)?;
                let val = Str {
                    start: i as u32,
                    end: j as u32,
                    scratch: false,
                    ascii: false,
                };
                i = j;
                has_raw = true;
                fields.push(Field {
                    key,
                    val,
                    raw: true,
                });
            }
            i = skip_ws(line, i);
            if i >= n {
                return None;
            }
            match line[i] {
                b',' => {
                    i += 1;
                    i = skip_ws(line, i);
                }
                b'}' => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    i = skip_ws(line, i);
    (i == n).then_some(has_raw)
}

/// The end (exclusive) of the non-string value starting at `start`, or None to decline.
///
/// Only delimits: what lies inside is validated by orjson when the slice is parsed. A
/// container ends at the bracket that brings the nesting back to zero (strings skipped,
/// with their backslash escapes, so brackets and quotes inside them do not count); a scalar
/// runs up to the next `,`, `}` or JSON whitespace.
#[cold]
fn skip_value(line: &[u8], start: usize) -> Option<usize> {
    let n = line.len();
    let mut i = start;
    if !matches!(line[i], b'{' | b'[') {
        while i < n && !matches!(line[i], b',' | b'}') && !is_ws(line[i]) {
            i += 1;
        }
        // Nothing at all (`"k":,`) is no value.
        return (i > start).then_some(i);
    }
    let mut depth = 0usize;
    while i < n {
        match line[i] {
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return None;
                }
            }
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'"' => {
                // Skip the string: up to the next quote not escaped by a backslash.
                i += 1;
                loop {
                    match *line.get(i)? {
                        b'"' => break,
                        b'\\' => i += 2,
                        _ => i += 1,
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
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

    /// (key, value text, raw) per field: a raw value's text is its JSON slice.
    fn run(s: &[u8]) -> Option<Vec<(String, String, bool)>> {
        let mut f = Vec::new();
        let mut sc = Vec::new();
        parse(s, &mut f, &mut sc)?;
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
                        f[i].raw,
                    )
                })
                .collect(),
        )
    }

    fn raw_values(s: &[u8]) -> Vec<String> {
        run(s)
            .unwrap()
            .into_iter()
            .filter(|f| f.2)
            .map(|f| f.1)
            .collect()
    }

    #[test]
    fn shapes() {
        assert_eq!(run(b" { } ").unwrap().len(), 0);
        let v = run(br#"{"a":"b", "c" : "d\"e\u00e9\ud83d\ude00"}"#).unwrap();
        assert_eq!(v[1].1, "d\"e\u{e9}\u{1F600}");
        assert!(!v[1].2);
        assert!(run(br#"{"a":"b",}"#).is_none());
        assert!(run(br#"{"a":"b"}x"#).is_none());
        assert!(run(br#"{"a":"\ud83d"}"#).is_none());
        assert!(run(b"{\"a\":\"\x01\"}").is_none());
        assert!(run(br#"{"a":"\x"}"#).is_none());
    }

    #[test]
    fn non_string_values_are_delimited() {
        assert_eq!(
            raw_values(br#"{"a":1,"b": -0.0 ,"c":true,"d":null}"#),
            ["1", "-0.0", "true", "null"]
        );
        assert_eq!(
            raw_values(b"{\"a\":1e16\n,\"b\":18446744073709551615\t}"),
            ["1e16", "18446744073709551615"]
        );
        assert_eq!(
            raw_values(br#"{"a":{"x":"}]\"{","y":[1,{}]} ,"b":[],"c":{}}"#),
            [r#"{"x":"}]\"{","y":[1,{}]}"#, "[]", "{}"]
        );
        // Whitespace inside a container belongs to it.
        assert_eq!(raw_values(b"{\"a\":[ 1 ,\n 2 ]}"), ["[ 1 ,\n 2 ]"]);
        // Invalid scalars are delimited all the same (orjson rejects the slice later).
        assert_eq!(raw_values(br#"{"a":tru]e}"#), ["tru]e"]);
        // No value, unbalanced or unterminated containers, junk after a value: declined.
        assert!(run(br#"{"a":}"#).is_none());
        assert!(run(br#"{"a":,"b":"c"}"#).is_none());
        assert!(run(br#"{"a":[1,2}"#).is_none());
        assert!(run(br#"{"a":{"b":"}"}"#).is_none());
        assert!(run(br#"{"a":[1] 2}"#).is_none());
        assert!(run(br#"{"a":1 2}"#).is_none());
        assert!(run(br#"{"a":["\"]}"#).is_none());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |d: usize| {
            let mut s = b"{\"a\":".to_vec();
            s.extend(std::iter::repeat_n(b'[', d));
            s.extend(std::iter::repeat_n(b']', d));
            s.push(b'}');
            s
        };
        assert!(run(&deep(MAX_DEPTH)).is_some());
        assert!(run(&deep(MAX_DEPTH + 1)).is_none());
    }
}
