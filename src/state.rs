//! The outcome in Envoy filter state, for access logs and RBAC: Envoy stores a value set with
//! `proxy_set_property(["jwt_filter.sub"])` as filter state `wasm.jwt_filter.sub`, printable with
//! `%FILTER_STATE(wasm.jwt_filter.sub:PLAIN)%`.

use jwt_core::authn::{Allow, Deny, Pass};
use jwt_core::config::Config;
use wasm_host::abi;

fn set(name: &str, value: &str) {
    if let Err(s) = abi::set_property(&[name], value.as_bytes()) {
        log::debug!("jwt-filter: cannot set filter state {name} (status {})", s.0);
    }
}

/// Records a pass: the outcome, and for a verified identity its provider, issuer and `sub`.
pub fn record_allow(config: &Config, allow: &Allow) {
    let outcome = match &allow.pass {
        Pass::Authenticated => "allowed",
        Pass::Public => "public",
        Pass::CorsPreflight => "cors_preflight",
        Pass::MissingAllowed => "missing_allowed",
        Pass::FailedAllowed(e) => {
            set("jwt_filter.reason", e.denial.reason());
            "failed_allowed"
        }
        Pass::KeysUnavailableAllowed => "keys_unavailable_allowed",
    };
    set("jwt_filter.outcome", outcome);
    if let Some(id) = allow.identities.first() {
        if let Some(p) = config.providers.get(id.provider) {
            set("jwt_filter.provider", &p.name);
        }
        let claims = &id.verified.claims;
        for claim in ["sub", "iss"] {
            if let Some(v) = claims.get(claim).and_then(serde_json::Value::as_str) {
                set(&format!("jwt_filter.{claim}"), v);
            }
        }
    }
}

/// Records a refusal: the outcome, the reason and the provider.
pub fn record_deny(deny: &Deny, provider: &str) {
    set("jwt_filter.outcome", "denied");
    set("jwt_filter.reason", deny.error.denial.reason());
    set("jwt_filter.provider", provider);
}
