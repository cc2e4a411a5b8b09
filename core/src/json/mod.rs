//! JSON for the filter, without serde: a value model ([`Value`], [`Map`], [`Number`]), a strict
//! reader with serde_json's rules and words ([`parse`]), and a compact writer byte for byte as
//! serde_json's (`Display`, [`to_string`]). With serde_json and serde the wasm module was 26 KB
//! larger (after wasm-opt), and V8 compiles every function of it in every Envoy (issue 13).
//!
//! Untrusted token segments are read by [`parse_object`]: duplicate member names are refused,
//! nesting is bounded (serde_json's limit of 128), and the number of values is capped.

mod parse;
mod pow10;
mod shortest;
mod value;
mod write;

#[cfg(test)]
pub mod bridge;

/// serde_json's `json!`, as our [`Value`] (tests).
#[cfg(test)]
macro_rules! json {
    ($($t:tt)+) => {
        $crate::json::bridge::from_serde(serde_json::json!($($t)+))
    };
}
#[cfg(test)]
pub(crate) use json;
#[cfg(test)]
mod differential;

pub use parse::{Dups, ParseError};
pub use value::{Map, Number, Value};
pub use write::{fields, to_string};

use std::fmt;

/// Reads a whole document as serde_json's `from_slice::<Value>` did: a member given twice
/// keeps its last value.
pub fn parse(bytes: &[u8]) -> Result<Value, ParseError> {
    parse::parse(bytes, Dups::KeepLast, usize::MAX)
}

/// Reads a whole document, refusing a member given twice (with its path).
pub fn parse_strict(bytes: &[u8]) -> Result<Value, ParseError> {
    parse::parse(bytes, Dups::Refuse, usize::MAX)
}

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
pub fn parse_object(bytes: &[u8]) -> Result<Map, JsonError> {
    object(parse::parse(bytes, Dups::Refuse, MAX_VALUES))
}

/// [`parse_object`] of text already known to be UTF-8 (a token payload, which the filter
/// keeps as text for the user header): its strings are not checked again.
pub fn parse_object_text(text: &str) -> Result<Map, JsonError> {
    object(parse::parse_text(text, Dups::Refuse, MAX_VALUES))
}

fn object(parsed: Result<Value, ParseError>) -> Result<Map, JsonError> {
    match parsed {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(JsonError::NotAnObject),
        Err(ParseError::Duplicate { key, .. }) => Err(JsonError::DuplicateKey(key)),
        Err(ParseError::TooManyValues) => Err(JsonError::TooManyValues),
        Err(e) => Err(JsonError::Syntax(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects() {
        let m = parse_object(br#"{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}"#).unwrap();
        assert_eq!(m.get("a"), Some(&Value::from(1u64)));
        assert_eq!(m.get("c").and_then(|c| c.get("d")).and_then(Value::as_f64), Some(1.5));
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
