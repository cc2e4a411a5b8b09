//! Why a request was refused, and the one place that turns a refusal into an HTTP reply.
//!
//! Every check in the core fails with an [`AuthError`]: a flat [`Denial`] (one variant per
//! cause, used for the reply, the counters and the log) plus an optional detail for the log.
//! [`reply`] is the only function that decides status codes and `WWW-Authenticate` values.

use std::fmt;

/// One variant per cause of a refusal. The reply, the counter and the log reason all derive
/// from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Denial {
    /// No token in any place the matching rule's providers look.
    Missing,
    /// Several candidate tokens where exactly one is allowed (two `Authorization` headers).
    Ambiguous,
    /// The token is longer than `max_token_bytes`; refused before any parsing.
    TooLarge,
    /// Not a compact JWS: wrong segment count, bad base64url, bad JSON, wrong header types.
    Malformed,
    /// `alg` is not on the allowlist (`none`, HS*, unknown) or the header has `crit`.
    UnsupportedAlg,
    /// The token's `iss` names no provider the matching rule accepts.
    UnknownIssuer,
    /// The token's `kid` is not in the provider's key set.
    UnknownKid,
    /// The key named by `kid` cannot verify this `alg` (wrong `kty`, curve, or JWK `alg`).
    KeyMismatch,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is in the past (beyond the clock skew).
    Expired,
    /// `nbf` is in the future (beyond the clock skew).
    NotYetValid,
    /// `iat` is in the future (beyond the clock skew).
    IssuedInFuture,
    /// A required claim is absent (`exp` when required, `iat` when `max_lifetime` is set).
    MissingClaim,
    /// A registered claim has the wrong JSON type or range (string `exp`, float, negative).
    BadClaim,
    /// `exp - iat` is longer than the provider's `max_lifetime_seconds`.
    LifetimeTooLong,
    /// `aud` holds none of the configured audiences.
    Audience,
    /// Cognito: `client_id` (access) or `aud` (id) is not a configured client id.
    ClientId,
    /// Cognito: `token_use` is missing or not the configured one.
    TokenUse,
    /// `sub` is not among the allowed subjects (403).
    Subject,
    /// `cognito:groups` contains none of the required groups (403).
    Group,
    /// `scope` lacks a required scope (403).
    Scope,
    /// A configured claim condition does not hold (403).
    Claim,
    /// The provider has no usable keys yet, or they are older than `max_stale`.
    KeysUnavailable,
    /// A token without `kid`, and more than one key of the provider's set allows its `alg`.
    KidRequired,
    /// Tokens in more than one source (header, query, cookie): RFC 6750 §2 allows one (400).
    MultipleSources,
    /// A query parameter name with a broken percent escape, so the token parameter cannot be
    /// told apart from the others (400).
    MalformedQuery,
    /// Nothing in this deployment can verify the token's algorithm: ES* needs Envoy's
    /// `verify_signature`, and the module was built without pure-Rust ECDSA. A server fault,
    /// not the token's (500).
    NoVerifier,
}

impl Denial {
    /// All variants, in a stable order (used to define one counter per reason).
    pub const ALL: [Denial; 27] = [
        Denial::Missing,
        Denial::Ambiguous,
        Denial::TooLarge,
        Denial::Malformed,
        Denial::UnsupportedAlg,
        Denial::UnknownIssuer,
        Denial::UnknownKid,
        Denial::KeyMismatch,
        Denial::BadSignature,
        Denial::Expired,
        Denial::NotYetValid,
        Denial::IssuedInFuture,
        Denial::MissingClaim,
        Denial::BadClaim,
        Denial::LifetimeTooLong,
        Denial::Audience,
        Denial::ClientId,
        Denial::TokenUse,
        Denial::Subject,
        Denial::Group,
        Denial::Scope,
        Denial::Claim,
        Denial::KeysUnavailable,
        Denial::KidRequired,
        Denial::MultipleSources,
        Denial::MalformedQuery,
        Denial::NoVerifier,
    ];

    /// Stable snake_case name used in counters, logs and filter state.
    pub fn reason(self) -> &'static str {
        match self {
            Denial::Missing => "missing",
            Denial::Ambiguous => "ambiguous",
            Denial::TooLarge => "too_large",
            Denial::Malformed => "malformed",
            Denial::UnsupportedAlg => "unsupported_alg",
            Denial::UnknownIssuer => "unknown_issuer",
            Denial::UnknownKid => "unknown_kid",
            Denial::KeyMismatch => "key_mismatch",
            Denial::BadSignature => "bad_signature",
            Denial::Expired => "expired",
            Denial::NotYetValid => "not_yet_valid",
            Denial::IssuedInFuture => "issued_in_future",
            Denial::MissingClaim => "missing_claim",
            Denial::BadClaim => "bad_claim",
            Denial::LifetimeTooLong => "lifetime_too_long",
            Denial::Audience => "audience",
            Denial::ClientId => "client_id",
            Denial::TokenUse => "token_use",
            Denial::Subject => "subject",
            Denial::Group => "group",
            Denial::Scope => "scope",
            Denial::Claim => "claim",
            Denial::KeysUnavailable => "keys_unavailable",
            Denial::KidRequired => "kid_required",
            Denial::MultipleSources => "multiple_sources",
            Denial::MalformedQuery => "malformed_query",
            Denial::NoVerifier => "no_verifier",
        }
    }

    /// Short, fixed text for `error_description` (never attacker-controlled).
    pub fn description(self) -> &'static str {
        match self {
            Denial::Missing => "token missing",
            Denial::Ambiguous => "more than one token",
            Denial::TooLarge => "token too large",
            Denial::Malformed => "malformed token",
            Denial::UnsupportedAlg => "unsupported token algorithm or header",
            Denial::UnknownIssuer => "issuer not accepted",
            Denial::UnknownKid => "signing key not found",
            Denial::KeyMismatch => "algorithm does not match key",
            Denial::BadSignature => "signature verification failed",
            Denial::Expired => "token expired",
            Denial::NotYetValid => "token not yet valid",
            Denial::IssuedInFuture => "token issued in the future",
            Denial::MissingClaim => "required claim missing",
            Denial::BadClaim => "invalid claim value",
            Denial::LifetimeTooLong => "token lifetime too long",
            Denial::Audience => "audience not allowed",
            Denial::ClientId => "client not allowed",
            Denial::TokenUse => "wrong token use",
            Denial::Subject => "subject not allowed",
            Denial::Group => "required group missing",
            Denial::Scope => "required scope missing",
            Denial::Claim => "claim requirement not met",
            Denial::KeysUnavailable => "signing keys unavailable",
            Denial::KidRequired => "kid required",
            Denial::MultipleSources => "token in more than one place",
            Denial::MalformedQuery => "malformed query string",
            Denial::NoVerifier => "token algorithm cannot be verified by this server",
        }
    }

    /// Which kind of reply this cause gets.
    pub fn class(self) -> ReplyClass {
        match self {
            Denial::Missing => ReplyClass::Unauthenticated,
            Denial::Subject | Denial::Group | Denial::Scope | Denial::Claim => ReplyClass::Forbidden,
            Denial::KeysUnavailable => ReplyClass::Unavailable,
            Denial::MultipleSources | Denial::MalformedQuery => ReplyClass::InvalidRequest,
            Denial::NoVerifier => ReplyClass::ServerError,
            _ => ReplyClass::InvalidToken,
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// The reply family of a [`Denial`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyClass {
    /// 401 with a bare `Bearer realm=...` challenge (RFC 6750 §3.1: no error code).
    Unauthenticated,
    /// 401 with `error="invalid_token"`.
    InvalidToken,
    /// 403 with `error="insufficient_scope"`.
    Forbidden,
    /// 503 with `Retry-After` (keys unavailable; the client's token may be fine).
    Unavailable,
    /// 400 with `error="invalid_request"` (RFC 6750 §3.1: the request itself is malformed).
    InvalidRequest,
    /// 500 with a `server_error` body and no challenge: the deployment cannot judge the token
    /// (no verifier for its algorithm), so the client has nothing to fix or retry.
    ServerError,
}

/// A refusal: its cause, and a detail for the log line (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    /// The cause.
    pub denial: Denial,
    /// Extra context for operators, already sanitised for logging.
    pub detail: String,
}

impl AuthError {
    /// A refusal with no detail.
    pub fn new(denial: Denial) -> Self {
        AuthError { denial, detail: String::new() }
    }

    /// A refusal with a detail. The detail is sanitised: control characters are escaped and it
    /// is cut to 120 characters, so hostile input cannot forge log lines.
    pub fn with(denial: Denial, detail: impl AsRef<str>) -> Self {
        Self::with_str(denial, detail.as_ref())
    }

    /// The one body of [`AuthError::with`], out of line: refusals are the cold path, and
    /// inlining the sanitising loop into every caller made the request-path functions large
    /// (issue 13: V8's compile memory follows the largest functions).
    #[cold]
    #[inline(never)]
    fn with_str(denial: Denial, detail: &str) -> Self {
        AuthError { denial, detail: sanitize(detail, 120) }
    }
}

impl From<Denial> for AuthError {
    fn from(d: Denial) -> Self {
        AuthError::new(d)
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.denial)
        } else {
            write!(f, "{} ({})", self.denial, self.detail)
        }
    }
}

/// Makes an untrusted string safe for a log line: escapes control and non-ASCII characters
/// and cuts it to `max` characters.
pub fn sanitize(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for (i, c) in s.chars().enumerate() {
        if i >= max {
            out.push('…');
            break;
        }
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// A local reply, ready for `send_http_response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u32,
    /// Response headers.
    pub headers: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: String,
}

/// Reply settings taken from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyOptions {
    /// `realm` in `WWW-Authenticate` (validated: no quotes or control characters).
    pub realm: String,
    /// Status used for [`Denial::KeysUnavailable`] (503 by default, or 401).
    pub unavailable_status: u32,
    /// Include the operator detail in reply bodies (off by default).
    pub debug: bool,
}

/// The one mapping from a refusal to an HTTP reply (RFC 6750 §3).
///
/// `retry_after` is used for the keys-unavailable reply only.
pub fn reply(err: &AuthError, opts: &ReplyOptions, retry_after: u64) -> Reply {
    let d = err.denial;
    let mut headers = Vec::with_capacity(3);
    headers.push(("content-type", "application/json".to_string()));
    let (status, code) = match d.class() {
        ReplyClass::Unauthenticated => (401, None),
        ReplyClass::InvalidToken => (401, Some("invalid_token")),
        ReplyClass::Forbidden => (403, Some("insufficient_scope")),
        ReplyClass::InvalidRequest => (400, Some("invalid_request")),
        ReplyClass::Unavailable if opts.unavailable_status == 401 => (401, Some("invalid_token")),
        ReplyClass::Unavailable => (opts.unavailable_status, None),
        ReplyClass::ServerError => (500, None),
    };
    if let Some(header) = challenge(d, code, opts, retry_after) {
        headers.push(header);
    }
    Reply { status, headers, body: body(err, code, opts.debug) }
}

// `challenge` and `body` stay out of line: inlined into `reply` they made a 2.1 KB function,
// and V8's compile memory follows the largest functions (issue 13).

/// The `Retry-After` or `WWW-Authenticate` header of a reply, if it has one.
#[inline(never)]
fn challenge(d: Denial, code: Option<&str>, opts: &ReplyOptions, retry_after: u64) -> Option<(&'static str, String)> {
    match (d.class(), code) {
        (ReplyClass::Unavailable, None) => Some(("retry-after", retry_after.max(1).to_string())),
        (ReplyClass::ServerError, _) => None,
        (_, None) => Some(("www-authenticate", format!("Bearer realm=\"{}\"", opts.realm))),
        (_, Some(code)) => Some((
            "www-authenticate",
            format!("Bearer realm=\"{}\", error=\"{}\", error_description=\"{}\"", opts.realm, code, d.description()),
        )),
    }
}

/// The JSON body of a reply.
#[inline(never)]
fn body(err: &AuthError, code: Option<&str>, debug: bool) -> String {
    let d = err.denial;
    let error = code.unwrap_or(match d.class() {
        ReplyClass::Unavailable => "temporarily_unavailable",
        ReplyClass::ServerError => "server_error",
        _ => "unauthorized",
    });
    let mut body = crate::json::Map::new();
    body.insert("error".into(), error.into());
    body.insert("error_description".into(), d.description().into());
    if debug {
        body.insert("reason".into(), d.reason().into());
        if !err.detail.is_empty() {
            body.insert("detail".into(), err.detail.clone().into());
        }
    }
    crate::json::Value::Object(body).to_string()
}

/// A request the filter cannot judge because of its own state, not the token: no [`Denial`]
/// applies, yet the request gets a reply from [`fault_reply`], in the same shape as a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The filter has no configuration (the VM is still starting) or was re-entered.
    NotReady,
    /// The host would not hand over the request headers.
    Headers,
}

impl Fault {
    /// Stable snake_case name, used in Envoy's response-code details (`jwt_filter_<name>`).
    pub fn reason(self) -> &'static str {
        match self {
            Fault::NotReady => "unavailable",
            Fault::Headers => "internal_error",
        }
    }
}

/// The one mapping from a [`Fault`] to an HTTP reply: 503 with `Retry-After` while the filter
/// is not ready (fail closed, the client may retry), 500 when the host fails us.
pub fn fault_reply(fault: Fault) -> Reply {
    let (status, error, description) = match fault {
        Fault::NotReady => (503, "temporarily_unavailable", "authentication filter not ready"),
        Fault::Headers => (500, "server_error", "authentication filter error"),
    };
    let mut headers = vec![("content-type", "application/json".to_string())];
    if fault == Fault::NotReady {
        headers.push(("retry-after", "1".to_string()));
    }
    let mut body = crate::json::Map::new();
    body.insert("error".into(), error.into());
    body.insert("error_description".into(), description.into());
    Reply { status, headers, body: crate::json::Value::Object(body).to_string() }
}

/// Envoy's response-code details for a local reply: `jwt_filter_<reason>`, so access logs
/// (`%RESPONSE_CODE_DETAILS%`) name the cause with the same word as the counters.
pub fn details(reason: &str) -> String {
    format!("jwt_filter_{reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_fail_closed() {
        let r = fault_reply(Fault::NotReady);
        assert_eq!(r.status, 503);
        assert_eq!(header(&r, "retry-after"), Some("1"));
        let r = fault_reply(Fault::Headers);
        assert_eq!(r.status, 500);
        assert_eq!(header(&r, "retry-after"), None);
        assert!(r.body.contains("server_error"));
        assert_eq!(details(Fault::NotReady.reason()), "jwt_filter_unavailable");
    }

    fn opts() -> ReplyOptions {
        ReplyOptions { realm: "api".into(), unavailable_status: 503, debug: false }
    }

    fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
        r.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn missing_token_gets_bare_challenge() {
        let r = reply(&Denial::Missing.into(), &opts(), 0);
        assert_eq!(r.status, 401);
        assert_eq!(header(&r, "www-authenticate"), Some("Bearer realm=\"api\""));
    }

    #[test]
    fn invalid_token_names_error_and_description() {
        let r = reply(&AuthError::with(Denial::Expired, "exp=1"), &opts(), 0);
        assert_eq!(r.status, 401);
        assert_eq!(
            header(&r, "www-authenticate"),
            Some("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token expired\"")
        );
        assert!(!r.body.contains("exp=1"), "detail leaks without debug");
    }

    #[test]
    fn forbidden_is_403_insufficient_scope() {
        let r = reply(&Denial::Group.into(), &opts(), 0);
        assert_eq!(r.status, 403);
        assert!(header(&r, "www-authenticate").unwrap_or("").contains("insufficient_scope"));
    }

    #[test]
    fn request_errors_are_400_invalid_request() {
        for d in [Denial::MultipleSources, Denial::MalformedQuery] {
            let r = reply(&d.into(), &opts(), 0);
            assert_eq!(r.status, 400);
            let challenge = header(&r, "www-authenticate").unwrap_or("");
            assert!(challenge.contains("error=\"invalid_request\""), "{challenge}");
            assert!(r.body.contains("invalid_request"));
        }
        let r = reply(&Denial::KidRequired.into(), &opts(), 0);
        assert_eq!(r.status, 401);
        assert_eq!(
            header(&r, "www-authenticate"),
            Some("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"kid required\"")
        );
    }

    #[test]
    fn keys_unavailable_is_503_with_retry_after() {
        let r = reply(&Denial::KeysUnavailable.into(), &opts(), 7);
        assert_eq!(r.status, 503);
        assert_eq!(header(&r, "retry-after"), Some("7"));
        assert_eq!(header(&r, "www-authenticate"), None);
        let mut o = opts();
        o.unavailable_status = 401;
        let r = reply(&Denial::KeysUnavailable.into(), &o, 7);
        assert_eq!(r.status, 401);
        assert!(header(&r, "www-authenticate").unwrap_or("").contains("invalid_token"));
    }

    #[test]
    fn no_verifier_is_500_server_error_without_challenge() {
        let r = reply(&AuthError::with(Denial::NoVerifier, "ES256 needs verify_signature"), &opts(), 7);
        assert_eq!(r.status, 500);
        assert_eq!(header(&r, "www-authenticate"), None);
        assert_eq!(header(&r, "retry-after"), None);
        assert!(r.body.contains("\"error\":\"server_error\""), "{}", r.body);
        assert!(!r.body.contains("verify_signature"), "detail only in debug bodies: {}", r.body);
        assert_eq!(Denial::NoVerifier.reason(), "no_verifier");
    }

    #[test]
    fn debug_body_carries_detail() {
        let mut o = opts();
        o.debug = true;
        let r = reply(&AuthError::with(Denial::UnknownKid, "kid=abc"), &o, 0);
        assert!(r.body.contains("kid=abc"));
    }

    #[test]
    fn sanitize_escapes_control_characters_and_truncates() {
        assert_eq!(sanitize("a\nb", 10), "a\\nb");
        assert_eq!(sanitize("abcdef", 3), "abc…");
    }
}
