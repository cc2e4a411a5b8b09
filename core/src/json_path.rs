//! Maps a position in a JSON text, as serde_json reports it (line, column), back to the path of
//! the member there (`providers.cognito.jwks.refresh_seconds`, `rules[0].match`): what names the
//! field of a configuration error without wrapping every deserializer to track the path.
//!
//! The scanner is small and forgiving: it walks the tokens once, never panics on any bytes or
//! position, and on text that is not JSON returns what it found up to the fault (so a caller
//! falls back to the nearest enclosing member).

/// One step of a path: an object member or an array element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// An object member, by its (unescaped) key.
    Key(String),
    /// An array element, by index.
    Index(usize),
}

/// A path as the configuration errors write it: keys joined with `.`, indices as `[i]`.
pub fn format(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// A value of the text that holds the position (`start <= at <= end`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Its path.
    pub path: Vec<Seg>,
    /// Byte offset of its first byte.
    pub start: usize,
    /// Byte offset just past its last byte (the end of the text where it is not closed).
    pub end: usize,
    /// Its first byte (`{`, `[`, `"`, or the first byte of a scalar).
    pub first: u8,
}

/// What is at a position: every value that holds it, outermost first, and the member whose key
/// ends exactly there (where serde reports unknown and duplicate fields, and unknown variants).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spot {
    /// The values holding the position, outermost first (each inside the one before).
    pub chain: Vec<Hit>,
    /// The path of the member whose key's closing quote is just before the position.
    pub key: Option<Vec<Seg>>,
}

impl Spot {
    /// The innermost value holding the position.
    pub fn innermost(&self) -> Option<&Hit> {
        self.chain.last()
    }
}

/// The byte offset of serde_json's (line, column): lines count from 1 and split at `\n` only;
/// the column is the number of bytes of that line already read. Clamped to the text.
pub fn offset(text: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    let mut line_no = 1;
    while line_no < line {
        match text.get(start..).and_then(|rest| rest.iter().position(|&b| b == b'\n')) {
            Some(nl) => start += nl + 1,
            None => return text.len(),
        }
        line_no += 1;
    }
    start.saturating_add(column).min(text.len())
}

/// Deepest nesting followed; serde_json refuses deeper documents (128) anyway.
const MAX_DEPTH: usize = 256;

/// What is at byte offset `at` of `text`.
pub fn locate(text: &[u8], at: usize) -> Spot {
    let mut s = Scanner { b: text, i: 0, at, path: Vec::new(), spot: Spot::default() };
    s.value(0);
    s.spot.chain.sort_by_key(|h| h.path.len());
    s.spot
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    at: usize,
    path: Vec<Seg>,
    spot: Spot,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn hit(&mut self, start: usize, end: usize, first: u8) {
        if start <= self.at && self.at <= end {
            self.spot.chain.push(Hit { path: self.path.clone(), start, end, first });
        }
    }

    /// Scans one value; false where the text stops being JSON (the values still open then
    /// count as reaching the end of the text).
    fn value(&mut self, depth: usize) -> bool {
        self.skip_ws();
        let start = self.i;
        let Some(first) = self.peek() else { return false };
        let ok = match first {
            b'{' if depth < MAX_DEPTH => self.object(depth),
            b'[' if depth < MAX_DEPTH => self.array(depth),
            b'"' => self.string().is_some(),
            b'{' | b'[' => false,
            _ => self.scalar(),
        };
        let end = if ok { self.i } else { self.b.len() };
        self.hit(start, end, first);
        ok
    }

    fn object(&mut self, depth: usize) -> bool {
        self.i += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return true;
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return false;
            }
            let Some(key) = self.string() else { return false };
            self.path.push(Seg::Key(key));
            if self.i == self.at {
                self.spot.key = Some(self.path.clone());
            }
            self.skip_ws();
            let ok = self.peek() == Some(b':') && {
                self.i += 1;
                self.value(depth + 1)
            };
            self.path.pop();
            if !ok {
                return false;
            }
            if let Some(done) = self.after_member(b'}') {
                return done;
            }
        }
    }

    /// After a member or element: `,` goes on (`None`); `close` ends the container
    /// (`Some(true)`); anything else is not JSON (`Some(false)`).
    fn after_member(&mut self, close: u8) -> Option<bool> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                None
            }
            Some(c) if c == close => {
                self.i += 1;
                Some(true)
            }
            _ => Some(false),
        }
    }

    fn array(&mut self, depth: usize) -> bool {
        self.i += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return true;
        }
        let mut index = 0;
        loop {
            self.path.push(Seg::Index(index));
            let ok = self.value(depth + 1);
            self.path.pop();
            if !ok {
                return false;
            }
            if let Some(done) = self.after_member(b']') {
                return done;
            }
            index += 1;
        }
    }

    /// A number, `true`, `false` or `null`: the bytes up to the next delimiter (at least one).
    fn scalar(&mut self) -> bool {
        let start = self.i;
        while let Some(c) = self.peek() {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b',' | b':' | b']' | b'}' | b'[' | b'{' | b'"') {
                break;
            }
            self.i += 1;
        }
        self.i > start
    }

    /// A string (at its opening quote), unescaped; `None` where it is not closed.
    fn string(&mut self) -> Option<String> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    let ch = match e {
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        other => char::from(other),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                other => out.push(other),
            }
        }
    }

    /// The char of a `\uXXXX` escape (after the `u`), joining a surrogate pair.
    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.b.get(self.i..self.i + 2) == Some(b"\\u") {
            let save = self.i;
            self.i += 2;
            match self.hex4() {
                Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                    return char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
                }
                _ => self.i = save,
            }
        }
        Some(char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.b.get(self.i..self.i + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        let n = u32::from_str_radix(text, 16).ok()?;
        self.i += 4;
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_at(text: &str, at: usize) -> String {
        locate(text.as_bytes(), at).innermost().map(|h| format(&h.path)).unwrap_or_default()
    }

    #[test]
    fn offsets_follow_serde_json_lines_and_columns() {
        let text = b"{\r\n  \"a\": 1,\n\"b\": 2}";
        assert_eq!(offset(text, 1, 0), 0);
        assert_eq!(offset(text, 1, 3), 3);
        assert_eq!(offset(text, 2, 0), 3);
        assert_eq!(offset(text, 3, 2), 15);
        assert_eq!(offset(text, 9, 9), text.len(), "past the end is clamped");
        assert_eq!(offset(text, 1, 999), text.len());
        assert_eq!(offset(text, 0, 2), 2);
    }

    #[test]
    fn values_keys_and_indices() {
        let t = r#"{"a": {"b": [1, {"c": "x"}, [true, null]]}, "d": "e"}"#;
        let at = |needle: &str| t.find(needle).unwrap();
        assert_eq!(path_at(t, at("1,")), "a.b[0]");
        assert_eq!(path_at(t, at("1,") + 1), "a.b[0]", "just after a value");
        assert_eq!(path_at(t, at("\"x\"") + 3), "a.b[1].c");
        assert_eq!(path_at(t, at("null") + 2), "a.b[2][1]");
        assert_eq!(path_at(t, at("\"e\"")), "d");
        assert_eq!(path_at(t, 0), "");
        let s = locate(t.as_bytes(), at("\"c\"") + 3);
        assert_eq!(s.key.as_deref().map(format), Some("a.b[1].c".to_string()));
        assert_eq!(format(&s.innermost().unwrap().path), "a.b[1]");
    }

    #[test]
    fn keys_are_unescaped() {
        let t = r#"{"a.\"b\u00e9\ud83d\ude00\n": {"é": 5}}"#;
        let s = locate(t.as_bytes(), t.find('5').unwrap());
        assert_eq!(format(&s.innermost().unwrap().path), "a.\"bé😀\n.é");
    }

    #[test]
    fn broken_text_gives_the_enclosing_path() {
        let t = r#"{"a": {"b": [1, 2"#;
        assert_eq!(path_at(t, t.len()), "a.b[1]");
        let t = r#"{"a": {"b": @}}"#;
        assert_eq!(path_at(t, t.len() - 1), "a");
        assert_eq!(path_at("", 0), "");
        assert!(locate(b"", 5).chain.is_empty());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let t = "[".repeat(100_000);
        let s = locate(t.as_bytes(), 50_000);
        assert!(s.chain.len() <= MAX_DEPTH + 1);
    }

    /// A small deterministic generator (no dependency): xorshift.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// A random tree whose leaves are unique markers `"@n"`, with the path of each marker.
    fn tree(state: &mut u64, depth: usize, path: &mut Vec<Seg>, leaves: &mut Vec<(String, String)>) -> serde_json::Value {
        let keys = ["a", "b.c", "é😀", "q\"u", "x\\y", "t\tn\n", "", "providers"];
        match next(state) % if depth > 4 { 1 } else { 3 } {
            0 => {
                let marker = format!("@{}", leaves.len());
                leaves.push((marker.clone(), format(path)));
                serde_json::Value::String(marker)
            }
            1 => {
                let mut o = serde_json::Map::new();
                for _ in 0..next(state) % 4 {
                    let k = keys[(next(state) % keys.len() as u64) as usize].to_string();
                    if o.contains_key(&k) {
                        continue;
                    }
                    path.push(Seg::Key(k.clone()));
                    o.insert(k, tree(state, depth + 1, path, leaves));
                    path.pop();
                }
                serde_json::Value::Object(o)
            }
            _ => {
                let n = next(state) % 4;
                let mut a = Vec::new();
                for i in 0..n {
                    path.push(Seg::Index(i as usize));
                    a.push(tree(state, depth + 1, path, leaves));
                    path.pop();
                }
                serde_json::Value::Array(a)
            }
        }
    }

    #[test]
    fn every_value_is_found_at_its_start_and_just_after_it() {
        let mut state = 0x2545_F491_4F6C_DD1D;
        for round in 0..2_000 {
            let mut leaves = Vec::new();
            let v = tree(&mut state, 0, &mut Vec::new(), &mut leaves);
            let compact = v.to_string();
            let pretty = serde_json::to_string_pretty(&v).unwrap().replace('\n', if round % 2 == 0 { "\n" } else { "\r\n" });
            for text in [compact, pretty] {
                for (marker, path) in &leaves {
                    let start = text.find(&format!("\"{marker}\"")).unwrap();
                    let end = start + marker.len() + 2;
                    for at in [start, end] {
                        let got = locate(text.as_bytes(), at).innermost().map(|h| format(&h.path));
                        assert_eq!(got.as_deref(), Some(path.as_str()), "{text} at {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn never_panics_on_any_bytes_or_position() {
        let alphabet = b"{}[]\":,\\u0123456789abcdefABCDEF \n\r\ttrue-null.eE+\xc3\xa9\xff";
        let mut state = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            let len = (next(&mut state) % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| alphabet[(next(&mut state) % alphabet.len() as u64) as usize]).collect();
            let at = (next(&mut state) % (len as u64 + 3)) as usize;
            let s = locate(&bytes, at);
            for h in &s.chain {
                assert!(h.start <= at && at <= h.end);
                let _ = format(&h.path);
            }
            let line = (next(&mut state) % 5) as usize;
            let col = (next(&mut state) % 50) as usize;
            assert!(offset(&bytes, line, col) <= bytes.len());
        }
        for at in [0, 1, usize::MAX] {
            let _ = locate(br#"{"a":[1,{"b":"\ud800"}]}"#, at);
        }
    }
}
