//! The outcome in Envoy filter state, for access logs and RBAC: Envoy stores a value set with
//! `proxy_set_property(["jwt_filter.sub"])` as filter state `wasm.jwt_filter.sub`, printable with
//! `%FILTER_STATE(wasm.jwt_filter.sub:PLAIN)%`. The outcome is spelled as the counters spell it
//! ([`Pass::reason`], `denied`).

use crate::host::FilterHost;
use jwt_core::authn::{Allow, Deny, Pass};
use jwt_core::config::Config;

/// Records a pass: the outcome, and for a verified identity its provider, issuer and `sub`.
pub fn record_allow(host: &mut dyn FilterHost, config: &Config, allow: &Allow) {
    if let Pass::FailedAllowed(e) = &allow.pass {
        host.set_state("jwt_filter.reason", e.denial.reason());
    }
    host.set_state("jwt_filter.outcome", allow.pass.reason());
    if let Some(id) = allow.identities.first() {
        if let Some(p) = config.providers.get(id.provider) {
            host.set_state("jwt_filter.provider", &p.name);
        }
        let claims = &id.verified.claims;
        for claim in ["sub", "iss"] {
            if let Some(v) = claims.get(claim).and_then(serde_json::Value::as_str) {
                host.set_state(&format!("jwt_filter.{claim}"), v);
            }
        }
    }
}

/// Records a refusal: the outcome, the reason and the provider.
pub fn record_deny(host: &mut dyn FilterHost, deny: &Deny, provider: &str) {
    host.set_state("jwt_filter.outcome", "denied");
    host.set_state("jwt_filter.reason", deny.error.denial.reason());
    host.set_state("jwt_filter.provider", provider);
}
