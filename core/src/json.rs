//! Strict JSON for untrusted token segments: duplicate member names are refused, nesting is
//! bounded (serde_json's limit of 128), and the number of values is capped.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Value};
use std::cell::Cell;
use std::fmt;

/// Upper bound on the number of JSON values (members and array elements) in one document.
pub const MAX_VALUES: usize = 4096;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not valid JSON (including numbers out of range such as `1e309`, and nesting too deep).
    Syntax(String),
    /// The same member name appears twice in one object.
    DuplicateKey(String),
    /// More than [`MAX_VALUES`] values.
    TooManyValues,
    /// The top-level value is not an object.
    NotAnObject,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(e) => write!(f, "invalid JSON: {e}"),
            JsonError::DuplicateKey(k) => write!(f, "duplicate member {k:?}"),
            JsonError::TooManyValues => write!(f, "more than {MAX_VALUES} values"),
            JsonError::NotAnObject => write!(f, "not a JSON object"),
        }
    }
}

/// Parses a JSON object, refusing duplicate member names at any depth.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    let budget = Cell::new(MAX_VALUES);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict { budget: &budget }.deserialize(&mut de).map_err(|e| classify(e, &budget))?;
    de.end().map_err(|e| JsonError::Syntax(e.to_string()))?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(JsonError::NotAnObject),
    }
}

const DUP_PREFIX: &str = "\u{0}duplicate:";
const BUDGET_MSG: &str = "\u{0}too many values";

fn classify(e: serde_json::Error, budget: &Cell<usize>) -> JsonError {
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix(DUP_PREFIX) {
        // serde_json appends " at line L column C"; keep only the key.
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
    fn spend<E: de::Error>(&self) -> Result<(), E> {
        let left = self.budget.get();
        if left == 0 {
            return Err(E::custom(BUDGET_MSG));
        }
        self.budget.set(left - 1);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.spend()?;
        serde_json::Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.spend()?;
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.spend()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // One search per member: the vacant entry is filled once the value is read.
            match out.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(map.next_value_seed(self)?);
                }
                Entry::Occupied(dup) => return Err(de::Error::custom(format_args!("{DUP_PREFIX}{}", dup.key()))),
            }
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects() {
        let m = parse_object(br#"{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}"#).unwrap();
        assert_eq!(m["a"], 1);
        assert_eq!(m["c"]["d"], 1.5);
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert_eq!(parse_object(br#"{"a":1,"a":2}"#), Err(JsonError::DuplicateKey("a".into())));
        assert!(matches!(parse_object(br#"{"x":{"b":1,"b":1}}"#), Err(JsonError::DuplicateKey(_))));
    }

    #[test]
    fn refuses_non_objects_trailing_data_and_huge_numbers() {
        assert_eq!(parse_object(b"[1]"), Err(JsonError::NotAnObject));
        assert!(matches!(parse_object(br#"{"a":1} x"#), Err(JsonError::Syntax(_))));
        assert!(matches!(parse_object(br#"{"exp":1e309}"#), Err(JsonError::Syntax(_))));
    }

    #[test]
    fn refuses_deep_nesting_without_overflowing_the_stack() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(parse_object(deep.as_bytes()), Err(JsonError::Syntax(_))));
    }

    #[test]
    fn caps_the_number_of_values() {
        let many: Vec<String> = (0..MAX_VALUES + 1).map(|i| format!("\"k{i}\":0")).collect();
        let doc = format!("{{{}}}", many.join(","));
        assert_eq!(parse_object(doc.as_bytes()), Err(JsonError::TooManyValues));
    }
}
