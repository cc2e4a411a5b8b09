//! The configuration document read by hand into the `Raw*` types, with serde's rules and words
//! (`deny_unknown_fields`, `missing field`, `invalid type: …, expected …`) but without serde's
//! derived visitors, which cost the wasm module ~65 KB of large functions (V8 compiles every one
//! at load). Every error names the member it is about by its full path.
//!
//! The text is first read into a [`Value`] that refuses a member given twice (serde_json's own
//! `Value` kept the last silently), then each `Raw*` type takes its members in name order (the
//! crate's [`Map`] keeps them sorted, as serde_json's did; the derived reader went in document
//! order, so when a document has two errors, the one named may differ).
//! Each reader is its own small function (`#[inline(never)]`), so none grows large.

use super::{
    default_user_header, ConfigError, CryptoMode, RawCache, RawCognito, RawCondition, RawConfig, RawHeaderMatch, RawHeaderSource,
    RawJwks, RawMatch, RawOutput, RawProvider, RawRequirement, RawRule, RawSubjects, RawTokenUse, UnavailableMode,
    REQUIREMENT_FORMS,
};
use crate::json::{self, Map, ParseError, Value};
use std::collections::BTreeMap;

type R<T> = Result<T, ConfigError>;

fn fail(field: &str, message: String) -> ConfigError {
    ConfigError { field: printable(field), message: printable(&message) }
}

/// Control characters escaped (`\n`, `\u{1b}`): paths and messages quote member names from the
/// document, and they end up in Envoy's log.
fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

// ---------------------------------------------------------------------------------------------
// The document: JSON text to a `Value`, refusing duplicate members.

/// Reads the text into a `Value`: syntax errors are the document's (serde_json's words, without
/// the position), a member given twice is named by its path, and the document must be an object.
pub(super) fn document(bytes: &[u8]) -> R<Map> {
    match json::parse_strict(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(fail("(document)", "must be a JSON object".to_string())),
        Err(ParseError::Duplicate { path, key }) => Err(fail(&path, format!("duplicate field `{key}`"))),
        Err(ParseError::Syntax { message, .. }) => Err(fail("(document)", message.to_string())),
        Err(e) => Err(fail("(document)", e.to_string())),
    }
}

// ---------------------------------------------------------------------------------------------
// Paths and serde's words.

/// `at.key` (just `key` at the top).
fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

fn index(at: &str, i: usize) -> String {
    format!("{at}[{i}]")
}

/// How serde names a value it did not expect.
fn unexpected(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "sequence".to_string(),
        Value::Object(_) => "map".to_string(),
    }
}

fn invalid_type(at: &str, v: &Value, expected: &str) -> ConfigError {
    fail(at, format!("invalid type: {}, expected {expected}", unexpected(v)))
}

/// serde's list of names: "`a`", "`a` or `b`", "one of `a`, `b`, `c`".
fn one_of(names: &[&str]) -> String {
    match names {
        [a] => format!("`{a}`"),
        [a, b] => format!("`{a}` or `{b}`"),
        _ => {
            let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("one of {}", quoted.join(", "))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars and lists.

fn string(at: &str, v: Value) -> R<String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(invalid_type(at, &other, "a string")),
    }
}

fn boolean(at: &str, v: Value) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(b),
        other => Err(invalid_type(at, &other, "a boolean")),
    }
}

/// An unsigned integer (`kind`: `u64` or `usize`, as serde names it).
fn unsigned(at: &str, v: &Value, kind: &str) -> R<u64> {
    if let Value::Number(n) = v {
        if let Some(u) = n.as_u64() {
            return Ok(u);
        }
        if let Some(i) = n.as_i64() {
            return Err(fail(at, format!("invalid value: integer `{i}`, expected {kind}")));
        }
    }
    Err(invalid_type(at, v, kind))
}

fn uint(at: &str, v: Value) -> R<u64> {
    unsigned(at, &v, "u64")
}

fn size(at: &str, v: Value) -> R<usize> {
    let n = unsigned(at, &v, "usize")?;
    usize::try_from(n).map_err(|_| fail(at, format!("invalid value: integer `{n}`, expected usize")))
}

fn strings(at: &str, v: Value) -> R<Vec<String>> {
    list(at, v, string)
}

/// An array, each element read by `element` under its index.
#[inline(never)]
fn list<T>(at: &str, v: Value, element: fn(&str, Value) -> R<T>) -> R<Vec<T>> {
    match v {
        Value::Array(items) => items.into_iter().enumerate().map(|(i, x)| element(&index(at, i), x)).collect(),
        other => Err(invalid_type(at, &other, "a sequence")),
    }
}

/// An object of name → value, each value read by `value` under its name.
#[inline(never)]
fn map<T>(at: &str, v: Value, value: fn(&str, Value) -> R<T>) -> R<BTreeMap<String, T>> {
    match v {
        Value::Object(m) => m.into_iter().map(|(k, x)| value(&join(at, &k), x).map(|t| (k, t))).collect(),
        other => Err(invalid_type(at, &other, "a map")),
    }
}

/// `null` is `None` (serde's `Option`), anything else is read by `some`.
#[inline(never)]
fn opt<T>(at: &str, v: Value, some: fn(&str, Value) -> R<T>) -> R<Option<T>> {
    match v {
        Value::Null => Ok(None),
        other => some(at, other).map(Some),
    }
}

// ---------------------------------------------------------------------------------------------
// Structs and enums.

/// The members of a struct (`deny_unknown_fields`): each known one goes to `member` with its
/// index in `fields` and its path, in name order; an unknown one is refused; then the
/// first of the `required` fields (a bit per index) that is absent is named.
fn members(
    at: &str,
    v: Value,
    name: &str,
    fields: &[&str],
    required: u32,
    member: &mut dyn FnMut(usize, &str, Value) -> R<()>,
) -> R<()> {
    let m = match v {
        Value::Object(m) => m,
        other => return Err(invalid_type(at, &other, &format!("struct {name}"))),
    };
    let mut seen = 0u32;
    for (key, value) in m {
        let Some(i) = fields.iter().position(|f| *f == key) else {
            let expected =
                if fields.is_empty() { "there are no fields".to_string() } else { format!("expected {}", one_of(fields)) };
            return Err(fail(&join(at, &key), format!("unknown field `{key}`, {expected}")));
        };
        seen |= 1 << i;
        member(i, &join(at, &key), value)?;
    }
    for (i, f) in fields.iter().enumerate() {
        if required & !seen & (1 << i) != 0 {
            return Err(fail(&join(at, f), format!("missing field `{f}`")));
        }
    }
    Ok(())
}

/// An enum as the filter always read it: a string names a variant, an object of one member
/// names it and gives its content. The variant's index and content, and whether the object had
/// more members: the caller refuses that after reading the content, as serde did (it reads the
/// first member before it sees a second; here "first" is first by name).
fn variant(at: &str, v: Value, names: &[&str]) -> R<(usize, Option<Value>, bool)> {
    let (name, content, more) = match v {
        Value::String(s) => (s, None, false),
        Value::Object(m) => {
            let more = m.len() > 1;
            match m.into_iter().next() {
                Some((k, c)) => (k, Some(c), more),
                None => return Err(single_key(at)),
            }
        }
        other => return Err(invalid_type(at, &other, "string or map")),
    };
    match names.iter().position(|n| *n == name) {
        Some(i) => Ok((i, content, more)),
        None => Err(fail(at, format!("unknown variant `{name}`, expected {}", one_of(names)))),
    }
}

fn single_key(at: &str) -> ConfigError {
    fail(at, "invalid value: map, expected map with a single key".to_string())
}

fn one_member(at: &str, more: bool) -> R<()> {
    if more {
        return Err(single_key(at));
    }
    Ok(())
}

/// A variant without content: absent or `null`.
fn unit_variant(at: &str, variant: &str, content: Option<Value>) -> R<()> {
    match content {
        None | Some(Value::Null) => Ok(()),
        Some(other) => Err(invalid_type(&join(at, variant), &other, "unit")),
    }
}

/// A variant with content: it must be there (an object member, not a bare string).
fn newtype_variant(at: &str, content: Option<Value>) -> R<Value> {
    content.ok_or_else(|| fail(at, "invalid type: unit variant, expected newtype variant".to_string()))
}

/// A unit-only enum: the index of its variant.
fn unit_enum(at: &str, v: Value, names: &[&str]) -> R<usize> {
    let (i, content, more) = variant(at, v, names)?;
    unit_variant(at, names.get(i).copied().unwrap_or_default(), content)?;
    one_member(at, more)?;
    Ok(i)
}

// ---------------------------------------------------------------------------------------------
// The document's types.

const CONFIG_FIELDS: [&str; 12] = [
    "$schema",
    "providers",
    "rules",
    "default_requires",
    "realm",
    "max_token_bytes",
    "bypass_cors_preflight",
    "on_keys_unavailable",
    "cache",
    "crypto",
    "debug",
    "filter_state",
];

/// The whole document.
#[inline(never)]
pub(super) fn config(doc: Map) -> R<RawConfig> {
    let mut raw = RawConfig {
        _schema: None,
        providers: BTreeMap::new(),
        rules: Vec::new(),
        default_requires: None,
        realm: None,
        max_token_bytes: None,
        bypass_cors_preflight: None,
        on_keys_unavailable: None,
        cache: None,
        crypto: None,
        debug: false,
        filter_state: None,
    };
    members("", Value::Object(doc), "RawConfig", &CONFIG_FIELDS, 1 << 1, &mut |i, at, v| {
        match i {
            0 => raw._schema = opt(at, v, string)?,
            1 => raw.providers = map(at, v, provider)?,
            2 => raw.rules = list(at, v, rule)?,
            3 => raw.default_requires = opt(at, v, requirement)?,
            4 => raw.realm = opt(at, v, string)?,
            5 => raw.max_token_bytes = opt(at, v, size)?,
            6 => raw.bypass_cors_preflight = opt(at, v, boolean)?,
            7 => raw.on_keys_unavailable = opt(at, v, unavailable_mode)?,
            8 => raw.cache = opt(at, v, cache)?,
            9 => raw.crypto = opt(at, v, crypto_mode)?,
            10 => raw.debug = boolean(at, v)?,
            _ => raw.filter_state = opt(at, v, boolean)?,
        }
        Ok(())
    })?;
    Ok(raw)
}

fn unavailable_mode(at: &str, v: Value) -> R<UnavailableMode> {
    Ok(match unit_enum(at, v, &["503", "401", "unauthenticated"])? {
        0 => UnavailableMode::RetryLater,
        1 => UnavailableMode::Reject,
        _ => UnavailableMode::Unauthenticated,
    })
}

fn crypto_mode(at: &str, v: Value) -> R<CryptoMode> {
    Ok(match unit_enum(at, v, &["auto", "pure_rust"])? {
        0 => CryptoMode::Auto,
        _ => CryptoMode::PureRust,
    })
}

fn token_use(at: &str, v: Value) -> R<RawTokenUse> {
    Ok(match unit_enum(at, v, &["access", "id", "any"])? {
        0 => RawTokenUse::Access,
        1 => RawTokenUse::Id,
        _ => RawTokenUse::Any,
    })
}

#[inline(never)]
fn cache(at: &str, v: Value) -> R<RawCache> {
    let mut raw = RawCache { max_entries: None, max_bytes: None };
    members(at, v, "RawCache", &["max_entries", "max_bytes"], 0, &mut |i, at, v| {
        match i {
            0 => raw.max_entries = opt(at, v, size)?,
            _ => raw.max_bytes = opt(at, v, size)?,
        }
        Ok(())
    })?;
    Ok(raw)
}

const PROVIDER_FIELDS: [&str; 16] = [
    "issuer",
    "cognito",
    "audiences",
    "allow_any_audience",
    "jwks",
    "from_headers",
    "from_params",
    "from_cookies",
    "forward",
    "require_exp",
    "clock_skew_seconds",
    "max_lifetime_seconds",
    "subjects",
    "groups",
    "scopes",
    "output",
];

#[inline(never)]
fn provider(at: &str, v: Value) -> R<RawProvider> {
    let mut raw = RawProvider {
        issuer: None,
        cognito: None,
        audiences: None,
        allow_any_audience: false,
        jwks: None,
        from_headers: None,
        from_params: Vec::new(),
        from_cookies: Vec::new(),
        forward: true,
        require_exp: true,
        clock_skew_seconds: None,
        max_lifetime_seconds: None,
        subjects: None,
        groups: Vec::new(),
        scopes: Vec::new(),
        output: None,
    };
    members(at, v, "RawProvider", &PROVIDER_FIELDS, 0, &mut |i, at, v| {
        if i < 8 {
            provider_source(&mut raw, i, at, v)
        } else {
            provider_checks(&mut raw, i, at, v)
        }
    })?;
    Ok(raw)
}

/// A provider's members about its tokens' issuer, audience, keys and place.
#[inline(never)]
fn provider_source(raw: &mut RawProvider, i: usize, at: &str, v: Value) -> R<()> {
    match i {
        0 => raw.issuer = opt(at, v, string)?,
        1 => raw.cognito = opt(at, v, cognito)?,
        2 => raw.audiences = opt(at, v, strings)?,
        3 => raw.allow_any_audience = boolean(at, v)?,
        4 => raw.jwks = opt(at, v, jwks)?,
        5 => raw.from_headers = opt(at, v, header_sources)?,
        6 => raw.from_params = strings(at, v)?,
        _ => raw.from_cookies = strings(at, v)?,
    }
    Ok(())
}

/// A provider's other members: checks and output.
#[inline(never)]
fn provider_checks(raw: &mut RawProvider, i: usize, at: &str, v: Value) -> R<()> {
    match i {
        8 => raw.forward = boolean(at, v)?,
        9 => raw.require_exp = boolean(at, v)?,
        10 => raw.clock_skew_seconds = opt(at, v, uint)?,
        11 => raw.max_lifetime_seconds = opt(at, v, uint)?,
        12 => raw.subjects = opt(at, v, subjects)?,
        13 => raw.groups = strings(at, v)?,
        14 => raw.scopes = strings(at, v)?,
        _ => raw.output = opt(at, v, output)?,
    }
    Ok(())
}

#[inline(never)]
fn cognito(at: &str, v: Value) -> R<RawCognito> {
    let mut raw = RawCognito {
        region: String::new(),
        user_pool_id: String::new(),
        token_use: RawTokenUse::Any,
        client_ids: None,
        allow_any_client: false,
    };
    let fields = ["region", "user_pool_id", "token_use", "client_ids", "allow_any_client"];
    members(at, v, "RawCognito", &fields, 0b111, &mut |i, at, v| {
        match i {
            0 => raw.region = string(at, v)?,
            1 => raw.user_pool_id = string(at, v)?,
            2 => raw.token_use = token_use(at, v)?,
            3 => raw.client_ids = opt(at, v, strings)?,
            _ => raw.allow_any_client = boolean(at, v)?,
        }
        Ok(())
    })?;
    Ok(raw)
}

fn header_sources(at: &str, v: Value) -> R<Vec<RawHeaderSource>> {
    list(at, v, header_source)
}

#[inline(never)]
fn header_source(at: &str, v: Value) -> R<RawHeaderSource> {
    let mut raw = RawHeaderSource { name: String::new(), prefix: None };
    members(at, v, "RawHeaderSource", &["name", "prefix"], 0b1, &mut |i, at, v| {
        match i {
            0 => raw.name = string(at, v)?,
            _ => raw.prefix = opt(at, v, string)?,
        }
        Ok(())
    })?;
    Ok(raw)
}

#[inline(never)]
fn subjects(at: &str, v: Value) -> R<RawSubjects> {
    let mut raw = RawSubjects::default();
    members(at, v, "RawSubjects", &["exact", "prefixes"], 0, &mut |i, at, v| {
        match i {
            0 => raw.exact = strings(at, v)?,
            _ => raw.prefixes = strings(at, v)?,
        }
        Ok(())
    })?;
    Ok(raw)
}

const JWKS_FIELDS: [&str; 11] = [
    "inline",
    "cluster",
    "authority",
    "path",
    "discovery",
    "timeout_ms",
    "refresh_seconds",
    "max_stale_seconds",
    "kid_miss_penalty_seconds",
    "kid_miss_wait_ms",
    "max_bytes",
];

fn any(_: &str, v: Value) -> R<Value> {
    Ok(v)
}

#[inline(never)]
fn jwks(at: &str, v: Value) -> R<RawJwks> {
    let mut raw = RawJwks {
        inline: None,
        cluster: None,
        authority: None,
        path: None,
        discovery: false,
        timeout_ms: None,
        refresh_seconds: None,
        max_stale_seconds: None,
        kid_miss_penalty_seconds: None,
        kid_miss_wait_ms: None,
        max_bytes: None,
    };
    members(at, v, "RawJwks", &JWKS_FIELDS, 0, &mut |i, at, v| {
        match i {
            0 => raw.inline = opt(at, v, any)?,
            1 => raw.cluster = opt(at, v, string)?,
            2 => raw.authority = opt(at, v, string)?,
            3 => raw.path = opt(at, v, string)?,
            4 => raw.discovery = boolean(at, v)?,
            5 => raw.timeout_ms = opt(at, v, uint)?,
            6 => raw.refresh_seconds = opt(at, v, uint)?,
            7 => raw.max_stale_seconds = opt(at, v, uint)?,
            8 => raw.kid_miss_penalty_seconds = opt(at, v, uint)?,
            9 => raw.kid_miss_wait_ms = opt(at, v, uint)?,
            _ => raw.max_bytes = opt(at, v, size)?,
        }
        Ok(())
    })?;
    Ok(raw)
}

#[inline(never)]
fn output(at: &str, v: Value) -> R<RawOutput> {
    let mut raw = RawOutput {
        user_header: default_user_header(),
        user_claims: None,
        user_claim: None,
        claim_headers: BTreeMap::new(),
        payload_header: None,
    };
    let fields = ["user_header", "user_claims", "user_claim", "claim_headers", "payload_header"];
    members(at, v, "RawOutput", &fields, 0, &mut |i, at, v| {
        match i {
            0 => raw.user_header = opt(at, v, string)?,
            1 => raw.user_claims = opt(at, v, strings)?,
            2 => raw.user_claim = opt(at, v, string)?,
            3 => raw.claim_headers = map(at, v, string)?,
            _ => raw.payload_header = opt(at, v, string)?,
        }
        Ok(())
    })?;
    Ok(raw)
}

#[inline(never)]
fn rule(at: &str, v: Value) -> R<RawRule> {
    let mut raw = RawRule {
        when: RawMatch { prefix: None, exact: None, regex: None, methods: Vec::new(), headers: Vec::new() },
        requires: RawRequirement::None,
        groups: Vec::new(),
        scopes: Vec::new(),
        claims: Vec::new(),
    };
    let fields = ["match", "requires", "groups", "scopes", "claims"];
    members(at, v, "RawRule", &fields, 0b11, &mut |i, at, v| {
        match i {
            0 => raw.when = matcher(at, v)?,
            1 => raw.requires = requirement(at, v)?,
            2 => raw.groups = strings(at, v)?,
            3 => raw.scopes = strings(at, v)?,
            _ => raw.claims = list(at, v, condition)?,
        }
        Ok(())
    })?;
    Ok(raw)
}

#[inline(never)]
fn matcher(at: &str, v: Value) -> R<RawMatch> {
    let mut raw = RawMatch { prefix: None, exact: None, regex: None, methods: Vec::new(), headers: Vec::new() };
    let fields = ["prefix", "exact", "regex", "methods", "headers"];
    members(at, v, "RawMatch", &fields, 0, &mut |i, at, v| {
        match i {
            0 => raw.prefix = opt(at, v, string)?,
            1 => raw.exact = opt(at, v, string)?,
            2 => raw.regex = opt(at, v, string)?,
            3 => raw.methods = strings(at, v)?,
            _ => raw.headers = list(at, v, header_match)?,
        }
        Ok(())
    })?;
    Ok(raw)
}

#[inline(never)]
fn header_match(at: &str, v: Value) -> R<RawHeaderMatch> {
    let mut raw = RawHeaderMatch { name: String::new(), exact: None, prefix: None, present: None };
    members(at, v, "RawHeaderMatch", &["name", "exact", "prefix", "present"], 0b1, &mut |i, at, v| {
        match i {
            0 => raw.name = string(at, v)?,
            1 => raw.exact = opt(at, v, string)?,
            2 => raw.prefix = opt(at, v, string)?,
            _ => raw.present = opt(at, v, boolean)?,
        }
        Ok(())
    })?;
    Ok(raw)
}

#[inline(never)]
fn condition(at: &str, v: Value) -> R<RawCondition> {
    let mut raw = RawCondition { path: String::new(), equals: None, contains: None };
    members(at, v, "RawCondition", &["path", "equals", "contains"], 0b1, &mut |i, at, v| {
        match i {
            0 => raw.path = string(at, v)?,
            1 => raw.equals = opt(at, v, any)?,
            _ => raw.contains = opt(at, v, any)?,
        }
        Ok(())
    })?;
    Ok(raw)
}

const REQUIREMENT_VARIANTS: [&str; 6] = ["provider", "any", "all", "allow_missing", "allow_missing_or_failed", "none"];

/// A requirement; its errors list the forms a requirement takes.
#[inline(never)]
fn requirement(at: &str, v: Value) -> R<RawRequirement> {
    requirement_forms(at, v).map_err(|mut e| {
        e.message = format!("{} ({REQUIREMENT_FORMS})", e.message);
        e
    })
}

fn requirement_forms(at: &str, v: Value) -> R<RawRequirement> {
    let (i, content, more) = variant(at, v, &REQUIREMENT_VARIANTS)?;
    let name = REQUIREMENT_VARIANTS.get(i).copied().unwrap_or_default();
    let raw = if i == 5 {
        unit_variant(at, name, content)?;
        RawRequirement::None
    } else {
        let content = newtype_variant(at, content)?;
        let inner = join(at, name);
        if i == 0 {
            RawRequirement::Provider(string(&inner, content)?)
        } else {
            let list = strings(&inner, content)?;
            match i {
                1 => RawRequirement::Any(list),
                2 => RawRequirement::All(list),
                3 => RawRequirement::AllowMissing(list),
                _ => RawRequirement::AllowMissingOrFailed(list),
            }
        }
    };
    one_member(at, more)?;
    Ok(raw)
}
