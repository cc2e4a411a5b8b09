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

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        serde_json::Value::deserialize(d).map(from_serde)
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        to_serde(self).serialize(s)
    }
}

static NULL: Value = Value::Null;

impl std::ops::Index<&str> for Value {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl std::ops::Index<usize> for Value {
    type Output = Value;
    fn index(&self, i: usize) -> &Value {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&NULL)
    }
}

impl std::ops::IndexMut<&str> for Value {
    fn index_mut(&mut self, key: &str) -> &mut Value {
        if self.is_null() {
            *self = Value::Object(super::Map::new());
        }
        let m = self.as_object_mut().expect("an object");
        if !m.contains_key(key) {
            m.insert(key.to_string(), Value::Null);
        }
        m.get_mut(key).expect("inserted")
    }
}
