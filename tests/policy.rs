//! Policy and routing in a real Envoy: several providers matched by `iss` (two Cognito pools
//! and a generic OIDC issuer found by discovery), token sources, every requirement kind, rule
//! matching, CORS preflight, 403 checks, upstream outputs, filter state, and counters. Each
//! option is shown both allowing and refusing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::*;

const STAFF_POOL: &str = "us-east-1_StaffPool";
const OIDC_ISS: &str = "https://tenant.auth0.test/";

fn staff_iss() -> String {
    testkit::cognito_issuer(REGION, STAFF_POOL)
}

fn providers() -> Value {
    json!({
        "cognito": {
            "cognito": {"region": REGION, "user_pool_id": POOL, "token_use": "access", "client_ids": [CLIENT]},
            "jwks": {"cluster": "jwks"}
        },
        "staff": {
            "cognito": {"region": REGION, "user_pool_id": STAFF_POOL, "token_use": "id", "client_ids": ["staff-client"]},
            "jwks": {"inline": testkit::jwks(&[&testkit::rsa_b()])}
        },
        "auth0": {
            "issuer": OIDC_ISS,
            "audiences": ["https://api.test"],
            "jwks": {"cluster": "oidc", "discovery": true},
            "from_headers": [{"name": "authorization", "prefix": "Bearer"}, {"name": "x-auth0-token"}],
            "from_params": ["access_token"]
        }
    })
}

fn main_config() -> Value {
    json!({
        "realm": "policy",
        "filter_state": true,
        "providers": providers(),
        "rules": [
            {"match": {"prefix": "/public"}, "requires": "none"},
            {"match": {"exact": "/exact"}, "requires": "none"},
            {"match": {"regex": "/users/[0-9]+"}, "requires": "none"},
            {"match": {"prefix": "/internal", "headers": [{"name": "x-internal", "present": true}]}, "requires": "none"},
            {"match": {"prefix": "/feed"}, "requires": {"allow_missing": ["cognito"]}},
            {"match": {"prefix": "/soft"}, "requires": {"allow_missing_or_failed": ["cognito"]}},
            {"match": {"prefix": "/staff"}, "requires": {"provider": "staff"}},
            {"match": {"prefix": "/either"}, "requires": {"any": ["cognito", "auth0"]}},
            {"match": {"prefix": "/both"}, "requires": {"all": ["cognito", "auth0"]}},
            {"match": {"prefix": "/admin"}, "requires": {"provider": "cognito"}, "groups": ["admin", "ops"]},
            {"match": {"prefix": "/write", "methods": ["POST"]}, "requires": {"provider": "cognito"}, "scopes": ["notes/write"]},
            {"match": {"prefix": "/gold"}, "requires": {"provider": "cognito"},
             "claims": [{"path": "org.tier", "equals": "gold"}, {"path": "roles", "contains": "editor"}]}
        ],
        "default_requires": {"any": ["cognito", "auth0", "staff"]}
    })
}

fn output_config() -> Value {
    json!({
        "realm": "outputs",
        "bypass_cors_preflight": false,
        "providers": {
            "cognito": {
                "cognito": {"region": REGION, "user_pool_id": POOL, "token_use": "access", "client_ids": [CLIENT]},
                "jwks": {"cluster": "jwks"},
                "from_headers": [{"name": "authorization", "prefix": "Bearer"}, {"name": "x-api-token"}],
                "from_cookies": ["id_token"],
                "forward": false,
                "max_lifetime_seconds": 7200,
                "subjects": {"prefixes": ["sub-"]},
                "output": {
                    "user_header": "x-user",
                    "user_claim": "username",
                    "claim_headers": {"x-groups": "cognito:groups", "x-tier": "org.tier", "x-org": "org", "x-iat": "iat"},
                    "payload_header": "x-jwt-payload"
                }
            }
        }
    })
}

fn subset_config() -> Value {
    json!({
        "providers": {
            "cognito": {
                "cognito": {"region": REGION, "user_pool_id": POOL, "token_use": "access", "client_ids": [CLIENT]},
                "jwks": {"cluster": "jwks"},
                "require_exp": false,
                "output": {"user_claims": ["sub", "username"]}
            }
        }
    })
}

struct Stack {
    envoy: Envoy,
    upstream: Server,
    oidc: Server,
}

fn stack() -> Stack {
    let upstream = Server::upstream();
    let jwks = Server::jwks(&testkit::jwks(&[&testkit::rsa_a()]));
    let oidc = Server::start(Behavior::Routes(vec![
        (
            "/.well-known/openid-configuration".into(),
            Behavior::Json(
                json!({"issuer": OIDC_ISS, "jwks_uri": "https://tenant.auth0.test/.well-known/jwks.json"}).to_string(),
            ),
        ),
        ("/.well-known/jwks.json".into(), Behavior::Json(testkit::jwks(&[&testkit::p256()]).to_string())),
    ]));
    let mut main = Listener::filtered(main_config());
    main.access_log = Some(
        "[access] %REQ(:PATH)% %RESPONSE_CODE% sub=%FILTER_STATE(wasm.jwt_filter.sub:PLAIN)% provider=%FILTER_STATE(wasm.jwt_filter.provider:PLAIN)% reason=%FILTER_STATE(wasm.jwt_filter.reason:PLAIN)%"
            .into(),
    );
    let setup = Setup {
        listeners: vec![main, Listener::filtered(output_config()), Listener::filtered(subset_config())],
        clusters: vec![("upstream".into(), upstream.port), ("jwks".into(), jwks.port), ("oidc".into(), oidc.port)],
        fetcher: None,
        concurrency: 2,
        dynamic_listeners: false,
    };
    let envoy = Envoy::start(&setup);
    let tok = access_token(&testkit::rsa_a(), "warmup");
    let oidc_tok = oidc_token(json!({}));
    let ready = envoy.wait_for(Duration::from_secs(15), || {
        request(envoy.ports[0], "GET", "/either", &[bearer(&tok)]).is_ok_and(|r| r.status == 200)
            && request(envoy.ports[0], "GET", "/either", &[bearer(&oidc_tok)]).is_ok_and(|r| r.status == 200)
    });
    assert!(ready, "keys never arrived:\n{}", envoy.logs());
    upstream.clear();
    drop(jwks);
    Stack { envoy, upstream, oidc }
}

fn oidc_token(extra: Value) -> String {
    let mut c = json!({"iss": OIDC_ISS, "sub": "auth0|42", "aud": ["https://api.test", "other"], "exp": testkit::now() + 600, "iat": testkit::now()});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    testkit::p256().token(&c)
}

fn cognito(extra: Value) -> String {
    let mut c = testkit::cognito_access(&issuer(), CLIENT, "andrew");
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    testkit::rsa_a().token(&c)
}

fn staff_id() -> String {
    testkit::rsa_b().token(&testkit::cognito_id(&staff_iss(), "staff-client", "sam"))
}

fn call(port: u16, method: &str, path: &str, headers: &[(String, String)]) -> Response {
    request(port, method, path, headers).unwrap()
}

fn desc(r: &Response) -> String {
    let h = r.header("www-authenticate").unwrap_or_default();
    h.split("error_description=\"").nth(1).map(|d| d.trim_end_matches('"').to_string()).unwrap_or_default()
}

#[test]
fn providers_by_issuer_discovery_and_requirements() {
    let s = stack();
    let p = s.envoy.ports[0];
    let c = cognito(json!({}));
    let o = oidc_token(json!({}));
    let st = staff_id();

    // Provider chosen by iss; each verified only with its own keys and rules.
    for (name, tok) in [("cognito", &c), ("auth0 via discovery", &o), ("staff id token", &st)] {
        assert_eq!(call(p, "GET", "/anything", &[bearer(tok)]).status, 200, "{name} on the default (any) requirement");
    }
    let unknown = testkit::rsa_a().token(&json!({"iss": "https://unknown.test/", "exp": testkit::now() + 60}));
    let r = call(p, "GET", "/anything", &[bearer(&unknown)]);
    assert_eq!((r.status, desc(&r)), (401, "issuer not accepted".to_string()));
    // A Cognito token signed with the staff pool's key is not accepted for the cognito pool.
    let cross = testkit::rsa_b().with_kid("rsa-a").token(&testkit::cognito_access(&issuer(), CLIENT, "x"));
    assert_eq!(call(p, "GET", "/anything", &[bearer(&cross)]).status, 401);
    // Discovery: the document was read, then the JWKS on the same host.
    let paths: Vec<String> = s.oidc.seen().iter().map(|r| r.path.clone()).collect();
    assert!(
        paths.contains(&"/.well-known/openid-configuration".to_string()) && paths.contains(&"/.well-known/jwks.json".to_string()),
        "{paths:?}"
    );
    // aud as an array holding the audience is accepted; a wrong audience is not.
    let r = call(p, "GET", "/either", &[bearer(&oidc_token(json!({"aud": "someone-else"})))]);
    assert_eq!((r.status, desc(&r)), (401, "audience not allowed".to_string()));

    // provider: only staff tokens on /staff.
    assert_eq!(call(p, "GET", "/staff", &[bearer(&st)]).status, 200);
    let r = call(p, "GET", "/staff", &[bearer(&c)]);
    assert_eq!((r.status, desc(&r)), (401, "issuer not accepted".to_string()));
    // any: cognito or auth0, not staff.
    assert_eq!(call(p, "GET", "/either", &[bearer(&o)]).status, 200);
    assert_eq!(call(p, "GET", "/either", &[bearer(&st)]).status, 401);
    // all: both tokens, each in its header.
    let r = call(p, "GET", "/both?x=1", &[bearer(&c), ("x-auth0-token".into(), o.clone())]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.upstream.last().unwrap().path, "/both?x=1");
    // One in the header, one in the query parameter: two methods in one request (RFC 6750 §2).
    let r = call(p, "GET", &format!("/both?x=1&access_token={o}"), &[bearer(&c)]);
    assert_eq!((r.status, desc(&r)), (400, "token in more than one place".to_string()));
    // The query parameter alone is removed upstream.
    let r = call(p, "GET", &format!("/either?x=1&access_token={o}"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.upstream.last().unwrap().path, "/either?x=1", "the token parameter does not reach the upstream");
    assert_eq!(call(p, "GET", "/both", &[bearer(&c)]).status, 401, "all: one token is not enough");
    // The query parameter is only a source for auth0.
    assert_eq!(call(p, "GET", &format!("/either?access_token={c}"), &[]).status, 401);
    assert_eq!(call(p, "GET", &format!("/either?access_token={o}"), &[]).status, 200);
    // allow_missing: no token passes without identity; a bad one is refused; a good one identifies.
    s.upstream.clear();
    assert_eq!(call(p, "GET", "/feed", &[]).status, 200);
    assert_eq!(s.upstream.last().unwrap().header("x-current-user"), None);
    assert_eq!(call(p, "GET", "/feed", &[bearer("bad")]).status, 401);
    assert_eq!(call(p, "GET", "/feed", &[bearer(&c)]).status, 200);
    assert!(s.upstream.last().unwrap().header("x-current-user").is_some());
    // allow_missing_or_failed: always passes, identity only when valid.
    assert_eq!(call(p, "GET", "/soft", &[bearer("bad")]).status, 200);
    assert_eq!(s.upstream.last().unwrap().header("x-current-user"), None);
    assert_eq!(call(p, "GET", "/soft", &[bearer(&c)]).status, 200);
    assert!(s.upstream.last().unwrap().header("x-current-user").is_some());
    // none, exact, regex, header matches.
    assert_eq!(call(p, "GET", "/public/x", &[]).status, 200);
    assert_eq!(call(p, "GET", "/exact", &[]).status, 200);
    assert_eq!(call(p, "GET", "/exact/more", &[]).status, 401, "exact is exact");
    assert_eq!(call(p, "GET", "/users/42", &[]).status, 200);
    assert_eq!(call(p, "GET", "/users/42/keys", &[]).status, 401, "regex is anchored");
    assert_eq!(call(p, "GET", "/internal", &[("x-internal".into(), "1".into())]).status, 200);
    assert_eq!(call(p, "GET", "/internal", &[]).status, 401, "header condition not met: default applies");
}

#[test]
fn authorization_checks_answer_403() {
    let s = stack();
    let p = s.envoy.ports[0];
    let insufficient = |r: &Response| {
        r.status == 403 && r.header("www-authenticate").unwrap_or_default().contains("error=\"insufficient_scope\"")
    };
    // groups: any of.
    assert!(insufficient(&call(p, "GET", "/admin", &[bearer(&cognito(json!({})))])));
    assert_eq!(call(p, "GET", "/admin", &[bearer(&cognito(json!({"cognito:groups": ["users", "ops"]})))]).status, 200);
    // scopes: all of, on POST only (methods).
    let reader = cognito(json!({"scope": "notes/read"}));
    let r = call(p, "POST", "/write", &[bearer(&reader)]);
    assert!(insufficient(&r));
    assert_eq!(desc(&r), "required scope missing");
    assert_eq!(call(p, "GET", "/write", &[bearer(&reader)]).status, 200, "GET does not match the POST rule");
    assert_eq!(call(p, "POST", "/write", &[bearer(&cognito(json!({"scope": "notes/read notes/write"})))]).status, 200);
    // claim conditions: equals with a dot path, contains on an array.
    let gold = cognito(json!({"org": {"tier": "gold"}, "roles": ["viewer", "editor"]}));
    assert_eq!(call(p, "GET", "/gold", &[bearer(&gold)]).status, 200);
    let silver = cognito(json!({"org": {"tier": "silver"}, "roles": ["editor"]}));
    assert!(insufficient(&call(p, "GET", "/gold", &[bearer(&silver)])));
    let viewer = cognito(json!({"org": {"tier": "gold"}, "roles": ["viewer"]}));
    assert!(insufficient(&call(p, "GET", "/gold", &[bearer(&viewer)])));
    assert_eq!(s.envoy.stat_eventually("wasmcustom.jwt_filter.provider.cognito.denied.group", 1), Some(1));
    assert_eq!(s.envoy.stat_eventually("wasmcustom.jwt_filter.provider.cognito.denied.scope", 1), Some(1));
    assert_eq!(s.envoy.stat_eventually("wasmcustom.jwt_filter.provider.cognito.denied.claim", 2), Some(2));
}

#[test]
fn sources_outputs_cors_and_provider_checks() {
    let s = stack();
    let p = s.envoy.ports[1];
    let tok = cognito(json!({"org": {"tier": "gold"}, "cognito:groups": ["a", "b"]}));

    // Outputs: one claim in the user header, claims to headers, the payload header, forward: false.
    let r = call(p, "GET", "/x", &[bearer(&tok), ("x-user".into(), "spoof".into()), ("x-groups".into(), "admin".into())]);
    assert_eq!(r.status, 200);
    let seen = s.upstream.last().unwrap();
    assert_eq!(seen.all("x-user"), vec!["andrew"]);
    assert_eq!(seen.all("x-groups"), vec!["a,b"], "arrays joined, spoofed value gone");
    assert_eq!(seen.header("x-tier"), Some("gold"), "dot path");
    assert_eq!(seen.header("x-org"), Some("{\"tier\":\"gold\"}"), "objects as JSON");
    assert!(seen.header("x-iat").unwrap().parse::<u64>().is_ok(), "numbers as text");
    assert_eq!(seen.header("x-jwt-payload"), tok.split('.').nth(1), "raw payload, base64url");
    assert_eq!(seen.header("authorization"), None, "forward: false removes the token");
    assert_eq!(seen.header("x-current-user"), None, "user header renamed");
    // Other sources: a bare header and a cookie.
    assert_eq!(call(p, "GET", "/x", &[("x-api-token".into(), tok.clone())]).status, 200);
    assert_eq!(call(p, "GET", "/x", &[("cookie".into(), format!("theme=dark; id_token={tok}"))]).status, 200);
    assert_eq!(call(p, "GET", "/x", &[("cookie".into(), "id_token=nope".into())]).status, 401);
    // Refused requests carry this listener's realm.
    let r = call(p, "GET", "/x", &[]);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"outputs\""));
    // CORS preflight: authenticated here (bypass turned off), passes on the main listener.
    let preflight = [
        ("origin".to_string(), "https://app.test".to_string()),
        ("access-control-request-method".to_string(), "GET".to_string()),
    ];
    assert_eq!(call(p, "OPTIONS", "/x", &preflight).status, 401);
    assert_eq!(call(s.envoy.ports[0], "OPTIONS", "/x", &preflight).status, 200);
    assert_eq!(s.envoy.stat_eventually("wasmcustom.jwt_filter.cors_preflight", 1), Some(1));
    // max_lifetime: 2 h allowed, 3 h refused (401).
    let long = cognito(json!({"iat": testkit::now(), "exp": testkit::now() + 3 * 3600}));
    let r = call(p, "GET", "/x", &[bearer(&long)]);
    assert_eq!((r.status, desc(&r)), (401, "token lifetime too long".to_string()));
    // subjects: prefix "sub-" allowed, others 403.
    let r = call(p, "GET", "/x", &[bearer(&cognito(json!({"sub": "robot-1"})))]);
    assert_eq!(r.status, 403);
    // require_exp: on by default (main listener), off on the subset listener.
    let mut no_exp = testkit::cognito_access(&issuer(), CLIENT, "andrew");
    no_exp.as_object_mut().unwrap().remove("exp");
    let no_exp = testkit::rsa_a().token(&no_exp);
    let r = call(s.envoy.ports[0], "GET", "/either", &[bearer(&no_exp)]);
    assert_eq!((r.status, desc(&r)), (401, "required claim missing".to_string()));
    // Subset output: the user header holds only the listed claims.
    assert_eq!(call(s.envoy.ports[2], "GET", "/y", &[bearer(&no_exp)]).status, 200);
    let user: Value = serde_json::from_str(s.upstream.last().unwrap().header("x-current-user").unwrap()).unwrap();
    assert_eq!(user, json!({"sub": "sub-andrew", "username": "andrew"}));
}

#[test]
fn filter_state_reaches_the_access_log_and_counters_count() {
    let s = stack();
    let p = s.envoy.ports[0];
    assert_eq!(call(p, "GET", "/either", &[bearer(&cognito(json!({})))]).status, 200);
    let mut expired = testkit::cognito_access(&issuer(), CLIENT, "andrew");
    expired["exp"] = json!(testkit::now() - 600);
    assert_eq!(call(p, "GET", "/either", &[bearer(&testkit::rsa_a().token(&expired))]).status, 401);
    let logs = || s.envoy.logs();
    assert!(
        s.envoy.wait_for(Duration::from_secs(5), || logs().contains("[access] /either 200 sub=sub-andrew provider=cognito")),
        "access log with sub:\n{}",
        logs()
    );
    assert!(
        s.envoy
            .wait_for(Duration::from_secs(5), || logs().contains("[access] /either 401 sub=- provider=cognito reason=expired")),
        "access log with reason:\n{}",
        logs()
    );
    assert!(s.envoy.wait_for(Duration::from_secs(3), || s
        .envoy
        .stat("wasmcustom.jwt_filter.provider.cognito.allowed")
        .unwrap_or(0)
        >= 1));
    assert_eq!(s.envoy.stat_eventually("wasmcustom.jwt_filter.provider.cognito.denied.expired", 1), Some(1));
}
