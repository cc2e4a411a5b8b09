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
            if let Some(v) = claims.get(claim).and_then(jwt_core::json::Value::as_str) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{Fake, Stats, Store};
    use jwt_core::authn::{authenticate, Context, How, InlineKeys};
    use jwt_core::cache::TokenCache;
    use jwt_core::extract::RequestView;
    use serde_json::json;
    use std::cell::RefCell;

    #[test]
    fn sub_and_iss_reach_filter_state_on_a_miss_and_on_a_cache_hit() {
        let key = testkit::rsa_a();
        let doc = json!({
            "providers": {"idp": {"issuer": "https://idp.example", "allow_any_audience": true,
                                  "jwks": {"inline": testkit::jwks(&[&key])}}},
            "filter_state": true
        });
        let cfg = Config::parse(doc.to_string().as_bytes()).unwrap();
        let now = testkit::now();
        let claims = json!({"iss": "https://idp.example", "sub": "alice", "exp": now + 600, "other": "x"});
        let bearer = format!("Bearer {}", key.token(&claims));
        let hs: Vec<(&str, &[u8])> = vec![("authorization", bearer.as_bytes())];
        let req = RequestView { method: "GET", path: "/", headers: &hs };
        let keys = InlineKeys(&cfg);
        let ctx = Context { config: &cfg, keys: &keys, host: None, now };
        let mut cache = TokenCache::new(10, 1 << 20);
        let (store, stats) = (Store::default(), RefCell::new(Stats::default()));
        for how in [How::Verified(jwt_core::crypto::Path::PureRust), How::Cached] {
            let allow = authenticate(&ctx, &req, &mut cache).decision.unwrap();
            assert_eq!(allow.identities[0].how, how);
            assert_eq!(allow.identities[0].verified.claims.get("other"), None, "nobody reads it");
            let mut host = Fake::new(&store, &stats, now * 1000);
            record_allow(&mut host, &cfg, &allow);
            assert_eq!(host.state.get("jwt_filter.sub").map(String::as_str), Some("alice"));
            assert_eq!(host.state.get("jwt_filter.iss").map(String::as_str), Some("https://idp.example"));
            assert_eq!(host.state.get("jwt_filter.provider").map(String::as_str), Some("idp"));
        }
    }
}
