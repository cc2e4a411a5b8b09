//! Compact JSON text, byte for byte what serde_json's `to_string` wrote: members in name order,
//! `"` `\` and control characters escaped (`\b \t \n \f \r`, else `\u00xx`), everything else
//! (non-ASCII included) as UTF-8, integers in decimal, floats as the shortest text that reads
//! back to the same `f64` in serde_json's layout (`1.5`, `1e+30`, `1e-7`, `0.0001`, `100.0`).

use super::value::{Map, Number, Value};
use std::fmt::Write;

/// The value as compact JSON.
pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    value(&mut out, v);
    out
}

/// An object with its members in the order given: a struct as serde's derived `Serialize`
/// wrote it (fields in declaration order).
pub fn fields(members: &[(&str, Value)]) -> String {
    let mut out = String::from("{");
    for (i, (k, x)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(&mut out, k);
        out.push(':');
        value(&mut out, x);
    }
    out.push('}');
    out
}

/// Writes a value. Nested arrays and objects recurse: every value written was built by the
/// parser (at most 128 levels deep) or by the filter itself.
#[inline(never)]
pub(crate) fn value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => number(out, n),
        Value::String(s) => string(out, s),
        Value::Array(a) => array(out, a),
        Value::Object(m) => object(out, m),
    }
}

#[inline(never)]
fn array(out: &mut String, a: &[Value]) {
    out.push('[');
    for (i, x) in a.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        value(out, x);
    }
    out.push(']');
}

#[inline(never)]
fn object(out: &mut String, m: &Map) {
    out.push('{');
    for (i, (k, x)) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, k);
        out.push(':');
        value(out, x);
    }
    out.push('}');
}

/// A quoted string with serde_json's escapes.
#[inline(never)]
pub(crate) fn string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => '"',
            b'\\' => '\\',
            0x08 => 'b',
            0x0c => 'f',
            b'\n' => 'n',
            b'\r' => 'r',
            b'\t' => 't',
            0..=0x1f => 'u',
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or_default());
        start = i + 1;
        out.push('\\');
        out.push(short);
        if short == 'u' {
            let hex = b"0123456789abcdef";
            out.push_str("00");
            out.push(char::from(hex.get(usize::from(b >> 4)).copied().unwrap_or(b'0')));
            out.push(char::from(hex.get(usize::from(b & 0xf)).copied().unwrap_or(b'0')));
        }
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// A number: integers in decimal, floats as [`float`] writes them.
#[inline(never)]
pub(crate) fn number(out: &mut String, n: &Number) {
    match (n.float(), n.as_u64(), n.as_i64()) {
        (Some(f), _, _) => float(out, f),
        (None, Some(u), _) => {
            let _ = write!(out, "{u}");
        }
        (None, None, Some(i)) => {
            let _ = write!(out, "{i}");
        }
        (None, None, None) => out.push('0'),
    }
}

/// A finite float in serde_json's layout: the shortest digits that read back to `f`
/// ([`super::shortest`]), in plain notation when the decimal exponent is
/// within -5..=15 (with `.0` on whole numbers), else `d.ddde±x`.
#[inline(never)]
pub(crate) fn float(out: &mut String, f: f64) {
    if f.is_sign_negative() {
        out.push('-');
    }
    if f == 0.0 {
        out.push_str("0.0");
        return;
    }
    let (digits, exp) = super::shortest::shortest(f);
    let digits = String::from_utf8(digits).unwrap_or_default();
    let n = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if (-5..=15).contains(&exp) {
        if n - 1 <= exp {
            out.push_str(&digits);
            zeros(out, exp - (n - 1));
            out.push_str(".0");
        } else if exp >= 0 {
            let (int, frac) = digits.split_at(usize::try_from(exp + 1).unwrap_or(0));
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        } else {
            out.push_str("0.");
            zeros(out, -exp - 1);
            out.push_str(&digits);
        }
        return;
    }
    let (first, rest) = digits.split_at(1);
    out.push_str(first);
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    let _ = write!(out, "e{}{}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs());
}

fn zeros(out: &mut String, n: i32) {
    for _ in 0..n {
        out.push('0');
    }
}
