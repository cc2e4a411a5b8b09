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

/// A finite float in serde_json's layout: the shortest digits that read back to `f` (the
/// standard library's `{:e}` finds them), in plain notation when the decimal exponent is
/// within -5..=15 (with `.0` on whole numbers), else `d.ddde±x`.
#[inline(never)]
pub(crate) fn float(out: &mut String, f: f64) {
    let sci = format!("{f:e}");
    let (sign, sci) = match sci.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", sci.as_str()),
    };
    out.push_str(sign);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    if digits.iter().all(|b| *b == b'0') {
        out.push_str("0.0");
        return;
    }
    let n = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    even_on_tie(f, &mut digits, exp - (n - 1));
    let digits = String::from_utf8(digits).unwrap_or_default();
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

/// When `f` lies exactly halfway between the shortest digits found and their neighbour in the
/// last place (both read back to `f`), serde_json's writer takes the one with the even last
/// digit; the standard library's `{:e}` may take the other. `digits × 10^p` is the decimal found.
#[inline(never)]
fn even_on_tie(f: f64, digits: &mut [u8], p: i32) {
    let Some(last) = digits.last().copied() else { return };
    if last % 2 == 0 {
        return;
    }
    let d = digits.iter().fold(0u128, |acc, b| acc * 10 + u128::from(b - b'0'));
    // f = m × 2^k with m odd.
    let bits = f.abs().to_bits();
    let (mut m, mut k) = match (bits >> 52) as i32 {
        0 => (u128::from(bits & ((1 << 52) - 1)), -1074),
        e => (u128::from(bits & ((1 << 52) - 1) | 1 << 52), e - 1075),
    };
    if m == 0 {
        return;
    }
    while m % 2 == 0 {
        m /= 2;
        k += 1;
    }
    // 2f / 10^p, when it is an odd integer (f halfway between two decimals of the last place).
    let twice = if p <= 0 {
        let q = p.unsigned_abs();
        if k + 1 + p.abs() != 0 || q > 27 {
            return;
        }
        5u128.pow(q).checked_mul(m)
    } else {
        if k + 1 != p || p > 27 {
            return;
        }
        let five = 5u128.pow(p.unsigned_abs());
        (m % five == 0).then(|| m / five)
    };
    let Some(twice) = twice else { return };
    let Some(slot) = digits.last_mut() else { return };
    if twice + 1 == 2 * d {
        *slot -= 1;
    } else if twice == 2 * d + 1 && last < b'9' {
        *slot += 1;
    }
}

fn zeros(out: &mut String, n: i32) {
    for _ in 0..n {
        out.push('0');
    }
}
