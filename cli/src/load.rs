//! Finds the filter configurations in a file: a JSON configuration, an Istio WasmPlugin (its
//! `spec.pluginConfig`), or an Envoy bootstrap, listener or LDS document in YAML or JSON, where
//! every wasm plugin `configuration` of the JWT filter or the jwks-fetcher counts.

use serde::Deserialize;
use serde_json::Value;

/// One configuration found in a file.
pub struct Found {
    /// Where it is, e.g. `static_resources.listeners[0]…http_filters[0] (jwt)`, or `(file)`.
    pub at: String,
    /// The configuration text, as the filter's `on_configure` would receive it.
    pub text: String,
}

/// Reads the documents of a file: JSON, or YAML (several `---` documents allowed).
pub fn documents(text: &str) -> Result<Vec<Value>, String> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(vec![v]);
    }
    let mut docs = Vec::new();
    for d in serde_norway::Deserializer::from_str(text) {
        let v = Value::deserialize(d).map_err(|e| format!("not JSON or YAML: {e}"))?;
        if !v.is_null() {
            docs.push(v);
        }
    }
    Ok(docs)
}

/// The filter configurations in a file's text. A JSON text that is none of the known wrappers
/// is returned as is, so its errors are the filter's own.
pub fn configs(text: &str) -> Result<Vec<Found>, String> {
    let docs = documents(text)?;
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let label = if docs.len() > 1 { format!("document {}: ", i + 1) } else { String::new() };
        if doc.get("kind").and_then(Value::as_str) == Some("WasmPlugin") {
            let cfg = doc.pointer("/spec/pluginConfig").cloned().unwrap_or(Value::Null);
            out.push(Found { at: format!("{label}spec.pluginConfig"), text: cfg.to_string() });
            continue;
        }
        let mut plugins = Vec::new();
        walk(doc, String::new(), &mut plugins);
        if plugins.is_empty() {
            out.push(Found { at: format!("{label}(file)"), text: json_text(text, doc, docs.len()) });
        }
        for (at, text) in plugins {
            out.push(Found { at: format!("{label}{at}"), text });
        }
    }
    if out.is_empty() {
        return Err("no configuration found".into());
    }
    Ok(out)
}

/// The original text when the file is one JSON document (so syntax errors keep their words),
/// else the document re-encoded.
fn json_text(text: &str, doc: &Value, n: usize) -> String {
    if n == 1 && serde_json::from_str::<Value>(text).is_ok() {
        text.to_string()
    } else {
        doc.to_string()
    }
}

/// A wasm plugin config (`vm_config` beside `configuration`) of this project's modules.
fn plugin_config(v: &Value) -> Option<(String, String)> {
    let vm = v.get("vm_config")?;
    let conf = v.get("configuration")?;
    let code = vm.get("code").map(Value::to_string).unwrap_or_default();
    let root = v.get("root_id").and_then(Value::as_str).unwrap_or_default();
    let name = v.get("name").and_then(Value::as_str).unwrap_or(root);
    let ours = ["jwt_filter", "jwks_fetcher", "jwt-filter", "jwks-fetcher"].iter().any(|m| code.contains(m))
        || root == "jwt"
        || root == "jwks-fetcher";
    if !ours {
        return None;
    }
    let text = match conf.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => conf.to_string(),
    };
    Some((name.to_string(), text))
}

fn walk(v: &Value, at: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(o) => {
            if let Some((name, text)) = plugin_config(v) {
                out.push((format!("{at} ({name})"), text));
                return;
            }
            for (k, x) in o {
                let next = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                walk(x, next, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}
