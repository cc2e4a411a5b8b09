//! The shared-data records every participant agrees on: the filter's workers (one VM each) and
//! the `jwks-fetcher` singleton, which all use the same Envoy `vm_id`. Defined once, here.
//!
//! Per JWKS source (issuer + cluster + authority + path) there are two keys:
//!
//! - `jwt-filter/v1/keys/<sid>`: the last good JWKS, written only after a successful fetch.
//!   Layout: one line of JSON metadata ([`KeysMeta`]), `\n`, then the JWKS bytes as received.
//! - `jwt-filter/v1/state/<sid>`: the fetch schedule and coordination ([`FetchState`]),
//!   always updated with compare-and-swap.
//!
//! `<sid>` is the FNV-1a-64 hash of the source identity in hex, so the filter and the fetcher
//! find the same keys without sharing provider names.
//!
//! The records are written and read by hand, as serde's derived `Serialize` wrote them (fields in
//! order) and with the derived reading's rules ([`decode_keys`], [`FetchState::decode`]: absent
//! members default, unknown ones are ignored, a mistyped or repeated one makes the record
//! unreadable); the tests hold both to the derived ones. The module has no serde: its derived
//! visitors are large functions, and V8 compiles each at load.

use crate::json;
use crate::json::{Map, Value};

/// Prefix of every key this project writes.
pub const PREFIX: &str = "jwt-filter/v1";

/// FNV-1a, 64 bits: stable across builds and Rust versions (unlike `DefaultHasher`).
pub fn fnv1a64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The short id of a source identity.
pub fn source_id(identity: &str) -> String {
    format!("{:016x}", fnv1a64(identity))
}

/// Shared-data key of a source's keys record.
pub fn keys_key(sid: &str) -> String {
    format!("{PREFIX}/keys/{sid}")
}

/// Shared-data key of a source's fetch state.
pub fn state_key(sid: &str) -> String {
    format!("{PREFIX}/state/{sid}")
}

/// Metadata stored in front of the JWKS bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub struct KeysMeta {
    /// When these keys were fetched (milliseconds since the epoch).
    pub fetched_at_ms: u64,
    /// When the content last changed (for logs).
    pub changed_at_ms: u64,
}

/// Encodes a keys record.
pub fn encode_keys(meta: &KeysMeta, jwks: &[u8]) -> Vec<u8> {
    let head = [("fetched_at_ms", Value::from(meta.fetched_at_ms)), ("changed_at_ms", Value::from(meta.changed_at_ms))];
    let mut out = json::fields(&head).into_bytes();
    out.push(b'\n');
    out.extend_from_slice(jwks);
    out
}

/// Decodes a keys record into its metadata and JWKS bytes.
pub fn decode_keys(bytes: &[u8]) -> Option<(KeysMeta, &[u8])> {
    let nl = bytes.iter().position(|b| *b == b'\n')?;
    let (head, rest) = bytes.split_at(nl);
    let m = json::parse_object(head).ok()?;
    let meta = KeysMeta { fetched_at_ms: member_u64(&m, "fetched_at_ms")??, changed_at_ms: member_u64(&m, "changed_at_ms")?? };
    Some((meta, rest.get(1..)?))
}

/// A member that must be an unsigned integer: `None` if it is something else, `Some(None)` if it
/// is absent.
#[inline(never)]
fn member_u64(m: &Map, key: &str) -> Option<Option<u64>> {
    match m.get(key) {
        None => Some(None),
        Some(v) => v.as_u64().map(Some),
    }
}

/// A member that must be a string: `None` if it is something else, `Some(None)` if it is absent.
#[inline(never)]
fn member_string(m: &Map, key: &str) -> Option<Option<String>> {
    match m.get(key) {
        None => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    }
}

/// The fetch schedule of one source, shared by every participant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(test, serde(default))]
pub struct FetchState {
    /// Who holds the fetch lease ("" when free).
    pub lease_holder: String,
    /// When the lease lapses, ms.
    pub lease_until_ms: u64,
    /// When the next scheduled fetch is due, ms (0: at once).
    pub next_fetch_ms: u64,
    /// Consecutive failed fetches.
    pub failures: u32,
    /// Reason of the last failure.
    pub last_error: String,
    /// Last successful fetch, ms.
    pub last_success_ms: u64,
    /// Last attempt, ms.
    pub last_attempt_ms: u64,
    /// A worker saw an unknown `kid` at this time and asks for a refetch (0: none).
    pub refetch_requested_ms: u64,
    /// When the last unknown-`kid` refetch started (for the penalty window), ms.
    pub last_kid_refetch_ms: u64,
    /// The fetcher service serves this source until then, ms: workers leave it alone.
    pub service_until_ms: u64,
    /// JWKS path found by OIDC discovery.
    pub discovered_path: String,
    /// Total fetch attempts (all participants).
    pub attempts: u64,
}

impl FetchState {
    /// Decodes a state record; a missing or unreadable record is a fresh state.
    pub fn decode(bytes: Option<&[u8]>) -> FetchState {
        bytes.and_then(Self::read).unwrap_or_default()
    }

    fn read(bytes: &[u8]) -> Option<FetchState> {
        let m = json::parse_object(bytes).ok()?;
        let mut s = FetchState::default();
        let num = |key: &str, field: &mut u64| member_u64(&m, key).map(|v| *field = v.unwrap_or(*field));
        let text = |key: &str, field: &mut String| member_string(&m, key).map(|v| *field = v.unwrap_or_default());
        text("lease_holder", &mut s.lease_holder)?;
        num("lease_until_ms", &mut s.lease_until_ms)?;
        num("next_fetch_ms", &mut s.next_fetch_ms)?;
        let mut failures = 0;
        num("failures", &mut failures)?;
        s.failures = u32::try_from(failures).ok()?;
        text("last_error", &mut s.last_error)?;
        num("last_success_ms", &mut s.last_success_ms)?;
        num("last_attempt_ms", &mut s.last_attempt_ms)?;
        num("refetch_requested_ms", &mut s.refetch_requested_ms)?;
        num("last_kid_refetch_ms", &mut s.last_kid_refetch_ms)?;
        num("service_until_ms", &mut s.service_until_ms)?;
        text("discovered_path", &mut s.discovered_path)?;
        num("attempts", &mut s.attempts)?;
        Some(s)
    }

    /// Encodes a state record.
    pub fn encode(&self) -> Vec<u8> {
        let text = |s: &str| Value::String(s.to_string());
        json::fields(&[
            ("lease_holder", text(&self.lease_holder)),
            ("lease_until_ms", Value::from(self.lease_until_ms)),
            ("next_fetch_ms", Value::from(self.next_fetch_ms)),
            ("failures", Value::from(u64::from(self.failures))),
            ("last_error", text(&self.last_error)),
            ("last_success_ms", Value::from(self.last_success_ms)),
            ("last_attempt_ms", Value::from(self.last_attempt_ms)),
            ("refetch_requested_ms", Value::from(self.refetch_requested_ms)),
            ("last_kid_refetch_ms", Value::from(self.last_kid_refetch_ms)),
            ("service_until_ms", Value::from(self.service_until_ms)),
            ("discovered_path", text(&self.discovered_path)),
            ("attempts", Value::from(self.attempts)),
        ])
        .into_bytes()
    }

    /// Whether someone holds an unexpired lease.
    pub fn leased(&self, now_ms: u64) -> bool {
        !self.lease_holder.is_empty() && now_ms < self.lease_until_ms
    }

    /// Whether a kid-miss refetch is asked for and not yet started.
    pub fn refetch_pending(&self) -> bool {
        self.refetch_requested_ms > self.last_kid_refetch_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::json;

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(source_id("x").len(), 16);
        assert!(keys_key("ab").starts_with("jwt-filter/v1/keys/"));
    }

    #[test]
    fn records_round_trip() {
        let meta = KeysMeta { fetched_at_ms: 5, changed_at_ms: 4 };
        let enc = encode_keys(&meta, b"{\"keys\":[]}\n");
        let (m, body) = decode_keys(&enc).unwrap();
        assert_eq!(m, meta);
        assert_eq!(body, b"{\"keys\":[]}\n");
        assert!(decode_keys(b"no newline").is_none());
        let s = FetchState { failures: 3, lease_holder: "w1".into(), lease_until_ms: 10, ..Default::default() };
        assert_eq!(FetchState::decode(Some(&s.encode())), s);
        assert_eq!(FetchState::decode(Some(b"garbage")), FetchState::default());
        assert!(s.leased(9) && !s.leased(10));
    }

    /// The reading by hand and serde's derived one agree on every record: the written ones, and
    /// ones with members removed, retyped, repeated, unknown, or not objects at all.
    #[test]
    fn decoding_matches_the_derived_deserialize() {
        let full = FetchState {
            lease_holder: "w\"1".into(),
            lease_until_ms: 1,
            next_fetch_ms: 2,
            failures: 3,
            last_error: "é".into(),
            last_success_ms: 4,
            last_attempt_ms: 5,
            refetch_requested_ms: 6,
            last_kid_refetch_ms: 7,
            service_until_ms: 8,
            discovered_path: "/k".into(),
            attempts: u64::MAX,
        };
        // Written as serde's derived `Serialize` wrote them.
        assert_eq!(full.encode(), serde_json::to_vec(&full).unwrap());
        let km = KeysMeta { fetched_at_ms: 9, changed_at_ms: 10 };
        assert_eq!(encode_keys(&km, b"J"), [serde_json::to_vec(&km).unwrap(), b"\nJ".to_vec()].concat());
        let from = |v| crate::json::bridge::from_serde(v);
        let Value::Object(base) = from(serde_json::to_value(&full).unwrap()) else { panic!() };
        let meta = from(serde_json::to_value(km).unwrap());
        let values = [json!(null), json!(-1), json!(1.5), json!(5), json!(4_294_967_296u64), json!("x"), json!([]), json!({})];
        let mut texts: Vec<String> = vec!["".into(), "[]".into(), "{} x".into(), "5".into(), "{}".into()];
        for record in [Value::Object(base.clone()), meta] {
            let Value::Object(m) = record else { panic!() };
            texts.push(Value::Object(m.clone()).to_string());
            for key in m.keys() {
                let mut less = m.clone();
                less.remove(key);
                texts.push(Value::Object(less).to_string());
                for x in &values {
                    let mut other = m.clone();
                    other.insert(key.clone(), x.clone());
                    texts.push(Value::Object(other).to_string());
                }
                let text = Value::Object(m.clone()).to_string();
                texts.push(format!("{{\"{key}\":0,{}", text.trim_start_matches('{')));
            }
            let mut more = m.clone();
            more.insert("later".into(), json!({"a": [1]}));
            texts.push(Value::Object(more).to_string());
        }
        for text in &texts {
            let state = FetchState::decode(Some(text.as_bytes()));
            let derived: FetchState = serde_json::from_str(text).unwrap_or_default();
            assert_eq!(state, derived, "{text}");
            let keys = decode_keys(format!("{text}\nJWKS").as_bytes()).map(|(m, _)| m);
            assert_eq!(keys, serde_json::from_str::<KeysMeta>(text).ok(), "{text}");
        }
        assert_eq!(FetchState::decode(Some(&full.encode())), full);
        assert!(texts.len() > 100);
    }
}
