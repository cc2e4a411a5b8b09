//! `token-issuer`: a local, Cognito-compatible token issuer for the demo and the compose stack.
//! It signs with the repository's fixture keys (test keys, never use them for anything real).
//!
//! - `GET /<pool>/.well-known/jwks.json`: the pool's JWKS (as Cognito serves it).
//! - `GET /<pool>/.well-known/openid-configuration`: the discovery document.
//! - `GET /token?username=andrew[&token_use=access|id][&groups=a,b][&scope=..][&ttl=3600][&format=raw]`:
//!   tokens for that user (`format=raw` returns just the token, handy in shell scripts; with it,
//!   `token_use=id` picks the ID token instead of the access token). `groups` replaces
//!   `cognito:groups` (default `users`; `groups=` gives none), `scope` replaces the access
//!   token's scope, `ttl` is the lifetime in seconds: a negative one gives a token that has
//!   already expired (`ttl=-120` is past the filter's default 60 s clock skew).
//! - `GET /rotate`: starts signing with a second key and publishes both (to watch the
//!   filter's unknown-kid refetch).
//!
//! Flags (or env): `--listen 0.0.0.0:9100` (ISSUER_LISTEN), `--region us-east-1` (ISSUER_REGION),
//! `--pool us-east-1_DemoPool` (ISSUER_POOL), `--client demo-client` (ISSUER_CLIENT).

use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use testkit::httpd::{serve, Reply};

fn arg(name: &str, env: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var(env).ok())
        .unwrap_or_else(|| default.to_string())
}

fn main() -> std::io::Result<()> {
    let listen = arg("--listen", "ISSUER_LISTEN", "127.0.0.1:9100");
    let region = arg("--region", "ISSUER_REGION", "us-east-1");
    let pool = arg("--pool", "ISSUER_POOL", "us-east-1_DemoPool");
    let client = arg("--client", "ISSUER_CLIENT", "demo-client");
    let iss = testkit::cognito_issuer(&region, &pool);
    let rotated = AtomicBool::new(false);
    testkit::httpd::exit_on_signals("token-issuer")?;
    eprintln!("token-issuer: issuer {iss}, client {client}, listening on {listen}");
    serve(&listen.clone(), move |req| {
        let a = testkit::rsa_a();
        let b = testkit::rsa_b();
        let jwks_path = format!("/{pool}/.well-known/jwks.json");
        let disco_path = format!("/{pool}/.well-known/openid-configuration");
        match req.path.as_str() {
            p if p == jwks_path || p == "/.well-known/jwks.json" => {
                if rotated.load(Ordering::SeqCst) {
                    Reply::json(&testkit::jwks(&[&a, &b]))
                } else {
                    Reply::json(&testkit::jwks(&[&a]))
                }
            }
            p if p == disco_path => Reply::json(&json!({
                "issuer": iss,
                "jwks_uri": format!("{iss}/.well-known/jwks.json"),
                "id_token_signing_alg_values_supported": ["RS256"],
            })),
            "/rotate" => {
                rotated.store(true, Ordering::SeqCst);
                Reply::json(&json!({"rotated": true, "signing_kid": b.kid}))
            }
            "/token" => {
                let username = req.param("username").unwrap_or("andrew");
                let key = if rotated.load(Ordering::SeqCst) { &b } else { &a };
                let ttl: i64 = req.param("ttl").and_then(|t| t.parse().ok()).unwrap_or(3600);
                let mut access = testkit::cognito_access(&iss, &client, username);
                let mut id = testkit::cognito_id(&iss, &client, username);
                let now = i64::try_from(testkit::now()).unwrap_or(i64::MAX);
                let exp = now.saturating_add(ttl);
                // An expired token was issued an hour before it expired, as a real one would be.
                let iat = if ttl > 0 { now } else { exp.saturating_sub(3600) };
                for c in [&mut access, &mut id] {
                    c["exp"] = json!(exp);
                    c["iat"] = json!(iat);
                    c["auth_time"] = json!(iat);
                    if let Some(g) = req.param("groups") {
                        c["cognito:groups"] = json!(g.split(',').filter(|x| !x.is_empty()).collect::<Vec<_>>());
                    }
                }
                if let Some(s) = req.param("scope") {
                    access["scope"] = json!(s);
                }
                let access = key.token(&access);
                let id = key.token(&id);
                match (req.param("format"), req.param("token_use")) {
                    (Some("raw"), Some("id")) => Reply::text(200, format!("{id}\n")),
                    (Some("raw"), _) => Reply::text(200, format!("{access}\n")),
                    _ => Reply::json(&json!({"access_token": access, "id_token": id, "token_type": "Bearer", "expires_in": ttl})),
                }
            }
            "/healthz" => Reply::text(200, "ok\n"),
            _ => Reply::text(404, "not found\n"),
        }
    })
}
