//! The plugin configuration: a JSON document read by a small hand-written reader ([`read`],
//! serde's rules: `deny_unknown_fields` at every level, and a member given twice is refused), then
//! checked and compiled once into [`Config`]. Every error names the field it is
//! about, e.g. `providers.cognito.jwks.cluster: must not be empty`.
//!
//! The README's "Configuration reference" documents every field; the defaults are here.

use crate::claims::{ClaimRules, CognitoRules, TokenUse};
use crate::error::ReplyOptions;
use crate::extract::TokenSource;
use crate::json::Value;
use crate::jwk::KeySet;
use crate::output::{Output, UserFormat};
use crate::policy::{Authz, ClaimCondition, Condition, Subjects};
use crate::rules::{HeaderMatch, Match, PathMatch, ProviderId, Requirement, Rule};
use std::collections::BTreeMap;
use std::fmt;
use std::mem::take;
use std::sync::Arc;

mod read;

/// A configuration error: the dotted path of the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path, e.g. `providers.cognito.issuer`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.field, self.message)
    }
}

fn err<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError { field: field.into(), message: message.into() })
}

/// The hint added to the reader's errors inside a requirement.
const REQUIREMENT_FORMS: &str = "one of {\"provider\": name}, {\"any\": [..]}, {\"all\": [..]}, {\"allow_missing\": [..]}, {\"allow_missing_or_failed\": [..]}, \"none\"";

// ---------------------------------------------------------------------------------------------
// The document as written. The reader ([`read`]) fills these. Their serde attributes are not in
// the filter (the module has no serde): they shape the JSON Schema (`schema` feature), and the
// tests derive `Deserialize` as the reference they compare the reader with.

#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "Config"))]
struct RawConfig {
    /// Where editors find the JSON Schema of this document; ignored by the filter.
    #[cfg_attr(any(test, feature = "schema"), serde(rename = "$schema", default))]
    _schema: Option<String>,
    /// Map of provider name → provider. Names appear in stats and rules (letters, digits, `_`, `-`).
    /// Required.
    providers: BTreeMap<String, RawProvider>,
    /// Ordered rules; the first whose `match` holds decides. Default: [].
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    rules: Vec<RawRule>,
    /// Requirement for requests no rule matches. Default: any provider.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    default_requires: Option<RawRequirement>,
    /// `realm` in `WWW-Authenticate`. Default: "envoy".
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    realm: Option<String>,
    /// Longer tokens are refused before any parsing. Default: 8192.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    max_token_bytes: Option<usize>,
    /// Let CORS preflight requests through untouched. Default: true.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    bypass_cors_preflight: Option<bool>,
    /// What a request needing a provider without usable keys gets: `"503"` (with `Retry-After`; the client
    /// keeps its token and retries), `"401"` (as `jwt_authn`), or `"unauthenticated"` (treated as no token:
    /// passes only where the rule allows missing tokens, else 503). Default: "503".
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    on_keys_unavailable: Option<UnavailableMode>,
    /// Verified-token cache per worker; `max_entries: 0` turns it off. Default: {"max_entries": 10000,
    /// "max_bytes": 16777216}.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    cache: Option<RawCache>,
    /// `"auto"`: Envoy's BoringSSL (`verify_signature`) for RS*/ES*, pure Rust otherwise and where the host
    /// lacks it. `"pure_rust"`: never use the host. Default: "auto". The released module has no
    /// pure-Rust ECDSA: ES* needs the host, and without it gets 500 `no_verifier`.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    crypto: Option<CryptoMode>,
    /// Put operator detail (`reason`, `detail`) in reply bodies. Default: false.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    debug: bool,
    /// Record the outcome in Envoy filter state for access logs and RBAC (see Observability); each value
    /// costs a host call per request. Default: false.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    filter_state: Option<bool>,
}

#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "Provider"))]
struct RawProvider {
    /// Exact `iss` value. Tokens are matched to providers by it. Required unless cognito.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    issuer: Option<String>,
    /// Cognito user pool: `{"region", "user_pool_id", "token_use": "access"|"id"|"any", "client_ids":
    /// [...]}`. Derives `issuer` (`https://cognito-idp.<region>.amazonaws.com/<pool>`) and the JWKS path
    /// (`/<pool>/.well-known/jwks.json`). Access tokens are checked on `client_id`, id tokens on `aud`;
    /// `token_use` must match. `client_ids` is required unless `"allow_any_client": true`.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    cognito: Option<RawCognito>,
    /// `aud` (string or array) must hold one of these. Required unless cognito or allow_any_audience.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    audiences: Option<Vec<String>>,
    /// Explicitly skip the audience check. Default: false.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    allow_any_audience: bool,
    /// Where keys come from: `{"inline": <JWKS object or string>}`, or a remote source (below). Required.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    jwks: Option<RawJwks>,
    /// Headers holding the token; the prefix (scheme) is compared case-insensitively. Default: [{"name":
    /// "authorization", "prefix": "Bearer"}].
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    from_headers: Option<Vec<RawHeaderSource>>,
    /// Query parameters holding the token; removed from the path before the request goes upstream. Default:
    /// [].
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    from_params: Vec<String>,
    /// Cookies holding the token. Default: [].
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    from_cookies: Vec<String>,
    /// Keep the token header upstream; `false` removes it after verification. Default: true.
    #[cfg_attr(any(test, feature = "schema"), serde(default = "yes"))]
    forward: bool,
    /// Refuse tokens without `exp`. Default: true.
    #[cfg_attr(any(test, feature = "schema"), serde(default = "yes"))]
    require_exp: bool,
    /// Allowed clock difference for `exp`, `nbf`, `iat`. Default: 60.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    clock_skew_seconds: Option<u64>,
    /// Refuse tokens whose `exp - iat` is longer.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    max_lifetime_seconds: Option<u64>,
    /// `{"exact": [...], "prefixes": [...]}`: allowed `sub` values (403 otherwise).
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    subjects: Option<RawSubjects>,
    /// `cognito:groups` must contain one of these (403 otherwise). Default: [].
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    groups: Vec<String>,
    /// `scope` (space-delimited) must contain all of these (403 otherwise). Default: [].
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    scopes: Vec<String>,
    /// What goes upstream.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    output: Option<RawOutput>,
}

#[cfg(any(test, feature = "schema"))]
fn yes() -> bool {
    true
}

#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "Cognito"))]
struct RawCognito {
    region: String,
    user_pool_id: String,
    token_use: RawTokenUse,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    client_ids: Option<Vec<String>>,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    allow_any_client: bool,
}

#[derive(Clone, Copy)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(rename_all = "snake_case"))]
#[cfg_attr(feature = "schema", schemars(rename = "TokenUse"))]
enum RawTokenUse {
    Access,
    Id,
    Any,
}

#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "HeaderSource"))]
struct RawHeaderSource {
    name: String,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    prefix: Option<String>,
}

#[derive(Default)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "Subjects"))]
struct RawSubjects {
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    exact: Vec<String>,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    prefixes: Vec<String>,
}

#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "Jwks"))]
struct RawJwks {
    /// Keys in the configuration: a JWKS object, or a string holding one.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    #[cfg_attr(feature = "schema", schemars(with = "Option<serde_json::Value>", extend("default" = null)))]
    inline: Option<Value>,
    /// Envoy cluster that reaches the JWKS host (under Istio: `outbound|443||<host>`). Required.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    cluster: Option<String>,
    /// `:authority` of the request. Default: the issuer's host.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    authority: Option<String>,
    /// JWKS path on the cluster (derived for Cognito; or use `discovery`).
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    path: Option<String>,
    /// Find the JWKS through `<issuer>/.well-known/openid-configuration`. A `jwks_uri` on the same host is
    /// followed; another host is logged with the cluster to add. Default: false.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    discovery: bool,
    /// Per-request timeout. Default: 5000.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    timeout_ms: Option<u64>,
    /// Refresh interval after a good fetch. Default: 600.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    refresh_seconds: Option<u64>,
    /// How long the last good keys keep serving while refreshes fail. Default: 86400.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    max_stale_seconds: Option<u64>,
    /// At most one unknown-`kid` refetch per this window, across all workers. Default: 10.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    kid_miss_penalty_seconds: Option<u64>,
    /// How long a request with an unknown `kid` may wait for that refetch (0: never wait). Default: 3000.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    kid_miss_wait_ms: Option<u64>,
    /// Largest JWKS accepted. Default: 262144.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    max_bytes: Option<usize>,
}

#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "Output"))]
struct RawOutput {
    /// Header for the user; `null` turns it off. Default: "x-current-user".
    #[cfg_attr(any(test, feature = "schema"), serde(default = "default_user_header", deserialize_with = "nullable"))]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    user_header: Option<String>,
    /// A list: the header holds only these claims, as compact JSON. Default: all claims.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    user_claims: Option<Vec<String>>,
    /// One claim: the header holds its value (strings as they are).
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    user_claim: Option<String>,
    /// Header → claim. Scalars as they are, arrays joined with commas, objects as JSON; dot paths reach
    /// nested claims (a top-level claim whose name contains dots wins). Default: {}.
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    claim_headers: BTreeMap<String, String>,
    /// Header for the raw base64url payload (as `jwt_authn`'s `forward_payload_header`).
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    payload_header: Option<String>,
}

fn default_user_header() -> Option<String> {
    Some("x-current-user".into())
}

/// `null` → `None`, a string → `Some` (used where absent and null differ).
#[cfg(test)]
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    <Option<String> as serde::Deserialize>::deserialize(d)
}

#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "Rule"))]
struct RawRule {
    #[cfg_attr(any(test, feature = "schema"), serde(rename = "match"))]
    when: RawMatch,
    requires: RawRequirement,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    groups: Vec<String>,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    scopes: Vec<String>,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    claims: Vec<RawCondition>,
}

#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "Match"))]
struct RawMatch {
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    prefix: Option<String>,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    exact: Option<String>,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    regex: Option<String>,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    methods: Vec<String>,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    headers: Vec<RawHeaderMatch>,
}

#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "HeaderMatch"))]
struct RawHeaderMatch {
    name: String,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    exact: Option<String>,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    prefix: Option<String>,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    present: Option<bool>,
}

#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "Condition"))]
struct RawCondition {
    path: String,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    #[cfg_attr(feature = "schema", schemars(with = "Option<serde_json::Value>", extend("default" = null)))]
    equals: Option<Value>,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    #[cfg_attr(feature = "schema", schemars(with = "Option<serde_json::Value>", extend("default" = null)))]
    contains: Option<Value>,
}

#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(rename_all = "snake_case", deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "Requirement"))]
enum RawRequirement {
    Provider(String),
    Any(Vec<String>),
    All(Vec<String>),
    AllowMissing(Vec<String>),
    AllowMissingOrFailed(Vec<String>),
    None,
}

#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(deny_unknown_fields))]
#[cfg_attr(feature = "schema", schemars(rename = "Cache"))]
struct RawCache {
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    max_entries: Option<usize>,
    #[cfg_attr(any(test, feature = "schema"), serde(default))]
    max_bytes: Option<usize>,
}

// ---------------------------------------------------------------------------------------------
// The compiled form.

/// What to answer while a provider has no usable keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(rename_all = "snake_case"))]
pub enum UnavailableMode {
    /// 503 with `Retry-After` (the default): the client keeps its token and retries.
    #[default]
    #[cfg_attr(any(test, feature = "schema"), serde(rename = "503"))]
    RetryLater,
    /// 401 `invalid_token`, as `jwt_authn` does.
    #[cfg_attr(any(test, feature = "schema"), serde(rename = "401"))]
    Reject,
    /// Treat the token as absent: passes where the rule allows missing tokens, else 503.
    Unauthenticated,
}

/// Which signature path to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(any(test, feature = "schema"), serde(rename_all = "snake_case"))]
pub enum CryptoMode {
    /// Envoy's `verify_signature` where offered, pure Rust otherwise (the default; ES* has no
    /// pure-Rust path in the released module).
    #[default]
    Auto,
    /// Pure Rust only (for hosts without the foreign function, and for benchmarks; ES* then
    /// needs a build with jwt-core's `pure-ecdsa` feature).
    PureRust,
}

/// Verified-token cache limits. `max_entries == 0` turns the cache off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most entries per worker.
    pub max_entries: usize,
    /// Most bytes per worker (claims, output headers and bookkeeping).
    pub max_bytes: usize,
}

/// Where a provider's keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Keys given in the config.
    Inline(Arc<KeySet>),
    /// Keys fetched from an Envoy cluster.
    Remote(RemoteJwks),
}

/// A remote JWKS and its fetch policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteJwks {
    /// Envoy cluster to send the request to.
    pub cluster: String,
    /// `:authority` of the request.
    pub authority: String,
    /// `:path` of the JWKS; `None` until discovery finds it.
    pub path: Option<String>,
    /// Path of the OIDC discovery document, when the JWKS path is to be discovered.
    pub discovery_path: Option<String>,
    /// Per-request timeout, milliseconds.
    pub timeout_ms: u64,
    /// Refresh interval after a good fetch, seconds.
    pub refresh_seconds: u64,
    /// How long the last good keys keep serving while refreshes fail, seconds.
    pub max_stale_seconds: u64,
    /// Least time between two refetches caused by unknown `kid`s, seconds.
    pub kid_miss_penalty_seconds: u64,
    /// How long a request with an unknown `kid` may wait for a refetch, milliseconds.
    pub kid_miss_wait_ms: u64,
    /// Largest JWKS body accepted, bytes.
    pub max_bytes: usize,
}

impl RemoteJwks {
    /// The shared-data identity of this source: the same in the filter and the fetcher for the
    /// same issuer and endpoint, whatever the provider is called.
    pub fn identity(&self, issuer: &str) -> String {
        format!(
            "{issuer}|{}|{}|{}",
            self.cluster,
            self.authority,
            self.path.as_deref().or(self.discovery_path.as_deref()).unwrap_or_default()
        )
    }
}

/// One compiled provider.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Name, from the `providers` map key.
    pub name: String,
    /// Claim rules (issuer, audiences, time, Cognito).
    pub claims: ClaimRules,
    /// Provider-level 403 checks.
    pub authz: Authz,
    /// Key source.
    pub keys: KeySource,
    /// Where its tokens are looked for, in order.
    pub sources: Vec<TokenSource>,
    /// Keep the token header upstream after verification.
    pub forward: bool,
    /// Upstream headers.
    pub output: Output,
}

/// The compiled configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Providers, in name order.
    pub providers: Vec<Provider>,
    /// Rules, in order.
    pub rules: Vec<Rule>,
    /// Requirement for requests no rule matches.
    pub default_requires: Requirement,
    /// Reply settings.
    pub reply: ReplyOptions,
    /// Longest token accepted, bytes.
    pub max_token_bytes: usize,
    /// Let CORS preflight requests through untouched.
    pub bypass_cors_preflight: bool,
    /// Answer while keys are unavailable.
    pub on_keys_unavailable: UnavailableMode,
    /// Verified-token cache limits.
    pub cache: CacheConfig,
    /// Signature path.
    pub crypto: CryptoMode,
    /// Record the outcome in Envoy filter state for access logs and RBAC (off by default: each
    /// value costs a host call per request).
    pub filter_state: bool,
    /// Every header any provider writes upstream: stripped from every request first.
    pub output_headers: Vec<String>,
    /// The claims kept with a verified token: the ones read after verification.
    pub kept_claims: crate::policy::KeptClaims,
}

/// Default longest token: 8 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8192;

impl Config {
    /// Parses and checks a configuration document.
    pub fn parse(bytes: &[u8]) -> Result<Config, ConfigError> {
        compile(read::config(read::document(bytes)?)?)
    }

    /// A provider's index by name.
    pub fn provider_id(&self, name: &str) -> Option<ProviderId> {
        self.providers.iter().position(|p| p.name == name)
    }

    /// The requirement and extra checks for a request.
    pub fn route(&self, req: &crate::extract::RequestView<'_>) -> (&Requirement, Option<&Authz>) {
        match self.rules.iter().find(|r| r.when.matches(req)) {
            Some(r) => (&r.requires, Some(&r.authz)),
            None => (&self.default_requires, None),
        }
    }
}

/// The JSON Schema of the configuration document, generated from the `Raw*` types
/// (`jwt-filter schema`). `on_configure` reads the document with `read.rs`, and the differential
/// test below holds that reader to these types' derived one, so the two cannot drift apart.
#[cfg(feature = "schema")]
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(RawConfig).to_value();
    if let Some(o) = schema.as_object_mut() {
        o.insert("title".into(), serde_json::Value::from("jwt-filter configuration"));
        o.insert(
            "description".into(),
            serde_json::Value::from("Configuration of the jwt-filter proxy-wasm module (generated by `jwt-filter schema`)."),
        );
    }
    schema
}

// ---------------------------------------------------------------------------------------------
// Checking and compiling, a small function per section (`#[inline(never)]` where LLVM would
// merge them back into one large one: V8's compile memory at load follows the largest ones).

#[inline(never)]
fn compile(raw: RawConfig) -> Result<Config, ConfigError> {
    if raw.providers.is_empty() {
        return err("providers", "at least one provider is required");
    }
    let realm = realm(raw.realm)?;
    let max_token_bytes = raw.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
    if !(64..=1 << 20).contains(&max_token_bytes) {
        return err("max_token_bytes", "must be between 64 and 1048576");
    }
    let providers = compile_providers(raw.providers)?;
    let names: Vec<String> = providers.iter().map(|p| p.name.clone()).collect();
    let (rules, default_requires) = compile_rules(raw.rules, raw.default_requires, &names)?;
    let cache = match raw.cache {
        None => CacheConfig { max_entries: 10_000, max_bytes: 16 << 20 },
        Some(c) => CacheConfig { max_entries: c.max_entries.unwrap_or(10_000), max_bytes: c.max_bytes.unwrap_or(16 << 20) },
    };
    let output_headers = output_headers(&providers)?;
    let filter_state = raw.filter_state.unwrap_or(false);
    let authz = providers.iter().map(|p| &p.authz).chain(rules.iter().map(|r| &r.authz));
    let kept_claims = crate::policy::KeptClaims::new(authz, filter_state);
    Ok(Config {
        providers,
        rules,
        default_requires,
        reply: ReplyOptions {
            realm,
            unavailable_status: if raw.on_keys_unavailable == Some(UnavailableMode::Reject) { 401 } else { 503 },
            debug: raw.debug,
        },
        max_token_bytes,
        bypass_cors_preflight: raw.bypass_cors_preflight.unwrap_or(true),
        on_keys_unavailable: raw.on_keys_unavailable.unwrap_or_default(),
        cache,
        crypto: raw.crypto.unwrap_or_default(),
        filter_state,
        output_headers,
        kept_claims,
    })
}

fn realm(raw: Option<String>) -> Result<String, ConfigError> {
    let realm = raw.unwrap_or_else(|| "envoy".into());
    if realm.is_empty() || realm.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return err("realm", "must be non-empty, without quotes, backslashes or control characters");
    }
    Ok(realm)
}

#[inline(never)]
fn compile_providers(raw: BTreeMap<String, RawProvider>) -> Result<Vec<Provider>, ConfigError> {
    let mut providers = Vec::with_capacity(raw.len());
    for (name, p) in raw {
        providers.push(compile_provider(&name, p)?);
    }
    Ok(providers)
}

/// The rules, and the requirement where none matches (default: any provider).
#[inline(never)]
fn compile_rules(
    raw: Vec<RawRule>,
    default_requires: Option<RawRequirement>,
    names: &[String],
) -> Result<(Vec<Rule>, Requirement), ConfigError> {
    let mut rules = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        rules.push(compile_rule(&format!("rules[{i}]"), r, names)?);
    }
    let default_requires = match default_requires {
        Some(r) => compile_requirement("default_requires", r, names)?,
        None => Requirement::Any((0..names.len()).collect()),
    };
    Ok((rules, default_requires))
}

/// Every header any provider writes upstream (each once); none may also carry a token.
#[inline(never)]
fn output_headers(providers: &[Provider]) -> Result<Vec<String>, ConfigError> {
    let mut output_headers: Vec<String> = Vec::new();
    for p in providers {
        for h in p.output.header_names() {
            if !output_headers.iter().any(|x| x == h) {
                output_headers.push(h.to_string());
            }
        }
    }
    for p in providers {
        for s in &p.sources {
            if let TokenSource::Header { name, .. } = s {
                if output_headers.contains(name) {
                    return err(format!("providers.{}.from_headers", p.name), format!("{name} is also an output header"));
                }
            }
        }
    }
    Ok(output_headers)
}

/// The one syntax check for a header name (an RFC 9110 token), lowercased. `pseudo` also
/// admits Envoy's pseudo-headers (`:authority`), which a rule may match but nobody may write.
fn header_name_syntax(field: &str, name: &str, pseudo: bool) -> Result<String, ConfigError> {
    let lower = name.to_ascii_lowercase();
    let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let bare = if pseudo { lower.strip_prefix(':').unwrap_or(&lower) } else { lower.as_str() };
    if bare.is_empty() || !bare.chars().all(token_char) {
        return err(field, format!("{name:?} is not a valid header name"));
    }
    Ok(lower)
}

/// A header name the filter reads a token from or writes upstream: valid, and not one whose
/// meaning belongs to the connection or the request framing.
fn check_header_name(field: &str, name: &str) -> Result<String, ConfigError> {
    let lower = header_name_syntax(field, name, false)?;
    if ["host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "cookie"].contains(&lower.as_str()) {
        return err(field, format!("{name:?} cannot be used here"));
    }
    Ok(lower)
}

fn non_empty_list(field: &str, list: &[String]) -> Result<(), ConfigError> {
    if list.is_empty() || list.iter().any(String::is_empty) {
        return err(field, "must be a non-empty list of non-empty strings");
    }
    Ok(())
}

/// One provider, section by section (taking the members out of `raw`, so an error drops what
/// is left of it in one place).
#[inline(never)]
fn compile_provider(name: &str, mut raw: RawProvider) -> Result<Provider, ConfigError> {
    let at = provider_name(name)?;
    let (issuer, audiences, cognito_rules, keys) = provider_keys(&at, &mut raw)?;
    let sources = token_sources(&at, raw.from_headers.take(), take(&mut raw.from_params), take(&mut raw.from_cookies))?;
    let clock_skew = time_limits(&at, raw.clock_skew_seconds, raw.max_lifetime_seconds)?;
    let output = compile_output(&format!("{at}.output"), raw.output.take())?;
    let claims = ClaimRules {
        issuer,
        audiences,
        require_exp: raw.require_exp,
        clock_skew,
        max_lifetime: raw.max_lifetime_seconds,
        cognito: cognito_rules,
    };
    let subjects = raw.subjects.take().unwrap_or_default();
    let authz = Authz {
        groups: take(&mut raw.groups),
        scopes: take(&mut raw.scopes),
        subjects: Subjects { exact: subjects.exact, prefixes: subjects.prefixes },
        claims: Vec::new(),
    };
    Ok(Provider { name: name.to_string(), claims, authz, keys, sources, forward: raw.forward, output })
}

/// Where a provider's errors are (`providers.<name>`); its name must be fit for stats.
#[inline(never)]
fn provider_name(name: &str) -> Result<String, ConfigError> {
    let at = format!("providers.{name}");
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return err(&at, "provider names use letters, digits, '_' and '-' (they appear in stats)");
    }
    Ok(at)
}

/// A provider's issuer, audiences, Cognito checks and keys.
#[inline(never)]
fn provider_keys(at: &str, raw: &mut RawProvider) -> Result<(String, Vec<String>, Option<CognitoRules>, KeySource), ConfigError> {
    let issuer = provider_issuer(at, raw.issuer.take(), raw.cognito.as_ref())?;
    let (audiences, cognito_rules) = audiences(at, raw.audiences.take(), raw.allow_any_audience, raw.cognito.as_ref())?;
    let keys = compile_jwks(&format!("{at}.jwks"), raw.jwks.take(), &issuer, raw.cognito.as_ref())?;
    Ok((issuer, audiences, cognito_rules, keys))
}

/// The accepted audiences and, for a Cognito pool, its client and token-use checks.
#[inline(never)]
fn audiences(
    at: &str,
    raw: Option<Vec<String>>,
    allow_any_audience: bool,
    cognito: Option<&RawCognito>,
) -> Result<(Vec<String>, Option<CognitoRules>), ConfigError> {
    let audiences = raw.unwrap_or_default();
    if audiences.iter().any(String::is_empty) {
        return err(format!("{at}.audiences"), "must not contain empty strings");
    }
    let rules = match cognito {
        None if audiences.is_empty() && !allow_any_audience => {
            return err(
                format!("{at}.audiences"),
                "required: list the accepted audiences, or set allow_any_audience: true to skip the check",
            );
        }
        None => None,
        Some(c) => Some(cognito_rules(at, c)?),
    };
    Ok((audiences, rules))
}

/// The clock skew (default 60 s, at most an hour); a maximum lifetime must be positive.
#[inline(never)]
fn time_limits(at: &str, clock_skew_seconds: Option<u64>, max_lifetime_seconds: Option<u64>) -> Result<u64, ConfigError> {
    let clock_skew = clock_skew_seconds.unwrap_or(60);
    if clock_skew > 3600 {
        return err(format!("{at}.clock_skew_seconds"), "must be at most 3600");
    }
    if max_lifetime_seconds == Some(0) {
        return err(format!("{at}.max_lifetime_seconds"), "must be positive");
    }
    Ok(clock_skew)
}

/// The provider's issuer: as written, or derived from its Cognito pool (both: they must agree).
#[inline(never)]
fn provider_issuer(at: &str, issuer: Option<String>, cognito: Option<&RawCognito>) -> Result<String, ConfigError> {
    if let Some(c) = cognito {
        let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok(&c.region) {
            return err(format!("{at}.cognito.region"), "must look like us-east-1");
        }
        if !ok(&c.user_pool_id) || !c.user_pool_id.contains('_') {
            return err(format!("{at}.cognito.user_pool_id"), "must look like us-east-1_AbCdEf123");
        }
    }
    let derived_issuer = cognito.map(|c| format!("https://cognito-idp.{}.amazonaws.com/{}", c.region, c.user_pool_id));
    let issuer = match (issuer, &derived_issuer) {
        (Some(i), Some(d)) if &i != d => {
            return err(format!("{at}.issuer"), format!("does not match the Cognito pool's issuer {d}"));
        }
        (Some(i), _) => i,
        (None, Some(d)) => d.clone(),
        (None, None) => return err(format!("{at}.issuer"), "missing (set issuer, or cognito for a Cognito user pool)"),
    };
    if issuer.is_empty() || issuer.chars().any(char::is_whitespace) {
        return err(format!("{at}.issuer"), "must be a non-empty string without whitespace");
    }
    Ok(issuer)
}

#[inline(never)]
fn cognito_rules(at: &str, c: &RawCognito) -> Result<CognitoRules, ConfigError> {
    let client_ids = c.client_ids.clone().unwrap_or_default();
    if client_ids.iter().any(String::is_empty) {
        return err(format!("{at}.cognito.client_ids"), "must not contain empty strings");
    }
    if client_ids.is_empty() && !c.allow_any_client {
        return err(
            format!("{at}.cognito.client_ids"),
            "required: list the app client ids, or set allow_any_client: true to skip the check",
        );
    }
    let token_use = match c.token_use {
        RawTokenUse::Access => TokenUse::Access,
        RawTokenUse::Id => TokenUse::Id,
        RawTokenUse::Any => TokenUse::Any,
    };
    Ok(CognitoRules { token_use, client_ids })
}

/// Where a provider's tokens are looked for, in order: headers, parameters, cookies.
#[inline(never)]
fn token_sources(
    at: &str,
    headers: Option<Vec<RawHeaderSource>>,
    params: Vec<String>,
    cookies: Vec<String>,
) -> Result<Vec<TokenSource>, ConfigError> {
    let mut sources = header_sources(at, headers)?;
    for (i, p) in params.into_iter().enumerate() {
        if p.is_empty() || p.contains(['&', '=', '?', '#']) {
            return err(format!("{at}.from_params[{i}]"), "must be a plain parameter name");
        }
        sources.push(TokenSource::Param(p));
    }
    for (i, c) in cookies.into_iter().enumerate() {
        if c.is_empty() || c.contains([';', '=', ' ']) {
            return err(format!("{at}.from_cookies[{i}]"), "must be a plain cookie name");
        }
        sources.push(TokenSource::Cookie(c));
    }
    if sources.is_empty() {
        return err(format!("{at}.from_headers"), "no token source left (add a header, parameter or cookie)");
    }
    Ok(sources)
}

#[inline(never)]
fn header_sources(at: &str, headers: Option<Vec<RawHeaderSource>>) -> Result<Vec<TokenSource>, ConfigError> {
    let Some(hs) = headers else { return Ok(vec![TokenSource::bearer()]) };
    let mut sources = Vec::with_capacity(hs.len());
    for (i, h) in hs.into_iter().enumerate() {
        let name = check_header_name(&format!("{at}.from_headers[{i}].name"), &h.name)?;
        let prefix = h.prefix.unwrap_or_default().trim().to_string();
        sources.push(TokenSource::Header { name, prefix });
    }
    Ok(sources)
}

#[inline(never)]
fn compile_jwks(at: &str, raw: Option<RawJwks>, issuer: &str, cognito: Option<&RawCognito>) -> Result<KeySource, ConfigError> {
    let Some(raw) = raw else {
        return err(at, "missing (give inline keys, or a cluster to fetch them from)");
    };
    if raw.inline.is_some() {
        return inline_keys(at, raw);
    }
    let Some(cluster) = raw.cluster.clone() else {
        return err(format!("{at}.cluster"), "missing (the Envoy cluster that reaches the JWKS endpoint, or use inline)");
    };
    if cluster.is_empty() || cluster.chars().any(char::is_control) {
        return err(format!("{at}.cluster"), "must not be empty");
    }
    let (authority, path, discovery_path) = jwks_endpoint(at, &raw, issuer, cognito)?;
    let remote = RemoteJwks {
        cluster,
        authority,
        path,
        discovery_path,
        timeout_ms: raw.timeout_ms.unwrap_or(5000),
        refresh_seconds: raw.refresh_seconds.unwrap_or(600),
        max_stale_seconds: raw.max_stale_seconds.unwrap_or(86_400),
        kid_miss_penalty_seconds: raw.kid_miss_penalty_seconds.unwrap_or(10),
        kid_miss_wait_ms: raw.kid_miss_wait_ms.unwrap_or(3000),
        max_bytes: raw.max_bytes.unwrap_or(256 << 10),
    };
    jwks_limits(at, &remote)?;
    Ok(KeySource::Remote(remote))
}

/// Keys written in the configuration: a JWKS object, or a string holding one.
#[inline(never)]
fn inline_keys(at: &str, raw: RawJwks) -> Result<KeySource, ConfigError> {
    if raw.cluster.is_some() || raw.path.is_some() || raw.authority.is_some() || raw.discovery {
        return err(format!("{at}.inline"), "inline keys cannot be combined with cluster, path, authority or discovery");
    }
    let text = match raw.inline {
        Some(Value::String(s)) => s.into_bytes(),
        other => other.unwrap_or_default().to_string().into_bytes(),
    };
    let set = KeySet::parse(&text).map_err(|e| ConfigError { field: format!("{at}.inline"), message: e.to_string() })?;
    Ok(KeySource::Inline(Arc::new(set)))
}

/// Where a remote JWKS is asked for: the authority, and its path or the discovery document's.
#[inline(never)]
fn jwks_endpoint(
    at: &str,
    raw: &RawJwks,
    issuer: &str,
    cognito: Option<&RawCognito>,
) -> Result<(String, Option<String>, Option<String>), ConfigError> {
    let issuer_host = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .map(|rest| rest.split('/').next().unwrap_or_default().to_string());
    let issuer_path =
        issuer_host.as_ref().and_then(|h| issuer.split_once(h.as_str()).map(|(_, p)| p.trim_end_matches('/').to_string()));
    let authority = jwks_authority(at, raw.authority.clone().or(issuer_host))?;
    let (path, discovery_path) = jwks_path(at, raw, issuer_path, cognito)?;
    Ok((authority, path, discovery_path))
}

/// The JWKS path: as written, derived from the Cognito pool, or found by discovery (the path
/// of the issuer's discovery document then).
#[inline(never)]
fn jwks_path(
    at: &str,
    raw: &RawJwks,
    issuer_path: Option<String>,
    cognito: Option<&RawCognito>,
) -> Result<(Option<String>, Option<String>), ConfigError> {
    let (path, discovery_path) = match (raw.path.clone(), cognito, raw.discovery) {
        (Some(_), _, true) => return err(format!("{at}.discovery"), "give either path or discovery, not both"),
        (Some(p), _, false) => (Some(p), None),
        (None, Some(c), false) => (Some(format!("/{}/.well-known/jwks.json", c.user_pool_id)), None),
        (None, _, true) => match issuer_path {
            Some(ip) => (None, Some(format!("{ip}/.well-known/openid-configuration"))),
            None => return err(format!("{at}.discovery"), "needs an http(s) issuer"),
        },
        (None, None, false) => return err(format!("{at}.path"), "missing (the JWKS path on the cluster, or discovery: true)"),
    };
    if let Some(p) = &path {
        if !p.starts_with('/') || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return err(format!("{at}.path"), "must start with '/' and contain no whitespace");
        }
    }
    Ok((path, discovery_path))
}

#[inline(never)]
fn jwks_authority(at: &str, authority: Option<String>) -> Result<String, ConfigError> {
    match authority {
        Some(a) if !a.is_empty() && !a.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') => Ok(a),
        _ => err(format!("{at}.authority"), "missing or invalid (a host[:port]; derived from an https issuer when absent)"),
    }
}

#[inline(never)]
fn jwks_limits(at: &str, remote: &RemoteJwks) -> Result<(), ConfigError> {
    if !(1..=60_000).contains(&remote.timeout_ms) {
        return err(format!("{at}.timeout_ms"), "must be between 1 and 60000");
    }
    if !(1..=86_400 * 7).contains(&remote.refresh_seconds) {
        return err(format!("{at}.refresh_seconds"), "must be between 1 and 604800");
    }
    if remote.max_stale_seconds < remote.refresh_seconds {
        return err(format!("{at}.max_stale_seconds"), "must be at least refresh_seconds");
    }
    if remote.kid_miss_wait_ms > 30_000 {
        return err(format!("{at}.kid_miss_wait_ms"), "must be at most 30000");
    }
    if !(1024..=16 << 20).contains(&remote.max_bytes) {
        return err(format!("{at}.max_bytes"), "must be between 1024 and 16777216");
    }
    Ok(())
}

#[inline(never)]
fn compile_output(at: &str, raw: Option<RawOutput>) -> Result<Output, ConfigError> {
    let Some(raw) = raw else { return Ok(Output::default()) };
    let user_header = optional_header(at, "user_header", raw.user_header)?;
    let user_format = user_format(at, raw.user_claims, raw.user_claim)?;
    let claim_headers = claim_headers(at, raw.claim_headers)?;
    let payload_header = optional_header(at, "payload_header", raw.payload_header)?;
    let out = Output { user_header, user_format, claim_headers, payload_header };
    output_names(at, &out)?;
    Ok(out)
}

#[inline(never)]
fn optional_header(at: &str, member: &str, name: Option<String>) -> Result<Option<String>, ConfigError> {
    match name {
        Some(h) => check_header_name(&format!("{at}.{member}"), &h).map(Some),
        None => Ok(None),
    }
}

#[inline(never)]
fn user_format(at: &str, user_claims: Option<Vec<String>>, user_claim: Option<String>) -> Result<UserFormat, ConfigError> {
    Ok(match (user_claims, user_claim) {
        (Some(_), Some(_)) => return err(format!("{at}.user_claim"), "set user_claims or user_claim, not both"),
        (Some(list), None) => {
            non_empty_list(&format!("{at}.user_claims"), &list)?;
            UserFormat::Subset(list)
        }
        (None, Some(c)) if c.is_empty() => return err(format!("{at}.user_claim"), "must not be empty"),
        (None, Some(c)) => UserFormat::Claim(c),
        (None, None) => UserFormat::AllClaims,
    })
}

#[inline(never)]
fn claim_headers(at: &str, raw: BTreeMap<String, String>) -> Result<Vec<(String, String)>, ConfigError> {
    let mut claim_headers = Vec::new();
    for (h, claim) in raw {
        let name = check_header_name(&format!("{at}.claim_headers.{h}"), &h)?;
        if claim.is_empty() {
            return err(format!("{at}.claim_headers.{h}"), "claim must not be empty");
        }
        claim_headers.push((name, claim));
    }
    Ok(claim_headers)
}

/// Each output header is written once, and none is `authorization` or a pseudo-header.
#[inline(never)]
fn output_names(at: &str, out: &Output) -> Result<(), ConfigError> {
    let names: Vec<&str> = out.header_names().collect();
    for (i, n) in names.iter().enumerate() {
        if names.iter().skip(i + 1).any(|m| m == n) {
            return err(at, format!("header {n} is written twice"));
        }
        if *n == "authorization" || n.starts_with(':') {
            return err(at, format!("header {n} cannot be an output header"));
        }
    }
    Ok(())
}

fn provider_ids(at: &str, list: &[String], names: &[String]) -> Result<Vec<ProviderId>, ConfigError> {
    if list.is_empty() {
        return err(at, "must name at least one provider");
    }
    list.iter()
        .map(|n| {
            names.iter().position(|x| x == n).ok_or_else(|| ConfigError {
                field: at.to_string(),
                message: format!("unknown provider {n:?} (known: {})", names.join(", ")),
            })
        })
        .collect()
}

#[inline(never)]
fn compile_requirement(at: &str, raw: RawRequirement, names: &[String]) -> Result<Requirement, ConfigError> {
    Ok(match raw {
        RawRequirement::Provider(p) => Requirement::Any(provider_ids(&format!("{at}.provider"), &[p], names)?),
        RawRequirement::Any(l) => Requirement::Any(provider_ids(&format!("{at}.any"), &l, names)?),
        RawRequirement::All(l) => Requirement::All(provider_ids(&format!("{at}.all"), &l, names)?),
        RawRequirement::AllowMissing(l) => Requirement::AllowMissing(provider_ids(&format!("{at}.allow_missing"), &l, names)?),
        RawRequirement::AllowMissingOrFailed(l) => {
            Requirement::AllowMissingOrFailed(provider_ids(&format!("{at}.allow_missing_or_failed"), &l, names)?)
        }
        RawRequirement::None => Requirement::None,
    })
}

#[inline(never)]
fn compile_rule(at: &str, raw: RawRule, names: &[String]) -> Result<Rule, ConfigError> {
    let when = compile_match(at, raw.when)?;
    let requires = compile_requirement(&format!("{at}.requires"), raw.requires, names)?;
    let claims = claim_conditions(at, raw.claims)?;
    let authz = Authz { groups: raw.groups, scopes: raw.scopes, subjects: Subjects::default(), claims };
    if !authz.is_empty() && matches!(requires, Requirement::None) {
        return err(format!("{at}.requires"), "\"none\" cannot be combined with groups, scopes or claims");
    }
    Ok(Rule { when, requires, authz })
}

#[inline(never)]
fn compile_match(at: &str, m: RawMatch) -> Result<Match, ConfigError> {
    let path = match (m.prefix, m.exact, m.regex) {
        (Some(p), None, None) => PathMatch::Prefix(p),
        (None, Some(e), None) => PathMatch::Exact(e),
        (None, None, Some(r)) => PathMatch::Regex(
            crate::regex::Regex::new(&r)
                .map_err(|e| ConfigError { field: format!("{at}.match.regex"), message: e.to_string() })?,
        ),
        _ => return err(format!("{at}.match"), "give exactly one of prefix, exact or regex"),
    };
    let methods = m.methods.iter().map(|x| x.to_ascii_uppercase()).collect();
    let headers = header_matches(at, m.headers)?;
    Ok(Match { path, methods, headers })
}

#[inline(never)]
fn header_matches(at: &str, raw: Vec<RawHeaderMatch>) -> Result<Vec<(String, HeaderMatch)>, ConfigError> {
    let mut headers = Vec::with_capacity(raw.len());
    for (i, h) in raw.into_iter().enumerate() {
        let hat = format!("{at}.match.headers[{i}]");
        let name = header_name_syntax(&format!("{hat}.name"), &h.name, true)?;
        let cond = match (h.exact, h.prefix, h.present) {
            (Some(e), None, None) => HeaderMatch::Exact(e),
            (None, Some(p), None) => HeaderMatch::Prefix(p),
            (None, None, Some(b)) => HeaderMatch::Present(b),
            _ => return err(hat, "give exactly one of exact, prefix or present"),
        };
        headers.push((name, cond));
    }
    Ok(headers)
}

#[inline(never)]
fn claim_conditions(at: &str, raw: Vec<RawCondition>) -> Result<Vec<ClaimCondition>, ConfigError> {
    let mut claims = Vec::new();
    for (i, c) in raw.into_iter().enumerate() {
        let cat = format!("{at}.claims[{i}]");
        if c.path.is_empty() {
            return err(format!("{cat}.path"), "must not be empty");
        }
        let condition = match (c.equals, c.contains) {
            (Some(v), None) => Condition::Equals(v),
            (None, Some(v)) => Condition::Contains(v),
            _ => return err(cat, "give exactly one of equals or contains"),
        };
        claims.push(ClaimCondition { path: c.path, condition });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn cognito() -> Value {
        json!({
            "providers": {
                "cognito": {
                    "cognito": {"region": "us-east-1", "user_pool_id": "us-east-1_Abc", "token_use": "access", "client_ids": ["app"]},
                    "jwks": {"cluster": "cognito"}
                }
            }
        })
    }

    fn parse(v: &Value) -> Result<Config, ConfigError> {
        Config::parse(v.to_string().as_bytes())
    }

    fn field(v: &Value) -> String {
        parse(v).unwrap_err().field
    }

    #[test]
    fn cognito_shorthand_derives_issuer_and_jwks() {
        let c = parse(&cognito()).unwrap();
        let p = &c.providers[0];
        assert_eq!(p.claims.issuer, "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Abc");
        let KeySource::Remote(r) = &p.keys else { panic!("remote expected") };
        assert_eq!(r.authority, "cognito-idp.us-east-1.amazonaws.com");
        assert_eq!(r.path.as_deref(), Some("/us-east-1_Abc/.well-known/jwks.json"));
        assert_eq!(r.refresh_seconds, 600);
        assert_eq!(c.default_requires, Requirement::Any(vec![0]));
        assert_eq!(c.output_headers, vec!["x-current-user"]);
        assert!(c.bypass_cors_preflight);
        assert_eq!(c.reply.unavailable_status, 503);
    }

    #[test]
    fn errors_name_the_field() {
        let mut v = cognito();
        v["providers"]["cognito"]["audience"] = json!(["x"]);
        assert_eq!(field(&v), "providers.cognito.audience");
        let mut v = cognito();
        v["surprise"] = json!(1);
        assert_eq!(field(&v), "surprise");
        let mut v = cognito();
        v["providers"]["cognito"]["jwks"] = json!({"cluster": "c", "refresh": 5});
        assert_eq!(field(&v), "providers.cognito.jwks.refresh");
        let v = json!({"providers": {"p": {"audiences": ["a"], "jwks": {"cluster": "c", "path": "/k"}}}});
        assert_eq!(field(&v), "providers.p.issuer");
        let v = json!({"providers": {"p": {"issuer": "https://i", "audiences": ["a"]}}});
        assert_eq!(field(&v), "providers.p.jwks");
        let v = json!({"providers": {"p": {"issuer": "https://i", "audiences": ["a"], "jwks": {"inline": {"keys": []}}}}});
        assert_eq!(field(&v), "providers.p.jwks.inline");
        let v = json!({"providers": {"p": {"issuer": "https://i", "jwks": {"cluster": "c", "path": "/k"}}}});
        assert_eq!(field(&v), "providers.p.audiences");
        let mut v = cognito();
        v["providers"]["cognito"]["cognito"]["client_ids"] = json!([]);
        assert_eq!(field(&v), "providers.cognito.cognito.client_ids");
        let mut v = cognito();
        v["providers"]["cognito"]["jwks"]["cluster"] = json!("");
        assert_eq!(field(&v), "providers.cognito.jwks.cluster");
        let mut v = cognito();
        v["realm"] = json!("a\"b");
        assert_eq!(field(&v), "realm");
        assert_eq!(Config::parse(b"[]").unwrap_err().field, "(document)");
        assert_eq!(Config::parse(b"{").unwrap_err().field, "(document)");
        let mut v = cognito();
        v["rules"] = json!([{"match": {"prefix": "/"}, "requires": {"provider": "nope"}}]);
        assert_eq!(field(&v), "rules[0].requires.provider");
        let mut v = cognito();
        v["rules"] = json!([{"match": {"prefix": "/", "exact": "/"}, "requires": "none"}]);
        assert_eq!(field(&v), "rules[0].match");
        let mut v = cognito();
        v["providers"]["cognito"]["output"] = json!({"user_header": "bad header"});
        assert_eq!(field(&v), "providers.cognito.output.user_header");
    }

    fn message(v: &Value) -> String {
        parse(v).unwrap_err().to_string()
    }

    #[test]
    fn a_missing_field_is_named_under_its_object_even_when_the_object_has_its_name() {
        let mut v = cognito();
        v["providers"]["region"] = json!({"cognito": {"user_pool_id": "us-east-1_Abc", "token_use": "id"}});
        assert_eq!(field(&v), "providers.region.cognito.region");
        let mut v = cognito();
        v["providers"]["issuer"] = json!({"issuer": 5});
        assert_eq!(field(&v), "providers.issuer.issuer");
        let mut v = cognito();
        v["providers"]["p"] = json!({"p": 5});
        assert_eq!(message(&v), "invalid configuration: providers.p.p: unknown field `p`, expected one of `issuer`, `cognito`, `audiences`, `allow_any_audience`, `jwks`, `from_headers`, `from_params`, `from_cookies`, `forward`, `require_exp`, `clock_skew_seconds`, `max_lifetime_seconds`, `subjects`, `groups`, `scopes`, `output`");
    }

    #[test]
    fn serde_errors_carry_the_full_path() {
        let mut v = cognito();
        v["providers"]["cognito"]["jwks"]["refresh_seconds"] = json!("often");
        assert_eq!(
            message(&v),
            "invalid configuration: providers.cognito.jwks.refresh_seconds: invalid type: string \"often\", expected u64"
        );
        let mut v = cognito();
        v["providrs"] = v["providers"].clone();
        let m = message(&v);
        assert!(
            m.starts_with("invalid configuration: providrs: unknown field `providrs`, expected one of `$schema`, `providers`"),
            "{m}"
        );
        let mut v = cognito();
        v["rules"] = json!([{"match": {"prefix": "/"}, "requires": "none"}, {"match": {"prefix": "/", "methods": "GET"}, "requires": "none"}]);
        assert_eq!(field(&v), "rules[1].match.methods");
        let mut v = cognito();
        v["rules"] = json!([{"match": {"prefix": "/"}, "requires": {"one_of": ["cognito"]}}]);
        let e = parse(&v).unwrap_err();
        assert_eq!(e.field, "rules[0].requires");
        assert!(e.message.contains("allow_missing_or_failed"), "{}", e.message);
        let mut v = cognito();
        v["providers"]["cognito"]["cognito"] = json!({"region": "us-east-1", "user_pool_id": "us-east-1_Abc"});
        assert_eq!(message(&v), "invalid configuration: providers.cognito.cognito.token_use: missing field `token_use`");
        let mut v = cognito();
        v["$schema"] = json!("https://example.com/config.schema.json");
        assert!(parse(&v).is_ok(), "$schema is for editors and ignored");
        let mut v = cognito();
        v["cache"] = json!({"max_entries": -1});
        assert_eq!(field(&v), "cache.max_entries");
    }

    /// The error for a document, written compact, pretty, and pretty with CRLF line ends: the
    /// field and message must not depend on where the bytes put the member.
    fn located(v: &Value) -> ConfigError {
        let pretty = serde_json::to_string_pretty(v).unwrap();
        let e = Config::parse(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(Config::parse(pretty.as_bytes()).unwrap_err(), e, "pretty");
        assert_eq!(Config::parse(pretty.replace('\n', "\r\n").as_bytes()).unwrap_err(), e, "crlf");
        e
    }

    fn with(path: &str, value: Value) -> Value {
        let mut v = cognito();
        v["rules"] = json!([
            {"match": {"prefix": "/a", "headers": [{"name": "x", "present": true}]}, "requires": "none"},
            {"match": {"prefix": "/b"}, "requires": {"any": ["cognito"]}, "claims": [{"path": "p", "equals": 1}]}
        ]);
        v["providers"]["cognito"]["output"] = json!({"claim_headers": {"x-a": "a"}});
        let (parent, last) = path.rsplit_once('/').unwrap();
        match v.pointer_mut(parent).unwrap() {
            Value::Object(o) => {
                o.insert(last.to_string(), value);
            }
            other => other[last.parse::<usize>().unwrap()] = value,
        }
        v
    }

    #[test]
    fn type_errors_name_the_member_at_any_depth() {
        for (path, value, field) in [
            ("/providers", json!(5), "providers"),
            ("/realm", json!({"a": [1]}), "realm"),
            ("/realm", json!([1, 2]), "realm"),
            ("/max_token_bytes", json!(-5), "max_token_bytes"),
            ("/providers/cognito/jwks", json!("c"), "providers.cognito.jwks"),
            ("/providers/cognito/jwks/timeout_ms", json!(1.5), "providers.cognito.jwks.timeout_ms"),
            ("/providers/cognito/cognito/client_ids", json!("app"), "providers.cognito.cognito.client_ids"),
            ("/providers/cognito/cognito/client_ids/0", json!(null), "providers.cognito.cognito.client_ids[0]"),
            ("/providers/cognito/output/user_header", json!(5), "providers.cognito.output.user_header"),
            ("/providers/cognito/output/claim_headers/x-a", json!(["a"]), "providers.cognito.output.claim_headers.x-a"),
            ("/rules/0/match/headers/0/present", json!("yes"), "rules[0].match.headers[0].present"),
            ("/rules/1/claims/0/path", json!({}), "rules[1].claims[0].path"),
            ("/rules/1/requires/any", json!("cognito"), "rules[1].requires.any"),
            ("/rules/1/requires/any/0", json!(7), "rules[1].requires.any[0]"),
            ("/rules/1", json!([]), "rules[1]"),
            ("/rules/0/match/headers/0", json!([]), "rules[0].match.headers[0]"),
        ] {
            assert_eq!(located(&with(path, value)).field, field, "{path}");
        }
        let e = located(&with("/rules/1/claims/0/path", json!(5)));
        assert_eq!(e.to_string(), "invalid configuration: rules[1].claims[0].path: invalid type: integer `5`, expected a string");
        // serde also reads a struct from an array of its fields in order; the reader (as the
        // JSON Schema) wants an object.
        let e = located(&with("/rules/1", json!([])));
        assert_eq!(e.message, "invalid type: sequence, expected struct RawRule");
        let e = located(&with("/providers/cognito/output", json!([null, null, "sub"])));
        assert_eq!(
            e.to_string(),
            "invalid configuration: providers.cognito.output: invalid type: sequence, expected struct RawOutput"
        );
    }

    #[test]
    fn control_characters_in_member_names_are_escaped_in_errors() {
        // Member names from the document are quoted in the path and the message, which Envoy logs.
        let e = located(&with("/providers/cognito/jwks/a\nb\u{1b}", json!("c")));
        assert_eq!(e.field, "providers.cognito.jwks.a\\nb\\u{1b}");
        assert!(e.message.starts_with("unknown field `a\\nb\\u{1b}`, expected one of"), "{}", e.message);
        assert!(!e.to_string().chars().any(char::is_control));
    }

    #[test]
    fn unknown_and_missing_fields_name_the_member_at_any_depth() {
        let e = located(&with("/providers/cognito/jwks/clustr", json!("c")));
        assert_eq!(
            (e.field.as_str(), e.message.starts_with("unknown field `clustr`, expected one of")),
            ("providers.cognito.jwks.clustr", true)
        );
        for (path, value, field) in [
            ("/zz", json!(1), "zz"),
            ("/rules/0/match/headers/0/nme", json!("x"), "rules[0].match.headers[0].nme"),
            ("/rules/1/claims/0/eq", json!(1), "rules[1].claims[0].eq"),
            ("/cache", json!({"max_entries": 1, "size": 2}), "cache.size"),
            // Missing members: serde reports them where the object closes, also as the last
            // element of an array (`}]`) and of the document.
            ("/rules/0/match/headers/0", json!({"present": true}), "rules[0].match.headers[0].name"),
            ("/rules/1/claims/0", json!({"equals": 1}), "rules[1].claims[0].path"),
            ("/rules/1", json!({"match": {"prefix": "/"}}), "rules[1].requires"),
            ("/rules/0", json!({"requires": "none"}), "rules[0].match"),
            ("/providers/cognito/cognito", json!({"user_pool_id": "p", "token_use": "id"}), "providers.cognito.cognito.region"),
            ("/providers/cognito/from_headers", json!([{"prefix": "B"}]), "providers.cognito.from_headers[0].name"),
        ] {
            assert_eq!(located(&with(path, value)).field, field, "{path}");
        }
        let mut v = cognito();
        v.as_object_mut().unwrap().remove("providers");
        assert_eq!(located(&v).to_string(), "invalid configuration: providers: missing field `providers`");
    }

    #[test]
    fn requirement_and_enum_errors_name_the_member() {
        let forms = |m: &str| format!("{m} ({REQUIREMENT_FORMS})");
        for (path, value, field, message) in [
            ("/rules/0/requires", json!("some"), "rules[0].requires", forms("unknown variant `some`, expected one of `provider`, `any`, `all`, `allow_missing`, `allow_missing_or_failed`, `none`")),
            ("/rules/1/requires", json!({"one_of": ["cognito"]}), "rules[1].requires", forms("unknown variant `one_of`, expected one of `provider`, `any`, `all`, `allow_missing`, `allow_missing_or_failed`, `none`")),
            ("/rules/1/requires", json!(5), "rules[1].requires", forms("invalid type: integer `5`, expected string or map")),
            ("/rules/1/requires", json!(["any"]), "rules[1].requires", forms("invalid type: sequence, expected string or map")),
            ("/rules/1/requires", json!(null), "rules[1].requires", forms("invalid type: null, expected string or map")),
            ("/rules/1/requires", json!({}), "rules[1].requires", forms("invalid value: map, expected map with a single key")),
            ("/default_requires", json!({"all": ["cognito"], "any": ["cognito"]}), "default_requires", forms("invalid value: map, expected map with a single key")),
            ("/default_requires", json!(true), "default_requires", forms("invalid type: boolean `true`, expected string or map")),
            ("/rules/1/requires", json!({"provider": 5}), "rules[1].requires.provider", forms("invalid type: integer `5`, expected a string")),
            ("/crypto", json!("fast"), "crypto", "unknown variant `fast`, expected `auto` or `pure_rust`".to_string()),
            ("/crypto", json!(1.5), "crypto", "invalid type: floating point `1.5`, expected string or map".to_string()),
            ("/on_keys_unavailable", json!(503), "on_keys_unavailable", "invalid type: integer `503`, expected string or map".to_string()),
            ("/providers/cognito/cognito/token_use", json!({"refresh": null}), "providers.cognito.cognito.token_use", "unknown variant `refresh`, expected one of `access`, `id`, `any`".to_string()),
        ] {
            let e = located(&with(path, value));
            assert_eq!((e.field.as_str(), e.message.as_str()), (field, message.as_str()), "{path}");
        }
        assert!(parse(&with("/crypto", json!({"auto": null}))).is_ok(), "a unit variant may be written as a map");
    }

    #[test]
    fn paths_survive_escapes_multibyte_text_and_line_ends() {
        // Keys are named unescaped; columns count bytes, so multi-byte text earlier on the line
        // does not move the position.
        let text = "{\"providers\": {\"pé\\\"\\u00e9😀\": {\"issuer\": \"https://é.example/ü\", \"audiences\": [\"ä\", 5]}}}";
        let e = Config::parse(text.as_bytes()).unwrap_err();
        assert_eq!(e.field, "providers.pé\"é😀.audiences[1]");
        let text = "{\r\n\t\"realm\" : \"ré\\\"alm\",\r\n\t\"providers\" : {\r\n\t\t\"p\" : {\"jwks\" : {\"cluster\" : \"c\",  \"refresh_seconds\" : \"x\"}}}}";
        assert_eq!(Config::parse(text.as_bytes()).unwrap_err().field, "providers.p.jwks.refresh_seconds");
        let text = "{\"providers\": {\"p\": {\"jwks\": {\"inline\": {\"keys\": [{\"k\": \"\\u0000\"}]}, \"timeout_ms\": true}}}}";
        assert_eq!(Config::parse(text.as_bytes()).unwrap_err().field, "providers.p.jwks.timeout_ms");
    }

    #[test]
    fn a_member_given_twice_is_refused() {
        let text = r#"{"providers": {"p": {"issuer": "https://i", "allow_any_audience": true, "jwks": {"cluster": "c", "path": "/k", "cluster": "d"}}}}"#;
        let e = Config::parse(text.as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "invalid configuration: providers.p.jwks.cluster: duplicate field `cluster`");
    }

    #[test]
    fn a_member_given_twice_is_refused_at_any_depth_also_in_maps_and_values() {
        // serde_json's `Value` and serde's maps keep the last one silently; the reader refuses
        // every one (the derived structs did, with these words).
        for (text, field) in [
            (r#"{"providers": {"p": {"issuer": "https://i"}, "p": {"issuer": "https://j"}}}"#, "providers.p"),
            (r#"{"providers": {}, "providers": {}}"#, "providers"),
            (r#"{"rules": [{}, {"match": {"prefix": "/", "prefix": "/a"}}]}"#, "rules[1].match.prefix"),
            (
                r#"{"providers": {"p": {"output": {"claim_headers": {"x-a": "a", "x-a": "b"}}}}}"#,
                "providers.p.output.claim_headers.x-a",
            ),
            (r#"{"providers": {"p": {"jwks": {"inline": {"keys": [], "keys": []}}}}}"#, "providers.p.jwks.inline.keys"),
        ] {
            let e = Config::parse(text.as_bytes()).unwrap_err();
            let key = field.rsplit(['.', ']']).next().unwrap();
            assert_eq!((e.field.as_str(), e.message), (field, format!("duplicate field `{key}`")), "{text}");
        }
    }

    #[test]
    fn syntax_errors_and_other_documents_are_the_documents() {
        for text in ["", "{", "{\"providers\": }", "{} x", "[]", "5", "null", "\"s\"", "{\"a\": 1e999}"] {
            assert_eq!(Config::parse(text.as_bytes()).unwrap_err().field, "(document)", "{text:?}");
        }
        assert_eq!(Config::parse(b"{\"providers\": {,}}").unwrap_err().message, "key must be a string");
    }

    #[test]
    fn rule_header_names_get_the_output_header_check() {
        for bad in ["", "bad header", "x-a\n", ":", "x:y"] {
            let mut v = cognito();
            v["rules"] = json!([{"match": {"prefix": "/", "headers": [{"name": bad, "present": true}]}, "requires": "none"}]);
            assert_eq!(field(&v), "rules[0].match.headers[0].name", "{bad:?}");
        }
        let mut v = cognito();
        v["rules"] = json!([{"match": {"prefix": "/", "headers": [
            {"name": "X-Tenant", "exact": "a"}, {"name": ":authority", "present": true}, {"name": "cookie", "present": true}
        ]}, "requires": "none"}]);
        let c = Config::parse(v.to_string().as_bytes()).unwrap();
        let names: Vec<&str> = c.rules[0].when.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-tenant", ":authority", "cookie"], "matching may read any header, lowercased");
    }

    #[test]
    fn rules_requirements_and_outputs() {
        let mut v = cognito();
        v["providers"]["auth0"] = json!({
            "issuer": "https://tenant.auth0.com/",
            "audiences": ["api"],
            "jwks": {"cluster": "auth0", "discovery": true},
            "from_params": ["access_token"],
            "output": {"user_header": null, "claim_headers": {"X-Sub": "sub"}}
        });
        v["rules"] = json!([
            {"match": {"prefix": "/public"}, "requires": "none"},
            {"match": {"exact": "/feed", "methods": ["get"]}, "requires": {"allow_missing": ["cognito"]}},
            {"match": {"regex": "/admin/.*"}, "requires": {"any": ["cognito", "auth0"]}, "groups": ["admin"]}
        ]);
        v["default_requires"] = json!({"all": ["auth0", "cognito"]});
        let c = parse(&v).unwrap();
        assert_eq!(c.providers[0].name, "auth0", "providers are ordered by name");
        let KeySource::Remote(r) = &c.providers[0].keys else { panic!() };
        assert_eq!(r.authority, "tenant.auth0.com");
        assert_eq!(r.path, None);
        assert_eq!(r.discovery_path.as_deref(), Some("/.well-known/openid-configuration"));
        assert_eq!(c.rules.len(), 3);
        assert_eq!(c.rules[1].requires, Requirement::AllowMissing(vec![1]));
        assert_eq!(c.rules[1].when.methods, vec!["GET"]);
        assert_eq!(c.rules[2].authz.groups, vec!["admin"]);
        assert_eq!(c.default_requires, Requirement::All(vec![0, 1]));
        assert_eq!(c.output_headers, vec!["x-sub", "x-current-user"]);
        assert_eq!(c.providers[0].output.user_header, None);
    }

    #[test]
    fn inline_keys_and_modes() {
        let jwks = testkit::jwks(&[&testkit::rsa_a()]);
        let v = json!({
            "providers": {"local": {"issuer": "https://i", "allow_any_audience": true, "jwks": {"inline": jwks}}},
            "on_keys_unavailable": "401",
            "crypto": "pure_rust",
            "cache": {"max_entries": 0}
        });
        let c = parse(&v).unwrap();
        assert!(matches!(&c.providers[0].keys, KeySource::Inline(s) if s.keys.len() == 1));
        assert_eq!(c.reply.unavailable_status, 401);
        assert_eq!(c.crypto, CryptoMode::PureRust);
        assert_eq!(c.cache.max_entries, 0);
    }

    /// The derived `Deserialize` of the `Raw*` types (what the filter used before the reader):
    /// the compiled configuration's `Debug`, or the error (serde's, without its position).
    fn derived(bytes: &[u8]) -> Result<String, String> {
        match serde_json::from_slice::<RawConfig>(bytes) {
            Ok(raw) => compile(raw).map(|c| format!("{c:?}")).map_err(|e| e.to_string()),
            Err(e) => {
                let m = e.to_string();
                Err(format!("serde: {}", m.rsplit_once(" at line ").map_or(m.as_str(), |(m, _)| m)))
            }
        }
    }

    /// Every value of `v` with its JSON pointer.
    fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                m.iter().for_each(|(k, x)| pointers(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out))
            }
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| pointers(x, format!("{at}/{i}"), out)),
            _ => {}
        }
        out.push(at);
    }

    fn seeds() -> Vec<Value> {
        let jwks = testkit::jwks(&[&testkit::rsa_a()]);
        let mut full = with("/debug", json!(true));
        full["$schema"] = json!("s");
        full["realm"] = json!("r");
        full["max_token_bytes"] = json!(4096);
        full["bypass_cors_preflight"] = json!(false);
        full["on_keys_unavailable"] = json!("unauthenticated");
        full["cache"] = json!({"max_entries": 5, "max_bytes": 100000});
        full["crypto"] = json!({"auto": null});
        full["filter_state"] = json!(true);
        full["default_requires"] = json!({"allow_missing_or_failed": ["cognito", "o"]});
        full["providers"]["cognito"]["cognito"]["allow_any_client"] = json!(false);
        full["providers"]["o"] = json!({
            "issuer": "https://o.example/t/", "audiences": ["a", "b"], "allow_any_audience": false,
            "jwks": {"cluster": "o", "authority": "o.example", "discovery": true, "timeout_ms": 100, "refresh_seconds": 60,
                     "max_stale_seconds": 600, "kid_miss_penalty_seconds": 5, "kid_miss_wait_ms": 10, "max_bytes": 4096},
            "from_headers": [{"name": "x-token"}, {"name": "authorization", "prefix": "Bearer"}],
            "from_params": ["t"], "from_cookies": ["c"], "forward": false, "require_exp": false,
            "clock_skew_seconds": 5, "max_lifetime_seconds": 3600, "subjects": {"exact": ["s"], "prefixes": ["p"]},
            "groups": ["g"], "scopes": ["s"],
            "output": {"user_header": null, "user_claims": ["sub"], "claim_headers": {"x-s": "sub"}, "payload_header": "x-p"}
        });
        let rules = full["rules"].as_array_mut().unwrap();
        rules.push(json!({"match": {"regex": "/r.*", "methods": ["get"], "headers": [{"name": "x", "prefix": "a"}, {"name": "y", "exact": "b"}]},
            "requires": {"all": ["o"]}, "groups": ["g"], "scopes": ["s"], "claims": [{"path": "a.b", "contains": "x"}]}));
        rules.push(json!({"match": {"exact": "/e"}, "requires": {"provider": "o"}}));
        let inline = json!({
            "providers": {"i": {"issuer": "https://i", "allow_any_audience": true, "jwks": {"inline": jwks},
                                "output": {"user_claim": "sub", "user_header": "x-u"}}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"allow_missing": ["i"]}}],
            "on_keys_unavailable": "401", "crypto": "pure_rust"
        });
        vec![full, inline, cognito()]
    }

    #[test]
    fn the_reader_accepts_and_refuses_what_the_derived_deserialize_did() {
        let values = [
            json!(null),
            json!(true),
            json!(0),
            json!(7),
            json!(-1),
            json!(1.5),
            json!(5_000_000_000u64),
            json!("x"),
            json!(""),
            json!("none"),
            json!("any"),
            json!([]),
            json!(["x"]),
            json!([{}]),
            json!({}),
            json!({"x": 1}),
            json!({"none": null}),
            json!({"any": ["cognito"]}),
            json!({"provider": "o"}),
            json!({"auto": 1}),
            json!({"a": 1, "b": 2}),
            json!({"auto": null, "b": 2}),
            json!({"provider": 5, "x": 1}),
            json!("503"),
            json!("pure_rust"),
            json!(1000.0),
            json!(u64::MAX),
            json!(i64::MIN),
            json!([null]),
            json!({"name": "x"}),
            json!({"path": "p", "equals": null}),
        ];
        let (mut cases, mut same_error) = (0, 0);
        let mut check = |v: &Value| {
            let text = v.to_string();
            let hand = Config::parse(text.as_bytes()).map(|c| format!("{c:?}")).map_err(|e| e.to_string());
            let old = derived(text.as_bytes());
            cases += 1;
            match (&hand, &old) {
                // serde's positional form of a struct (an array of its fields) is refused.
                (Err(h), _) if h.contains("invalid type: sequence, expected struct Raw") => {}
                (Ok(h), Ok(o)) => assert_eq!(h, o, "{text}"),
                (Err(h), Err(o)) if o.starts_with("serde: ") => {
                    // The same words as serde, but for the hint on requirements, and where the
                    // derived reading of text stopped at an enum's or the document's shape (the
                    // filter then re-read that value as a `Value`, as the reader does).
                    let forms = format!(" ({REQUIREMENT_FORMS})");
                    let message = h.split_once(": ").and_then(|(_, rest)| rest.split_once(": ")).map_or("", |(_, m)| m);
                    let serde = o.trim_start_matches("serde: ");
                    if serde != "expected value" && !h.contains("(document)") {
                        assert_eq!(message.trim_end_matches(&forms), serde, "{text}");
                        same_error += 1;
                    }
                }
                (Err(h), Err(o)) => assert_eq!(h, o, "{text}"),
                _ => panic!("{text}: reader {hand:?}, derived {old:?}"),
            }
        };
        for seed in seeds() {
            check(&seed);
            let mut paths = Vec::new();
            pointers(&seed, String::new(), &mut paths);
            for p in &paths {
                let (parent, last) = p.rsplit_once('/').unwrap_or(("", ""));
                for x in &values {
                    let mut v = seed.clone();
                    match v.pointer_mut(p) {
                        Some(slot) => *slot = x.clone(),
                        None => continue,
                    }
                    check(&v);
                }
                let mut v = seed.clone();
                match v.pointer_mut(parent) {
                    Some(Value::Object(o)) => {
                        o.remove(&last.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(a)) => {
                        a.remove(last.parse::<usize>().unwrap());
                    }
                    _ => continue,
                }
                check(&v);
                let mut v = seed.clone();
                if let Some(Value::Object(o)) = v.pointer_mut(p) {
                    o.insert("zz".into(), json!(1));
                    check(&v);
                }
            }
        }
        eprintln!("{cases} cases, {same_error} read errors with serde's exact message");
        assert!(cases > 5_000, "{cases}");
    }
}
