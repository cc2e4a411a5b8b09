//! Counters and gauges, defined by name on first use. Envoy shows them under `wasmcustom.` at
//! `/stats`; the same name in different VMs (workers, the fetcher) is one stat.
//!
//! Counting is local: a request only adds to a slot in the VM, and [`Metrics::flush`] (called
//! every tick, 100 ms) hands the sums to a [`MetricSink`] — Envoy ([`EnvoyMetrics`]), or a fake
//! in the adapter tests. Each host call costs about a microsecond in V8, and the request path
//! would otherwise make two or three of them.

use crate::abi::{self, MetricKind};
use std::collections::HashMap;

/// Prefix of every metric name.
pub const PREFIX: &str = "jwt_filter";

/// Where metrics go: Envoy's stats, or a test double.
pub trait MetricSink {
    /// Defines (or finds) a metric; `None` when the host refuses.
    fn define(&mut self, kind: MetricKind, name: &str) -> Option<u32>;
    /// Adds to a counter, or adds (negative: subtracts) to a gauge.
    fn increment(&mut self, id: u32, by: i64);
    /// Sets a gauge.
    fn record(&mut self, id: u32, value: u64);
}

/// Envoy's stats.
pub struct EnvoyMetrics;

impl MetricSink for EnvoyMetrics {
    fn define(&mut self, kind: MetricKind, name: &str) -> Option<u32> {
        abi::define_metric(kind, name).ok()
    }
    fn increment(&mut self, id: u32, by: i64) {
        abi::increment_metric(id, by);
    }
    fn record(&mut self, id: u32, value: u64) {
        abi::record_metric(id, value);
    }
}

/// A counter or gauge: its host id once defined, and what is not yet handed over.
struct Slot {
    name: String,
    kind: MetricKind,
    id: Option<u32>,
    /// Counters: the count to add. Delta gauges: the amount to add (may be negative).
    pending: i64,
    /// Set gauges: the value to set.
    set: Option<u64>,
}

/// Metric names, host ids and pending counts.
#[derive(Default)]
pub struct Metrics {
    index: HashMap<String, usize>,
    slots: Vec<Slot>,
}

/// A counter handle for the hot path (no name lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter(usize);

impl Metrics {
    fn slot(&mut self, kind: MetricKind, name: &str) -> usize {
        if let Some(i) = self.index.get(name) {
            return *i;
        }
        self.slots.push(Slot { name: name.to_string(), kind, id: None, pending: 0, set: None });
        self.index.insert(name.to_string(), self.slots.len() - 1);
        self.slots.len() - 1
    }

    /// Defines a counter (it shows as 0 from the next flush on) and returns its handle.
    pub fn counter(&mut self, name: &str) -> Counter {
        Counter(self.slot(MetricKind::Counter, name))
    }

    /// Adds one to a counter by handle.
    pub fn bump(&mut self, c: Counter) {
        if let Some(s) = self.slots.get_mut(c.0) {
            s.pending += 1;
        }
    }

    /// Adds one to a counter by name.
    pub fn count(&mut self, name: &str) {
        let c = self.counter(name);
        self.bump(c);
    }

    /// Defines a counter without changing it.
    pub fn declare(&mut self, name: &str) {
        let _ = self.counter(name);
    }

    /// Sets a gauge (one value for all VMs: the last one set wins).
    pub fn gauge(&mut self, name: &str, value: u64) {
        let i = self.slot(MetricKind::Gauge, name);
        if let Some(s) = self.slots.get_mut(i) {
            s.set = Some(value);
        }
    }

    /// Adds to a gauge that every VM contributes to, so it reads the sum over VMs.
    pub fn gauge_add(&mut self, name: &str, delta: i64) {
        let i = self.slot(MetricKind::Gauge, name);
        if let Some(s) = self.slots.get_mut(i) {
            s.pending = s.pending.saturating_add(delta);
        }
    }

    /// Defines new metrics and hands pending counts and gauge values to `sink`.
    pub fn flush(&mut self, sink: &mut dyn MetricSink) {
        for s in &mut self.slots {
            let id = match s.id {
                Some(id) => id,
                None => match sink.define(s.kind, &s.name) {
                    Some(id) => {
                        s.id = Some(id);
                        id
                    }
                    None => continue,
                },
            };
            if s.pending != 0 {
                sink.increment(id, s.pending);
                s.pending = 0;
            }
            if let Some(v) = s.set.take() {
                sink.record(id, v);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Sink {
        names: Vec<String>,
        values: Vec<i64>,
    }

    impl MetricSink for Sink {
        fn define(&mut self, _: MetricKind, name: &str) -> Option<u32> {
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

    #[test]
    fn counts_are_local_until_a_flush_and_declared_counters_show_zero() {
        let mut m = Metrics::default();
        let mut sink = Sink::default();
        m.declare("a");
        let b = m.counter("b");
        m.bump(b);
        m.bump(b);
        m.count("a");
        assert!(sink.names.is_empty());
        m.flush(&mut sink);
        assert_eq!(sink.names, ["a", "b"]);
        assert_eq!(sink.values, [1, 2]);
        m.flush(&mut sink);
        assert_eq!(sink.values, [1, 2], "nothing twice");
        m.declare("c");
        m.flush(&mut sink);
        assert_eq!(sink.values, [1, 2, 0]);
    }

    #[test]
    fn gauges_set_or_add() {
        let mut m = Metrics::default();
        let mut sink = Sink::default();
        m.gauge("g", 5);
        m.gauge_add("sum", 3);
        m.flush(&mut sink);
        m.gauge_add("sum", -1);
        m.flush(&mut sink);
        assert_eq!(sink.values, [5, 2]);
    }
}
