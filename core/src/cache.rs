//! The verified-token cache of one worker: tokens whose signature and claims were checked,
//! keyed by (provider, SHA-256 of the whole token). Bounded in entries and bytes, evicted by a
//! CLOCK sweep (an LRU approximation with O(1) hits).
//!
//! Only successes are stored. A hit is still checked: the provider's keys must be the ones it
//! was verified with (the generation), and `exp`/`nbf` must hold at the current time; the
//! route's authorization checks run on every request, hit or miss. Entries never outlive the
//! token's `exp`.

use crate::claims::Times;
use crate::rules::ProviderId;
use serde_json::{Map, Value};
use sha2::Digest;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// SHA-256 of a token: the cache key (collision-resistant, so a forged token cannot hit an
/// entry verified for another).
pub type TokenDigest = [u8; 32];

/// Digest of a token.
pub fn digest(token: &str) -> TokenDigest {
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Longest an entry lives when its token has no `exp`, seconds.
pub const MAX_TTL_WITHOUT_EXP: u64 = 300;

/// What the cache remembers about a verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The verified claims (for authorization checks and filter state).
    pub claims: Map<String, Value>,
    /// Upstream headers, rendered once.
    pub headers: Vec<(String, String)>,
    /// `exp` and `nbf`, re-checked on every hit.
    pub times: Times,
}

impl Verified {
    /// Rough memory used, for the byte bound.
    pub fn weight(&self) -> usize {
        let claims: usize = self.claims.iter().map(|(k, v)| k.len() + weight_of(v)).sum();
        let headers: usize = self.headers.iter().map(|(k, v)| k.len() + v.len() + 48).sum();
        claims + headers + 160
    }
}

fn weight_of(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 32,
        Value::Array(a) => a.iter().map(weight_of).sum::<usize>() + 32,
        Value::Object(m) => m.iter().map(|(k, v)| k.len() + weight_of(v)).sum::<usize>() + 48,
        _ => 32,
    }
}

struct Slot {
    value: Rc<Verified>,
    generation: u64,
    expires_at: u64,
    weight: usize,
    seq: u64,
    referenced: bool,
}

type Key = (ProviderId, TokenDigest);

/// Cache statistics, for counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found a usable entry.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Entries dropped to stay within bounds.
    pub evictions: u64,
}

/// The cache.
pub struct TokenCache {
    map: HashMap<Key, Slot>,
    clock: VecDeque<(Key, u64)>,
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
    seq: u64,
    /// Counters.
    pub stats: CacheStats,
}

impl TokenCache {
    /// A cache with these bounds; `max_entries == 0` makes every call a no-op.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        TokenCache {
            map: HashMap::new(),
            clock: VecDeque::new(),
            max_entries,
            max_bytes,
            bytes: 0,
            seq: 0,
            stats: CacheStats::default(),
        }
    }

    /// Whether the cache is turned on.
    pub fn enabled(&self) -> bool {
        self.max_entries > 0
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes accounted.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Looks a token up. Entries from older keys or past their expiry are dropped and miss.
    /// The caller still re-checks `exp`/`nbf` with the provider's clock skew.
    pub fn get(&mut self, provider: ProviderId, digest: &TokenDigest, generation: u64, now: u64) -> Option<Rc<Verified>> {
        if !self.enabled() {
            return None;
        }
        let key = (provider, *digest);
        let usable = match self.map.get_mut(&key) {
            None => None,
            Some(slot) if slot.generation == generation && now < slot.expires_at => {
                slot.referenced = true;
                Some(slot.value.clone())
            }
            Some(_) => None,
        };
        if usable.is_none() {
            self.remove(&key);
            self.stats.misses += 1;
        } else {
            self.stats.hits += 1;
        }
        usable
    }

    /// Stores a verified token. `skew` extends the entry to the same instant the claim check
    /// would stop accepting the token.
    pub fn insert(&mut self, provider: ProviderId, digest: TokenDigest, generation: u64, now: u64, skew: u64, value: Rc<Verified>) {
        if !self.enabled() {
            return;
        }
        let expires_at = match value.times.exp {
            Some(exp) => exp.saturating_add(skew),
            None => now.saturating_add(MAX_TTL_WITHOUT_EXP),
        };
        let weight = value.weight() + 96;
        if weight > self.max_bytes || expires_at <= now {
            return;
        }
        let key = (provider, digest);
        self.remove(&key);
        while self.map.len() >= self.max_entries || self.bytes + weight > self.max_bytes {
            if !self.evict_one() {
                break;
            }
        }
        self.seq += 1;
        self.clock.push_back((key, self.seq));
        self.bytes += weight;
        self.map.insert(key, Slot { value, generation, expires_at, weight, seq: self.seq, referenced: false });
        if self.clock.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.clock.retain(|(k, s)| map.get(k).is_some_and(|slot| slot.seq == *s));
        }
    }

    /// Drops every entry of one provider (its keys changed).
    pub fn clear_provider(&mut self, provider: ProviderId) {
        let before = self.map.len();
        self.map.retain(|(p, _), _| *p != provider);
        if self.map.len() != before {
            self.bytes = self.map.values().map(|s| s.weight).sum();
            let map = &self.map;
            self.clock.retain(|(k, s)| map.get(k).is_some_and(|slot| slot.seq == *s));
        }
    }

    /// Drops one entry.
    pub fn remove(&mut self, key: &Key) {
        if let Some(slot) = self.map.remove(key) {
            self.bytes = self.bytes.saturating_sub(slot.weight);
        }
    }

    /// CLOCK: skip (and clear) referenced entries once, evict the first unreferenced one.
    fn evict_one(&mut self) -> bool {
        let mut budget = 2 * self.clock.len() + 1;
        while let Some((key, seq)) = self.clock.pop_front() {
            budget -= 1;
            let Some(slot) = self.map.get_mut(&key) else { continue };
            if slot.seq != seq {
                continue;
            }
            if slot.referenced && budget > 0 {
                slot.referenced = false;
                self.clock.push_back((key, seq));
                continue;
            }
            self.remove(&key);
            self.stats.evictions += 1;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(exp: Option<u64>) -> Rc<Verified> {
        Rc::new(Verified {
            claims: json!({"sub":"u"}).as_object().cloned().unwrap(),
            headers: vec![("x-current-user".into(), "{\"sub\":\"u\"}".into())],
            times: Times { exp, nbf: None },
        })
    }

    fn d(i: u32) -> TokenDigest {
        digest(&format!("token-{i}"))
    }

    #[test]
    fn hit_needs_same_generation_and_unexpired_entry() {
        let mut c = TokenCache::new(10, 1 << 20);
        c.insert(0, d(1), 7, 100, 0, v(Some(200)));
        assert!(c.get(0, &d(1), 7, 150).is_some());
        assert!(c.get(1, &d(1), 7, 150).is_none(), "other provider");
        assert!(c.get(0, &d(1), 8, 150).is_none(), "keys changed");
        assert!(c.is_empty(), "stale entry dropped");
        c.insert(0, d(1), 7, 100, 0, v(Some(200)));
        assert!(c.get(0, &d(1), 7, 200).is_none(), "expired");
        c.insert(0, d(2), 7, 100, 0, v(None));
        assert!(c.get(0, &d(2), 7, 100 + MAX_TTL_WITHOUT_EXP - 1).is_some());
        assert!(c.get(0, &d(2), 7, 100 + MAX_TTL_WITHOUT_EXP).is_none());
        assert_eq!(c.stats.hits, 2);
    }

    #[test]
    fn bounded_by_entries_with_clock_eviction() {
        let mut c = TokenCache::new(3, 1 << 20);
        for i in 0..3 {
            c.insert(0, d(i), 1, 0, 0, v(Some(1000)));
        }
        assert!(c.get(0, &d(0), 1, 1).is_some(), "reference entry 0");
        c.insert(0, d(3), 1, 1, 0, v(Some(1000)));
        assert_eq!(c.len(), 3);
        assert!(c.get(0, &d(0), 1, 1).is_some(), "recently used entry survives");
        assert!(c.get(0, &d(1), 1, 1).is_none(), "oldest unreferenced entry evicted");
        for i in 10..1000 {
            c.insert(0, d(i), 1, 1, 0, v(Some(1000)));
        }
        assert_eq!(c.len(), 3);
        assert!(c.clock.len() <= 2 * c.len() + 64);
    }

    #[test]
    fn bounded_by_bytes() {
        let w = v(Some(1000)).weight() + 96;
        let mut c = TokenCache::new(1000, 5 * w);
        for i in 0..50 {
            c.insert(0, d(i), 1, 0, 0, v(Some(1000)));
        }
        assert_eq!(c.len(), 5);
        assert!(c.bytes() <= 5 * w);
    }

    #[test]
    fn clear_provider_and_disabled_cache() {
        let mut c = TokenCache::new(10, 1 << 20);
        c.insert(0, d(1), 1, 0, 0, v(Some(1000)));
        c.insert(1, d(1), 1, 0, 0, v(Some(1000)));
        c.clear_provider(0);
        assert!(c.get(0, &d(1), 1, 1).is_none());
        assert!(c.get(1, &d(1), 1, 1).is_some());
        let mut off = TokenCache::new(0, 1 << 20);
        off.insert(0, d(1), 1, 0, 0, v(Some(1000)));
        assert!(off.get(0, &d(1), 1, 1).is_none());
    }
}
