//! The JSON reader (RFC 8259), with serde_json's rules and words: the same documents accepted
//! and refused, numbers read to the same values, and the same message and position
//! (`EOF while parsing an object at line 1 column 9`) for a refused one.
//!
//! It keeps its own stack of open arrays and objects (nesting is limited to 127 levels, as
//! serde_json's recursion limit of 128 allows), so no document can overflow the call stack.
//! A member given twice is refused ([`Dups::Refuse`]) or the last one is kept, as serde_json's
//! `Value` did ([`Dups::KeepLast`]).

use super::pow10::POW10;
use super::value::{Map, Number, Value};
use std::fmt;

/// Most nested arrays and objects (serde_json refuses the 128th level).
const MAX_DEPTH: usize = 127;

/// What to do with a member given twice in one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dups {
    /// Refuse the document ([`ParseError::Duplicate`]).
    Refuse,
    /// Keep the last value (serde_json's `Value`).
    KeepLast,
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON: serde_json's message and where (1-based line, byte column).
    Syntax {
        /// What is wrong, in serde_json's words.
        message: &'static str,
        /// Line of the error.
        line: usize,
        /// Column of the error (bytes).
        column: usize,
    },
    /// A member given twice: its name, and its path (`a.b[0].c`).
    Duplicate {
        /// The path of the member.
        path: String,
        /// The member's name.
        key: String,
    },
    /// More values than the limit.
    TooManyValues,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Syntax { message, line, column } => write!(f, "{message} at line {line} column {column}"),
            ParseError::Duplicate { key, .. } => write!(f, "duplicate field `{key}`"),
            ParseError::TooManyValues => f.write_str("too many values"),
        }
    }
}

const EOF_VALUE: &str = "EOF while parsing a value";
const EOF_LIST: &str = "EOF while parsing a list";
const EOF_OBJECT: &str = "EOF while parsing an object";
const EOF_STRING: &str = "EOF while parsing a string";
const INVALID_NUMBER: &str = "invalid number";
const OUT_OF_RANGE: &str = "number out of range";
const INVALID_ESCAPE: &str = "invalid escape";
const LONE_SURROGATE: &str = "lone leading surrogate in hex escape";
const END_OF_HEX: &str = "unexpected end of hex escape";
const TRAILING_COMMA: &str = "trailing comma";
const KEY_NOT_STRING: &str = "key must be a string";

/// Parses a whole document (whitespace around it allowed, nothing else).
pub fn parse(bytes: &[u8], dups: Dups, max_values: usize) -> Result<Value, ParseError> {
    run(bytes, std::str::from_utf8(bytes).ok(), dups, max_values)
}

/// [`parse`] of a document already known to be UTF-8: its strings are not checked again.
pub fn parse_text(text: &str, dups: Dups, max_values: usize) -> Result<Value, ParseError> {
    run(text.as_bytes(), Some(text), dups, max_values)
}

/// `text` is `bytes` as text when the whole document is UTF-8. When it is not (`None`), each
/// string is checked as it is read, so an error names the place serde_json names.
fn run(bytes: &[u8], text: Option<&str>, dups: Dups, max_values: usize) -> Result<Value, ParseError> {
    let mut p = Parser { bytes, text, i: 0, dups, values: 0, max_values, stack: Vec::new() };
    let result = p.document();
    match result {
        Err(ParseError::Syntax { .. }) if p.values >= max_values => Err(ParseError::TooManyValues),
        other => other,
    }
}

/// An open array or object: the values so far (an object's under construction, and the name
/// of the member whose value is being read).
enum Frame {
    Array(Vec<Value>),
    Object(Members, String),
}

struct Parser<'a> {
    bytes: &'a [u8],
    /// `bytes` as text, when the whole document is valid UTF-8.
    text: Option<&'a str>,
    i: usize,
    dups: Dups,
    values: usize,
    max_values: usize,
    stack: Vec<Frame>,
}

/// What the next step of the document loop is.
enum Next {
    /// Read a value (an element, or a member's value after its `:`).
    Value,
    /// A value is complete: put it in its container, or it is the document.
    Done(Value),
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    /// serde_json's position of byte index `at`: line, and bytes since the line began.
    #[cold]
    #[inline(never)]
    fn error_at(&self, message: &'static str, at: usize) -> ParseError {
        let at = at.min(self.bytes.len());
        let before = self.bytes.get(..at).unwrap_or_default();
        let start = before.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        let line = 1 + before.get(..start).unwrap_or_default().iter().filter(|b| **b == b'\n').count();
        ParseError::Syntax { message, line, column: at - start }
    }

    /// An error about the byte just consumed (serde_json's `error`).
    #[cold]
    fn err(&self, message: &'static str) -> ParseError {
        self.error_at(message, self.i)
    }

    /// An error about the byte not yet consumed (serde_json's `peek_error`).
    #[cold]
    fn peek_err(&self, message: &'static str) -> ParseError {
        self.error_at(message, self.i + 1)
    }

    fn whitespace(&mut self) -> Option<u8> {
        while let Some(b) = self.peek() {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.i += 1;
        }
        None
    }

    /// The document loop: values are read, containers opened and closed, without recursion.
    fn document(&mut self) -> Result<Value, ParseError> {
        let mut next = Next::Value;
        loop {
            next = match next {
                Next::Value => self.value()?,
                Next::Done(v) => match self.stack.pop() {
                    None => {
                        if self.whitespace().is_some() {
                            return Err(self.peek_err("trailing characters"));
                        }
                        return Ok(v);
                    }
                    Some(Frame::Array(mut items)) => {
                        items.push(v);
                        self.after_element(items)?
                    }
                    Some(Frame::Object(mut members, key)) => {
                        members.insert(key, v, self.dups);
                        self.after_member(members)?
                    }
                },
            };
        }
    }

    /// Counts a value against the limit.
    fn count(&mut self) -> Result<(), ParseError> {
        if self.values >= self.max_values {
            return Err(ParseError::TooManyValues);
        }
        self.values += 1;
        Ok(())
    }

    /// Reads a scalar, or opens an array or object (pushed on the stack).
    #[inline(never)]
    fn value(&mut self) -> Result<Next, ParseError> {
        let Some(b) = self.whitespace() else {
            return Err(self.peek_err(EOF_VALUE));
        };
        let v = match b {
            b'n' => self.ident(b"null", Value::Null)?,
            b't' => self.ident(b"true", Value::Bool(true))?,
            b'f' => self.ident(b"false", Value::Bool(false))?,
            b'-' => {
                self.i += 1;
                Value::Number(self.integer(false)?)
            }
            b'0'..=b'9' => Value::Number(self.integer(true)?),
            b'"' => {
                self.i += 1;
                Value::String(self.string()?)
            }
            b'[' => return self.open_array(),
            b'{' => return self.open_object(),
            _ => return Err(self.peek_err("expected value")),
        };
        // A scalar counts once read, a container once opened (where serde_json's visitor
        // counted them).
        self.count()?;
        Ok(Next::Done(v))
    }

    fn ident(&mut self, word: &[u8], v: Value) -> Result<Value, ParseError> {
        self.i += 1;
        for expected in word.get(1..).unwrap_or_default() {
            match self.next_byte() {
                None => return Err(self.err(EOF_VALUE)),
                Some(b) if b != *expected => return Err(self.err("expected ident")),
                Some(_) => {}
            }
        }
        Ok(v)
    }

    fn deeper(&self) -> Result<(), ParseError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.peek_err("recursion limit exceeded"));
        }
        Ok(())
    }

    #[inline(never)]
    fn open_array(&mut self) -> Result<Next, ParseError> {
        self.deeper()?;
        self.i += 1;
        self.count()?;
        match self.whitespace() {
            None => Err(self.peek_err(EOF_LIST)),
            Some(b']') => {
                self.i += 1;
                Ok(Next::Done(Value::Array(Vec::new())))
            }
            Some(_) => {
                self.stack.push(Frame::Array(Vec::new()));
                Ok(Next::Value)
            }
        }
    }

    /// After an element: `,` and the next one, or `]`.
    #[inline(never)]
    fn after_element(&mut self, items: Vec<Value>) -> Result<Next, ParseError> {
        match self.whitespace() {
            None => Err(self.peek_err(EOF_LIST)),
            Some(b']') => {
                self.i += 1;
                Ok(Next::Done(Value::Array(items)))
            }
            Some(b',') => {
                self.i += 1;
                match self.whitespace() {
                    Some(b']') => Err(self.peek_err(TRAILING_COMMA)),
                    None => Err(self.peek_err(EOF_VALUE)),
                    Some(_) => {
                        self.stack.push(Frame::Array(items));
                        Ok(Next::Value)
                    }
                }
            }
            Some(_) => Err(self.peek_err("expected `,` or `]`")),
        }
    }

    #[inline(never)]
    fn open_object(&mut self) -> Result<Next, ParseError> {
        self.deeper()?;
        self.i += 1;
        self.count()?;
        match self.whitespace() {
            None => Err(self.peek_err(EOF_OBJECT)),
            Some(b'}') => {
                self.i += 1;
                Ok(Next::Done(Value::Object(Map::new())))
            }
            Some(b'"') => self.member(Members::default()),
            Some(_) => Err(self.peek_err(KEY_NOT_STRING)),
        }
    }

    /// After a member: `,` and the next one, or `}`.
    #[inline(never)]
    fn after_member(&mut self, members: Members) -> Result<Next, ParseError> {
        match self.whitespace() {
            None => Err(self.peek_err(EOF_OBJECT)),
            Some(b'}') => {
                self.i += 1;
                Ok(Next::Done(Value::Object(members.finish())))
            }
            Some(b',') => {
                self.i += 1;
                match self.whitespace() {
                    Some(b'"') => self.member(members),
                    Some(b'}') => Err(self.peek_err(TRAILING_COMMA)),
                    Some(_) => Err(self.peek_err(KEY_NOT_STRING)),
                    None => Err(self.peek_err(EOF_VALUE)),
                }
            }
            Some(_) => Err(self.peek_err("expected `,` or `}`")),
        }
    }

    /// A member's name (at its `"`), the duplicate check, and the `:`; its value comes next.
    #[inline(never)]
    fn member(&mut self, members: Members) -> Result<Next, ParseError> {
        self.i += 1;
        let key = self.string()?;
        if self.dups == Dups::Refuse && members.contains(&key) {
            return Err(ParseError::Duplicate { path: self.path(&key), key });
        }
        match self.whitespace() {
            Some(b':') => self.i += 1,
            Some(_) => return Err(self.peek_err("expected `:`")),
            None => return Err(self.peek_err(EOF_OBJECT)),
        }
        self.stack.push(Frame::Object(members, key));
        Ok(Next::Value)
    }

    /// The path of member `key` of the innermost open object: `a.b[0].key`.
    #[cold]
    #[inline(never)]
    fn path(&self, key: &str) -> String {
        let mut out = String::new();
        for frame in &self.stack {
            match frame {
                Frame::Array(items) => out.push_str(&format!("[{}]", items.len())),
                Frame::Object(_, k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
            }
        }
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
        out
    }

    // -----------------------------------------------------------------------------------------
    // Strings.

    /// A string's content, after its opening `"`: escapes decoded, UTF-8 checked. In a
    /// document known to be UTF-8, a string without escapes (nearly every one in a token) is
    /// copied as it stands, at its exact size; anything else takes [`Parser::string_bytes`].
    #[inline(never)]
    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.i;
        if let Some(text) = self.text {
            while let Some(b) = self.peek() {
                match b {
                    b'"' => {
                        // `"` is ASCII, so both ends are character boundaries.
                        let s = text.get(start..self.i).unwrap_or_default().to_owned();
                        self.i += 1;
                        return Ok(s);
                    }
                    b'\\' | 0..=0x1f => break,
                    _ => self.i += 1,
                }
            }
            self.i = start;
        }
        self.string_bytes()
    }

    /// [`Parser::string`] byte by byte: escapes, control characters, the end of the input, and
    /// documents that are not UTF-8 (each string is checked, so the error names its place).
    #[inline(never)]
    fn string_bytes(&mut self) -> Result<String, ParseError> {
        let mut buf = Vec::new();
        let mut start = self.i;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err(EOF_STRING));
            };
            match b {
                b'"' => {
                    buf.extend_from_slice(self.bytes.get(start..self.i).unwrap_or_default());
                    self.i += 1;
                    return self.utf8(buf);
                }
                b'\\' => {
                    buf.extend_from_slice(self.bytes.get(start..self.i).unwrap_or_default());
                    self.i += 1;
                    self.escape(&mut buf)?;
                    start = self.i;
                }
                0..=0x1f => {
                    self.i += 1;
                    return Err(self.err("control character (\\u0000-\\u001F) found while parsing a string"));
                }
                _ => self.i += 1,
            }
        }
    }

    fn utf8(&self, buf: Vec<u8>) -> Result<String, ParseError> {
        String::from_utf8(buf).map_err(|e| {
            let bad = e.as_bytes().len() - e.utf8_error().valid_up_to();
            match self.err("invalid unicode code point") {
                ParseError::Syntax { message, line, column } => {
                    ParseError::Syntax { message, line, column: column.saturating_sub(bad) }
                }
                other => other,
            }
        })
    }

    #[inline(never)]
    fn escape(&mut self, buf: &mut Vec<u8>) -> Result<(), ParseError> {
        let Some(b) = self.next_byte() else {
            return Err(self.err(EOF_STRING));
        };
        let c = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => return self.unicode_escape(buf),
            _ => return Err(self.err(INVALID_ESCAPE)),
        };
        buf.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let Some(digits) = self.bytes.get(self.i..self.i + 4) else {
            self.i = self.bytes.len();
            return Err(self.err(EOF_STRING));
        };
        self.i += 4;
        let mut n = 0u32;
        for d in digits {
            let v = char::from(*d).to_digit(16).ok_or_else(|| self.err(INVALID_ESCAPE))?;
            n = n << 4 | v;
        }
        Ok(n)
    }

    /// `\u` and four hex digits (after the `u`); a UTF-16 surrogate must be a leading one
    /// followed by `\u` and a trailing one.
    #[inline(never)]
    fn unicode_escape(&mut self, buf: &mut Vec<u8>) -> Result<(), ParseError> {
        let n = self.hex4()?;
        if (0xdc00..=0xdfff).contains(&n) {
            return Err(self.err(LONE_SURROGATE));
        }
        let code = if (0xd800..=0xdbff).contains(&n) {
            for want in [b'\\', b'u'] {
                match self.peek() {
                    None => return Err(self.err(EOF_STRING)),
                    Some(b) => {
                        self.i += 1;
                        if b != want {
                            return Err(self.err(END_OF_HEX));
                        }
                    }
                }
            }
            let n2 = self.hex4()?;
            if !(0xdc00..=0xdfff).contains(&n2) {
                return Err(self.err(LONE_SURROGATE));
            }
            0x1_0000 + ((n - 0xd800) << 10 | (n2 - 0xdc00))
        } else {
            n
        };
        let c = char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER);
        let mut tmp = [0u8; 4];
        buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Numbers, read as serde_json reads them (without its `float_roundtrip` feature): digits
    // into a u64 while they fit, then a float from the significand and a power of ten.

    /// A number, after its `-` if negative.
    #[inline(never)]
    fn integer(&mut self, positive: bool) -> Result<Number, ParseError> {
        let Some(first) = self.next_byte() else {
            return Err(self.err(EOF_VALUE));
        };
        let mut significand = match first {
            b'0' => {
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.peek_err(INVALID_NUMBER));
                }
                0
            }
            b'1'..=b'9' => u64::from(first - b'0'),
            _ => return Err(self.err(INVALID_NUMBER)),
        };
        if first != b'0' {
            while let Some(c @ b'0'..=b'9') = self.peek() {
                let digit = u64::from(c - b'0');
                match significand.checked_mul(10).and_then(|s| s.checked_add(digit)) {
                    Some(s) => significand = s,
                    None => return self.long_integer(positive, significand).map(float),
                }
                self.i += 1;
            }
        }
        match self.peek() {
            Some(b'.') => self.decimal(positive, significand, 0).map(float),
            Some(b'e' | b'E') => self.exponent(positive, significand, 0).map(float),
            _ if positive => Ok(Number::from(significand)),
            _ => Ok(negative(significand)),
        }
    }

    /// An integer too long for u64: the digits that did not fit only count as powers of ten.
    #[cold]
    #[inline(never)]
    fn long_integer(&mut self, positive: bool, significand: u64) -> Result<f64, ParseError> {
        let mut exponent: i32 = 0;
        loop {
            match self.peek() {
                Some(b'0'..=b'9') => {
                    self.i += 1;
                    exponent = exponent.saturating_add(1);
                }
                Some(b'.') => return self.decimal(positive, significand, exponent),
                Some(b'e' | b'E') => return self.exponent(positive, significand, exponent),
                _ => return self.scaled(positive, significand, exponent),
            }
        }
    }

    /// The fraction, at its `.`.
    #[inline(never)]
    fn decimal(&mut self, positive: bool, mut significand: u64, before: i32) -> Result<f64, ParseError> {
        self.i += 1;
        let mut after: i32 = 0;
        let mut overflowed = false;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            self.i += 1;
            if overflowed {
                continue;
            }
            let digit = u64::from(c - b'0');
            match significand.checked_mul(10).and_then(|s| s.checked_add(digit)) {
                Some(s) => {
                    significand = s;
                    after -= 1;
                }
                // The digits that no longer fit are dropped (serde_json's reading).
                None => overflowed = true,
            }
        }
        if after == 0 && !overflowed {
            return Err(match self.peek() {
                Some(_) => self.peek_err(INVALID_NUMBER),
                None => self.peek_err(EOF_VALUE),
            });
        }
        let exponent = before.saturating_add(after);
        match self.peek() {
            Some(b'e' | b'E') => self.exponent(positive, significand, exponent),
            _ => self.scaled(positive, significand, exponent),
        }
    }

    /// The exponent, at its `e`.
    #[inline(never)]
    fn exponent(&mut self, positive: bool, significand: u64, starting: i32) -> Result<f64, ParseError> {
        self.i += 1;
        let positive_exp = match self.peek() {
            Some(b'+') => {
                self.i += 1;
                true
            }
            Some(b'-') => {
                self.i += 1;
                false
            }
            _ => true,
        };
        let mut exp = match self.next_byte() {
            None => return Err(self.err(EOF_VALUE)),
            Some(c @ b'0'..=b'9') => i32::from(c - b'0'),
            Some(_) => return Err(self.err(INVALID_NUMBER)),
        };
        while let Some(c @ b'0'..=b'9') = self.peek() {
            self.i += 1;
            match exp.checked_mul(10).and_then(|e| e.checked_add(i32::from(c - b'0'))) {
                Some(e) => exp = e,
                None => return self.exponent_overflow(positive, significand == 0, positive_exp),
            }
        }
        let exponent = if positive_exp { starting.saturating_add(exp) } else { starting.saturating_sub(exp) };
        self.scaled(positive, significand, exponent)
    }

    /// An exponent beyond i32: zero for a zero significand or a negative exponent, else refused.
    #[cold]
    #[inline(never)]
    fn exponent_overflow(&mut self, positive: bool, zero: bool, positive_exp: bool) -> Result<f64, ParseError> {
        if !zero && positive_exp {
            return Err(self.err(OUT_OF_RANGE));
        }
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        Ok(if positive { 0.0 } else { -0.0 })
    }

    /// `significand × 10^exponent`, scaled by the nearest f64 powers of ten; infinite refused.
    #[inline(never)]
    fn scaled(&mut self, positive: bool, significand: u64, mut exponent: i32) -> Result<f64, ParseError> {
        let mut f = significand as f64;
        loop {
            match POW10.get(exponent.unsigned_abs() as usize) {
                Some(&pow) => {
                    if exponent >= 0 {
                        f *= pow;
                        if f.is_infinite() {
                            return Err(self.err(OUT_OF_RANGE));
                        }
                    } else {
                        f /= pow;
                    }
                    break;
                }
                None => {
                    if f == 0.0 {
                        break;
                    }
                    if exponent >= 0 {
                        return Err(self.err(OUT_OF_RANGE));
                    }
                    f /= 1e308;
                    exponent += 308;
                }
            }
        }
        Ok(if positive { f } else { -f })
    }
}

/// A parsed float as a number (always finite here: the reader refuses what overflows).
fn float(f: f64) -> Number {
    Number::from_f64(f).unwrap_or_else(|| Number::from(0u64))
}

/// `-significand`: an `i64` when it fits (and is not `-0`), else a float.
fn negative(significand: u64) -> Number {
    match 0i64.checked_sub_unsigned(significand) {
        Some(n) if n < 0 => Number::from(n),
        _ => float(-(significand as f64)),
    }
}

// ---------------------------------------------------------------------------------------------
// An object under construction: sorted runs of members whose lengths at least halve from one
// run to the next (a binary counter), and the last few members (unsorted) in a tail. A lookup
// is a binary search per run plus a short scan; a full tail is sorted and becomes a run, and
// runs of similar length merge, so each member moves O(log n) times: an object of n members
// costs O(n log n), also for a remote JWKS or discovery document of 1 MiB. (A single sorted
// list with the tail merged in every 32 members was O(n²/32): 2.8 s for 50,000 members.)

const TAIL: usize = 32;

type Member = (String, Value);

#[derive(Default)]
struct Members {
    runs: Vec<Vec<Member>>,
    tail: Vec<Member>,
}

impl Members {
    fn contains(&self, key: &str) -> bool {
        self.runs.iter().any(|run| run.binary_search_by(|(k, _)| k.as_str().cmp(key)).is_ok())
            || self.tail.iter().any(|(k, _)| k == key)
    }

    fn value_mut(&mut self, key: &str) -> Option<&mut Value> {
        for run in &mut self.runs {
            if let Ok(i) = run.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
                return run.get_mut(i).map(|m| &mut m.1);
            }
        }
        self.tail.iter_mut().find(|(k, _)| k == key).map(|m| &mut m.1)
    }

    /// Adds a member. A name already there (only with [`Dups::KeepLast`]) gets the new value.
    #[inline(never)]
    fn insert(&mut self, key: String, v: Value, dups: Dups) {
        if dups == Dups::KeepLast {
            if let Some(slot) = self.value_mut(&key) {
                *slot = v;
                return;
            }
        }
        self.tail.push((key, v));
        if self.tail.len() >= TAIL {
            self.seal_tail();
            while self.runs.len() >= 2
                && self.runs.get(self.runs.len() - 2).map(Vec::len) <= self.runs.last().map(|r| 2 * r.len())
            {
                self.merge_last_two();
            }
        }
    }

    /// Sorts the tail (insertion sort: it is short) and makes it the last run.
    #[inline(never)]
    fn seal_tail(&mut self) {
        let mut tail = std::mem::take(&mut self.tail);
        for i in 1..tail.len() {
            let mut j = i;
            while j > 0 && tail.get(j - 1).map(|p| &p.0) > tail.get(j).map(|p| &p.0) {
                tail.swap(j - 1, j);
                j -= 1;
            }
        }
        if !tail.is_empty() {
            self.runs.push(tail);
        }
    }

    /// Merges the last two runs (their names are disjoint: a name is looked up before it is
    /// added).
    #[inline(never)]
    fn merge_last_two(&mut self) {
        let (Some(b), Some(a)) = (self.runs.pop(), self.runs.pop()) else {
            return;
        };
        let mut out = Vec::with_capacity(a.len() + b.len());
        let mut a = a.into_iter().peekable();
        let mut b = b.into_iter().peekable();
        loop {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => x.0 < y.0,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_a { a.next() } else { b.next() };
            out.extend(next);
        }
        self.runs.push(out);
    }

    fn finish(mut self) -> Map {
        self.seal_tail();
        while self.runs.len() >= 2 {
            self.merge_last_two();
        }
        Map::from_sorted(self.runs.pop().unwrap_or_default())
    }
}
