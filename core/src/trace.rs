//! What the authenticator reports while it decides, for `jwt-filter explain`. The filter runs
//! [`crate::authn::authenticate`], which passes [`NoTrace`]: its `step` is empty and inlined, so
//! the decision code compiles to the same thing as without hooks. The CLI passes a recorder to
//! [`crate::authn::authenticate_observed`] and so explains the very decision the filter makes.
//!
//! Steps borrow from the request and the config; none carries the token itself.

use crate::claims::Times;
use crate::crypto::Path;
use crate::error::AuthError;
use crate::extract::TokenSource;
use crate::json::Map;
use crate::jwk::Jwk;
use crate::jws::Alg;
use crate::policy::Authz;
use crate::rules::{ProviderId, Requirement};

/// One step of a decision.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// A CORS preflight request, let through untouched.
    CorsPreflight,
    /// The requirement that applies, and the rule's authorization checks (`None`: no rule
    /// matched, the default requirement applies).
    Route {
        /// What the request needs.
        requirement: &'a Requirement,
        /// The matched rule's 403 checks.
        authz: Option<&'a Authz>,
    },
    /// A token found in a request.
    Found {
        /// Where.
        source: &'a TokenSource,
        /// Its length in bytes.
        bytes: usize,
    },
    /// A verified token served from the cache.
    CacheHit {
        /// The provider it was verified for.
        provider: ProviderId,
    },
    /// The token's header and claims, parsed (signature not yet checked).
    Parsed {
        /// `alg`.
        alg: Alg,
        /// `kid`, if any.
        kid: Option<&'a str>,
        /// The claims.
        claims: &'a Map,
    },
    /// The request or token could not be used before any key was tried (a source holding
    /// something unusable, tokens by several methods, size, structure, issuer).
    Refused {
        /// Why.
        error: &'a AuthError,
    },
    /// The providers whose issuer is the token's `iss`, among those the route accepts.
    Issuer {
        /// Providers the route accepts for this token source.
        candidates: &'a [ProviderId],
        /// Those whose issuer matches.
        matching: &'a [ProviderId],
    },
    /// A provider has no usable keys.
    KeysUnavailable {
        /// The provider.
        provider: ProviderId,
        /// Seconds until the next fetch attempt.
        retry_after: u64,
    },
    /// A key tried against the signature.
    Signature {
        /// The provider.
        provider: ProviderId,
        /// The key.
        key: &'a Jwk,
        /// `Some(path)` when it verified, `None` when it did not.
        path: Option<Path>,
    },
    /// No key verified the signature.
    NoKey {
        /// The provider.
        provider: ProviderId,
        /// Why (bad signature, unknown kid, algorithm mismatch).
        error: &'a AuthError,
    },
    /// The claim checks of a provider (issuer, times, audience, Cognito).
    Claims {
        /// The provider.
        provider: ProviderId,
        /// The time claims, or the first failed check.
        result: Result<&'a Times, &'a AuthError>,
    },
    /// Authorization checks (403).
    Authz {
        /// The provider.
        provider: ProviderId,
        /// The rule's checks (`true`) or the provider's (`false`).
        rule: bool,
        /// The checks.
        authz: &'a Authz,
        /// Their result.
        result: Result<(), &'a AuthError>,
    },
}

/// Receives the steps of a decision.
pub trait Observer {
    /// Called at each step, in order.
    fn step(&mut self, step: Step<'_>);
}

/// The observer of the filter: ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTrace;

impl Observer for NoTrace {
    #[inline(always)]
    fn step(&mut self, _: Step<'_>) {}
}
