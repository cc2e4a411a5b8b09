//! The reader and writer held to serde_json's, over generated documents and mutations of them:
//! the same values (floats to the bit), the same refusals with the same message and position,
//! and the same compact text byte for byte. The strict token reader is held to the serde-based
//! visitor it replaced (kept here as the reference).

use super::*;
use serde::de::{self as sde, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use testkit::Rng;

use super::bridge::from_serde;

/// Equal, floats to the bit (`-0.0` is not `0.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.float(), y.float()) {
            (Some(f), Some(g)) => f.to_bits() == g.to_bits(),
            (None, None) => x == y,
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|((ka, a), (kb, b))| ka == kb && same(a, b))
        }
        _ => a == b,
    }
}

const PIECES: &[&str] = &[
    "", "a", "b", "kid", "é", "😀", "\u{7f}", "\n", "\t", "\"", "\\", "/", "\u{1}", "\u{1f}", "\u{2028}", "\u{ffff}", "x y", "A",
    "ab", "\u{0}",
];

fn gen_string(r: &mut Rng) -> String {
    (0..r.below(4)).map(|_| *r.pick(PIECES)).collect()
}

fn gen_number(r: &mut Rng) -> serde_json::Value {
    match r.below(8) {
        0 => r.next_u64().into(),
        1 => (r.next_u64() as i64).into(),
        2 => (r.below(2000) as i64 - 1000).into(),
        3 => {
            let f = f64::from_bits(r.next_u64());
            serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
        }
        4 => serde_json::json!((r.below(100000) as f64) / 100.0),
        5 => serde_json::json!((r.below(1000) as f64) * 10f64.powi(r.below(60) as i32 - 30)),
        6 => serde_json::json!(u64::MAX - r.below(3) as u64),
        _ => serde_json::json!(i64::MIN + r.below(3) as i64),
    }
}

fn gen_value(r: &mut Rng, depth: usize) -> serde_json::Value {
    let kinds = if depth > 4 { 5 } else { 7 };
    match r.below(kinds) {
        0 => serde_json::Value::Null,
        1 => serde_json::Value::Bool(r.below(2) == 0),
        2 => gen_number(r),
        3 | 4 => serde_json::Value::String(gen_string(r)),
        5 => serde_json::Value::Array((0..r.below(5)).map(|_| gen_value(r, depth + 1)).collect()),
        _ => serde_json::Value::Object((0..r.below(6)).map(|_| (gen_string(r), gen_value(r, depth + 1))).collect()),
    }
}

/// Bytes a mutation inserts: JSON's own, and some that break it.
const NOISE: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\"",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"\\udc00",
    b"\\ud83d\\ude00",
    b"0",
    b"-",
    b"+",
    b".",
    b"e",
    b"E",
    b"1e999",
    b"1e-999",
    b"00",
    b"-0",
    b"1.",
    b".5",
    b"null",
    b"nul",
    b"true",
    b"tru",
    b" ",
    b"\n",
    b"\r\n",
    b"\t",
    b"\x00",
    b"\x1f",
    b"\x7f",
    b"\xc3",
    b"\xff",
    b"\xe2\x82",
    b"\xf0\x9f\x98\x80",
    b"\"a\":1",
    b"\"a\"",
    b"12345678901234567890",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1e2147483648",
    b"0.000000000000000000000000001e-300",
];

fn mutate(r: &mut Rng, text: &[u8]) -> Vec<u8> {
    let mut t = text.to_vec();
    for _ in 0..1 + r.below(3) {
        let at = r.below(t.len() + 1);
        match r.below(5) {
            0 if at < t.len() => {
                t.remove(at);
            }
            1 => t.truncate(at),
            2 if at < t.len() => {
                let end = (at + 1 + r.below(8)).min(t.len());
                let piece = t[at..end].to_vec();
                let to = r.below(t.len() + 1);
                t.splice(to..to, piece);
            }
            _ => {
                let piece = r.pick(NOISE);
                t.splice(at..at, piece.iter().copied());
            }
        }
    }
    t
}

/// What serde_json made of a document, in our terms.
fn serde_reading(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice::<serde_json::Value>(bytes).map(from_serde).map_err(|e| e.to_string())
}

/// Compares the lenient reader with serde_json on one document; returns whether it was valid.
fn check_document(bytes: &[u8]) -> bool {
    let ours = parse(bytes).map_err(|e| e.to_string());
    let theirs = serde_reading(bytes);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => {
            assert!(same(a, b), "{:?}: {a:?} vs {b:?}", String::from_utf8_lossy(bytes));
            // The writer: byte for byte serde_json's compact text of the same value.
            let serde_text = serde_json::to_string(&serde_json::from_slice::<serde_json::Value>(bytes).unwrap()).unwrap();
            assert_eq!(to_string(a), serde_text, "{:?}", String::from_utf8_lossy(bytes));
            assert_eq!(a.to_string(), serde_text);
            true
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "{:?}", String::from_utf8_lossy(bytes));
            false
        }
        _ => panic!("{:?}: ours {ours:?}, serde_json {theirs:?}", String::from_utf8_lossy(bytes)),
    }
}

#[test]
fn generated_documents_and_their_mutations_read_and_write_as_serde_json() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut valid, mut invalid) = (0, 0);
    for _ in 0..4000 {
        let v = gen_value(&mut r, 0);
        let compact = serde_json::to_vec(&v).unwrap();
        let pretty = serde_json::to_vec_pretty(&v).unwrap();
        assert!(check_document(&compact));
        assert!(check_document(&pretty));
        // Writing ours gives serde_json's text of the same value.
        assert_eq!(to_string(&from_serde(v.clone())).as_bytes(), &compact[..]);
        valid += 2;
        for text in [&compact, &pretty] {
            for _ in 0..4 {
                match check_document(&mutate(&mut r, text)) {
                    true => valid += 1,
                    false => invalid += 1,
                }
            }
        }
    }
    eprintln!("{valid} valid and {invalid} refused documents agree with serde_json");
    assert!(valid > 8000 && invalid > 10000, "{valid} {invalid}");
}

#[test]
fn numbers_read_and_write_as_serde_json() {
    let fixed = [
        "0",
        "-0",
        "1",
        "-1",
        "1.0",
        "1.5",
        "-1.5",
        "0.1",
        "1e0",
        "1E+2",
        "1e-2",
        "100",
        "1e15",
        "1e16",
        "1e17",
        "123456789012345678",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "1e308",
        "1e309",
        "-1e309",
        "2.2250738585072014e-308",
        "5e-324",
        "1e-400",
        "4.9e-324",
        "0e999999999999",
        "1e2147483647",
        "1e2147483648",
        "1e-2147483648",
        "1e-99999999999",
        "0.0",
        "-0.0",
        "0.00001",
        "0.000001",
        "1234567890123456.0",
        "12345678901234567.0",
        "9007199254740993",
        "18446744073709551615",
        "18446744073709551616",
        "184467440737095516150",
        "-9223372036854775808",
        "-9223372036854775809",
        "1.00000000000000000000000000001",
        "123456789012345678901234567890.5e-10",
        "01",
        "-01",
        "1.",
        "-",
        ".5",
        "1e",
        "1e+",
        "+1",
        "1.e5",
        "0x10",
        "1.5e3.5",
        "Infinity",
        "NaN",
        "-.5",
        "1e5e5",
        "9.999999999999999e22",
        "1e23",
        "8.98846567431158e307",
        "0.3",
        "2.5e-7",
        "1e21",
        "1e22",
    ];
    for t in fixed {
        check_document(t.as_bytes());
        check_document(format!("[{t}]").as_bytes());
        check_document(format!("{{\"n\": {t} }}").as_bytes());
    }
    let mut r = Rng(7);
    let mut n = 0;
    for _ in 0..20_000 {
        // Random finite floats: written as serde_json writes them, and read back alike.
        let f = f64::from_bits(r.next_u64());
        if !f.is_finite() {
            continue;
        }
        let text = serde_json::to_string(&f).unwrap();
        let mut ours = String::new();
        write::float(&mut ours, f);
        assert_eq!(ours, text, "{f:e}");
        check_document(text.as_bytes());
        // Random number texts.
        let digits: String = (0..1 + r.below(25)).map(|_| char::from(b'0' + r.below(10) as u8)).collect();
        let t = match r.below(4) {
            0 => digits,
            1 => format!("-{digits}"),
            2 => format!("{digits}.{}", r.below(100000)),
            _ => format!("{digits}e{}{}", *r.pick(&["", "-", "+"]), r.below(400)),
        };
        check_document(t.as_bytes());
        n += 2;
    }
    // Powers of two (the uneven gap below them), their neighbours, subnormals, and decimals.
    let mut special = Vec::new();
    for e in -1074..=1023 {
        let p = 2f64.powi(e);
        special.extend([p, f64::from_bits(p.to_bits() + 1), f64::from_bits(p.to_bits().saturating_sub(1)), -p]);
    }
    for i in 1..2000u64 {
        special.extend([f64::from_bits(i), f64::from_bits(i << 40), i as f64 / 1000.0, (i * 7919) as f64 * 1e10, 1.0 / i as f64]);
    }
    for f in special {
        if !f.is_finite() {
            continue;
        }
        let mut ours = String::new();
        write::float(&mut ours, f);
        assert_eq!(ours, serde_json::to_string(&f).unwrap(), "{f:e}");
        n += 1;
    }
    for f in [0.0, -0.0, 1.0, 0.1, 1e15, 1e16, 1e-5, 1e-6, 123.456, 1e300, 5e-324, f64::MAX, f64::MIN_POSITIVE, 1.5e-7, 1e100] {
        let mut ours = String::new();
        write::float(&mut ours, f);
        assert_eq!(ours, serde_json::to_string(&f).unwrap(), "{f:e}");
    }
    eprintln!("{n} number cases agree with serde_json");
}

#[test]
fn strings_and_escapes_read_as_serde_json() {
    let fixed: &[&[u8]] = &[
        br#""\ud83d\ude00""#,
        br#""\ud83d""#,
        br#""\ud83dx""#,
        br#""\ud83d\n""#,
        br#""\ud83d\u0041""#,
        br#""\ude00""#,
        br#""\ud83d\ud83d""#,
        br#""\u00e9\u0000""#,
        br#""\uD83D\uDE00""#,
        br#""\u12""#,
        br#""\u12g4""#,
        br#""\x""#,
        b"\"\\",
        b"\"abc",
        b"\"\xc3\"",
        b"\"\xc3\xa9\"",
        b"\"\xed\xa0\x80\"",
        b"\"a\nb\"",
        b"\"\x7f\"",
        b"\"\xf4\x90\x80\x80\"",
        b"\"\xc3\\n\"",
        b"\"ok\\/\"",
        br#""\ud800\udbff""#,
        br#""\ud800\\""#,
        b"\"\\ud800\\",
        b"\"\\ud800",
        br#"{"a\u0000b": 1}"#,
        b"{\"\xff\": 1}",
        b"\"x\xe2\x82\"y",
    ];
    for t in fixed {
        check_document(t);
    }
}

#[test]
fn structure_errors_and_positions_read_as_serde_json() {
    let fixed = [
        "",
        " ",
        "{",
        "[",
        "{\"a\"",
        "{\"a\":",
        "{\"a\":1",
        "{\"a\":1,",
        "{\"a\":1,}",
        "[1,]",
        "[1 2]",
        "{\"a\" 1}",
        "{1:2}",
        "{,}",
        "[,]",
        "{} x",
        "[] ]",
        "nul",
        "nulll",
        "tru",
        "fals",
        "null x",
        "\n\n  {\n \"a\": [1, 2,\n ]}",
        "{\"a\":1}\n\nx",
        "{\"a\"::1}",
        "[\"a\",,]",
        "{\"a\":1 \"b\":2}",
        "[}",
        "{]",
        "\u{feff}{}",
        "{\"a\":{\"a\":{\"a\":1}}}",
        "{\"a\":1,\"a\":2}",
        "{\"b\":1,\"a\":2,\"b\":3}",
    ];
    for t in fixed {
        check_document(t.as_bytes());
    }
    // Nesting: 127 levels read, 128 refused, and far deeper refused without overflowing.
    for depth in [1, 126, 127, 128, 129, 10_000] {
        check_document(format!("{}{}", "[".repeat(depth), "]".repeat(depth)).as_bytes());
        check_document(format!("{}1{}", "{\"a\":[".repeat(depth / 2), "]}".repeat(depth / 2)).as_bytes());
        check_document("[".repeat(depth).as_bytes());
    }
}

#[test]
fn large_objects_keep_their_members_sorted_and_the_last_duplicate() {
    let mut r = Rng(99);
    for n in [0, 1, 31, 32, 33, 100, 1000, 5000, 20_000] {
        let members: Vec<String> = (0..n).map(|_| format!("\"k{}\":{}", r.below(n.max(1) * 2), r.below(10))).collect();
        check_document(format!("{{{}}}", members.join(",")).as_bytes());
    }
    // Refusing: a name given again is found in whichever sorted run holds it.
    let n = 3000;
    let distinct: Vec<String> = (0..n).map(|i| format!("\"k{}\":0", (i * 7919) % n)).collect();
    assert!(super::parse_strict(format!("{{{}}}", distinct.join(",")).as_bytes()).is_ok());
    for again in [0, 1, 31, 32, 1000, n - 1] {
        let text = format!("{{{},\"k{}\":1}}", distinct.join(","), (again * 7919) % n);
        assert!(super::parse_strict(text.as_bytes()).is_err(), "member {again} given twice");
    }
}

// ---------------------------------------------------------------------------------------------
// The strict reader against the serde-based visitor it replaced.

const DUP_PREFIX: &str = "\u{0}duplicate:";
const BUDGET_MSG: &str = "\u{0}too many values";

fn reference_parse_object(bytes: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, JsonError> {
    let budget = Cell::new(MAX_VALUES);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { budget: &budget }.deserialize(&mut de).map_err(|e| classify(e, &budget))?;
    de.end().map_err(|e| JsonError::Syntax(e.to_string()))?;
    match value {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(JsonError::NotAnObject),
    }
}

fn classify(e: serde_json::Error, budget: &Cell<usize>) -> JsonError {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix(DUP_PREFIX) {
        let key = rest.rsplit_once(" at line ").map(|(k, _)| k).unwrap_or(rest);
        return JsonError::DuplicateKey(key.to_string());
    }
    if msg.starts_with(BUDGET_MSG) || budget.get() == 0 {
        return JsonError::TooManyValues;
    }
    JsonError::Syntax(msg)
}

#[derive(Clone, Copy)]
struct Strict<'b> {
    budget: &'b Cell<usize>,
}

impl Strict<'_> {
    fn spend<E: sde::Error>(&self) -> Result<(), E> {
        let left = self.budget.get();
        if left == 0 {
            return Err(E::custom(BUDGET_MSG));
        }
        self.budget.set(left - 1);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = serde_json::Value;
    fn deserialize<D: sde::Deserializer<'de>>(self, d: D) -> Result<serde_json::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = serde_json::Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: sde::Error>(self, v: bool) -> Result<serde_json::Value, E> {
        self.spend()?;
        Ok(serde_json::Value::Bool(v))
    }
    fn visit_i64<E: sde::Error>(self, v: i64) -> Result<serde_json::Value, E> {
        self.spend()?;
        Ok(serde_json::Value::from(v))
    }
    fn visit_u64<E: sde::Error>(self, v: u64) -> Result<serde_json::Value, E> {
        self.spend()?;
        Ok(serde_json::Value::from(v))
    }
    fn visit_f64<E: sde::Error>(self, v: f64) -> Result<serde_json::Value, E> {
        self.spend()?;
        serde_json::Number::from_f64(v).map(serde_json::Value::Number).ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E: sde::Error>(self, v: &str) -> Result<serde_json::Value, E> {
        self.spend()?;
        Ok(serde_json::Value::String(v.to_owned()))
    }
    fn visit_unit<E: sde::Error>(self) -> Result<serde_json::Value, E> {
        self.spend()?;
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<serde_json::Value, A::Error> {
        self.spend()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(serde_json::Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<serde_json::Value, A::Error> {
        self.spend()?;
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(sde::Error::custom(format_args!("{DUP_PREFIX}{key}")));
            }
            let v = map.next_value_seed(self)?;
            out.insert(key, v);
        }
        Ok(serde_json::Value::Object(out))
    }
}

fn check_strict(bytes: &[u8]) {
    let ours = parse_object(bytes).map(|m| to_string(&Value::Object(m)));
    let theirs = reference_parse_object(bytes).map(|m| serde_json::Value::Object(m).to_string());
    assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(bytes));
}

#[test]
fn the_strict_reader_refuses_what_the_serde_visitor_refused() {
    let mut r = Rng(0x1234_5678);
    for _ in 0..3000 {
        let v = serde_json::Value::Object((0..1 + r.below(6)).map(|_| (gen_string(&mut r), gen_value(&mut r, 1))).collect());
        let text = serde_json::to_vec(&v).unwrap();
        check_strict(&text);
        for _ in 0..4 {
            check_strict(&mutate(&mut r, &text));
        }
    }
    for t in [
        "{\"a\":1,\"a\":2}",
        "{\"x\":{\"b\":1,\"b\":1}}",
        "{\"a\":1,\"a\":}",
        "{\"a\":[1,{\"b\":1,\"b\"",
        "[1]",
        "5",
        "{\"a\":1} x",
        "{\"exp\":1e309}",
    ] {
        check_strict(t.as_bytes());
    }
    // Around the value cap: exactly at it, one over, and errors right after it.
    for n in [MAX_VALUES - 2, MAX_VALUES - 1, MAX_VALUES, MAX_VALUES + 1] {
        let items = vec!["0"; n].join(",");
        check_strict(format!("{{\"a\":[{items}]}}").as_bytes());
        check_strict(format!("{{\"a\":[{items}],}}").as_bytes());
        check_strict(format!("{{\"a\":[{items}],\"b\":01}}").as_bytes());
        check_strict(format!("{{\"a\":[{items}]").as_bytes());
        check_strict(format!("{{\"a\":[{items},[]]}}").as_bytes());
        check_strict(format!("{{\"a\":[{items},01]}}").as_bytes());
        check_strict(format!("{{\"a\":[{items}], \"a\": 1}}").as_bytes());
    }
}
