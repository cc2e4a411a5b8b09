//! Conversions to and from serde_json's value, for tests.

use super::{Number, Value};

/// serde_json's value as ours.
pub fn from_serde(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Number(match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Number::from(u),
            (None, Some(i), _) => Number::from(i),
            (None, None, f) => Number::from_f64(f.unwrap_or_default()).unwrap_or_else(|| Number::from(0u64)),
        }),
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::Array(a.into_iter().map(from_serde).collect()),
        serde_json::Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, from_serde(v))).collect()),
    }
}

/// Ours as serde_json's.
pub fn to_serde(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.float()) {
            (Some(u), _, _) => u.into(),
            (None, Some(i), _) => i.into(),
            (_, _, f) => {
                serde_json::Number::from_f64(f.unwrap_or_default()).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
        },
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(to_serde).collect()),
        Value::Object(m) => serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), to_serde(v))).collect()),
    }
}
