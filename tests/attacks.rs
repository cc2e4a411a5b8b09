//! The attack corpus of the security-hardening issue, through a real Envoy. One Envoy, three
//! listeners with the same providers: `host` (default crypto: Envoy's BoringSSL for RS*/ES*),
//! `pure` (`"crypto": "pure_rust"`), and `big` (`max_token_bytes` and Envoy's header limit
//! raised, so oversized payloads reach the JSON parser instead of the size cap).
//!
//! Every case is one row of a table: a name, the request (a token in `Authorization`, other
//! headers, or raw bytes), the listeners it runs on, and the answer expected. Each request also
//! carries spoofed values of every configured output header. For every row and listener the
//! test checks the status, the exact RFC 6750 challenge, that the upstream saw nothing (or, for
//! accepted requests, none of the spoofed values), and that Envoy still passes a valid token
//! right after. At the end: the attacker's `jku`/`x5u` server got no request, the JWKS server
//! was asked only for the configured path, and Envoy's log holds no token or signature.
//!
//! What HTTP cannot carry: a raw CR or LF inside a header value ends the header line, so a
//! "newline inside the token" is sent as an obs-fold continuation line (CRLF + space), the only
//! way a line break can appear inside a field; Envoy 1.40 unfolds it into the value and the
//! filter refuses the result. Spaces, tabs and obs-text bytes (0x80-0xff, not UTF-8) inside the
//! token are sent as is; Envoy passes them to the filter. Two `Authorization` lines reach the
//! filter as one comma-joined value (Envoy's HTTP/1 codec joins them), refused as ambiguous.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use serde_json::{json, Value};
use support::*;

const REALM: &str = "attacks";
const OIDC_ISS: &str = "https://idp.attack.test/";
const AUDIENCE: &str = "https://api.attack.test";

/// Listener indexes.
const HOST: usize = 0;
const PURE: usize = 1;
const BIG: usize = 2;
const BOTH: &[usize] = &[HOST, PURE];

/// Every output header the config produces, with the value a client tries to forge.
const SPOOFED: [(&str, &str); 5] = [
    ("x-current-user", "{\"username\":\"admin\",\"cognito:groups\":[\"admin\"]}"),
    ("x-user-name", "spoofed-admin"),
    ("x-user-groups", "spoofed-admins"),
    ("x-jwt-payload", "eyJzcG9vZmVkIjp0cnVlfQ"),
    ("x-oidc-sub", "spoofed-sub"),
];

/// What a case must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// 401 with a bare `Bearer realm="…"` challenge: no bearer token was presented.
    Bare,
    /// 401 with `error="invalid_token"` and this `error_description`.
    Invalid(&'static str),
    /// 200 with an identity: the upstream sees the real claims, none of the spoofed headers.
    Pass,
    /// 200 without an identity (public, allow-missing, allow-failed, CORS preflight): the
    /// upstream sees none of the output headers.
    PassAnonymous,
    /// 500 `server_error` without a challenge: nothing in this module can verify the token's
    /// algorithm (ES* on the pure-Rust listener; the module has no pure-Rust ECDSA).
    NoVerifier,
}

enum Req {
    /// GET/OPTIONS `path` with these headers (plus the spoofed outputs).
    Headers { method: &'static str, path: String, headers: Vec<(String, String)> },
    /// This `Authorization` value, as raw bytes (what a `String` cannot hold or HTTP folds).
    RawAuthorization(Vec<u8>),
}

struct Case {
    group: &'static str,
    name: String,
    req: Req,
    on: &'static [usize],
    want: Want,
    /// Strings that must never appear in Envoy's log (tokens).
    secrets: Vec<String>,
}

struct Corpus(Vec<Case>);

impl Corpus {
    fn add(
        &mut self,
        group: &'static str,
        name: impl Into<String>,
        on: &'static [usize],
        want: Want,
        req: Req,
        secrets: Vec<String>,
    ) {
        self.0.push(Case { group, name: name.into(), req, on, want, secrets });
    }

    /// `Authorization: Bearer <token>` on `/api/private`.
    fn token(&mut self, group: &'static str, name: impl Into<String>, token: String, want: Want) {
        self.token_on(group, name, BOTH, token, want);
    }

    fn token_on(&mut self, group: &'static str, name: impl Into<String>, on: &'static [usize], token: String, want: Want) {
        let req = Req::Headers { method: "GET", path: "/api/private".into(), headers: vec![bearer(&token)] };
        self.add(group, name, on, want, req, vec![token]);
    }

    fn headers(
        &mut self,
        group: &'static str,
        name: impl Into<String>,
        path: &str,
        headers: Vec<(String, String)>,
        want: Want,
        secrets: Vec<String>,
    ) {
        let req = Req::Headers { method: "GET", path: path.into(), headers };
        self.add(group, name, BOTH, want, req, secrets);
    }
}

fn claims() -> Value {
    testkit::cognito_access(&issuer(), CLIENT, "mallory")
}

fn oidc_claims(aud: Option<Value>) -> Value {
    let now = testkit::now();
    let mut c = json!({"iss": OIDC_ISS, "sub": "oidc|42", "exp": now + 600, "iat": now});
    if let Some(aud) = aud {
        c["aud"] = aud;
    }
    c
}

fn b64(b: &[u8]) -> String {
    testkit::b64(b)
}

fn rs_header() -> Value {
    json!({"alg": "RS256", "kid": "rsa-a", "typ": "JWT"})
}

/// Signs exact header and payload text with RSA key "a".
fn rs_raw(header: &str, payload: &str) -> String {
    testkit::rsa_a().token_raw("RS256", header.as_bytes(), payload.as_bytes())
}

/// The claims' JSON text with `name` replaced by this raw JSON text (which serde_json could
/// not produce itself, e.g. `1e309`).
fn claims_with_raw(name: &str, raw: &str) -> String {
    let mut c = claims();
    c.as_object_mut().unwrap().remove(name);
    let s = c.to_string();
    format!("{},\"{name}\":{raw}}}", &s[..s.len() - 1])
}

/// Replaces the signature segment.
fn with_sig(token: &str, sig: &str) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{sig}")
}

/// Standard, padded base64 (as `x5c` carries certificates).
fn std_b64(b: &[u8]) -> String {
    let s = b64(b).replace('-', "+").replace('_', "/");
    let pad = (4 - s.len() % 4) % 4;
    format!("{s}{}", "=".repeat(pad))
}

/// The order n of the P-256 group.
const P256_N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7,
    0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

fn corpus(evil_port: u16) -> Corpus {
    let mut c = Corpus(Vec::new());
    let a = testkit::rsa_a();
    let p = testkit::p256();
    let attacker = testkit::rsa_b().with_kid("attacker");
    let valid = a.token(&claims());
    let (valid_h, valid_p) = {
        let mut it = valid.split('.');
        (it.next().unwrap().to_string(), it.next().unwrap().to_string())
    };
    let payload_json = claims().to_string();
    let payload = b64(payload_json.as_bytes());

    // Controls: the same listeners accept well-formed tokens of both families.
    c.token("control", "valid RS256 token", valid.clone(), Want::Pass);
    c.token_on("control", "valid ES256 token", &[HOST], p.token(&claims()), Want::Pass);
    c.token_on("control", "valid ES256 token, no ECDSA verifier", &[PURE], p.token(&claims()), Want::NoVerifier);

    // alg none, every spelling, with and without a signature.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = b64(json!({"alg": alg, "typ": "JWT"}).to_string().as_bytes());
        let input = format!("{h}.{payload}");
        c.token(
            "alg none",
            format!("alg {alg}, no signature"),
            format!("{input}."),
            Want::Invalid("unsupported token algorithm or header"),
        );
        let sig = b64(&a.sign("RS256", input.as_bytes()));
        c.token(
            "alg none",
            format!("alg {alg}, with a signature"),
            format!("{input}.{sig}"),
            Want::Invalid("unsupported token algorithm or header"),
        );
    }

    // Key confusion: HS* keyed with the RSA public key, in each form an attacker could fetch.
    let forms: [(&str, Vec<u8>); 3] =
        [("PEM", a.public_pem().into_bytes()), ("DER", a.public_der()), ("JWK JSON", a.jwk().to_string().into_bytes())];
    for alg in ["HS256", "HS384", "HS512"] {
        for (form, secret) in &forms {
            let t = testkit::token_hmac(&json!({"alg": alg, "kid": "rsa-a", "typ": "JWT"}), &claims(), secret);
            c.token(
                "key confusion",
                format!("{alg} keyed with the RSA public key ({form})"),
                t,
                Want::Invalid("unsupported token algorithm or header"),
            );
        }
    }

    // Signature damage.
    let bad_sig = Want::Invalid("signature verification failed");
    let malformed = Want::Invalid("malformed token");
    let s = valid.rsplit('.').next().unwrap().to_string();
    c.token("signature", "empty signature", with_sig(&valid, ""), bad_sig);
    let sig_bytes = a.sign("RS256", format!("{valid_h}.{valid_p}").as_bytes());
    assert_eq!(b64(&sig_bytes), s, "PKCS#1 v1.5 signatures are deterministic");
    c.token(
        "signature",
        "truncated signature (3 bytes short)",
        with_sig(&valid, &b64(&sig_bytes[..sig_bytes.len() - 3])),
        bad_sig,
    );
    c.token(
        "signature",
        // 341 characters: a length no base64url text has. (Cutting 4 of the 342 left a text
        // whose last character was canonical one run in 16, since the claims carry the time.)
        "truncated signature (1 character cut: impossible base64url length)",
        with_sig(&valid, &s[..s.len() - 1]),
        malformed,
    );
    c.token(
        "signature",
        "lengthened signature (3 extra bytes)",
        with_sig(&valid, &b64(&[&sig_bytes[..], &[0, 0, 0]].concat())),
        bad_sig,
    );
    c.token("signature", "signature from another key, same kid", testkit::rsa_b().with_kid("rsa-a").token(&claims()), bad_sig);
    let mut tampered = claims();
    tampered["username"] = json!("admin");
    tampered["cognito:groups"] = json!(["admin"]);
    c.token("signature", "tampered payload", format!("{valid_h}.{}.{s}", b64(tampered.to_string().as_bytes())), bad_sig);
    let h2 = b64(json!({"alg": "RS256", "kid": "rsa-a", "typ": "at+jwt"}).to_string().as_bytes());
    c.token("signature", "tampered header", format!("{h2}.{valid_p}.{s}"), bad_sig);
    let spaced = serde_json::to_string_pretty(&claims()).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&spaced).unwrap(), claims());
    c.token(
        "signature",
        "payload re-encoded (same JSON, whitespace added)",
        format!("{valid_h}.{}.{s}", b64(spaced.as_bytes())),
        bad_sig,
    );

    // Malformed structure.
    c.token("structure", "two segments", format!("{valid_h}.{valid_p}"), malformed);
    c.token("structure", "four segments", format!("{valid}.{s}"), malformed);
    let jwe_h = b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM","kid":"rsa-a"}"#);
    c.token(
        "structure",
        "five segments (JWE-shaped)",
        format!("{jwe_h}.{}.{}.{}.{}", b64(&[7; 256]), b64(&[1; 12]), b64(&[2; 64]), b64(&[3; 16])),
        malformed,
    );
    c.token("structure", "spaces inside the token", format!("{valid_h}. {valid_p} .{s}"), malformed);
    c.token("structure", "tab inside the token", format!("{valid_h}.{valid_p}\t.{s}"), malformed);
    c.token("structure", "= padding on the signature", format!("{valid}=="), malformed);
    c.token("structure", "= padding on the header", format!("{valid_h}=.{valid_p}.{s}"), malformed);
    let std_alphabet = valid.replace('-', "+").replace('_', "/");
    assert_ne!(std_alphabet, valid, "the fixture token has - or _ to swap");
    c.token("structure", "+ and / (standard base64 alphabet)", std_alphabet, malformed);
    c.token("structure", "non-ASCII UTF-8 (é) inside", format!("{valid_h}.{valid_p}é.{s}"), malformed);
    c.token("structure", "percent-encoded dots", valid.replace('.', "%2E"), malformed);
    // Envoy 1.40 passes obs-text through, and unfolds an obs-fold line into the value: both
    // reach the filter, which refuses them.
    c.add(
        "structure",
        "obs-text bytes 0xff 0xfe inside (not UTF-8)",
        BOTH,
        malformed,
        Req::RawAuthorization([format!("Bearer {valid_h}.{valid_p}").as_bytes(), b"\xff\xfe.", s.as_bytes()].concat()),
        vec![valid.clone()],
    );
    c.add(
        "structure",
        "line break inside (obs-fold CRLF SP)",
        BOTH,
        malformed,
        Req::RawAuthorization(format!("Bearer {valid_h}.{valid_p}\r\n .{s}").into_bytes()),
        vec![valid.clone()],
    );

    // Header injection.
    let rs_with = |extra: Value| {
        let mut h = rs_header();
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        a.token_with_header(&h, &claims())
    };
    let unknown_kid = Want::Invalid("signing key not found");
    c.token("header injection", "kid ../../dev/null", rs_with(json!({"kid": "../../dev/null"})), unknown_kid);
    c.token("header injection", "kid empty", rs_with(json!({"kid": ""})), unknown_kid);
    c.token("header injection", "kid 4 KiB long", rs_with(json!({"kid": "k".repeat(4096)})), malformed);
    c.token("header injection", "kid ' OR 1=1 --", rs_with(json!({"kid": "' OR 1=1 --"})), unknown_kid);
    c.token("header injection", "kid a number", rs_with(json!({"kid": 1})), malformed);
    let evil = format!("http://127.0.0.1:{evil_port}");
    let by_attacker = |extra: Value| {
        let mut h = json!({"alg": "RS256", "kid": "attacker", "typ": "JWT"});
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        attacker.token_with_header(&h, &claims())
    };
    c.token(
        "header injection",
        "embedded jwk (attacker's key, own kid)",
        by_attacker(json!({"jwk": attacker.jwk()})),
        unknown_kid,
    );
    c.token(
        "header injection",
        "embedded jwk (attacker's key, kid rsa-a)",
        by_attacker(json!({"jwk": attacker.jwk(), "kid": "rsa-a"})),
        bad_sig,
    );
    c.token(
        "header injection",
        "jku to the attacker's JWKS",
        by_attacker(json!({"jku": format!("{evil}/jwks.json")})),
        unknown_kid,
    );
    c.token(
        "header injection",
        "x5u to the attacker's certificate",
        by_attacker(json!({"x5u": format!("{evil}/cert.pem")})),
        unknown_kid,
    );
    let cert_ish = std_b64(&testkit::rsa_b().public_der());
    c.token(
        "header injection",
        "x5c with the attacker's cert-ish blob (kid rsa-a)",
        by_attacker(json!({"x5c": [cert_ish], "kid": "rsa-a"})),
        bad_sig,
    );
    let unsupported = Want::Invalid("unsupported token algorithm or header");
    c.token("header injection", "crit [\"exp\"]", rs_with(json!({"crit": ["exp"]})), unsupported);
    c.token("header injection", "crit [\"b64\"] with b64 false", rs_with(json!({"crit": ["b64"], "b64": false})), unsupported);
    c.token(
        "header injection",
        "crit naming a private member",
        rs_with(json!({"crit": ["x-tenant"], "x-tenant": "acme"})),
        unsupported,
    );
    c.token("header injection", "crit empty array", rs_with(json!({"crit": []})), unsupported);

    // ECDSA ES256 (CVE-2022-21449 and friends), on both listeners: the range and length checks
    // refuse them before any verifier is asked, so the pure-Rust listener (no ECDSA verifier in
    // the module) calls them bad signatures too.
    let es_input = format!("{}.{payload}", b64(json!({"alg": "ES256", "kid": "ec-p256", "typ": "JWT"}).to_string().as_bytes()));
    let es_sig = p.sign("ES256", es_input.as_bytes());
    let es = format!("{es_input}.{}", b64(&es_sig));
    let (r, s_) = es_sig.split_at(32);
    let ecdsa = |c: &mut Corpus, name: &str, sig: Vec<u8>| c.token("ecdsa", name, with_sig(&es, &b64(&sig)), bad_sig);
    ecdsa(&mut c, "r = s = 0 (CVE-2022-21449)", vec![0; 64]);
    ecdsa(&mut c, "r = n", [&P256_N[..], s_].concat());
    ecdsa(&mut c, "s = n", [r, &P256_N[..]].concat());
    ecdsa(&mut c, "r = s = n", [P256_N, P256_N].concat());
    ecdsa(&mut c, "63-byte signature", es_sig[..63].to_vec());
    ecdsa(&mut c, "65-byte signature (leading zero)", [&[0u8][..], &es_sig].concat());
    ecdsa(&mut c, "65-byte signature (trailing zero)", [&es_sig[..], &[0u8]].concat());
    ecdsa(&mut c, "DER-encoded signature instead of r||s", p.sign_ecdsa_der(es_input.as_bytes()));

    // Size.
    let mut padded = claims();
    padded["pad"] = json!("x".repeat(7000));
    let too_large = a.token(&padded);
    assert!(too_large.len() > 8192);
    c.token(
        "size",
        format!("token of {} bytes > max_token_bytes 8192", too_large.len()),
        too_large,
        Want::Invalid("token too large"),
    );
    let deep = claims_with_raw("deep", &format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)));
    let deep = rs_raw(&rs_header().to_string(), &deep);
    c.token_on("size", "payload nested 10,000 deep (signed), default cap", BOTH, deep.clone(), Want::Invalid("token too large"));
    c.token_on("size", "payload nested 10,000 deep (signed), cap raised", &[BIG], deep, malformed);
    let mut many = claims();
    for i in 0..10_000 {
        many[format!("c{i}")] = json!(0);
    }
    c.token_on("size", "10,000 claims (signed), cap raised", &[BIG], a.token(&many), malformed);
    c.token_on("size", "control: valid token on the raised-cap listener", &[BIG], valid.clone(), Want::Pass);

    // Claim types and values, each validly signed.
    let now = testkit::now();
    for (claim, good) in [("exp", now + 3600), ("nbf", now - 60), ("iat", now - 60)] {
        for (kind, raw, want) in [
            ("a string", format!("\"{good}\""), Want::Invalid("invalid claim value")),
            ("a float", format!("{good}.5"), Want::Invalid("invalid claim value")),
            ("negative", "-1".to_string(), Want::Invalid("invalid claim value")),
            ("1e309", "1e309".to_string(), malformed),
            ("null", "null".to_string(), Want::Invalid("invalid claim value")),
        ] {
            c.token("claims", format!("{claim} {kind}"), rs_raw(&rs_header().to_string(), &claims_with_raw(claim, &raw)), want);
        }
    }
    c.token(
        "claims",
        "duplicate kid in header",
        rs_raw(r#"{"alg":"RS256","kid":"rsa-a","kid":"rsa-a"}"#, &payload_json),
        malformed,
    );
    c.token(
        "claims",
        "duplicate alg in header (RS256, none)",
        rs_raw(r#"{"alg":"RS256","kid":"rsa-a","alg":"none"}"#, &payload_json),
        malformed,
    );
    c.token(
        "claims",
        "duplicate exp in payload",
        rs_raw(&rs_header().to_string(), &claims_with_raw("exp", &format!("{},\"exp\":{}", now + 60, now + 999_999))),
        malformed,
    );
    c.token(
        "claims",
        "duplicate iss in payload (real, then forged)",
        rs_raw(&rs_header().to_string(), &claims_with_raw("iss", &format!("\"{}\",\"iss\":\"{OIDC_ISS}\"", issuer()))),
        malformed,
    );
    c.token(
        "claims",
        "duplicate key in a nested object",
        rs_raw(&rs_header().to_string(), &claims_with_raw("org", r#"{"tier":"free","tier":"gold"}"#)),
        malformed,
    );
    let aud = |v: Option<Value>| a.token(&oidc_claims(v));
    c.token("claims", "aud as a string, accepted", aud(Some(json!(AUDIENCE))), Want::Pass);
    c.token("claims", "aud as an array, accepted", aud(Some(json!(["other", AUDIENCE]))), Want::Pass);
    c.token(
        "claims",
        "aud as a string, wrong",
        aud(Some(json!("https://api.other.test"))),
        Want::Invalid("audience not allowed"),
    );
    c.token(
        "claims",
        "aud as an array, wrong",
        aud(Some(json!(["https://api.other.test", "x"]))),
        Want::Invalid("audience not allowed"),
    );
    c.token("claims", "aud missing", aud(None), Want::Invalid("audience not allowed"));
    c.token("claims", "aud an array holding a number", aud(Some(json!([AUDIENCE, 1]))), Want::Invalid("invalid claim value"));
    let mut iss_slash = claims();
    iss_slash["iss"] = json!(format!("{}/", issuer()));
    c.token("claims", "iss with a trailing slash", a.token(&iss_slash), Want::Invalid("issuer not accepted"));
    let mut iss_case = claims();
    iss_case["iss"] = json!(issuer().replace("TestPool", "testpool"));
    c.token("claims", "iss in different case", a.token(&iss_case), Want::Invalid("issuer not accepted"));
    let mut oidc_noslash = oidc_claims(Some(json!(AUDIENCE)));
    oidc_noslash["iss"] = json!(OIDC_ISS.trim_end_matches('/'));
    c.token("claims", "iss without the configured trailing slash", a.token(&oidc_noslash), Want::Invalid("issuer not accepted"));
    let mut no_use = claims();
    no_use.as_object_mut().unwrap().remove("token_use");
    c.token("claims", "Cognito token_use missing", a.token(&no_use), Want::Invalid("wrong token use"));

    // Header plumbing.
    let v = valid.clone();
    c.headers(
        "plumbing",
        "two Authorization headers",
        "/api/private",
        vec![bearer(&v), bearer(&v)],
        Want::Invalid("more than one token"),
        vec![v.clone()],
    );
    c.headers(
        "plumbing",
        "Bearer with no token",
        "/api/private",
        vec![("authorization".into(), "Bearer".into())],
        malformed,
        vec![],
    );
    c.headers(
        "plumbing",
        "Bearer and spaces, no token",
        "/api/private",
        vec![("authorization".into(), "Bearer    ".into())],
        malformed,
        vec![],
    );
    c.headers(
        "plumbing",
        "bearer (lower case) with a valid token",
        "/api/private",
        vec![("authorization".into(), format!("bearer {v}"))],
        Want::Pass,
        vec![v.clone()],
    );
    c.headers(
        "plumbing",
        "Basic credentials",
        "/api/private",
        vec![("authorization".into(), "Basic bWFsbG9yeTpodW50ZXIy".into())],
        Want::Bare,
        vec![],
    );
    c.headers(
        "plumbing",
        "token in ?access_token= (only the header is configured)",
        &format!("/api/private?access_token={v}"),
        vec![],
        Want::Bare,
        vec![v.clone()],
    );
    c.headers(
        "plumbing",
        "token in a cookie (only the header is configured)",
        "/api/private",
        vec![("cookie".into(), format!("access_token={v}"))],
        Want::Bare,
        vec![v.clone()],
    );

    // Spoofing: every request carries forged output headers; these are the paths that reach
    // the upstream without an identity of the attacker's choosing.
    c.headers("spoofing", "accepted (Cognito)", "/api/private", vec![bearer(&v)], Want::Pass, vec![v.clone()]);
    c.headers("spoofing", "accepted (OIDC)", "/api/private", vec![bearer(&aud(Some(json!(AUDIENCE))))], Want::Pass, vec![]);
    c.headers("spoofing", "rejected (no token)", "/api/private", vec![], Want::Bare, vec![]);
    c.headers("spoofing", "allow_missing route, no token", "/feed", vec![], Want::PassAnonymous, vec![]);
    c.headers("spoofing", "allow_missing route, bad token", "/feed", vec![bearer("bad.token.here")], malformed, vec![]);
    c.headers(
        "spoofing",
        "allow_missing_or_failed route, bad token",
        "/soft",
        vec![bearer(&with_sig(&v, "AAAA"))],
        Want::PassAnonymous,
        vec![],
    );
    c.headers("spoofing", "public route", "/public/x", vec![], Want::PassAnonymous, vec![]);
    c.add(
        "spoofing",
        "CORS preflight bypass",
        BOTH,
        Want::PassAnonymous,
        Req::Headers {
            method: "OPTIONS",
            path: "/api/private".into(),
            headers: vec![("origin".into(), "https://app.test".into()), ("access-control-request-method".into(), "GET".into())],
        },
        vec![],
    );
    c.headers(
        "spoofing",
        "accepted, spoofed headers sent twice and in mixed case",
        "/api/private",
        vec![bearer(&v), ("X-Current-User".into(), "{\"username\":\"root\"}".into()), ("X-User-Groups".into(), "root".into())],
        Want::Pass,
        vec![],
    );
    let mut names: Vec<&str> = c.0.iter().map(|x| x.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), c.0.len(), "case names are unique: the table is the report");
    c
}

fn config(crypto: Option<&str>, max_token_bytes: Option<usize>) -> Value {
    let mut cfg = json!({
        "realm": REALM,
        "providers": {
            "cognito": {
                "cognito": {"region": REGION, "user_pool_id": POOL, "token_use": "access", "client_ids": [CLIENT]},
                "jwks": {"cluster": "jwks", "kid_miss_wait_ms": 0},
                "output": {
                    "claim_headers": {"x-user-name": "username", "x-user-groups": "cognito:groups"},
                    "payload_header": "x-jwt-payload"
                }
            },
            "oidc": {
                "issuer": OIDC_ISS,
                "audiences": [AUDIENCE],
                "jwks": {"inline": testkit::jwks(&[&testkit::rsa_a()])},
                "output": {"claim_headers": {"x-oidc-sub": "sub"}}
            }
        },
        "rules": [
            {"match": {"prefix": "/public"}, "requires": "none"},
            {"match": {"prefix": "/feed"}, "requires": {"allow_missing": ["cognito"]}},
            {"match": {"prefix": "/soft"}, "requires": {"allow_missing_or_failed": ["cognito"]}}
        ],
        "default_requires": {"any": ["cognito", "oidc"]}
    });
    if let Some(c) = crypto {
        cfg["crypto"] = json!(c);
    }
    if let Some(m) = max_token_bytes {
        cfg["max_token_bytes"] = json!(m);
    }
    cfg
}

fn spoofed_headers() -> Vec<(String, String)> {
    SPOOFED.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn send(port: u16, req: &Req) -> Response {
    match req {
        Req::Headers { method, path, headers } => {
            let mut all = headers.clone();
            all.extend(spoofed_headers());
            request(port, method, path, &all).unwrap()
        }
        Req::RawAuthorization(value) => {
            let mut raw = b"GET /api/private HTTP/1.1\r\nhost: test\r\nconnection: close\r\n".to_vec();
            for (k, v) in SPOOFED {
                raw.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
            }
            raw.extend_from_slice(b"authorization: ");
            raw.extend_from_slice(value);
            raw.extend_from_slice(b"\r\n\r\n");
            support::http::send_raw(port, &raw).unwrap()
        }
    }
}

fn challenge(want: Want) -> Option<String> {
    match want {
        Want::Bare => Some(format!("Bearer realm=\"{REALM}\"")),
        Want::Invalid(d) => Some(format!("Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{d}\"")),
        _ => None,
    }
}

#[test]
fn attack_corpus_through_envoy() {
    let upstream = Server::upstream();
    let jwks = Server::jwks(&testkit::jwks(&[&testkit::rsa_a(), &testkit::p256()]));
    // The attacker's server, reachable from Envoy through a cluster: if the filter ever
    // followed jku/x5u it could get here. It must see nothing.
    let evil = Server::jwks(&testkit::jwks(&[&testkit::rsa_b().with_kid("attacker")]));

    let mut setup = Setup::single(config(None, None), upstream.port, Some(jwks.port));
    setup.listeners.push(Listener::filtered(config(Some("pure_rust"), None)));
    let mut big = Listener::filtered(config(None, Some(1 << 20)));
    big.hcm_extra = Some(json!({"max_request_headers_kb": 2048}));
    setup.listeners.push(big);
    // Close at once after a `connection: close` reply: the test client reads to EOF, and
    // Envoy's default delayed close would cost a second per request.
    for l in &mut setup.listeners {
        let extra = l.hcm_extra.get_or_insert_with(|| json!({}));
        extra["delayed_close_timeout"] = json!("0s");
    }
    setup.clusters.push(("evil".into(), evil.port));
    let envoy = Envoy::start(&setup);

    let health = access_token(&testkit::rsa_a(), "health");
    for port in &envoy.ports {
        let ok = envoy.wait_for(EVENT, || request(*port, "GET", "/", &[bearer(&health)]).is_ok_and(|r| r.status == 200));
        assert!(ok, "keys never arrived on port {port}:\n{}", envoy.logs());
    }

    let corpus = corpus(evil.port);
    let names = ["host", "pure", "big"];
    let mut failures: Vec<String> = Vec::new();
    let mut runs = 0;
    let mut by_listener = [0usize; 3];
    println!("{:<18} {:<62} {:<10} {:<40} got", "group", "case", "on", "expected");
    for case in &corpus.0 {
        let mut got_summary = Vec::new();
        for &l in case.on {
            runs += 1;
            by_listener[l] += 1;
            let port = envoy.ports[l];
            let before = upstream.count();
            let r = send(port, &case.req);
            let after = upstream.count();
            let www = r.header("www-authenticate").map(str::to_string);
            let desc =
                www.as_deref().and_then(|h| h.split("error_description=\"").nth(1)).map(|d| d.trim_end_matches('"').to_string());
            got_summary.push(format!("{}:{}{}", names[l], r.status, desc.map(|d| format!(" ({d})")).unwrap_or_default()));
            let mut fail = |what: String| failures.push(format!("[{}] {} on {}: {what}", case.group, case.name, names[l]));
            match case.want {
                Want::Bare | Want::Invalid(_) => {
                    if r.status != 401 {
                        fail(format!("status {} (body {})", r.status, r.text()));
                    }
                    if www != challenge(case.want) {
                        fail(format!("WWW-Authenticate {www:?}"));
                    }
                    let body_error = if case.want == Want::Bare { "unauthorized" } else { "invalid_token" };
                    if r.json()["error"] != body_error {
                        fail(format!("body {}", r.text()));
                    }
                    if after != before {
                        fail("the upstream saw the request".into());
                    }
                }
                Want::NoVerifier => {
                    if r.status != 500 || www.is_some() || r.json()["error"] != "server_error" {
                        fail(format!("status {} www-authenticate {www:?} (body {})", r.status, r.text()));
                    }
                    if after != before {
                        fail("the upstream saw the request".into());
                    }
                }
                Want::Pass | Want::PassAnonymous => {
                    if r.status != 200 {
                        fail(format!("status {} www-authenticate {www:?} (body {})", r.status, r.text()));
                    } else if after != before + 1 {
                        fail("the upstream did not see exactly one request".into());
                    } else {
                        let seen = upstream.last().unwrap();
                        for (h, spoof) in SPOOFED {
                            let values = seen.all(h);
                            if values.iter().any(|v| *v == spoof || v.contains("root") || v.contains("spoofed")) {
                                fail(format!("spoofed {h} reached the upstream: {values:?}"));
                            }
                            if values.len() > 1 {
                                fail(format!("{h} reached the upstream {} times", values.len()));
                            }
                        }
                        let user = seen.header("x-current-user");
                        match (case.want, user) {
                            (Want::Pass, Some(u)) => {
                                let u: Value = serde_json::from_str(u).unwrap_or(Value::Null);
                                if u["iss"] != json!(issuer()) && u["iss"] != json!(OIDC_ISS) {
                                    fail(format!("x-current-user is not the verified claims: {u}"));
                                }
                            }
                            (Want::Pass, None) => fail("no x-current-user for an accepted token".into()),
                            (_, Some(u)) => fail(format!("x-current-user on an anonymous pass: {u}")),
                            (_, None) => {}
                        }
                        if case.want == Want::PassAnonymous && SPOOFED.iter().any(|(h, _)| seen.header(h).is_some()) {
                            fail(format!("an output header on an anonymous pass: {:?}", seen.headers));
                        }
                    }
                }
            }
            // Envoy is healthy: the next valid request passes.
            let before = upstream.count();
            match request(port, "GET", "/api/after", &[bearer(&health)]) {
                Ok(h) if h.status == 200 && upstream.count() == before + 1 => {}
                Ok(h) => fail(format!("health check after the case: status {} {}", h.status, h.text())),
                Err(e) => fail(format!("health check after the case: {e}")),
            }
        }
        let expected = match case.want {
            Want::Bare => "401 (bare challenge)".to_string(),
            Want::Invalid(d) => format!("401 ({d})"),
            Want::Pass => "200 (identity)".to_string(),
            Want::PassAnonymous => "200 (anonymous)".to_string(),
            Want::NoVerifier => "500 (no verifier)".to_string(),
        };
        let on: Vec<&str> = case.on.iter().map(|l| names[*l]).collect();
        println!("{:<18} {:<62} {:<10} {:<40} {}", case.group, case.name, on.join("+"), expected, got_summary.join(", "));
    }
    println!(
        "attack corpus: {} cases, {runs} requests (host {}, pure {}, big {}), each followed by a health check",
        corpus.0.len(),
        by_listener[0],
        by_listener[1],
        by_listener[2]
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));

    // The size cap answered before parsing: counted as too_large, with no provider chosen.
    let too_large_runs: usize = corpus.0.iter().filter(|c| c.want == Want::Invalid("token too large")).map(|c| c.on.len()).sum();
    assert_eq!(
        envoy.stat_eventually("wasmcustom.jwt_filter.provider.unknown.denied.too_large", too_large_runs as u64),
        Some(too_large_runs as u64)
    );

    // Nothing followed jku/x5u; the JWKS server was only asked for the configured path.
    assert_eq!(
        evil.count(),
        0,
        "the attacker's server was contacted: {:?}",
        evil.seen().iter().map(|s| s.path.clone()).collect::<Vec<_>>()
    );
    assert!(
        jwks.seen().iter().all(|s| s.path == cognito_jwks_path()),
        "{:?}",
        jwks.seen().iter().map(|s| s.path.clone()).collect::<Vec<_>>()
    );

    // Envoy is still up, no VM failed, and its log holds no token or signature.
    let mut envoy = envoy;
    assert!(envoy.running());
    // Every case's log lines are in the log before it is searched: they precede a marker's.
    envoy.sync_logs(envoy.ports[0]);
    let logs = envoy.logs();
    for bad in
        ["panicked", "wasm_runtime_failed", "Function: proxy_on_request_headers failed", "Plugin configured to fail closed"]
    {
        assert!(!logs.contains(bad), "Envoy log contains {bad:?}:\n{logs}");
    }
    let mut leaked = Vec::new();
    for case in &corpus.0 {
        for secret in case.secrets.iter().chain(std::iter::once(&health)) {
            if secret.len() >= 8 && logs.contains(secret.as_str()) {
                leaked.push(format!("{}: the token", case.name));
            }
            let sig = secret.rsplit('.').next().unwrap_or_default();
            if sig.len() >= 8 && logs.contains(sig) {
                leaked.push(format!("{}: its signature segment", case.name));
            }
        }
    }
    assert!(leaked.is_empty(), "secrets in Envoy's log: {leaked:?}");
}
