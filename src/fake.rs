//! A fake [`FilterHost`] for the adapter tests: a request's headers, the reply and filter state
//! it receives, shared data with Envoy's compare-and-swap rules, an HTTP client that records
//! what it sends, and the counters the worker hands over.

use crate::host::FilterHost;
use jwt_core::crypto::{HostAnswer, HostVerifier};
use jwt_core::lifecycle::{HttpClient, SetError, SharedStore};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_host::abi::MetricKind;
use wasm_host::metrics::MetricSink;

/// Shared data: a global cas counter; cas 0 writes unconditionally; absent keys accept any cas.
#[derive(Default)]
pub struct Store(RefCell<(Entries, u32)>);

/// Key to (value, cas).
type Entries = HashMap<String, (Vec<u8>, u32)>;

impl SharedStore for Store {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
        self.0.borrow().0.get(key).map_or((None, 0), |(v, c)| (Some(v.clone()), *c))
    }
    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        let mut s = self.0.borrow_mut();
        if let Some((_, c)) = s.0.get(key) {
            if cas != 0 && cas != *c {
                return Err(SetError::CasMismatch);
            }
        }
        s.1 += 1;
        let n = s.1;
        s.0.insert(key.to_string(), (value.to_vec(), n));
        Ok(())
    }
}

/// Records each request it sends (token, path).
#[derive(Default)]
pub struct Http {
    pub sent: Vec<(u32, String)>,
}

impl HttpClient for Http {
    fn get(&mut self, _cluster: &str, _authority: &str, path: &str, _timeout_ms: u64) -> Result<u32, String> {
        let token = self.sent.len() as u32 + 100;
        self.sent.push((token, path.to_string()));
        Ok(token)
    }
}

/// Stats by name, as Envoy would show them.
#[derive(Default)]
pub struct Stats {
    names: Vec<String>,
    values: Vec<i64>,
}

impl Stats {
    /// A stat's value; `None` if never defined.
    pub fn get(&self, name: &str) -> Option<i64> {
        let full = format!("jwt_filter.{name}");
        self.names.iter().position(|n| *n == full).and_then(|i| self.values.get(i).copied())
    }
}

impl MetricSink for Stats {
    fn define(&mut self, _kind: MetricKind, name: &str) -> Option<u32> {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Some(i as u32);
        }
        self.names.push(name.to_string());
        self.values.push(0);
        Some(self.names.len() as u32 - 1)
    }
    fn increment(&mut self, id: u32, by: i64) {
        self.values[id as usize] += by;
    }
    fn record(&mut self, id: u32, value: u64) {
        self.values[id as usize] = value as i64;
    }
}

/// A local reply the filter sent.
#[derive(Debug, Clone)]
pub struct SentReply {
    pub status: u32,
    pub details: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl SentReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The fake host. Envoy-wide parts (store, stats) are shared by reference so several workers
/// can run against one "Envoy".
pub struct Fake<'a> {
    pub now_ms: u64,
    /// Request headers; `None`: the host refuses to hand them over.
    pub headers: Option<Vec<(String, String)>>,
    pub replies: Vec<SentReply>,
    pub state: HashMap<String, String>,
    pub store: &'a Store,
    pub http: Http,
    /// The call response `call_response` delivers (status, body).
    pub response: (Option<u32>, Option<Vec<u8>>),
    /// What `verifier` offers (none by default).
    pub verifier: FakeVerifier,
    sink: SharedStats<'a>,
}

/// The host's `verify_signature` as the fake offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeVerifier {
    /// No verifier handed out.
    None,
    /// BoringSSL emulated by `testkit::emulated_host_verify` (RS* and ES*).
    Emulated,
    /// A host without the function: every call answers `Unavailable`.
    Missing,
}

impl HostVerifier for FakeVerifier {
    fn verify(&self, hash: &str, spki: &[u8], sig: &[u8], msg: &[u8]) -> HostAnswer {
        match (self, testkit::emulated_host_verify(hash, spki, sig, msg)) {
            (FakeVerifier::Emulated, Some(true)) => HostAnswer::Valid,
            (FakeVerifier::Emulated, Some(false)) => HostAnswer::Invalid,
            _ => HostAnswer::Unavailable,
        }
    }
}

/// The worker's view of the shared stats (ids are per name, so every worker agrees).
pub struct SharedStats<'a>(&'a RefCell<Stats>);

impl MetricSink for SharedStats<'_> {
    fn define(&mut self, kind: MetricKind, name: &str) -> Option<u32> {
        self.0.borrow_mut().define(kind, name)
    }
    fn increment(&mut self, id: u32, by: i64) {
        self.0.borrow_mut().increment(id, by);
    }
    fn record(&mut self, id: u32, value: u64) {
        self.0.borrow_mut().record(id, value);
    }
}

impl<'a> Fake<'a> {
    pub fn new(store: &'a Store, stats: &'a RefCell<Stats>, now_ms: u64) -> Fake<'a> {
        Fake {
            now_ms,
            headers: Some(Vec::new()),
            replies: Vec::new(),
            state: HashMap::new(),
            store,
            http: Http::default(),
            response: (None, None),
            verifier: FakeVerifier::None,
            sink: SharedStats(stats),
        }
    }

    /// Starts a new request with these headers (forgetting the last one's reply and state).
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) {
        let mut hs = vec![(":method".to_string(), method.to_string()), (":path".to_string(), path.to_string())];
        hs.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.headers = Some(hs);
        self.replies.clear();
        self.state.clear();
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.as_ref()?.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A stat's value as Envoy would show it (after the worker's last flush).
    pub fn stat(&self, name: &str) -> Option<i64> {
        self.sink.0.borrow().get(name)
    }
}

impl FilterHost for Fake<'_> {
    fn now_ms(&self) -> u64 {
        self.now_ms
    }
    fn request_headers(&self) -> Option<Vec<u8>> {
        self.headers.as_deref().map(wasm_host::abi::encode_map)
    }
    fn remove_header(&mut self, name: &str) {
        if let Some(h) = &mut self.headers {
            h.retain(|(n, _)| n != name);
        }
    }
    fn set_header(&mut self, name: &str, value: &str) -> Result<(), String> {
        self.remove_header(name);
        self.headers.get_or_insert_with(Vec::new).push((name.to_string(), value.to_string()));
        Ok(())
    }
    fn send_reply(&mut self, status: u32, details: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<(), String> {
        self.replies.push(SentReply {
            status,
            details: details.to_string(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        });
        Ok(())
    }
    fn set_state(&mut self, name: &str, value: &str) {
        self.state.insert(name.to_string(), value.to_string());
    }
    fn verifier(&self) -> Option<&dyn HostVerifier> {
        match self.verifier {
            FakeVerifier::None => None,
            _ => Some(&self.verifier),
        }
    }
    fn store(&self) -> &dyn SharedStore {
        self.store
    }
    fn lifecycle(&mut self) -> (&dyn SharedStore, &mut dyn HttpClient) {
        (self.store, &mut self.http)
    }
    fn metrics(&mut self) -> &mut dyn MetricSink {
        &mut self.sink
    }
    fn call_response(&self, max_body: usize) -> (Option<u32>, Option<Vec<u8>>) {
        let (status, body) = self.response.clone();
        (status, body.map(|b| b.into_iter().take(max_body).collect()))
    }
}
