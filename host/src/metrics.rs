//! Counters and gauges, defined by name on first use. Envoy shows them under `wasmcustom.` at
//! `/stats`; the same name in different VMs (workers, the fetcher) is one stat.
//!
//! Counting is local: a request only adds to a slot in the VM, and [`Metrics::flush`] (called
//! every tick, 100 ms) hands the sums to Envoy. Each host call costs about a microsecond in V8,
//! and the request path would otherwise make two or three of them.

use crate::abi::{self, MetricKind};
use std::collections::HashMap;

/// Prefix of every metric name.
pub const PREFIX: &str = "jwt_filter";

/// A defined counter: its host id and the count not yet handed over.
struct Slot {
    id: u32,
    pending: u64,
}

/// Metric ids and pending counts.
#[derive(Default)]
pub struct Metrics {
    counters: HashMap<String, usize>,
    slots: Vec<Slot>,
    gauges: HashMap<String, u32>,
}

/// A counter handle for the hot path (no name lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter(usize);

impl Metrics {
    /// Defines a counter (it shows as 0 from the start) and returns its handle.
    pub fn counter(&mut self, name: &str) -> Option<Counter> {
        if let Some(i) = self.counters.get(name) {
            return Some(Counter(*i));
        }
        let id = abi::define_metric(MetricKind::Counter, name).ok()?;
        self.slots.push(Slot { id, pending: 0 });
        self.counters.insert(name.to_string(), self.slots.len() - 1);
        Some(Counter(self.slots.len() - 1))
    }

    /// Adds one to a counter by handle.
    pub fn bump(&mut self, c: Counter) {
        if let Some(s) = self.slots.get_mut(c.0) {
            s.pending += 1;
        }
    }

    /// Adds one to a counter by name.
    pub fn count(&mut self, name: &str) {
        if let Some(c) = self.counter(name) {
            self.bump(c);
        }
    }

    /// Defines a counter without changing it.
    pub fn declare(&mut self, name: &str) {
        let _ = self.counter(name);
    }

    /// Sets a gauge (at once: gauges are only set from ticks).
    pub fn gauge(&mut self, name: &str, value: u64) {
        let id = match self.gauges.get(name) {
            Some(id) => *id,
            None => match abi::define_metric(MetricKind::Gauge, name) {
                Ok(id) => {
                    self.gauges.insert(name.to_string(), id);
                    id
                }
                Err(_) => return,
            },
        };
        abi::record_metric(id, value);
    }

    /// Hands pending counts to Envoy.
    pub fn flush(&mut self) {
        for s in &mut self.slots {
            if s.pending > 0 {
                abi::increment_metric(s.id, i64::try_from(s.pending).unwrap_or(i64::MAX));
                s.pending = 0;
            }
        }
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
