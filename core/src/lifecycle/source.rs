//! What one participant knows of a JWKS source: the keys it serves, their generation, the
//! fetch it has in flight, and what it last read of the shared schedule.

use crate::config::RemoteJwks;
use crate::jwk::KeySet;
use crate::shared;
use std::rc::Rc;

/// What a fetch asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// The OIDC discovery document (the JWKS request follows).
    Discovery,
    /// The JWKS.
    Jwks,
}

/// Why a fetch started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The schedule: first fetch, refresh interval, or retry after a failure.
    Scheduled,
    /// A worker saw an unknown `kid` and asked for a refetch.
    KidMiss,
}

/// A request this participant sent and awaits.
#[derive(Debug, Clone, Copy)]
pub(super) struct InFlight {
    pub(super) token: u32,
    pub(super) kind: Kind,
    pub(super) trigger: Trigger,
    pub(super) started_ms: u64,
}

/// One JWKS source and this participant's view of it.
#[derive(Debug, Clone)]
pub struct Source {
    /// Shared-data id.
    pub sid: String,
    /// Issuer (for logs).
    pub issuer: String,
    /// Endpoint and policy.
    pub remote: RemoteJwks,
    pub(super) in_flight: Option<InFlight>,
    pub(super) keys_cas: u32,
    pub(super) jwks_bytes: Vec<u8>,
    pub(super) keys: Option<Rc<KeySet>>,
    pub(super) fetched_at_ms: u64,
    pub(super) generation: u64,
    pub(super) expired: bool,
    pub(super) next_fetch_ms: u64,
    pub(super) last_error: String,
    /// Fetch attempts finished by anyone, as of the last tick.
    pub(super) attempts: u64,
    /// As of the last tick: no kid-miss refetch is asked for and no fetch is running.
    pub(super) idle: bool,
    /// Fetches this participant finished but could not record ([`super::Event::StateConflict`]).
    pub(super) conflicts: u64,
}

impl Source {
    /// A source for a remote JWKS of `issuer`.
    pub fn new(issuer: &str, remote: RemoteJwks) -> Source {
        Source {
            sid: shared::source_id(&remote.identity(issuer)),
            issuer: issuer.to_string(),
            remote,
            in_flight: None,
            keys_cas: 0,
            jwks_bytes: Vec::new(),
            keys: None,
            fetched_at_ms: 0,
            generation: 0,
            expired: false,
            next_fetch_ms: 0,
            last_error: String::new(),
            attempts: 0,
            idle: true,
            conflicts: 0,
        }
    }

    /// The keys this worker serves, with their generation; `None` while unavailable.
    pub fn keys(&self) -> Option<(&KeySet, u64)> {
        match &self.keys {
            Some(k) if !self.expired => Some((k, self.generation)),
            _ => None,
        }
    }

    /// Seconds until the next fetch attempt (at least 1), for `Retry-After`.
    pub fn retry_after(&self, now_ms: u64) -> u64 {
        self.next_fetch_ms.saturating_sub(now_ms).div_ceil(1000).max(1)
    }

    /// Age of the served keys, seconds (0 when there are none).
    pub fn age_seconds(&self, now_ms: u64) -> u64 {
        if self.keys.is_none() {
            return 0;
        }
        now_ms.saturating_sub(self.fetched_at_ms) / 1000
    }

    /// Changes whenever the served key set does.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of served keys.
    pub fn key_count(&self) -> usize {
        self.keys().map_or(0, |(k, _)| k.keys.len())
    }

    /// The last failure reason seen in the shared state.
    pub fn last_error(&self) -> &str {
        &self.last_error
    }

    /// Fetch attempts finished by any participant, as of the last tick.
    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    /// Whether a request that paused for a kid-miss refetch when [`Source::attempts`] was
    /// `paused_at` has had its answer: a fetch finished since, and none is asked for or running.
    /// A refetch that brings the same keys must release its waiters, not keep them until their
    /// deadline.
    pub fn refetched_since(&self, paused_at: u64) -> bool {
        self.attempts > paused_at && self.idle
    }

    /// Fetches this participant finished but could not record in the shared state. A request
    /// waiting on the source is released when this moves: no finished attempt will show.
    pub fn conflicts(&self) -> u64 {
        self.conflicts
    }

    /// Whether a fetch by this participant is in flight.
    pub fn fetching(&self) -> bool {
        self.in_flight.is_some()
    }
}
