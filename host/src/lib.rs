//! The proxy-wasm side shared by the filter and the `jwks-fetcher`: panic-free host calls and
//! the module's exports ([`abi`]), the context dispatcher ([`dispatch`]), logging and the panic
//! hook ([`logging`]), the core's host traits on Envoy ([`store`]), metrics ([`metrics`]), the
//! JWKS lifecycle driver ([`keys`]), and which build this is ([`build_info`]).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod abi;
pub mod build_info;
pub mod dispatch;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod store;

/// Reads the plugin configuration. Istio passes it as a JSON-encoded `StringValue` (a JSON
/// string holding the document); plain Envoy configs pass the document itself. Both work.
pub fn plugin_config(size: usize) -> Result<Vec<u8>, String> {
    let raw = abi::buffer(abi::Buffer::PluginConfiguration, size)
        .map_err(|s| format!("cannot read the plugin configuration (status {})", s.0))?;
    Ok(unwrap_string_value(raw))
}

/// If `raw` is a JSON string (a `StringValue` in JSON form), returns its content.
pub fn unwrap_string_value(raw: Vec<u8>) -> Vec<u8> {
    let trimmed = raw.iter().position(|b| !b.is_ascii_whitespace()).and_then(|i| raw.get(i));
    if trimmed == Some(&b'"') {
        if let Ok(jwt_core::json::Value::String(s)) = jwt_core::json::parse(&raw) {
            return s.into_bytes();
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    #[test]
    fn string_value_unwrapping() {
        assert_eq!(super::unwrap_string_value(br#"{"a":1}"#.to_vec()), br#"{"a":1}"#);
        assert_eq!(super::unwrap_string_value(br#" "{\"a\":1}" "#.to_vec()), br#"{"a":1}"#);
        assert_eq!(super::unwrap_string_value(b"\"unterminated".to_vec()), b"\"unterminated");
    }
}
