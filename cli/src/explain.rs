//! `jwt-filter explain`: runs the filter's own authenticator ([`authn::authenticate_observed`])
//! on one request, with the keys given on the command line, and prints each step it reports
//! and the reply or upstream headers the filter would produce. Nothing here re-checks a
//! token: verdicts come from the core; this file only lays out the values beside them.

use crate::load;
use crate::time::utc;
use jwt_core::authn::{self, Context, KeyStore, Keys, Pass};
use jwt_core::cache::TokenCache;
use jwt_core::config::{Config, CryptoMode, KeySource, Provider};
use jwt_core::crypto::KeyMaterial;
use jwt_core::crypto::{HostAnswer, HostVerifier, Path};
use jwt_core::error::{self, AuthError, Denial};
use jwt_core::extract::{RequestView, TokenSource};
use jwt_core::jwk::KeySet;
use jwt_core::jws;
use jwt_core::policy::{Authz, Condition};
use jwt_core::rules::{HeaderMatch, PathMatch, ProviderId, Requirement};
use jwt_core::trace::{Observer, Step};
use serde_json::{json, Map, Value};
use std::cell::Cell;
use std::io::Read;

struct Opts {
    config: String,
    jwks: Vec<(Option<String>, String)>,
    provider: Option<String>,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    now: Option<u64>,
    json: bool,
    token: Option<String>,
}

fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        config: String::new(),
        jwks: Vec::new(),
        provider: None,
        method: "GET".into(),
        path: "/".into(),
        headers: Vec::new(),
        now: None,
        json: false,
        token: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--config" => o.config = value(a)?,
            "--jwks" => {
                let v = value(a)?;
                match v.split_once('=') {
                    Some((name, file)) if !name.is_empty() && !name.contains('/') => {
                        o.jwks.push((Some(name.into()), file.into()))
                    }
                    _ => o.jwks.push((None, v)),
                }
            }
            "--provider" => o.provider = Some(value(a)?),
            "--method" => o.method = value(a)?.to_ascii_uppercase(),
            "--path" => o.path = value(a)?,
            "--header" => {
                let v = value(a)?;
                let (n, val) = v.split_once(':').ok_or_else(|| format!("--header {v:?}: expected 'name: value'"))?;
                o.headers.push((n.trim().to_ascii_lowercase(), val.trim().to_string()));
            }
            "--now" => o.now = Some(value(a)?.parse().map_err(|_| "--now takes seconds since the epoch".to_string())?),
            "--json" => o.json = true,
            "-" if o.token.is_none() => {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).map_err(|e| format!("stdin: {e}"))?;
                o.token = Some(s.trim().to_string());
            }
            t if !t.starts_with("--") && o.token.is_none() => o.token = Some(t.trim().to_string()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if o.config.is_empty() {
        return Err("explain needs --config FILE".into());
    }
    if o.token.as_deref() == Some("") {
        o.token = None; // an empty stdin: a request without a token
    }
    Ok(o)
}

/// The keys of each provider: inline keys from the config, else the `--jwks` files.
struct Store {
    sets: Vec<Option<KeySet>>,
}

impl KeyStore for Store {
    fn keys(&self, p: ProviderId) -> Keys<'_> {
        match self.sets.get(p).and_then(Option::as_ref) {
            Some(set) => Keys::Ready { set, generation: 1 },
            None => Keys::Unavailable { retry_after: 0 },
        }
    }
}

/// Stands in for Envoy's `verify_signature`: notes that the filter would have asked the host,
/// and answers "unavailable" so the core verifies in pure Rust, as it does on hosts without it.
#[derive(Default)]
struct HostProbe {
    asked: Cell<u32>,
}

impl HostVerifier for HostProbe {
    fn verify(&self, _hash: &str, _spki: &[u8], _sig: &[u8], _msg: &[u8]) -> HostAnswer {
        self.asked.set(self.asked.get().saturating_add(1));
        HostAnswer::Unavailable
    }
}

/// Runs `explain`; returns the exit code.
pub fn run(args: &[String]) -> u8 {
    let o = match parse_args(args) {
        Ok(o) => o,
        Err(e) => return crate::usage(&e),
    };
    match explain(&o) {
        Ok((doc, allowed)) => {
            if o.json {
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                print!("{}", render(&doc));
            }
            if allowed {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("jwt-filter: {e}");
            2
        }
    }
}

fn load_config(file: &str) -> Result<Config, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let found = load::configs(&text).map_err(|e| format!("{file}: {e}"))?;
    // The fetcher and the filter usually share one text (envoy/demo.yaml); else the filter's.
    let mut distinct: Vec<&load::Found> = Vec::new();
    for f in &found {
        if !distinct.iter().any(|d| d.text == f.text) {
            distinct.push(f);
        }
    }
    if distinct.len() > 1 {
        distinct.retain(|f| f.at.contains("http_filters"));
    }
    let [one] = distinct.as_slice() else {
        return Err(format!("{file} holds {} different filter configurations; give a file with one", distinct.len()));
    };
    Config::parse(one.text.as_bytes()).map_err(|e| format!("{file}: {}: {e}", one.at))
}

fn names(cfg: &Config, ps: &[ProviderId]) -> Vec<String> {
    ps.iter().filter_map(|p| cfg.providers.get(*p)).map(|p| p.name.clone()).collect()
}

fn explain(o: &Opts) -> Result<(Value, bool), String> {
    let cfg = load_config(&o.config)?;
    let mut sets: Vec<Option<KeySet>> = cfg
        .providers
        .iter()
        .map(|p| match &p.keys {
            KeySource::Inline(set) => Some(KeySet::clone(set)),
            KeySource::Remote(_) => None,
        })
        .collect();
    if let Some(p) = &o.provider {
        cfg.provider_id(p).ok_or_else(|| format!("--provider {p:?}: no such provider"))?;
    }
    for (name, file) in &o.jwks {
        let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        let set = KeySet::parse(&bytes).map_err(|e| format!("{file}: {e}"))?;
        let targets: Vec<ProviderId> = match name.as_deref().or(o.provider.as_deref()) {
            Some(n) => vec![cfg.provider_id(n).ok_or_else(|| format!("--jwks {n}=…: no provider {n:?}"))?],
            None => (0..cfg.providers.len()).filter(|p| matches!(sets.get(*p), Some(None))).collect(),
        };
        for t in targets {
            if let Some(slot) = sets.get_mut(t) {
                *slot = Some(set.clone());
            }
        }
    }
    let now = match o.now {
        Some(n) => n,
        None => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
    };
    let mut path = o.path.clone();
    let mut headers = o.headers.clone();
    let mut placed = Value::Null;
    if let Some(token) = &o.token {
        let iss = jws::parse(token, usize::MAX).ok().and_then(|j| jws::issuer(&j.claims).map(str::to_string));
        let provider = o
            .provider
            .as_deref()
            .and_then(|n| cfg.provider_id(n))
            .or_else(|| cfg.providers.iter().position(|p| Some(&p.claims.issuer) == iss.as_ref()))
            .unwrap_or(0);
        let source = cfg.providers.get(provider).and_then(|p| p.sources.first()).cloned().unwrap_or_else(TokenSource::bearer);
        placed = Value::from(format!(
            "{} (the first token source of provider {})",
            source_text(&source),
            provider_name(&cfg, provider)
        ));
        match &source {
            TokenSource::Header { name, prefix } if prefix.is_empty() => headers.push((name.clone(), token.clone())),
            TokenSource::Header { name, prefix } => headers.push((name.clone(), format!("{prefix} {token}"))),
            TokenSource::Param(name) => path = format!("{path}{}{name}={token}", if path.contains('?') { '&' } else { '?' }),
            TokenSource::Cookie(name) => headers.push(("cookie".into(), format!("{name}={token}"))),
        }
    }
    let hs: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
    let req = RequestView { method: &o.method, path: &path, headers: &hs };
    let store = Store { sets };
    let probe = HostProbe::default();
    let host: Option<&dyn HostVerifier> = (cfg.crypto == CryptoMode::Auto).then_some(&probe as &dyn HostVerifier);
    let ctx = Context { config: &cfg, keys: &store, host, now };
    let mut rec = Recorder { cfg: &cfg, req: &req, now, probe: &probe, probe_seen: 0, steps: Vec::new() };
    let outcome = authn::authenticate_observed(&ctx, &req, &mut TokenCache::new(0, 0), &mut rec);
    let mut steps = rec.steps;
    let allowed = outcome.decision.is_ok();
    let result = match &outcome.decision {
        Ok(allow) => {
            let pass = match &allow.pass {
                Pass::Authenticated => "authenticated".to_string(),
                Pass::Public => "public route (requires: none)".into(),
                Pass::CorsPreflight => "CORS preflight".into(),
                Pass::MissingAllowed => "no token, and the rule allows that".into(),
                Pass::FailedAllowed(e) => format!("the token failed ({}), and the rule allows that", reason(e)),
                Pass::KeysUnavailableAllowed => "keys unavailable, treated as no token".into(),
            };
            json!({
                "decision": "allow",
                "why": pass,
                "upstream_headers": allow.add_headers.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
                "removed_headers": allow.remove_headers,
                "new_path": allow.new_path,
                "stripped_headers": cfg.output_headers,
            })
        }
        Err(deny) => {
            let reply = error::reply(&deny.error, &cfg.reply, deny.retry_after);
            let label = deny.provider.and_then(|p| cfg.providers.get(p)).map_or("unknown", |p| p.name.as_str());
            json!({
                "decision": "deny",
                "reason": deny.error.denial.reason(),
                "detail": deny.error.detail,
                "status": reply.status,
                "headers": reply.headers.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
                "body": serde_json::from_str::<Value>(&reply.body).unwrap_or(Value::String(reply.body.clone())),
                "counter": format!("jwt_filter.provider.{label}.denied.{}", deny.error.denial.reason()),
            })
        }
    };
    if !outcome.kid_misses.is_empty() {
        steps.push(json!({"step": "kid_miss", "text": format!(
            "the filter would refetch the JWKS of {} once (unknown kid) before answering; here the given keys are final",
            names(&cfg, &outcome.kid_misses).join(", "))}));
    }
    let doc = json!({
        "request": {"method": o.method, "path": o.path, "token_placed_in": placed, "now": now, "now_utc": utc(now)},
        "steps": steps,
        "outcome": result,
    });
    Ok((doc, allowed))
}

fn reason(e: &AuthError) -> String {
    if e.detail.is_empty() {
        e.denial.reason().to_string()
    } else {
        format!("{}: {}", e.denial.reason(), e.detail)
    }
}

fn provider_name(cfg: &Config, p: ProviderId) -> String {
    cfg.providers.get(p).map_or_else(|| format!("#{p}"), |p| p.name.clone())
}

fn source_text(s: &TokenSource) -> String {
    match s {
        TokenSource::Header { name, prefix } if prefix.is_empty() => format!("header {name}"),
        TokenSource::Header { name, prefix } => format!("header {name} ({prefix} …)"),
        TokenSource::Param(n) => format!("query parameter {n}"),
        TokenSource::Cookie(n) => format!("cookie {n}"),
    }
}

fn requirement_text(cfg: &Config, r: &Requirement) -> String {
    match r {
        Requirement::Any(ps) => format!("a valid token from any of [{}]", names(cfg, ps).join(", ")),
        Requirement::All(ps) => format!("a valid token from each of [{}]", names(cfg, ps).join(", ")),
        Requirement::AllowMissing(ps) => {
            format!("allow_missing [{}]: no token passes, a token must be valid", names(cfg, ps).join(", "))
        }
        Requirement::AllowMissingOrFailed(ps) => {
            format!("allow_missing_or_failed [{}]: always passes, identity only when valid", names(cfg, ps).join(", "))
        }
        Requirement::None => "none (public)".into(),
    }
}

fn authz_text(a: &Authz) -> Vec<String> {
    let mut out = Vec::new();
    if !a.groups.is_empty() {
        out.push(format!("cognito:groups contains one of {:?}", a.groups));
    }
    if !a.scopes.is_empty() {
        out.push(format!("scope contains all of {:?}", a.scopes));
    }
    if !a.subjects.exact.is_empty() || !a.subjects.prefixes.is_empty() {
        out.push(format!("sub is one of {:?} or starts with one of {:?}", a.subjects.exact, a.subjects.prefixes));
    }
    for c in &a.claims {
        match &c.condition {
            Condition::Equals(v) => out.push(format!("{} equals {v}", c.path)),
            Condition::Contains(v) => out.push(format!("{} contains {v}", c.path)),
        }
    }
    out
}

fn kty(m: &KeyMaterial) -> &'static str {
    match m {
        KeyMaterial::Rsa(_) => "RSA",
        KeyMaterial::Ec(_) => "EC",
        KeyMaterial::Ed25519(_) => "OKP Ed25519",
    }
}

fn date(v: Option<&Value>) -> Value {
    match v.and_then(Value::as_u64) {
        Some(n) => json!({"value": n, "utc": utc(n)}),
        None => v.cloned().unwrap_or(Value::Null),
    }
}

/// The claim values each check of [`jwt_core::claims::ClaimRules::check`] looks at, with the
/// one the core refused marked.
fn claim_rows(p: &Provider, claims: &Map<String, Value>, now: u64, failed: Option<&AuthError>) -> Vec<Value> {
    let r = &p.claims;
    let failed_on = |names: &[Denial], claim: &str| {
        failed.is_some_and(|e| {
            names.contains(&e.denial)
                || (matches!(e.denial, Denial::BadClaim | Denial::MissingClaim)
                    && e.detail.split_whitespace().next() == Some(claim))
        })
    };
    let mut rows = vec![json!({"claim": "iss", "value": claims.get("iss"), "expected": r.issuer,
        "failed": failed_on(&[Denial::UnknownIssuer], "iss")})];
    let skew = r.clock_skew;
    rows.push(json!({"claim": "exp", "value": date(claims.get("exp")), "expected": format!("now < exp + {skew}s skew{}", if r.require_exp { "; required" } else { "" }),
        "failed": failed_on(&[Denial::Expired], "exp")}));
    rows.push(
        json!({"claim": "nbf", "value": date(claims.get("nbf")), "expected": format!("nbf <= now + {skew}s skew, when present"),
        "failed": failed_on(&[Denial::NotYetValid], "nbf")}),
    );
    rows.push(
        json!({"claim": "iat", "value": date(claims.get("iat")), "expected": format!("iat <= now + {skew}s skew, when present"),
        "failed": failed_on(&[Denial::IssuedInFuture], "iat")}),
    );
    if let Some(max) = r.max_lifetime {
        rows.push(json!({"claim": "exp - iat", "value": claims.get("exp").and_then(Value::as_u64).zip(claims.get("iat").and_then(Value::as_u64)).map(|(e, i)| e.saturating_sub(i)),
            "expected": format!("at most {max}s"), "failed": failed_on(&[Denial::LifetimeTooLong], "exp")}));
    }
    let aud_expect = if r.audiences.is_empty() { "not checked".to_string() } else { format!("one of {:?}", r.audiences) };
    rows.push(json!({"claim": "aud", "value": claims.get("aud"), "expected": aud_expect, "failed": failed_on(&[Denial::Audience], "aud")}));
    if let Some(c) = &r.cognito {
        rows.push(json!({"claim": "token_use", "value": claims.get("token_use"), "expected": format!("{:?}", c.token_use).to_lowercase(),
            "failed": failed_on(&[Denial::TokenUse], "token_use")}));
        let ids = if c.client_ids.is_empty() {
            "not checked".to_string()
        } else {
            format!("one of {:?} (client_id for access tokens, aud for id tokens)", c.client_ids)
        };
        rows.push(json!({"claim": "client_id", "value": claims.get("client_id"), "expected": ids, "failed": failed_on(&[Denial::ClientId], "client_id")}));
    }
    let _ = now;
    rows
}

struct Recorder<'a> {
    cfg: &'a Config,
    req: &'a RequestView<'a>,
    now: u64,
    probe: &'a HostProbe,
    probe_seen: u32,
    steps: Vec<Value>,
}

impl Observer for Recorder<'_> {
    fn step(&mut self, step: Step<'_>) {
        let cfg = self.cfg;
        let v = match step {
            Step::CorsPreflight => {
                json!({"step": "route", "text": "CORS preflight (OPTIONS with Origin and Access-Control-Request-Method): let through (bypass_cors_preflight)"})
            }
            Step::Route { requirement, authz } => {
                let rule = cfg.rules.iter().position(|r| r.when.matches(self.req));
                let when = rule.and_then(|i| cfg.rules.get(i)).map(|r| {
                    let mut m = match &r.when.path {
                        PathMatch::Prefix(p) => format!("prefix {p}"),
                        PathMatch::Exact(p) => format!("exact {p}"),
                        PathMatch::Regex(re) => format!("regex {}", re.as_str()),
                    };
                    if !r.when.methods.is_empty() {
                        m.push_str(&format!(", methods {}", r.when.methods.join("|")));
                    }
                    for (n, h) in &r.when.headers {
                        m.push_str(&match h {
                            HeaderMatch::Present(b) => format!(", header {n} {}", if *b { "present" } else { "absent" }),
                            HeaderMatch::Exact(x) => format!(", header {n} = {x:?}"),
                            HeaderMatch::Prefix(x) => format!(", header {n} starts with {x:?}"),
                        });
                    }
                    m
                });
                json!({"step": "route", "rule": rule.map(|i| format!("rules[{i}]")).unwrap_or_else(|| "default_requires (no rule matched)".into()),
                    "match": when, "requires": requirement_text(cfg, requirement), "rule_authz": authz.map(authz_text).unwrap_or_default()})
            }
            Step::Found { source, bytes } => json!({"step": "token", "source": source_text(source), "bytes": bytes}),
            Step::CacheHit { provider } => json!({"step": "cache", "provider": provider_name(cfg, provider)}),
            Step::Parsed { alg, kid, claims } => {
                // The core's own JSON value, as serde_json's (its text reads back the same).
                let claims: Value = serde_json::from_str(&claims_text(claims)).unwrap_or_default();
                json!({"step": "header", "alg": alg.name(), "kid": kid, "claims": claims})
            }
            Step::Refused { error } => json!({"step": "refused", "reason": reason(error)}),
            Step::Issuer { candidates, matching } => {
                json!({"step": "issuer", "accepted_here": names(cfg, candidates), "matching_iss": names(cfg, matching)})
            }
            Step::KeysUnavailable { provider, .. } => {
                let n = provider_name(cfg, provider);
                json!({"step": "keys", "provider": n, "text": format!("no keys for provider {n}: the filter answers keys_unavailable until its JWKS is fetched (here: pass --jwks {n}=FILE)")})
            }
            Step::Signature { provider, key, path } => {
                let asked = self.probe.asked.get();
                let host = asked > self.probe_seen;
                self.probe_seen = asked;
                // The released module has no pure-Rust ECDSA (jwt-core's `pure-ecdsa` feature is
                // off in it); this CLI has it, so say what the filter would do instead.
                let ec = matches!(key.material, KeyMaterial::Ec(_));
                let filter_path = match (host, cfg.crypto == CryptoMode::PureRust, ec) {
                    (true, _, false) => "Envoy's verify_signature (BoringSSL), pure Rust if the host lacks it",
                    (true, _, true) => {
                        "Envoy's verify_signature (BoringSSL); if the host lacks it, 500 no_verifier (no pure-Rust ECDSA in the module)"
                    }
                    (false, true, false) => "pure Rust (crypto: pure_rust)",
                    (false, true, true) => "none: crypto: pure_rust and the module has no pure-Rust ECDSA (500 no_verifier)",
                    (false, false, _) => "pure Rust (the host path does not take this key type or alg)",
                };
                json!({"step": "signature", "provider": provider_name(cfg, provider), "kid": key.kid, "kty": kty(&key.material),
                    "key_alg": key.alg.map(|a| a.name()), "valid": path.is_some(),
                    "verified_here_by": path.map(|p| match p { Path::Host => "host", Path::PureRust => "pure Rust" }),
                    "filter_would_use": filter_path})
            }
            Step::NoKey { provider, error } => {
                json!({"step": "signature", "provider": provider_name(cfg, provider), "error": reason(error)})
            }
            Step::Claims { provider, result } => {
                let claims =
                    self.steps.iter().rev().find_map(|s| s.get("claims").and_then(Value::as_object)).cloned().unwrap_or_default();
                let rows =
                    cfg.providers.get(provider).map(|p| claim_rows(p, &claims, self.now, result.err())).unwrap_or_default();
                json!({"step": "claims", "provider": provider_name(cfg, provider), "now": {"value": self.now, "utc": utc(self.now)},
                    "skew_seconds": cfg.providers.get(provider).map(|p| p.claims.clock_skew), "checks": rows,
                    "result": result.err().map_or_else(|| "ok".to_string(), reason)})
            }
            Step::Authz { provider, rule, authz, result } => {
                if authz.is_empty() {
                    return;
                }
                json!({"step": "authz", "provider": provider_name(cfg, provider), "of": if rule { "rule" } else { "provider" },
                    "checks": authz_text(authz), "result": result.err().map_or_else(|| "ok".to_string(), reason)})
            }
        };
        self.steps.push(v);
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// The human form: one block per step.
fn render(doc: &Value) -> String {
    let mut out = String::new();
    let mut line = |label: &str, text: String| out.push_str(&format!("{label:<10} {text}\n"));
    let r = &doc["request"];
    line("request", format!("{} {}   now {} ({})", s(&r["method"]), s(&r["path"]), s(&r["now"]), s(&r["now_utc"])));
    if !r["token_placed_in"].is_null() {
        line("", format!("token placed in {}", s(&r["token_placed_in"])));
    }
    for st in doc["steps"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let kind = s(&st["step"]);
        match kind.as_str() {
            "route" if st.get("text").is_some() => line("route", s(&st["text"])),
            "route" => {
                let m = if st["match"].is_null() { String::new() } else { format!(" ({})", s(&st["match"])) };
                line("rule", format!("{}{m}", s(&st["rule"])));
                line("requires", s(&st["requires"]));
                for a in st["rule_authz"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    line("", format!("and (403 check) {}", s(a)));
                }
            }
            "token" if st.get("error").is_some() => line("token", format!("{}: {}", s(&st["source"]), s(&st["error"]))),
            "token" => line("token", format!("found in {}, {} bytes", s(&st["source"]), s(&st["bytes"]))),
            "cache" => line("cache", format!("verified before for {}", s(&st["provider"]))),
            "header" => line(
                "header",
                format!(
                    "alg {}, kid {}, iss {}",
                    s(&st["alg"]),
                    s(&st["kid"]),
                    s(st.pointer("/claims/iss").unwrap_or(&Value::Null))
                ),
            ),
            "refused" => line("refused", s(&st["reason"])),
            "issuer" => {
                let m = st["matching_iss"].as_array().map(|a| a.iter().map(s).collect::<Vec<_>>().join(", ")).unwrap_or_default();
                let c =
                    st["accepted_here"].as_array().map(|a| a.iter().map(s).collect::<Vec<_>>().join(", ")).unwrap_or_default();
                line(
                    "provider",
                    if m.is_empty() {
                        format!("none of [{c}] has this issuer")
                    } else {
                        format!("{m} (by iss; accepted here: {c})")
                    },
                );
            }
            "keys" | "kid_miss" => line(&kind, s(&st["text"])),
            "signature" if st.get("error").is_some() => line("signature", format!("{}: {}", s(&st["provider"]), s(&st["error"]))),
            "signature" => {
                line("key", format!("kid {}, {}, alg {}", s(&st["kid"]), s(&st["kty"]), s(&st["key_alg"])));
                let verdict = if st["valid"] == Value::Bool(true) { "valid" } else { "INVALID" };
                line(
                    "signature",
                    format!(
                        "{verdict} (checked here in {}; the filter would use {})",
                        s(&st["verified_here_by"]).replace('-', "pure Rust"),
                        s(&st["filter_would_use"])
                    ),
                );
            }
            "claims" => {
                line(
                    "claims",
                    format!(
                        "provider {}, now {} ({}), skew {}s",
                        s(&st["provider"]),
                        s(st.pointer("/now/value").unwrap_or(&Value::Null)),
                        s(st.pointer("/now/utc").unwrap_or(&Value::Null)),
                        s(&st["skew_seconds"])
                    ),
                );
                for row in st["checks"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    let v = &row["value"];
                    let val = if v.get("utc").is_some() { format!("{} ({})", s(&v["value"]), s(&v["utc"])) } else { s(v) };
                    let mark = if row["failed"] == Value::Bool(true) { "  <- FAILED" } else { "" };
                    line("", format!("{:<10} {val:<36}  needs: {}{mark}", s(&row["claim"]), s(&row["expected"])));
                }
                line("", format!("result: {}", s(&st["result"])));
            }
            "authz" => {
                line("authz", format!("{} checks of {}: {}", s(&st["of"]), s(&st["provider"]), s(&st["result"])));
                for c in st["checks"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    line("", s(c));
                }
            }
            _ => line(&kind, st.to_string()),
        }
    }
    let o = &doc["outcome"];
    if o["decision"] == "allow" {
        line("outcome", format!("ALLOW: {}", s(&o["why"])));
        for h in o["upstream_headers"].as_array().map(Vec::as_slice).unwrap_or_default() {
            line("upstream", format!("{}: {}", s(&h["name"]), s(&h["value"])));
        }
        for h in o["removed_headers"].as_array().map(Vec::as_slice).unwrap_or_default() {
            line("upstream", format!("{} removed (forward: false)", s(h)));
        }
        if !o["new_path"].is_null() {
            line("upstream", format!(":path {}", s(&o["new_path"])));
        }
    } else {
        line("outcome", format!("DENY {}: {}", s(&o["status"]), s(&o["reason"])));
        for h in o["headers"].as_array().map(Vec::as_slice).unwrap_or_default() {
            line("reply", format!("{}: {}", s(&h["name"]), s(&h["value"])));
        }
        line("reply", format!("body {}", s(&o["body"])));
        line("counter", s(&o["counter"]));
    }
    out
}

/// A token's claims as compact JSON text.
fn claims_text(claims: &jwt_core::json::Map) -> String {
    jwt_core::json::Value::Object(claims.clone()).to_string()
}
