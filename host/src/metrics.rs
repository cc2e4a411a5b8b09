//! Counters and gauges, defined by name on first use and cached by id. Envoy shows them under
//! `wasmcustom.` at `/stats`; the same name in different VMs (workers, the fetcher) is one stat.

use crate::abi::{self, MetricKind};
use std::collections::HashMap;

/// Prefix of every metric name.
pub const PREFIX: &str = "jwt_filter";

/// A cache of metric ids.
#[derive(Default)]
pub struct Metrics {
    ids: HashMap<String, u32>,
}

impl Metrics {
    fn id(&mut self, kind: MetricKind, name: &str) -> Option<u32> {
        if let Some(id) = self.ids.get(name) {
            return Some(*id);
        }
        let id = abi::define_metric(kind, name).ok()?;
        self.ids.insert(name.to_string(), id);
        Some(id)
    }

    /// Adds one to a counter.
    pub fn count(&mut self, name: &str) {
        self.add(name, 1);
    }

    /// Adds `n` to a counter.
    pub fn add(&mut self, name: &str, n: u64) {
        if let Some(id) = self.id(MetricKind::Counter, name) {
            abi::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Sets a gauge.
    pub fn gauge(&mut self, name: &str, value: u64) {
        if let Some(id) = self.id(MetricKind::Gauge, name) {
            abi::record_metric(id, value);
        }
    }

    /// Defines a counter without changing it, so it shows as 0 from the start.
    pub fn declare(&mut self, name: &str) {
        let _ = self.id(MetricKind::Counter, name);
    }
}

/// `jwt_filter.<a>.<b>...`
pub fn name(parts: &[&str]) -> String {
    let mut s = String::from(PREFIX);
    for p in parts {
        s.push('.');
        s.push_str(p);
    }
    s
}
