//! The JWKS lifecycle shared by every participant: when to fetch, who fetches, what a response
//! does to the shared records, and what keys a worker serves.
//!
//! - **One fetch per interval across all workers.** A participant fetches only while holding
//!   the source's lease, taken by compare-and-swap on the shared fetch state. The
//!   `jwks-fetcher` service (role [`Role::Service`]) keeps a heartbeat in that state; while it
//!   is fresh, workers never fetch. Without it (Istio), workers take turns through the lease.
//! - **Kid-miss refetch, throttled.** A worker that sees an unknown `kid` asks for a refetch;
//!   it starts at most once per penalty window per source, whoever asks.
//! - **Last good keys.** Only a successful fetch with usable keys replaces the keys record.
//!   Failures back off exponentially with jitter (1 s doubling up to the refresh interval);
//!   the old keys serve until they are `max_stale_seconds` old.
//!
//! One job per file: [`schedule`] (the lease, the schedule and the shared records),
//! [`source`] (what this participant knows of a source), [`classify`] (a response into keys
//! or a [`FailReason`]), [`discovery`] (OIDC discovery), [`backoff`] (retry delays).
//!
//! Everything here is synchronous and takes the time and the host as arguments; the adapters
//! implement [`SharedStore`] and [`HttpClient`] over proxy-wasm.

pub mod backoff;
pub mod classify;
pub mod discovery;
pub mod schedule;
pub mod source;
#[cfg(test)]
mod tests;

pub use backoff::backoff_ms;
pub use classify::FailReason;
pub use schedule::Coordinator;
pub use source::{Source, Trigger};

/// A failed compare-and-swap or another shared-data error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetError {
    /// The value changed since it was read.
    CasMismatch,
    /// Any other host error.
    Failed,
}

/// Envoy's shared data, as the adapter exposes it.
pub trait SharedStore {
    /// The value and its cas (0 when absent).
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32);
    /// Writes a value; `cas == 0` writes unconditionally.
    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError>;
}

/// Envoy's `dispatch_http_call`, as the adapter exposes it.
pub trait HttpClient {
    /// Sends `GET path` to `cluster` with this `:authority`; returns the call's token.
    fn get(&mut self, cluster: &str, authority: &str, path: &str, timeout_ms: u64) -> Result<u32, String>;
}

/// Who is running the coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The `jwks-fetcher` singleton: fetches everything it knows, keeps a heartbeat.
    Service,
    /// A filter worker: fetches only when no service heartbeat is fresh.
    Worker,
}

/// How long a service heartbeat lasts, ms. The service renews it every tick.
pub const SERVICE_TTL_MS: u64 = 5_000;
/// The cas to create a record with and never overwrite one: Envoy lets any cas create an absent
/// key, but refuses a nonzero cas that differs from an existing key's. (Its cas counter would
/// have to sit at exactly this value for a create to overwrite; even then the cost is one extra
/// fetch.) Creating with cas 0 instead would overwrite a lease a racing participant had just
/// taken, and two participants would fetch.
pub const CREATE_ONLY_CAS: u32 = u32::MAX;

/// Something the adapter should log or count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// This participant sent a request.
    FetchStarted {
        /// Source index.
        source: usize,
        /// Started because of an unknown `kid`.
        kid_miss: bool,
        /// A discovery document rather than the JWKS.
        discovery: bool,
    },
    /// This participant fetched usable keys and published them.
    FetchSucceeded {
        /// Source index.
        source: usize,
        /// Usable keys.
        keys: usize,
        /// Keys that were skipped, with reasons.
        skipped: Vec<String>,
    },
    /// This participant's fetch failed; the last good keys (if any) stay.
    FetchFailed {
        /// Source index.
        source: usize,
        /// Why.
        reason: FailReason,
        /// Detail for the log.
        detail: String,
        /// When the next attempt is due, ms from now.
        retry_in_ms: u64,
    },
    /// This worker now serves a different key set.
    KeysChanged {
        /// Source index.
        source: usize,
        /// Usable keys.
        keys: usize,
    },
    /// The keys are older than `max_stale_seconds` and no longer served.
    KeysExpired {
        /// Source index.
        source: usize,
    },
    /// This participant's fetch finished but it could not record the outcome in the shared
    /// state: every compare-and-swap lost to another participant's write. The next tick reads
    /// the state afresh; this worker's waiters for the source are released at once.
    StateConflict {
        /// Source index.
        source: usize,
    },
}

/// What a worker should do with a request whose `kid` is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KidMiss {
    /// A refetch is pending or running: wait for new keys until this time (ms).
    Wait {
        /// Deadline, ms.
        until_ms: u64,
    },
    /// A refetch ran within the penalty window: answer now.
    Throttled,
}
