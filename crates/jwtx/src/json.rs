//! A strict, allocation-light JSON checker run on decoded JWS segments before they are trusted.
//!
//! It checks the whole RFC 8259 grammar, requires the top level to be an object, rejects
//! duplicate member names at every nesting level (comparing names after unescaping, so
//! `"a"` and `"\u0061"` collide), and bounds nesting depth. Its error messages follow
//! Python's `json` module (`Expecting value: line 1 column 1 (char 0)`), which is what
//! flask-jwt-extended puts in its `Invalid header string: …` responses.
//!
//! Two things Python's `json` takes are refused because no Rust reader can represent them and
//! every reader of a token must agree on what it says: lone surrogate escapes (`"\ud800"`)
//! and numbers beyond `f64` (`1e400`). The exception is a top-level `exp`, `iat` or `nbf`
//! out of range: the scan reports where it is ([`Checked::overflowing_dates`]) so that the
//! verifier can answer flask-jwt-extended's "must be an integer" after the signature check.
//!
//! Work is linear in the input: member names are compared through a hash set once an
//! object has more than a handful of them.
//!
//! The scan also lists where the top-level members lie ([`Checked::members`]), so that a
//! reader wanting only a few of them (the registered claims) need not scan the text again.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

/// Nesting deeper than this is rejected (objects and arrays both count).
pub(crate) const MAX_DEPTH: usize = 32;

/// What was wrong with a JSON document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JsonErrorKind {
    /// Bytes `start..=end` are not UTF-8 (Python reports byte positions).
    NotUtf8 {
        first: u8,
        start: usize,
        end: usize,
        reason: Utf8Reason,
    },
    LoneSurrogate,
    NumberOutOfRange,
    ExpectingValue,
    ExpectingComma,
    ExpectingColon,
    ExpectingPropertyName,
    ExtraData,
    UnterminatedString,
    InvalidEscape,
    InvalidControl,
    NotAnObject,
    DuplicateMember,
    TooDeep,
}

/// Python's name for a UTF-8 decoding failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Utf8Reason {
    InvalidStart,
    InvalidContinuation,
    UnexpectedEnd,
}

impl Utf8Reason {
    fn as_str(self) -> &'static str {
        match self {
            Utf8Reason::InvalidStart => "invalid start byte",
            Utf8Reason::InvalidContinuation => "invalid continuation byte",
            Utf8Reason::UnexpectedEnd => "unexpected end of data",
        }
    }
}

/// What a successful scan found that the caller must still act on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Checked {
    /// Byte ranges of top-level `exp`/`iat`/`nbf` values that are numbers beyond `f64`.
    pub(crate) overflowing_dates: Vec<Range<usize>>,
    /// Where the top-level members lie.
    pub(crate) members: Members,
}

/// The most top-level members [`Members`] lists; an object with more is not listed.
pub(crate) const MAX_LISTED_MEMBERS: usize = 16;
const _: () = assert!(
    MAX_LISTED_MEMBERS <= u16::BITS as usize,
    "one bit each in `plain_strings`"
);

/// The top-level members of a checked object, in document order: for each, the byte ranges
/// of its name (between the quotes) and of its value, and whether that value is a string
/// without escapes. Listed only when every name is free of escapes (so the raw bytes are the
/// name), there are at most [`MAX_LISTED_MEMBERS`] and the document is under 4 GiB (offsets
/// are `u32`, to keep this small enough to move).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Members {
    /// `[name start, name end, value start, value end]` per member.
    spans: [[u32; 4]; MAX_LISTED_MEMBERS],
    len: usize,
    /// Bit `i`: member `i`'s value is a string without escapes.
    plain_strings: u16,
    /// The length of the document listed; `None` when a member could not be listed (or
    /// nothing was scanned).
    doc_len: Option<u32>,
}

/// A listed member's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value<'d> {
    /// A string without escapes: its text, between the quotes, which is its value.
    Text(&'d str),
    /// Anything else, as JSON text.
    Json(&'d str),
}

impl Members {
    /// `(name, value)` of every top-level member of `doc`, which must be the document this
    /// was scanned from; `None` when the members are not all listed, or `doc` has another
    /// length. (Handed another document of the same length, it reads whatever lies at the
    /// spans, never out of bounds: a span off `doc`'s character boundaries reads as an empty
    /// name or as empty JSON, which no reader accepts.)
    pub(crate) fn plain<'d>(
        &self,
        doc: &'d str,
    ) -> Option<impl Iterator<Item = (&'d str, Value<'d>)>> {
        if self.doc_len.is_none() || self.doc_len != u32::try_from(doc.len()).ok() {
            return None;
        }
        let plain_strings = self.plain_strings;
        let span = |a: u32, b: u32| doc.get(a as usize..b as usize);
        Some(
            self.spans[..self.len]
                .iter()
                .enumerate()
                .map(move |(i, &[ns, ne, vs, ve])| {
                    let name = span(ns, ne).unwrap_or_default();
                    let text = plain_strings & (1 << i) != 0;
                    let value = match span(vs, ve) {
                        Some(v) if text => v
                            .strip_prefix('"')
                            .and_then(|v| v.strip_suffix('"'))
                            .map_or(Value::Json(""), Value::Text),
                        v => Value::Json(v.unwrap_or_default()),
                    };
                    (name, value)
                }),
        )
    }

    /// Starts a listing for `doc`: only a document whose offsets fit in `u32` is listed.
    fn for_doc(doc: &[u8]) -> Members {
        Members {
            doc_len: u32::try_from(doc.len()).ok(),
            ..Members::default()
        }
    }

    fn push(&mut self, name: Range<usize>, escaped: bool, value: Range<usize>, plain_string: bool) {
        if self.doc_len.is_some() && !escaped && self.len < MAX_LISTED_MEMBERS {
            // Every offset is at most the document's length, which `for_doc` checked.
            self.spans[self.len] = [name.start, name.end, value.start, value.end].map(|i| i as u32);
            self.plain_strings |= u16::from(plain_string) << self.len;
            self.len += 1;
        } else {
            self.doc_len = None;
        }
    }
}

/// A JSON error with the byte offset it was found at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub(crate) kind: JsonErrorKind,
    /// Line, column (1-based) and character index, as Python reports them.
    line: usize,
    column: usize,
    char_index: usize,
}

impl JsonError {
    /// A number beyond `f64` at `byte_pos` (for callers that do not allow one anywhere).
    pub(crate) fn number_out_of_range(doc: &[u8], byte_pos: usize) -> Self {
        JsonError::at(JsonErrorKind::NumberOutOfRange, doc, byte_pos)
    }

    fn at(kind: JsonErrorKind, doc: &[u8], byte_pos: usize) -> Self {
        // Positions are reported in characters, like Python; counting is only done on error.
        let prefix = &doc[..byte_pos.min(doc.len())];
        let chars = |b: &[u8]| b.iter().filter(|&&c| (c & 0xC0) != 0x80).count();
        let char_index = chars(prefix);
        let line = prefix.iter().filter(|&&c| c == b'\n').count() + 1;
        let column = match prefix.iter().rposition(|&c| c == b'\n') {
            Some(nl) => chars(&prefix[nl + 1..]) + 1,
            None => char_index + 1,
        };
        JsonError {
            kind,
            line,
            column,
            char_index,
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            JsonErrorKind::NotUtf8 {
                first,
                start,
                end,
                reason,
            } => {
                let reason = reason.as_str();
                return if start == end {
                    write!(
                        f,
                        "'utf-8' codec can't decode byte 0x{first:02x} in position {start}: {reason}"
                    )
                } else {
                    write!(
                        f,
                        "'utf-8' codec can't decode bytes in position {start}-{end}: {reason}"
                    )
                };
            }
            JsonErrorKind::LoneSurrogate => "Unpaired surrogate in \\uXXXX escape",
            JsonErrorKind::NumberOutOfRange => "Number out of range",
            JsonErrorKind::NotAnObject => return f.write_str("must be a json object"),
            JsonErrorKind::ExpectingValue => "Expecting value",
            JsonErrorKind::ExpectingComma => "Expecting ',' delimiter",
            JsonErrorKind::ExpectingColon => "Expecting ':' delimiter",
            JsonErrorKind::ExpectingPropertyName => {
                "Expecting property name enclosed in double quotes"
            }
            JsonErrorKind::ExtraData => "Extra data",
            JsonErrorKind::UnterminatedString => "Unterminated string starting at",
            JsonErrorKind::InvalidEscape => "Invalid \\escape",
            JsonErrorKind::InvalidControl => "Invalid control character at",
            JsonErrorKind::DuplicateMember => "Duplicate member name",
            JsonErrorKind::TooDeep => "Nesting too deep",
        };
        write!(
            f,
            "{what}: line {} column {} (char {})",
            self.line, self.column, self.char_index
        )
    }
}

/// Checks that `doc` is UTF-8 JSON whose top level is an object, with no duplicate member
/// names anywhere and nesting no deeper than [`MAX_DEPTH`].
pub(crate) fn check_object(doc: &[u8]) -> Result<Checked, JsonError> {
    if let Err(e) = std::str::from_utf8(doc) {
        return Err(utf8_error(doc, &e));
    }
    let mut s = Scanner {
        doc,
        pos: 0,
        checked: Checked {
            overflowing_dates: Vec::new(),
            members: Members::for_doc(doc),
        },
    };
    s.skip_ws();
    if s.peek() != Some(b'{') {
        // Python parses the value first and only then complains that it is not an object.
        s.value(0)?;
        s.skip_ws();
        if s.pos != doc.len() {
            return Err(s.err(JsonErrorKind::ExtraData));
        }
        return Err(JsonError::at(JsonErrorKind::NotAnObject, doc, 0));
    }
    s.value(0)?;
    s.skip_ws();
    if s.pos != doc.len() {
        return Err(s.err(JsonErrorKind::ExtraData));
    }
    Ok(s.checked)
}

/// Python's `UnicodeDecodeError` for the first invalid sequence: the same maximal-subpart
/// rule as Rust's `Utf8Error`, named and positioned in bytes.
fn utf8_error(doc: &[u8], e: &std::str::Utf8Error) -> JsonError {
    let start = e.valid_up_to();
    let first = doc.get(start).copied().unwrap_or(0);
    let (end, reason) = match e.error_len() {
        None => (doc.len().saturating_sub(1), Utf8Reason::UnexpectedEnd),
        Some(n) if n == 1 && !matches!(first, 0xC2..=0xF4) => (start, Utf8Reason::InvalidStart),
        Some(n) => (start + n - 1, Utf8Reason::InvalidContinuation),
    };
    JsonError {
        kind: JsonErrorKind::NotUtf8 {
            first,
            start,
            end,
            reason,
        },
        line: 1,
        column: start + 1,
        char_index: start,
    }
}

struct Scanner<'a> {
    doc: &'a [u8],
    pos: usize,
    checked: Checked,
}

/// Whether a member name (raw, maybe escaped) is one of the NumericDate claims.
fn is_date_claim(raw: &[u8], escaped: bool) -> bool {
    let is = |n: &[u8]| matches!(n, b"exp" | b"iat" | b"nbf");
    if escaped { is(&unescape(raw)) } else { is(raw) }
}

/// Member names seen in one object: borrowed slices on the stack while there are few of
/// them and none is escaped, a hash set of unescaped names after that. Each of the few has a
/// fingerprint (length, first and last byte), so a new name is compared byte by byte only
/// with those it could equal: a token's claims differ in one of the three.
struct Seen<'a> {
    few: [&'a [u8]; 16],
    prints: [u64; 16],
    len: usize,
    many: Option<HashSet<Vec<u8>>>,
}

impl<'a> Seen<'a> {
    fn new() -> Self {
        Seen {
            few: [&[]; 16],
            prints: [0; 16],
            len: 0,
            many: None,
        }
    }

    fn print(raw: &[u8]) -> u64 {
        let edge = |b: Option<&u8>| u64::from(b.copied().unwrap_or(0));
        ((raw.len() as u64) << 16) | (edge(raw.first()) << 8) | edge(raw.last())
    }

    /// Records a name; false if it was already there.
    fn insert(&mut self, raw: &'a [u8], escaped: bool) -> bool {
        if self.many.is_none() && !escaped && self.len < self.few.len() {
            let print = Self::print(raw);
            let seen = self.prints[..self.len]
                .iter()
                .zip(&self.few[..self.len])
                .any(|(p, name)| *p == print && *name == raw);
            if seen {
                return false;
            }
            self.few[self.len] = raw;
            self.prints[self.len] = print;
            self.len += 1;
            return true;
        }
        let many = self
            .many
            .get_or_insert_with(|| self.few[..self.len].iter().map(|k| k.to_vec()).collect());
        let name = if escaped { unescape(raw) } else { raw.to_vec() };
        many.insert(name)
    }
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.doc.get(self.pos).copied()
    }

    fn err(&self, kind: JsonErrorKind) -> JsonError {
        JsonError::at(kind, self.doc, self.pos)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), JsonError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                if self.number()? {
                    return Err(JsonError::at(
                        JsonErrorKind::NumberOutOfRange,
                        self.doc,
                        start,
                    ));
                }
                Ok(())
            }
            _ => Err(self.err(JsonErrorKind::ExpectingValue)),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.doc[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.err(JsonErrorKind::ExpectingValue))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Scans a number; `Ok(true)` if it is grammatical but beyond `f64`.
    fn number(&mut self) -> Result<bool, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => {
                self.pos = start;
                return Err(self.err(JsonErrorKind::ExpectingValue));
            }
        }
        // A fraction or exponent without digits ends the number before the '.' or 'e',
        // exactly as Python's scanner does; the caller then reports the stray character.
        if self.peek() == Some(b'.') && matches!(self.doc.get(self.pos + 1), Some(b'0'..=b'9')) {
            self.pos += 1;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            let save = self.pos;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                self.pos = save;
            }
        }
        // Only long numbers or ones with an exponent can overflow; the text is ASCII.
        let text = &self.doc[start..self.pos];
        let suspicious = text.len() > 300 || text.iter().any(|&c| c == b'e' || c == b'E');
        Ok(suspicious
            && std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_none_or(|f| !f.is_finite()))
    }

    /// Scans a string starting at its opening quote; returns the raw bytes between the
    /// quotes and whether they contain escapes.
    fn string(&mut self) -> Result<(&'a [u8], bool), JsonError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            // Skip the run of bytes that need no attention, eight at a time.
            self.pos += plain_run(self.doc.get(self.pos..).unwrap_or_default());
            match self.peek() {
                None => {
                    return Err(JsonError::at(
                        JsonErrorKind::UnterminatedString,
                        self.doc,
                        open,
                    ));
                }
                Some(b'"') => {
                    let raw = &self.doc[start..self.pos];
                    self.pos += 1;
                    return Ok((raw, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    match self.doc.get(self.pos + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 2;
                        }
                        Some(b'u') if self.hex4(self.pos + 2).is_some() => {
                            self.unicode_escape()?;
                        }
                        None => {
                            return Err(JsonError::at(
                                JsonErrorKind::UnterminatedString,
                                self.doc,
                                open,
                            ));
                        }
                        _ => return Err(self.err(JsonErrorKind::InvalidEscape)),
                    }
                }
                Some(c) if c < 0x20 => return Err(self.err(JsonErrorKind::InvalidControl)),
                Some(_) => self.pos += 1,
            }
        }
    }

    /// The value of the four hex digits at `at`, if there are four.
    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.doc.get(at..at + 4)?;
        h.iter()
            .try_fold(0u32, |acc, &c| Some(acc * 16 + (c as char).to_digit(16)?))
    }

    /// Consumes a `\uXXXX` escape (or a surrogate pair of them) at `pos`; refuses a lone
    /// surrogate, which no Rust string can hold.
    fn unicode_escape(&mut self) -> Result<(), JsonError> {
        let lone = |s: &Self| Err(s.err(JsonErrorKind::LoneSurrogate));
        match self.hex4(self.pos + 2) {
            Some(0xD800..=0xDBFF) => {
                let pair = self.doc.get(self.pos + 6..self.pos + 8) == Some(&b"\\u"[..])
                    && matches!(self.hex4(self.pos + 8), Some(0xDC00..=0xDFFF));
                if !pair {
                    return lone(self);
                }
                self.pos += 12;
            }
            Some(0xDC00..=0xDFFF) => return lone(self),
            _ => self.pos += 6,
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err(JsonErrorKind::TooDeep));
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut seen = Seen::new();
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err(JsonErrorKind::ExpectingPropertyName));
            }
            let name_at = self.pos;
            let (name, escaped) = self.string()?;
            let name_span = name_at + 1..self.pos - 1;
            if !seen.insert(name, escaped) {
                return Err(JsonError::at(
                    JsonErrorKind::DuplicateMember,
                    self.doc,
                    name_at,
                ));
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err(JsonErrorKind::ExpectingColon));
            }
            self.pos += 1;
            self.skip_ws();
            let value_at = self.pos;
            let top_level_date = depth == 1
                && matches!(self.peek(), Some(b'-' | b'0'..=b'9'))
                && is_date_claim(name, escaped);
            let mut plain_string = false;
            if top_level_date {
                if self.number()? {
                    self.checked.overflowing_dates.push(value_at..self.pos);
                }
            } else if depth == 1 && self.peek() == Some(b'"') {
                plain_string = !self.string()?.1;
            } else {
                self.value(depth)?;
            }
            if depth == 1 {
                self.checked
                    .members
                    .push(name_span, escaped, value_at..self.pos, plain_string);
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err(JsonErrorKind::ExpectingComma)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err(JsonErrorKind::TooDeep));
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.value(depth)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err(JsonErrorKind::ExpectingComma)),
            }
        }
    }
}

/// Whether `c` ends a run of plain string bytes: a quote, a backslash or a control character.
fn is_special(c: u8) -> bool {
    c == b'"' || c == b'\\' || c < 0x20
}

/// The length of the run of bytes at the start of `s` that a string scan can skip: up to the
/// first quote, backslash or control character, or all of `s`. (UTF-8 is checked once for
/// the whole document before the scan, so other bytes need no look.)
///
/// Eight bytes at a time, as one `u64`: `(x - n…n) & !x & 0x80…80` marks the bytes of `x`
/// below `n` (n ≤ 0x80), so `n` = 1 after an XOR with a repeated byte finds that byte, and
/// `n` = 0x20 finds control characters. A borrow can mark a byte above a marked one too,
/// never one below it, so the lowest mark (the first byte, loaded little-endian) is always a
/// real one.
fn plain_run(s: &[u8]) -> usize {
    let repeat = |b: u8| u64::from_ne_bytes([b; 8]);
    let below = |x: u64, n: u8| x.wrapping_sub(repeat(n)) & !x & repeat(0x80);
    let mut chunks = s.chunks_exact(8);
    let mut skipped = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let marks = below(w ^ repeat(b'"'), 1) | below(w ^ repeat(b'\\'), 1) | below(w, 0x20);
        if marks != 0 {
            return skipped + (marks.trailing_zeros() / 8) as usize;
        }
        skipped += 8;
    }
    let tail = chunks.remainder();
    skipped
        + tail
            .iter()
            .position(|&c| is_special(c))
            .unwrap_or(tail.len())
}

/// Unescapes a member name already checked by the scanner (which refuses lone surrogates;
/// were one to get here, it is kept in its 3-byte generalized UTF-8 form so that distinct
/// names stay distinct).
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    let hex4 = |b: &[u8]| -> u32 {
        b.iter().fold(0, |acc, &c| {
            acc * 16 + (c as char).to_digit(16).unwrap_or(0)
        })
    };
    while i < raw.len() {
        if raw[i] != b'\\' {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        let c = raw.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let simple = match c {
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'u' => None,
            other => Some(other),
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let mut cp = hex4(raw.get(i..i + 4).unwrap_or(&[]));
        i += 4;
        if (0xD800..0xDC00).contains(&cp)
            && raw.get(i) == Some(&b'\\')
            && raw.get(i + 1) == Some(&b'u')
        {
            let low = hex4(raw.get(i + 2..i + 6).unwrap_or(&[]));
            if (0xDC00..0xE000).contains(&low) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                i += 6;
            }
        }
        match char::from_u32(cp) {
            Some(ch) => out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes()),
            None => out.extend_from_slice(&[
                0xE0 | (cp >> 12) as u8,
                0x80 | ((cp >> 6) & 0x3F) as u8,
                0x80 | (cp & 0x3F) as u8,
            ]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(doc: &str) -> String {
        check_object(doc.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn accepts_objects() {
        for ok in [
            "{}",
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#" {"a":[1,-2.5e+3,true,false,null,{"b":"\u00e9\n"}]} "#,
            r#"{"a":{"a":{"a":1}}}"#,
        ] {
            check_object(ok.as_bytes()).unwrap();
        }
    }

    #[test]
    fn python_style_messages() {
        assert_eq!(msg(""), "Expecting value: line 1 column 1 (char 0)");
        assert_eq!(msg("garbage"), "Expecting value: line 1 column 1 (char 0)");
        assert_eq!(msg("[1,2]"), "must be a json object");
        assert_eq!(msg("1"), "must be a json object");
        assert_eq!(
            msg(r#"{"a" 1}"#),
            "Expecting ':' delimiter: line 1 column 6 (char 5)"
        );
        assert_eq!(
            msg(r#"{"a":1 "b":2}"#),
            "Expecting ',' delimiter: line 1 column 8 (char 7)"
        );
        assert_eq!(
            msg(r#"{"a":1,}"#),
            "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)"
        );
        assert_eq!(msg(r#"{"a":1} x"#), "Extra data: line 1 column 9 (char 8)");
        assert_eq!(
            msg("{\"a\":\"\u{e9}"),
            "Unterminated string starting at: line 1 column 6 (char 5)"
        );
        assert_eq!(
            msg("{\n\"a\":x}"),
            "Expecting value: line 2 column 5 (char 6)"
        );
    }

    #[test]
    fn rejects_duplicates_at_every_level_even_when_escaped() {
        assert_eq!(
            msg(r#"{"alg":"HS256","alg":"none"}"#),
            "Duplicate member name: line 1 column 16 (char 15)"
        );
        assert!(check_object(br#"{"a":1,"\u0061":2}"#).is_err());
        assert!(check_object(br#"{"x":{"b":1,"b":2}}"#).is_err());
        assert!(check_object(br#"{"x":[{"b":1,"b":2}]}"#).is_err());
        // Many members switch to the hash set; a late duplicate is still found.
        let mut doc = String::from("{");
        for i in 0..40 {
            doc.push_str(&format!("\"k{i}\":{i},"));
        }
        doc.push_str("\"k3\":0}");
        assert!(check_object(doc.as_bytes()).is_err());
        assert!(check_object(doc.replace("\"k3\":0", "\"k99\":0").as_bytes()).is_ok());
    }

    /// Names with one fingerprint (length, first and last byte) are still told apart, and an
    /// empty name is a name like any other.
    #[test]
    fn names_alike_at_their_edges_are_compared_in_full() {
        check_object(br#"{"abc":1,"axc":2,"ayc":3,"":4}"#).unwrap();
        assert!(check_object(br#"{"abc":1,"axc":2,"abc":3}"#).is_err());
        assert!(check_object(br#"{"":1,"a":2,"":3}"#).is_err());
    }

    #[test]
    fn refuses_what_rust_cannot_represent_with_python_style_positions() {
        assert_eq!(
            msg(r#"{"a":"x\ud800"}"#),
            "Unpaired surrogate in \\uXXXX escape: line 1 column 8 (char 7)"
        );
        assert_eq!(
            msg(r#"{"a":"\udc00\ud800"}"#),
            "Unpaired surrogate in \\uXXXX escape: line 1 column 7 (char 6)"
        );
        check_object(br#"{"a":"\ud83d\ude00"}"#).unwrap();
        assert_eq!(
            msg(r#"{"a":[1e400]}"#),
            "Number out of range: line 1 column 7 (char 6)"
        );
        assert_eq!(
            msg(&format!(r#"{{"a":{}}}"#, "9".repeat(400))),
            "Number out of range: line 1 column 6 (char 5)"
        );
        check_object(br#"{"a":1e-400,"b":1.7976931348623157e308}"#).unwrap();
        // Top-level NumericDates out of range are reported to the caller, not refused here.
        let doc = br#"{"sub":"a","exp":1e400,"x":{"iat":1}, "\u006ebf" : -1E999 }"#;
        let ranges = check_object(doc).unwrap().overflowing_dates;
        let texts: Vec<&[u8]> = ranges.iter().map(|r| &doc[r.clone()]).collect();
        assert_eq!(texts, [&b"1e400"[..], b"-1E999"]);
        // …but only at the top level.
        assert!(check_object(br#"{"x":{"exp":1e400}}"#).is_err());
    }

    #[test]
    fn utf8_errors_name_byte_positions_as_python_does() {
        let m = |b: &[u8]| check_object(b).unwrap_err().to_string();
        assert_eq!(
            m(b"{\"\xc3\xa9\":\"\x80\"}"),
            "'utf-8' codec can't decode byte 0x80 in position 7: invalid start byte"
        );
        assert_eq!(
            m(b"{\"a\":\"\xe2\x82(\"}"),
            "'utf-8' codec can't decode bytes in position 6-7: invalid continuation byte"
        );
        assert_eq!(
            m(b"{\"a\":\"\xf0"),
            "'utf-8' codec can't decode byte 0xf0 in position 6: unexpected end of data"
        );
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            &b"{\"a\":\"\xff\"}"[..],
            b"{\"a\":01}",
            b"{\"a\":-}",
            b"{\"a\":1.}",
            b"{\"a\":NaN}",
            b"{\"a\":\"\\x\"}",
            b"{\"a\":\"\x01\"}",
            b"{'a':1}",
            b"{\"a\":tru}",
        ] {
            assert!(
                check_object(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(
            check_object(deep.as_bytes()).unwrap_err().kind,
            JsonErrorKind::TooDeep
        );
    }

    fn naive_run(s: &[u8]) -> usize {
        s.iter().position(|&c| is_special(c)).unwrap_or(s.len())
    }

    #[test]
    fn plain_run_stops_at_exactly_the_first_special_byte() {
        // Every byte value at every offset of a first and a second word, amid fillers on
        // both sides of each threshold (the borrows of the word arithmetic come from them).
        let fillers = [
            b'a', 0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0xa0,
            0xff,
        ];
        let mut s = [0u8; 20];
        for len in 0..=s.len() {
            for fill in fillers {
                for at in 0..len {
                    for b in 0..=255u8 {
                        let s = &mut s[..len];
                        s.fill(fill);
                        s[at] = b;
                        assert_eq!(plain_run(s), naive_run(s), "{s:?}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn plain_run_agrees_with_a_byte_loop(s in proptest::collection::vec(
            proptest::prop_oneof![proptest::num::u8::ANY, 0x20u8..0x7f], 0..80)) {
            proptest::prop_assert_eq!(plain_run(&s), naive_run(&s));
        }
    }

    /// The listed members as JSON text (a `Text` value back in its quotes), or `None` when
    /// not listed.
    fn listed(doc: &str) -> Option<Vec<(String, String)>> {
        let checked = check_object(doc.as_bytes()).unwrap();
        let json = |v: Value<'_>| match v {
            Value::Text(t) => format!("\"{t}\""),
            Value::Json(j) => j.to_owned(),
        };
        Some(
            checked
                .members
                .plain(doc)?
                .map(|(n, v)| (n.to_owned(), json(v)))
                .collect(),
        )
    }

    /// The listed values that are plain strings, by their text.
    fn texts(doc: &str) -> Vec<String> {
        let checked = check_object(doc.as_bytes()).unwrap();
        let Some(members) = checked.members.plain(doc) else {
            return Vec::new();
        };
        members
            .filter_map(|(_, v)| match v {
                Value::Text(t) => Some(t.to_owned()),
                Value::Json(_) => None,
            })
            .collect()
    }

    #[test]
    fn marks_strings_without_escapes_as_text() {
        assert_eq!(
            texts(r#"{"a":"x","b":"y\"z","c":"","d":["w"],"e":{"f":"v"},"g":"é ü","h":1}"#),
            ["x", "", "é ü"]
        );
        // The sixteenth member has the last bit.
        let sixteen: Vec<String> = (0..MAX_LISTED_MEMBERS)
            .map(|i| format!("\"m{i}\":\"{i}\""))
            .collect();
        assert_eq!(texts(&format!("{{{}}}", sixteen.join(","))).len(), 16);
    }

    #[test]
    fn lists_nothing_for_another_document() {
        let doc = r#"{"sub":"abc"}"#;
        let checked = check_object(doc.as_bytes()).unwrap();
        assert!(checked.members.plain(r#"{"sub":"abcd"}"#).is_none());
        assert!(checked.members.plain(r#"{"sub":"ab"}"#).is_none());
        // One of the same length is the caller's to rule out; read anyway, a span that would
        // split a character reads as empty rather than panicking.
        let (name, _) = checked
            .members
            .plain(r#"{"ééa":"a"}"#)
            .unwrap()
            .next()
            .unwrap();
        assert_eq!(name, "");
        let (_, value) = checked
            .members
            .plain(r#"{"s":"éabc"}"#)
            .unwrap()
            .next()
            .unwrap();
        assert_eq!(value, Value::Json(""));
    }

    #[test]
    fn lists_top_level_members_with_their_value_spans() {
        let pairs = |p: &[(&str, &str)]| {
            Some(
                p.iter()
                    .map(|&(n, v)| (n.to_owned(), v.to_owned()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(listed("{}"), pairs(&[]));
        assert_eq!(listed(" { } "), pairs(&[]));
        // Whitespace around names and values is outside the spans; nested members are not
        // listed, only the value that holds them.
        assert_eq!(
            listed(
                "{ \"sub\" :\n \"a\\\"b\" , \"o\":{\"exp\":1,\"x\":[1, {\"y\":2}]},\"n\":-1.5e3 ,\"\":null}"
            ),
            pairs(&[
                ("sub", "\"a\\\"b\""),
                ("o", "{\"exp\":1,\"x\":[1, {\"y\":2}]}"),
                ("n", "-1.5e3"),
                ("", "null"),
            ])
        );
        // A date beyond f64 is listed with its span like any number.
        assert_eq!(
            listed("{\"exp\":1e400,\"é\":true}"),
            pairs(&[("exp", "1e400"), ("é", "true")])
        );
        let sixteen: Vec<String> = (0..MAX_LISTED_MEMBERS)
            .map(|i| format!("\"m{i}\":{i}"))
            .collect();
        assert_eq!(
            listed(&format!("{{{}}}", sixteen.join(","))).map(|m| m.len()),
            Some(16)
        );
        // Not listed: one member too many, or an escaped name anywhere at the top level.
        assert_eq!(listed(&format!("{{{},\"x\":0}}", sixteen.join(","))), None);
        assert_eq!(listed("{\"a\":1,\"\\u0065xp\":2}"), None);
        assert_eq!(listed("{\"a\\n\":1}"), None);
        // An escaped name inside a nested object does not matter.
        assert_eq!(
            listed("{\"a\":{\"\\u0062\":1}}"),
            pairs(&[("a", "{\"\\u0062\":1}")])
        );
        // Nothing scanned, nothing listed.
        assert!(Checked::default().members.plain("{}").is_none());
    }
}
