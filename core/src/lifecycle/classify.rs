//! What a response means: usable keys, or one [`FailReason`] with a detail for the log.

use crate::config::RemoteJwks;
use crate::jwk::{JwksError, KeySet};
use std::fmt;

/// How much sooner than `timeout_ms` a status-less failure may arrive and still count as a
/// timeout, ms. Envoy measures the timeout from when it sent the request; this participant
/// measures from the tick that dispatched it, at millisecond resolution, so a real timeout can
/// look a few ms short. A refused connection fails long before the timeout, so 50 ms of
/// slack does not blur the two.
pub const TIMEOUT_TOLERANCE_MS: u64 = 50;

/// Why a fetch failed (one counter each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailReason {
    /// Envoy could not send the request (unknown cluster, bad headers).
    Dispatch,
    /// No response within the timeout.
    Timeout,
    /// The connection failed or was reset before a response.
    Connection,
    /// A status other than 200.
    Status,
    /// The body was larger than `max_bytes`.
    TooLarge,
    /// The body was not a JWKS (or not JSON).
    NotJwks,
    /// A JWKS with no usable key.
    NoUsableKeys,
    /// OIDC discovery failed (no `jwks_uri`, or one on another host).
    Discovery,
}

impl FailReason {
    /// All reasons, for defining counters.
    pub const ALL: [FailReason; 8] = [
        FailReason::Dispatch,
        FailReason::Timeout,
        FailReason::Connection,
        FailReason::Status,
        FailReason::TooLarge,
        FailReason::NotJwks,
        FailReason::NoUsableKeys,
        FailReason::Discovery,
    ];

    /// Counter and log name.
    pub fn name(self) -> &'static str {
        match self {
            FailReason::Dispatch => "dispatch",
            FailReason::Timeout => "timeout",
            FailReason::Connection => "connection",
            FailReason::Status => "status",
            FailReason::TooLarge => "too_large",
            FailReason::NotJwks => "not_jwks",
            FailReason::NoUsableKeys => "no_usable_keys",
            FailReason::Discovery => "discovery",
        }
    }
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The body of a response, or why it is not one: `status` is `None` when the call failed
/// (timeout, reset, refused: Envoy then sends no `:status`); `elapsed_ms` is the time since
/// the request was sent.
pub fn response(
    remote: &RemoteJwks,
    status: Option<u32>,
    body: Option<Vec<u8>>,
    elapsed_ms: u64,
) -> Result<Vec<u8>, (FailReason, String)> {
    let body = body.unwrap_or_default();
    // A timeout arrives with no status, or (when Envoy answers the call itself) as a local
    // 504 reply.
    let timed_out = match status {
        None => elapsed_ms + TIMEOUT_TOLERANCE_MS >= remote.timeout_ms,
        Some(504) => body.starts_with(b"upstream request timeout"),
        Some(_) => false,
    };
    match status {
        _ if timed_out => Err((FailReason::Timeout, format!("no response within {} ms", remote.timeout_ms))),
        None => Err((FailReason::Connection, "connection failed or reset".to_string())),
        // Envoy answers a call it could not reach the cluster for with a local 503.
        Some(503) if body.starts_with(b"upstream connect error") || body.starts_with(b"no healthy upstream") => Err((
            FailReason::Connection,
            format!("cannot reach cluster {:?}: {}", remote.cluster, String::from_utf8_lossy(body.get(..120).unwrap_or(&body))),
        )),
        Some(200) if body.len() > remote.max_bytes => {
            Err((FailReason::TooLarge, format!("{} bytes > max_bytes {}", body.len(), remote.max_bytes)))
        }
        Some(200) => Ok(body),
        Some(code) => Err((FailReason::Status, format!("HTTP {code}"))),
    }
}

/// A JWKS body as a key set with at least one usable key.
pub fn jwks(body: Vec<u8>) -> Result<(Vec<u8>, KeySet), (FailReason, String)> {
    match KeySet::parse(&body) {
        Ok(set) => Ok((body, set)),
        Err(JwksError::NotJwks(e)) => Err((FailReason::NotJwks, e)),
        Err(e @ JwksError::NoUsableKeys(_)) => Err((FailReason::NoUsableKeys, e.to_string())),
    }
}
