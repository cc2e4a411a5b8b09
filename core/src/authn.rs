//! The authenticator: one synchronous function from (config, request, keys, cache, now) to an
//! [`Outcome`]. It finds the rule, extracts tokens, picks the provider by `iss`, verifies the
//! signature with the key the `kid` names, checks claims, applies authorization, and renders
//! the upstream headers. The adapter only applies the outcome.

use crate::cache::{self, TokenCache, Verified};
use crate::claims::Times;
use crate::config::{Config, UnavailableMode};
use crate::crypto::{self, HostVerifier, Path};
use crate::error::{AuthError, Denial};
use crate::extract::{self, Found, RequestView, TokenSource};
use crate::jwk::KeySet;
use crate::jws;
use crate::policy::Authz;
use crate::rules::{is_cors_preflight, ProviderId, Requirement};
use crate::trace::{NoTrace, Observer, Step};
use std::rc::Rc;

/// A provider's keys as this worker sees them.
#[derive(Debug, Clone, Copy)]
pub enum Keys<'a> {
    /// Usable keys; `generation` changes whenever they do.
    Ready {
        /// The key set.
        set: &'a KeySet,
        /// Bumped on every change, so cached verifications from older keys are not used.
        generation: u64,
    },
    /// No usable keys (not fetched yet, or older than `max_stale`).
    Unavailable {
        /// Seconds until the next fetch attempt, for `Retry-After`.
        retry_after: u64,
    },
}

/// Where the authenticator gets keys.
pub trait KeyStore {
    /// The keys of a provider.
    fn keys(&self, provider: ProviderId) -> Keys<'_>;
}

/// The inline keys of a configuration: a [`KeyStore`] for tools, tests and fuzzing that run
/// the core without a JWKS lifecycle. Remote providers read as unavailable.
pub struct InlineKeys<'a>(pub &'a Config);

impl KeyStore for InlineKeys<'_> {
    fn keys(&self, p: ProviderId) -> Keys<'_> {
        match self.0.providers.get(p).map(|p| &p.keys) {
            Some(crate::config::KeySource::Inline(set)) => Keys::Ready { set, generation: 1 },
            _ => Keys::Unavailable { retry_after: 1 },
        }
    }
}

/// Everything [`authenticate`] needs besides the request.
pub struct Context<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The keys.
    pub keys: &'a dyn KeyStore,
    /// Envoy's signature verifier, when offered and allowed.
    pub host: Option<&'a dyn HostVerifier>,
    /// Current time, seconds since the epoch.
    pub now: u64,
}

/// A verified identity.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Which provider verified it.
    pub provider: ProviderId,
    /// Claims and rendered headers.
    pub verified: Rc<Verified>,
    /// How: from the cache, or by a signature check on a path.
    pub how: How,
}

/// How an identity was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// A cache hit.
    Cached,
    /// A signature check.
    Verified(Path),
}

/// Why a request passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pass {
    /// Verified token(s).
    Authenticated,
    /// A rule with requirement `none`.
    Public,
    /// A CORS preflight request.
    CorsPreflight,
    /// No token, and the rule allows that.
    MissingAllowed,
    /// The token failed, and the rule (`allow_missing_or_failed`) allows that.
    FailedAllowed(AuthError),
    /// Keys unavailable, treated as no token (`on_keys_unavailable: unauthenticated`).
    KeysUnavailableAllowed,
}

impl Pass {
    /// Stable snake_case name, used alike in counters (`jwt_filter.<reason>`, except
    /// `allowed`, counted per provider) and filter state (`jwt_filter.outcome`).
    pub fn reason(&self) -> &'static str {
        match self {
            Pass::Authenticated => "allowed",
            Pass::Public => "public",
            Pass::CorsPreflight => "cors_preflight",
            Pass::MissingAllowed => "missing_allowed",
            Pass::FailedAllowed(_) => "failed_allowed",
            Pass::KeysUnavailableAllowed => "keys_unavailable_allowed",
        }
    }

    /// Every reason a pass without a verified token can have, for defining counters.
    pub const UNVERIFIED: [&'static str; 5] =
        ["public", "cors_preflight", "missing_allowed", "failed_allowed", "keys_unavailable_allowed"];
}

/// The request goes upstream with these changes.
#[derive(Debug, Clone)]
pub struct Allow {
    /// Why it passed.
    pub pass: Pass,
    /// Verified identities (one, or several for `all`).
    pub identities: Vec<Identity>,
    /// Headers to add (the output of every identity).
    pub add_headers: Vec<(String, String)>,
    /// Token headers to remove (providers with `forward: false`).
    pub remove_headers: Vec<String>,
    /// New `:path` when a token came from a query parameter.
    pub new_path: Option<String>,
}

/// A refusal.
#[derive(Debug, Clone)]
pub struct Deny {
    /// The cause.
    pub error: AuthError,
    /// The provider it concerns, when known.
    pub provider: Option<ProviderId>,
    /// For keys-unavailable replies: seconds to put in `Retry-After`.
    pub retry_after: u64,
}

/// The result of [`authenticate`].
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Pass or refuse.
    pub decision: Result<Allow, Deny>,
    /// Providers whose key set lacked a `kid` a token named: the adapter may refetch and
    /// retry before applying the decision.
    pub kid_misses: Vec<ProviderId>,
}

struct Failure {
    error: AuthError,
    provider: Option<ProviderId>,
    retry_after: u64,
}

impl Failure {
    fn new(error: AuthError, provider: Option<ProviderId>) -> Self {
        Failure { error, provider, retry_after: 0 }
    }
}

struct Run<'c, 'r, O: Observer> {
    ctx: &'c Context<'c>,
    req: &'c RequestView<'r>,
    cache: &'c mut TokenCache,
    kid_misses: Vec<ProviderId>,
    obs: &'c mut O,
}

/// Decides a request.
pub fn authenticate(ctx: &Context<'_>, req: &RequestView<'_>, cache: &mut TokenCache) -> Outcome {
    authenticate_observed(ctx, req, cache, &mut NoTrace)
}

/// Decides a request, reporting each step to `obs` (`jwt-filter explain`).
pub fn authenticate_observed<O: Observer>(
    ctx: &Context<'_>,
    req: &RequestView<'_>,
    cache: &mut TokenCache,
    obs: &mut O,
) -> Outcome {
    let mut run = Run { ctx, req, cache, kid_misses: Vec::new(), obs };
    let decision = run.decide();
    Outcome { decision, kid_misses: run.kid_misses }
}

fn pass(pass: Pass) -> Allow {
    Allow { pass, identities: Vec::new(), add_headers: Vec::new(), remove_headers: Vec::new(), new_path: None }
}

impl<O: Observer> Run<'_, '_, O> {
    fn decide(&mut self) -> Result<Allow, Deny> {
        let cfg = self.ctx.config;
        if cfg.bypass_cors_preflight && is_cors_preflight(self.req) {
            self.obs.step(Step::CorsPreflight);
            return Ok(pass(Pass::CorsPreflight));
        }
        let (requirement, rule_authz) = cfg.route(self.req);
        self.obs.step(Step::Route { requirement, authz: rule_authz });
        let mut allow = pass(Pass::Authenticated);
        let result = match requirement {
            Requirement::None => return Ok(pass(Pass::Public)),
            Requirement::Any(ps) | Requirement::AllowMissing(ps) | Requirement::AllowMissingOrFailed(ps) => {
                self.one_of(ps, rule_authz, &mut allow)
            }
            Requirement::All(ps) => {
                // One method per request across every token the rule asks for.
                Self::extract(cfg, self.req, ps)
                    .and_then(|_| ps.iter().try_for_each(|p| self.one_of(&[*p], rule_authz, &mut allow)))
            }
        };
        let Err(f) = result else { return Ok(allow) };
        let unauth_ok = cfg.on_keys_unavailable == UnavailableMode::Unauthenticated;
        match (requirement, f.error.denial) {
            (Requirement::AllowMissing(_) | Requirement::AllowMissingOrFailed(_), Denial::Missing) => {
                Ok(pass(Pass::MissingAllowed))
            }
            (Requirement::AllowMissing(_) | Requirement::AllowMissingOrFailed(_), Denial::KeysUnavailable) if unauth_ok => {
                Ok(pass(Pass::KeysUnavailableAllowed))
            }
            (Requirement::AllowMissingOrFailed(_), _) => Ok(pass(Pass::FailedAllowed(f.error))),
            _ => Err(Deny { error: f.error, provider: f.provider, retry_after: f.retry_after }),
        }
    }

    /// The tokens in every source of `ps`. A source that holds something unusable refuses the
    /// request (RFC 6750 §2: a client uses one method, so the others must be empty), and so do
    /// tokens sent by more than one method, which would let one be checked while the upstream
    /// reads another.
    fn extract<'a>(cfg: &'a Config, req: &RequestView<'a>, ps: &[ProviderId]) -> Result<Vec<Found<'a>>, Failure> {
        let only = ps.first().copied().filter(|_| ps.len() == 1);
        let mut sources: Vec<&TokenSource> = Vec::new();
        for p in ps {
            for s in cfg.providers.get(*p).map(|p| p.sources.as_slice()).unwrap_or_default() {
                if !sources.contains(&s) {
                    sources.push(s);
                }
            }
        }
        let mut found: Vec<Found<'_>> = Vec::new();
        for s in sources {
            if let Some(f) = extract::find(req, s).map_err(|e| Failure::new(e, only))? {
                found.push(f);
            }
        }
        if let Some(f) = found.first() {
            let first = f.source.method();
            if let Some(other) = found.iter().find(|f| f.source.method() != first) {
                let detail = format!("tokens by {first:?} and {:?}", other.source.method());
                return Err(Failure::new(AuthError::with(Denial::MultipleSources, detail), only));
            }
        }
        Ok(found)
    }

    /// A valid token from one of `ps`, checked against the rule's authorization.
    fn one_of(&mut self, ps: &[ProviderId], rule_authz: Option<&Authz>, allow: &mut Allow) -> Result<(), Failure> {
        let cfg = self.ctx.config;
        let found = match Self::extract(cfg, self.req, ps) {
            Ok(found) => found,
            Err(f) => {
                self.obs.step(Step::Refused { error: &f.error });
                return Err(f);
            }
        };
        for f in &found {
            self.obs.step(Step::Found { source: f.source, bytes: f.token.len() });
        }
        let mut first_err: Option<Failure> = None;
        for f in &found {
            let candidates: Vec<ProviderId> =
                ps.iter().copied().filter(|p| cfg.providers.get(*p).is_some_and(|pr| pr.sources.contains(f.source))).collect();
            match self.verify_token(f.token, &candidates) {
                Ok((identity, user)) => {
                    let provider = cfg.providers.get(identity.provider);
                    if let Some(authz) = rule_authz {
                        self.authz(identity.provider, true, authz, &identity.verified.claims)?;
                    }
                    if let Some(provider) = provider {
                        match f.source {
                            TokenSource::Header { name, .. } if !provider.forward => allow.remove_headers.push(name.clone()),
                            TokenSource::Param(name) => {
                                let base = allow.new_path.as_deref().unwrap_or(self.req.path);
                                allow.new_path = Some(extract::remove_param(base, name));
                            }
                            _ => {}
                        }
                    }
                    allow.add_headers.extend(user);
                    allow.add_headers.extend(identity.verified.headers.iter().cloned());
                    allow.identities.push(identity);
                    return Ok(());
                }
                Err(f) => {
                    // The first failure, unless it is only that a token came from an issuer
                    // these providers do not take (a token meant for another provider of an
                    // `all` rule, in a header both read): the failure of a token they do take
                    // says more, and keys-unavailable must come through, so that the worker
                    // re-reads its keys before answering.
                    let better = first_err
                        .as_ref()
                        .is_none_or(|e| e.error.denial == Denial::UnknownIssuer && f.error.denial != Denial::UnknownIssuer);
                    if better {
                        first_err = Some(f);
                    }
                }
            }
        }
        Err(first_err.unwrap_or_else(|| Failure::new(Denial::Missing.into(), ps.first().copied().filter(|_| ps.len() == 1))))
    }

    /// A verified identity, and its user header when that is the token's payload (not among
    /// the identity's rendered headers).
    fn verify_token(&mut self, token: &str, candidates: &[ProviderId]) -> Result<(Identity, Option<(String, String)>), Failure> {
        let cfg = self.ctx.config;
        let now = self.ctx.now;
        if token.len() > cfg.max_token_bytes {
            let error = AuthError::with(Denial::TooLarge, format!("{} bytes > {}", token.len(), cfg.max_token_bytes));
            self.obs.step(Step::Refused { error: &error });
            return Err(Failure::new(error, None));
        }
        let fp = self.cache.enabled().then(|| cache::fingerprint(token));
        if let Some(fp) = &fp {
            for p in candidates {
                let Some(provider) = cfg.providers.get(*p) else { continue };
                let Keys::Ready { generation, .. } = self.ctx.keys.keys(*p) else { continue };
                if let Some(v) = self.cache.get(*p, fp, generation, now) {
                    self.obs.step(Step::CacheHit { provider: *p });
                    v.times.check(now, provider.claims.clock_skew).map_err(|e| Failure::new(e, Some(*p)))?;
                    self.authz(*p, false, &provider.authz, &v.claims)?;
                    let user = if v.user_from_payload { provider.output.user_from_token(token) } else { None };
                    return Ok((Identity { provider: *p, verified: v, how: How::Cached }, user));
                }
            }
        }
        let jws = match jws::parse(token, cfg.max_token_bytes) {
            Ok(jws) => jws,
            Err(error) => {
                self.obs.step(Step::Refused { error: &error });
                return Err(Failure::new(error, None));
            }
        };
        self.obs.step(Step::Parsed { alg: jws.header.alg, kid: jws.header.kid.as_deref(), claims: &jws.claims });
        let iss = jws::issuer(&jws.claims);
        let matching: Vec<ProviderId> = candidates
            .iter()
            .copied()
            .filter(|p| cfg.providers.get(*p).is_some_and(|pr| Some(pr.claims.issuer.as_str()) == iss))
            .collect();
        self.obs.step(Step::Issuer { candidates, matching: &matching });
        if matching.is_empty() {
            let known = cfg.providers.iter().any(|pr| Some(pr.claims.issuer.as_str()) == iss);
            let detail = match (iss, known) {
                (None, _) => "no iss claim".to_string(),
                (Some(i), true) => format!("issuer {i:?} not accepted on this route"),
                (Some(i), false) => format!("unknown issuer {i:?}"),
            };
            let error = AuthError::with(Denial::UnknownIssuer, detail);
            self.obs.step(Step::Refused { error: &error });
            return Err(Failure::new(error, None));
        }
        let mut first_err: Option<Failure> = None;
        for p in matching {
            match self.verify_with(p, &jws, fp.as_ref(), now) {
                Ok(identity) => return Ok(identity),
                Err(f) => {
                    first_err.get_or_insert(f);
                }
            }
        }
        Err(first_err.unwrap_or_else(|| Failure::new(Denial::UnknownIssuer.into(), None)))
    }

    fn verify_with(
        &mut self,
        p: ProviderId,
        jws: &jws::Jws<'_>,
        fp: Option<&cache::Fingerprint>,
        now: u64,
    ) -> Result<(Identity, Option<(String, String)>), Failure> {
        let cfg = self.ctx.config;
        let Some(provider) = cfg.providers.get(p) else {
            return Err(Failure::new(Denial::UnknownIssuer.into(), None));
        };
        let (set, generation) = match self.ctx.keys.keys(p) {
            Keys::Ready { set, generation } => (set, generation),
            Keys::Unavailable { retry_after } => {
                self.obs.step(Step::KeysUnavailable { provider: p, retry_after });
                return Err(Failure { error: Denial::KeysUnavailable.into(), provider: Some(p), retry_after });
            }
        };
        let alg = jws.header.alg;
        let kid = jws.header.kid.as_deref();
        // One signature check per token and provider, whatever the key set holds: a `kid`
        // names one key (the first that allows the alg, if the JWKS repeats a kid), and a token
        // without `kid` is checked only when a single key allows its alg.
        let mut keys = set.candidates(kid, alg);
        let key = keys.next();
        if kid.is_none() && key.is_some() && keys.next().is_some() {
            let detail = format!("no kid, and several keys allow alg {}", alg.name());
            let error = AuthError::with(Denial::KidRequired, detail);
            self.obs.step(Step::NoKey { provider: p, error: &error });
            return Err(Failure::new(error, Some(p)));
        }
        let tried = key.is_some();
        let checked = key.map(|key| {
            crypto::check(alg, &key.material, key.spki.as_deref(), jws.signing_input.as_bytes(), &jws.signature, self.ctx.host)
        });
        let path = checked.and_then(crypto::Checked::path);
        if let Some(key) = key {
            self.obs.step(Step::Signature { provider: p, key, path });
        }
        let Some(path) = path else {
            let err = match kid {
                _ if checked == Some(crypto::Checked::NoVerifier) => AuthError::with(
                    Denial::NoVerifier,
                    format!(
                        "{} needs Envoy's verify_signature, which did not answer; this build has no pure-Rust ECDSA",
                        alg.name()
                    ),
                ),
                _ if tried => AuthError::new(Denial::BadSignature),
                Some(k) if !set.has_kid(k) => {
                    if !self.kid_misses.contains(&p) {
                        self.kid_misses.push(p);
                    }
                    AuthError::with(Denial::UnknownKid, format!("kid {k:?}"))
                }
                _ => AuthError::with(Denial::KeyMismatch, format!("no key for alg {}", alg.name())),
            };
            self.obs.step(Step::NoKey { provider: p, error: &err });
            return Err(Failure::new(err, Some(p)));
        };
        let checked = provider.claims.check(&jws.claims, now);
        self.obs.step(Step::Claims { provider: p, result: checked.as_ref() });
        let times: Times = checked.map_err(|e| Failure::new(e, Some(p)))?;
        // Headers are rendered from every claim; only the claims read later are kept, alike
        // for this request and the cached ones.
        let user = provider.output.user_from_payload(&jws.payload);
        let verified = Rc::new(Verified {
            headers: provider.output.headers(&jws.claims, jws.payload_b64, user.is_none()),
            user_from_payload: user.is_some(),
            claims: cfg.kept_claims.filter(&jws.claims),
            times,
        });
        if let Some(fp) = fp {
            self.cache.insert(p, fp, generation, now, provider.claims.clock_skew, verified.clone());
        }
        self.authz(p, false, &provider.authz, &verified.claims)?;
        Ok((Identity { provider: p, verified, how: How::Verified(path) }, user))
    }

    fn authz(&mut self, p: ProviderId, rule: bool, authz: &Authz, claims: &dyn crate::policy::Claims) -> Result<(), Failure> {
        let result = authz.check(claims);
        self.obs.step(Step::Authz { provider: p, rule, authz, result: result.as_ref().copied() });
        result.map_err(|e| Failure::new(e, Some(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::{json, Value};

    const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool";
    const AUTH0: &str = "https://tenant.auth0.com/";

    struct Store {
        sets: Vec<Option<KeySet>>,
        generation: u64,
    }

    impl KeyStore for Store {
        fn keys(&self, p: ProviderId) -> Keys<'_> {
            match self.sets.get(p).and_then(Option::as_ref) {
                Some(set) => Keys::Ready { set, generation: self.generation },
                None => Keys::Unavailable { retry_after: 5 },
            }
        }
    }

    fn set(keys: &[&testkit::TestKey]) -> KeySet {
        KeySet::parse(testkit::jwks(keys).to_string().as_bytes()).unwrap()
    }

    fn config(extra: Value) -> Config {
        let mut v = json!({
            "providers": {
                "auth0": {"issuer": AUTH0, "audiences": ["api"], "jwks": {"cluster": "auth0", "path": "/.well-known/jwks.json"},
                          "from_params": ["access_token"], "forward": false},
                "cognito": {"cognito": {"region": "us-east-1", "user_pool_id": "us-east-1_Pool", "token_use": "access", "client_ids": ["app"]},
                            "jwks": {"cluster": "cognito"}}
            }
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                o.insert(k.clone(), x.clone());
            }
        }
        Config::parse(v.to_string().as_bytes()).unwrap()
    }

    struct T {
        cfg: Config,
        store: Store,
        cache: TokenCache,
    }

    impl T {
        fn new(extra: Value) -> T {
            let cfg = config(extra);
            let store = Store { sets: vec![Some(set(&[&testkit::rsa_b()])), Some(set(&[&testkit::rsa_a()]))], generation: 1 };
            T { cfg, store, cache: TokenCache::new(100, 1 << 20) }
        }

        fn run(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Outcome {
            let hs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
            let req = RequestView { method, path, headers: &hs };
            let ctx = Context { config: &self.cfg, keys: &self.store, host: None, now: testkit::now() };
            authenticate(&ctx, &req, &mut self.cache)
        }

        fn bearer(&mut self, path: &str, token: &str) -> Outcome {
            self.run("GET", path, &[("authorization", &format!("Bearer {token}"))])
        }
    }

    fn access() -> Value {
        testkit::cognito_access(ISS, "app", "andrew")
    }

    fn denial(o: &Outcome) -> Denial {
        o.decision.as_ref().err().map(|d| d.error.denial).expect("denied")
    }

    #[test]
    fn valid_cognito_token_passes_with_json_claims_and_is_cached() {
        let mut t = T::new(json!({}));
        let tok = testkit::rsa_a().token(&access());
        let o = t.bearer("/api", &tok);
        let allow = o.decision.unwrap();
        assert_eq!(allow.pass, Pass::Authenticated);
        assert_eq!(allow.identities[0].provider, 1);
        assert_eq!(allow.identities[0].how, How::Verified(Path::PureRust));
        let (name, value) = &allow.add_headers[0];
        assert_eq!(name, "x-current-user");
        let user: Value = serde_json::from_str(value).unwrap();
        assert_eq!(user["username"], "andrew");
        let again = t.bearer("/api", &tok).decision.unwrap();
        assert_eq!(again.identities[0].how, How::Cached);
        assert_eq!(again.add_headers, allow.add_headers);
    }

    #[test]
    fn the_user_header_is_the_payload_as_signed_when_compact_else_rendered() {
        let key = testkit::rsa_a();
        let header = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, key.kid);
        let claims = access();
        // Issuer order (not sorted), an escape kept as written.
        let mut compact = String::from("{");
        for (i, (k, v)) in claims.as_object().unwrap().iter().rev().enumerate() {
            compact += &format!("{}{}:{}", if i > 0 { "," } else { "" }, Value::from(k.as_str()), v);
        }
        compact = compact.replacen("andrew", "andr\\u0065w", 1) + "}";
        let spaced = serde_json::to_string_pretty(&claims).unwrap();
        for (payload, want) in [(compact.clone(), compact.clone()), (spaced, serde_json::to_string(&claims).unwrap())] {
            let mut t = T::new(json!({}));
            let tok = key.token_raw("RS256", header.as_bytes(), payload.as_bytes());
            let miss = t.bearer("/", &tok).decision.unwrap();
            let hit = t.bearer("/", &tok).decision.unwrap();
            assert_eq!(hit.identities[0].how, How::Cached);
            assert_eq!(miss.add_headers, vec![("x-current-user".to_string(), want.clone())], "{payload}");
            assert_eq!(hit.add_headers, miss.add_headers);
            let user: Value = serde_json::from_str(&want).unwrap();
            assert_eq!(user["username"], "andrew");
        }
        // The cached entry does not keep a copy of the payload.
        let mut t = T::new(json!({}));
        let tok = key.token_raw("RS256", header.as_bytes(), compact.as_bytes());
        t.bearer("/", &tok).decision.unwrap();
        assert!(t.cache.bytes() < tok.len() + compact.len(), "{} bytes", t.cache.bytes());
    }

    #[test]
    fn independent_signer_is_accepted() {
        let mut t = T::new(json!({}));
        let tok = testkit::rsa_a().token_by_jwt_simple(&access());
        assert!(t.bearer("/", &tok).decision.is_ok());
    }

    #[test]
    fn key_change_invalidates_cache() {
        let mut t = T::new(json!({}));
        let tok = testkit::rsa_a().token(&access());
        assert!(t.bearer("/", &tok).decision.is_ok());
        t.store.sets[1] = Some(set(&[&testkit::rsa_b()]));
        t.store.generation = 2;
        let o = t.bearer("/", &tok);
        assert_eq!(denial(&o), Denial::UnknownKid);
        assert_eq!(o.kid_misses, vec![1]);
    }

    #[test]
    fn refusals() {
        let mut t = T::new(json!({}));
        assert_eq!(denial(&t.run("GET", "/", &[])), Denial::Missing);
        assert_eq!(denial(&t.bearer("/", "garbage")), Denial::Malformed);
        let mut c = access();
        c["exp"] = json!(testkit::now() - 3600);
        assert_eq!(denial(&t.bearer("/", &testkit::rsa_a().token(&c))), Denial::Expired);
        let mut c = access();
        c["nbf"] = json!(testkit::now() + 3600);
        assert_eq!(denial(&t.bearer("/", &testkit::rsa_a().token(&c))), Denial::NotYetValid);
        let mut c = access();
        c["iss"] = json!("https://evil");
        assert_eq!(denial(&t.bearer("/", &testkit::rsa_a().token(&c))), Denial::UnknownIssuer);
        let mut c = access();
        c["client_id"] = json!("other");
        assert_eq!(denial(&t.bearer("/", &testkit::rsa_a().token(&c))), Denial::ClientId);
        let id = testkit::cognito_id(ISS, "app", "andrew");
        assert_eq!(denial(&t.bearer("/", &testkit::rsa_a().token(&id))), Denial::TokenUse);
        let forged = testkit::rsa_b().with_kid("rsa-a").token(&access());
        assert_eq!(denial(&t.bearer("/", &forged)), Denial::BadSignature);
        let o = t.bearer("/", &testkit::rsa_b().with_kid("new").token(&access()));
        assert_eq!(denial(&o), Denial::UnknownKid);
        assert_eq!(o.kid_misses, vec![1]);
        let es = testkit::p256().with_kid("rsa-a").token(&access());
        assert_eq!(denial(&t.bearer("/", &es)), Denial::KeyMismatch);
    }

    #[test]
    fn a_token_without_kid_needs_a_single_key_for_its_alg() {
        let no_kid = |key: &testkit::TestKey| key.token_with_header(&json!({"alg": key.alg, "typ": "JWT"}), &access());
        let mut t = T::new(json!({}));
        assert!(t.bearer("/", &no_kid(&testkit::rsa_a())).decision.is_ok(), "one key in the set");
        assert_eq!(denial(&t.bearer("/", &no_kid(&testkit::rsa_b()))), Denial::BadSignature);
        // Two keys allow RS256: refused before any signature check, whichever key signed it.
        t.store.sets[1] = Some(set(&[&testkit::rsa_b(), &testkit::rsa_a()]));
        t.store.generation = 2;
        let o = t.bearer("/", &no_kid(&testkit::rsa_a()));
        assert_eq!(denial(&o), Denial::KidRequired);
        assert!(o.kid_misses.is_empty(), "no refetch for a missing kid");
        assert!(t.bearer("/", &testkit::rsa_a().token(&access())).decision.is_ok(), "with kid it passes");
        // Only one key allows ES256 in a mixed set: the token is checked against it.
        t.store.sets[1] = Some(set(&[&testkit::rsa_a(), &testkit::rsa_b(), &testkit::p256()]));
        t.store.generation = 3;
        assert!(t.bearer("/", &no_kid(&testkit::p256())).decision.is_ok());
        assert_eq!(denial(&t.bearer("/", &no_kid(&testkit::rsa_a()))), Denial::KidRequired);
        // No key for the alg at all stays a key mismatch.
        assert_eq!(denial(&t.bearer("/", &no_kid(&testkit::ed25519()))), Denial::KeyMismatch);
    }

    #[test]
    fn a_repeated_kid_names_the_first_key() {
        let mut t = T::new(json!({}));
        // Both keys published as "rsa-a": the first one in document order is the key.
        t.store.sets[1] = Some(set(&[&testkit::rsa_b().with_kid("rsa-a"), &testkit::rsa_a()]));
        assert_eq!(denial(&t.bearer("/", &testkit::rsa_a().token(&access()))), Denial::BadSignature);
        assert!(t.bearer("/", &testkit::rsa_b().with_kid("rsa-a").token(&access())).decision.is_ok());
        // A key that cannot take the alg is passed over: the first key with that kid that can.
        t.store.sets[1] = Some(set(&[&testkit::p256().with_kid("rsa-a"), &testkit::rsa_a()]));
        t.store.generation = 2;
        assert!(t.bearer("/", &testkit::rsa_a().token(&access())).decision.is_ok());
    }

    #[test]
    fn issuer_selects_the_provider() {
        let mut t = T::new(json!({}));
        let c = json!({"iss": AUTH0, "aud": "api", "sub": "auth0|1", "exp": testkit::now() + 60});
        let allow = t.bearer("/", &testkit::rsa_b().token(&c)).decision.unwrap();
        assert_eq!(allow.identities[0].provider, 0);
        assert_eq!(allow.remove_headers, vec!["authorization"], "auth0 has forward: false");
        let allow = t.run("GET", "/x?a=1&access_token=".to_string().as_str(), &[]);
        assert_eq!(denial(&allow), Denial::Malformed);
        let tok = testkit::rsa_b().token(&c);
        let path = format!("/x?a=1&access_token={tok}");
        let allow = t.run("GET", &path, &[]).decision.unwrap();
        assert_eq!(allow.new_path.as_deref(), Some("/x?a=1"));
    }

    #[test]
    fn rules_allow_missing_failed_none_and_all() {
        let mut t = T::new(json!({
            "rules": [
                {"match": {"prefix": "/public"}, "requires": "none"},
                {"match": {"prefix": "/feed"}, "requires": {"allow_missing": ["cognito"]}},
                {"match": {"prefix": "/soft"}, "requires": {"allow_missing_or_failed": ["cognito"]}},
                {"match": {"prefix": "/both"}, "requires": {"all": ["auth0", "cognito"]}},
                {"match": {"prefix": "/admin"}, "requires": {"provider": "cognito"}, "groups": ["admin"]}
            ]
        }));
        assert_eq!(t.run("GET", "/public/x", &[]).decision.unwrap().pass, Pass::Public);
        assert_eq!(t.run("GET", "/feed", &[]).decision.unwrap().pass, Pass::MissingAllowed);
        assert_eq!(denial(&t.bearer("/feed", "garbage")), Denial::Malformed);
        assert!(matches!(t.bearer("/soft", "garbage").decision.unwrap().pass, Pass::FailedAllowed(_)));
        let tok = testkit::rsa_a().token(&access());
        assert_eq!(t.bearer("/soft", &tok).decision.unwrap().pass, Pass::Authenticated);
        assert_eq!(denial(&t.bearer("/admin", &tok)), Denial::Group);
        let mut admin = access();
        admin["cognito:groups"] = json!(["admin"]);
        assert!(t.bearer("/admin", &testkit::rsa_a().token(&admin)).decision.is_ok());
        assert_eq!(denial(&t.bearer("/both", &tok)), Denial::UnknownIssuer, "the auth0 half sees a Cognito token");
        let a0 = testkit::rsa_b().token(&json!({"iss": AUTH0, "aud": ["api"], "exp": testkit::now() + 60}));
        let path = format!("/both?access_token={a0}");
        let o = t.run("GET", &path, &[("authorization", &format!("Bearer {tok}"))]);
        assert_eq!(denial(&o), Denial::MultipleSources, "RFC 6750 §2: one method per request, even for `all`");
        let mut t = T::new(json!({
            "rules": [{"match": {"prefix": "/both"}, "requires": {"all": ["auth0", "cognito"]}}]
        }));
        t.cfg.providers[0].sources = vec![TokenSource::Header { name: "x-auth0".into(), prefix: String::new() }];
        let allow = t.run("GET", "/both", &[("authorization", &format!("Bearer {tok}")), ("x-auth0", &a0)]).decision.unwrap();
        assert_eq!(allow.identities.len(), 2, "two headers are one method");
        // auth0 reads the Authorization header too, so its half meets the Cognito token first:
        // with auth0's keys not there yet, the answer is keys-unavailable (the worker re-reads
        // its keys and tries again), not "issuer not accepted" from the other token.
        t.cfg.providers[0].sources.insert(0, TokenSource::bearer());
        let both = [("authorization", format!("Bearer {tok}")), ("x-auth0", a0.clone())];
        let hs: Vec<(&str, &str)> = both.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(t.run("GET", "/both", &hs).decision.unwrap().identities.len(), 2);
        t.store.sets[0] = None;
        assert_eq!(denial(&t.run("GET", "/both", &hs)), Denial::KeysUnavailable);
    }

    #[test]
    fn a_token_by_more_than_one_method_is_a_bad_request() {
        let mut t = T::new(json!({}));
        t.cfg.providers[1].sources.push(TokenSource::Cookie("id_token".into()));
        let c = json!({"iss": AUTH0, "aud": "api", "sub": "auth0|1", "exp": testkit::now() + 60});
        let a0 = testkit::rsa_b().token(&c);
        let cg = testkit::rsa_a().token(&access());
        let bearer = format!("Bearer {a0}");
        let cookie = format!("id_token={cg}");
        let query = format!("/x?access_token={a0}");
        // auth0 reads the header and the query; cognito the header and the cookie.
        assert_eq!(denial(&t.run("GET", &query, &[("authorization", &bearer)])), Denial::MultipleSources);
        assert_eq!(denial(&t.run("GET", "/x", &[("authorization", &bearer), ("cookie", &cookie)])), Denial::MultipleSources);
        assert_eq!(denial(&t.run("GET", &query, &[("cookie", &cookie)])), Denial::MultipleSources);
        // The same token twice is still two methods.
        assert_eq!(
            denial(&t.run("GET", &format!("/x?access_token={a0}"), &[("authorization", &bearer)])),
            Denial::MultipleSources
        );
        // One method at a time passes.
        assert!(t.run("GET", &query, &[]).decision.is_ok());
        assert!(t.run("GET", "/x", &[("cookie", &cookie)]).decision.is_ok());
        assert!(t.run("GET", "/x", &[("authorization", &bearer)]).decision.is_ok());
        // A decoded name counts: `access%5Ftoken` is the same parameter, and removed upstream.
        let allow = t.run("GET", &format!("/x?access%5Ftoken={a0}&y=1"), &[]).decision.unwrap();
        assert_eq!(allow.new_path.as_deref(), Some("/x?y=1"));
        assert_eq!(denial(&t.run("GET", &format!("/x?access_token={a0}&access%5Ftoken=B"), &[])), Denial::Ambiguous);
        assert_eq!(denial(&t.run("GET", &format!("/x?bad%zz=1&access_token={a0}"), &[])), Denial::MalformedQuery);
        // A cookie header that is not UTF-8 is refused, even beside a good bearer token.
        let hs: Vec<(&str, &[u8])> = vec![("authorization", bearer.as_bytes()), ("cookie", b"a=\xff")];
        let req = RequestView { method: "GET", path: "/x", headers: &hs };
        let ctx = Context { config: &t.cfg, keys: &t.store, host: None, now: testkit::now() };
        let o = authenticate(&ctx, &req, &mut t.cache);
        assert_eq!(denial(&o), Denial::Malformed);
        // A source that only some other route's provider reads does not count.
        let mut t = T::new(json!({"rules": [{"match": {"prefix": "/c"}, "requires": {"provider": "cognito"}}]}));
        let bearer = format!("Bearer {cg}");
        assert!(t.run("GET", &format!("/c?access_token={a0}"), &[("authorization", &bearer)]).decision.is_ok());
    }

    #[test]
    fn cors_preflight_bypass_can_be_turned_off() {
        let pre = [("origin", "https://app"), ("access-control-request-method", "GET")];
        let mut t = T::new(json!({}));
        assert_eq!(t.run("OPTIONS", "/api", &pre).decision.unwrap().pass, Pass::CorsPreflight);
        let mut t = T::new(json!({"bypass_cors_preflight": false}));
        assert_eq!(denial(&t.run("OPTIONS", "/api", &pre)), Denial::Missing);
    }

    #[test]
    fn keys_unavailable_modes() {
        let rules = json!([{"match": {"prefix": "/feed"}, "requires": {"allow_missing": ["cognito"]}}]);
        let tok = testkit::rsa_a().token(&access());
        let mut t = T::new(json!({"rules": rules}));
        t.store.sets[1] = None;
        let o = t.bearer("/", &tok);
        let d = o.decision.unwrap_err();
        assert_eq!((d.error.denial, d.retry_after), (Denial::KeysUnavailable, 5));
        assert_eq!(denial(&t.bearer("/feed", &tok)), Denial::KeysUnavailable);
        let mut t = T::new(json!({"rules": rules, "on_keys_unavailable": "unauthenticated"}));
        t.store.sets[1] = None;
        assert_eq!(t.bearer("/feed", &tok).decision.unwrap().pass, Pass::KeysUnavailableAllowed);
        assert_eq!(denial(&t.bearer("/", &tok)), Denial::KeysUnavailable);
    }

    #[derive(Default)]
    struct Names(Vec<String>);

    impl Observer for Names {
        fn step(&mut self, step: Step<'_>) {
            let name = match step {
                Step::CorsPreflight => "preflight".to_string(),
                Step::Route { .. } => "route".into(),
                Step::Found { .. } => "found".into(),
                Step::CacheHit { .. } => "cache_hit".into(),
                Step::Parsed { .. } => "parsed".into(),
                Step::Refused { error } => format!("refused:{}", error.denial),
                Step::Issuer { matching, .. } => format!("issuer:{matching:?}"),
                Step::KeysUnavailable { .. } => "keys_unavailable".into(),
                Step::Signature { path, .. } => format!("signature:{path:?}"),
                Step::NoKey { error, .. } => format!("no_key:{}", error.denial),
                Step::Claims { result, .. } => format!("claims:{}", result.err().map_or("ok".into(), |e| e.denial.to_string())),
                Step::Authz { rule, result, .. } => format!("authz:{rule}:{}", result.is_ok()),
            };
            self.0.push(name);
        }
    }

    #[test]
    fn observer_sees_each_step_and_the_same_decision() {
        let mut t = T::new(json!({}));
        let tok = testkit::rsa_a().token(&access());
        let bearer = format!("Bearer {tok}");
        let hs: Vec<(&str, &[u8])> = vec![("authorization", bearer.as_bytes())];
        let req = RequestView { method: "GET", path: "/", headers: &hs };
        let ctx = Context { config: &t.cfg, keys: &t.store, host: None, now: testkit::now() };
        let mut names = Names::default();
        let o = authenticate_observed(&ctx, &req, &mut TokenCache::new(0, 0), &mut names);
        assert!(o.decision.is_ok());
        assert_eq!(
            names.0,
            ["route", "found", "parsed", "issuer:[1]", "signature:Some(PureRust)", "claims:ok", "authz:false:true"]
        );
        let mut c = access();
        c["exp"] = json!(testkit::now() - 3600);
        let expired = format!("Bearer {}", testkit::rsa_a().token(&c));
        let hs: Vec<(&str, &[u8])> = vec![("authorization", expired.as_bytes())];
        let req = RequestView { method: "GET", path: "/", headers: &hs };
        let mut names = Names::default();
        let o = authenticate_observed(&ctx, &req, &mut TokenCache::new(0, 0), &mut names);
        assert_eq!(denial(&o), Denial::Expired);
        assert_eq!(names.0.last().map(String::as_str), Some("claims:expired"));
        let o2 = t.bearer("/", &testkit::rsa_a().token(&c));
        assert_eq!(denial(&o2), Denial::Expired, "the unobserved path decides the same");
    }

    #[test]
    fn cached_tokens_are_rechecked_for_expiry() {
        let mut t = T::new(json!({}));
        let mut c = access();
        c["exp"] = json!(testkit::now() + 1);
        let tok = testkit::rsa_a().token(&c);
        assert!(t.bearer("/", &tok).decision.is_ok());
        // Clock skew of 60 s keeps it valid; with skew 0 it would expire. Check the entry expiry
        // bound: the cache never outlives exp + skew.
        let ctx_now = testkit::now() + 62;
        assert!(t.cache.get(1, &crate::cache::fingerprint(&tok), 1, ctx_now).is_none());
    }

    #[test]
    fn only_the_claims_read_later_are_kept_alike_on_a_miss_and_a_hit() {
        let mut t = T::new(json!({
            "filter_state": true,
            "rules": [{"match": {"prefix": "/org"}, "requires": {"provider": "cognito"},
                       "claims": [{"path": "org.team.id", "equals": 7}, {"path": "https://x.io/roles", "contains": "r"}]}]
        }));
        let mut c = access();
        c["org"] = json!({"team": {"id": 7}});
        c["https://x.io/roles"] = json!(["r"]);
        c["unread"] = json!("nobody reads this");
        let tok = testkit::rsa_a().token(&c);
        let first = t.bearer("/org", &tok).decision.unwrap();
        let hit = t.bearer("/org", &tok).decision.unwrap();
        assert_eq!(first.identities[0].how, How::Verified(Path::PureRust));
        assert_eq!(hit.identities[0].how, How::Cached, "the dotted-path condition holds on a cache hit");
        let kept = json!({"org": {"team": {"id": 7}}, "https://x.io/roles": ["r"], "sub": c["sub"], "iss": ISS});
        for allow in [&first, &hit] {
            assert_eq!(
                crate::json::bridge::to_serde(&crate::json::Value::Object(allow.identities[0].verified.claims.to_map())),
                kept,
                "one behaviour"
            );
            let user: Value = serde_json::from_str(&allow.add_headers[0].1).unwrap();
            assert_eq!(user, c, "the user header still holds every claim");
        }
        let mut other = c.clone();
        other["org"] = json!({"team": {"id": 8}});
        other["jti"] = json!("other");
        let other = testkit::rsa_a().token(&other);
        assert!(t.bearer("/", &other).decision.is_ok(), "cached where no rule checks it");
        let hits = t.cache.stats.hits;
        assert_eq!(denial(&t.bearer("/org", &other)), Denial::Claim, "and refused from the cache where one does");
        assert_eq!(t.cache.stats.hits, hits + 1);
        let mut t = T::new(json!({}));
        assert!(t.bearer("/", &tok).decision.unwrap().identities[0].verified.claims.is_empty(), "nothing reads claims");
    }
}
