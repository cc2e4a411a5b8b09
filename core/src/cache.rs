//! The verified-token cache of one worker: tokens whose signature and claims were checked,
//! keyed by (provider, the token's SHA-256). An entry holds the 32-byte hash, not the token:
//! a hit must match all of it, and the token itself (~900 bytes) was four fifths of what an
//! entry cost (issue 13). Bounded in entries and bytes, evicted by a CLOCK sweep (an LRU
//! approximation with O(1) hits).
//!
//! The hash is what makes a hit safe: a token that is not byte for byte a verified one has
//! another SHA-256, so it misses and goes through the signature check. It costs a few
//! microseconds per cached request in WebAssembly (BENCHMARKS.md), the price of not keeping
//! the token.
//!
//! Only successes are stored. A hit is still checked: the provider's keys must be the ones it
//! was verified with (the generation), and `exp`/`nbf` must hold at the current time; the
//! route's authorization checks run on every request, hit or miss. Entries never outlive the
//! token's `exp`.

use crate::claims::Times;
use crate::json::{Map, Value};
use crate::policy::KeptValues;
use crate::rules::ProviderId;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::rc::Rc;

/// The SHA-256 of a token: what a cache hit must match.
pub type Fingerprint = [u8; 32];

/// The token's SHA-256.
pub fn fingerprint(token: &str) -> Fingerprint {
    Sha256::digest(token.as_bytes()).into()
}

/// The map key's part of a fingerprint: its first 8 bytes (the slot holds all 32).
fn short(fp: &Fingerprint) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(fp.get(..8).unwrap_or(&[0; 8]));
    u64::from_le_bytes(b)
}

/// Longest an entry lives when its token has no `exp`, seconds.
pub const MAX_TTL_WITHOUT_EXP: u64 = 300;

/// What the cache remembers about a verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The verified claims that something reads later (authorization checks, filter state):
    /// [`crate::config::Config::kept_claims`], not the whole token.
    pub claims: KeptValues,
    /// Upstream headers, rendered once (from all claims).
    pub headers: Vec<(String, String)>,
    /// The user header is the token's payload ([`crate::output::Output::user_from_payload`]),
    /// not among `headers`: a hit decodes it from the request's token, which matched the hash.
    pub user_from_payload: bool,
    /// `exp` and `nbf`, re-checked on every hit.
    pub times: Times,
}

impl Verified {
    /// Heap bytes it holds (with its `Rc`), for the byte bound: sizes and capacities as
    /// allocated (allocator headers are not counted).
    pub fn weight(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(k, v)| k.capacity() + v.capacity()).sum();
        2 * size_of::<usize>()
            + size_of::<Verified>()
            + self.claims.iter().map(|(n, v)| size_of::<(Box<str>, Value)>() + n.len() + value_weight(v)).sum::<usize>()
            + self.headers.capacity() * size_of::<(String, String)>()
            + headers
    }
}

/// An object's members are one vector of (name, value), sorted by name.
fn map_weight(m: &Map) -> usize {
    let members: usize = m.iter().map(|(k, v)| k.capacity() + value_weight(v)).sum();
    m.capacity() * (size_of::<String>() + size_of::<Value>()) + members
}

fn value_weight(v: &Value) -> usize {
    match v {
        Value::String(s) => s.capacity(),
        Value::Array(a) => a.capacity() * size_of::<Value>() + a.iter().map(value_weight).sum::<usize>(),
        Value::Object(m) => map_weight(m),
        _ => 0,
    }
}

/// What an entry costs besides its [`Verified`]: its hash-table bucket (tables are
/// 44-87% full, so two per entry) and its places in the CLOCK queue (up to two).
const ENTRY_OVERHEAD: usize = 2 * (size_of::<Key>() + size_of::<Slot>() + 1) + 2 * size_of::<(Key, u64)>();

struct Slot {
    fingerprint: Fingerprint,
    value: Rc<Verified>,
    generation: u64,
    expires_at: u64,
    weight: usize,
    seq: u64,
    referenced: bool,
}

type Key = (ProviderId, u64);

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
    pub fn get(&mut self, provider: ProviderId, fp: &Fingerprint, generation: u64, now: u64) -> Option<Rc<Verified>> {
        if !self.enabled() {
            return None;
        }
        let key = (provider, short(fp));
        let (usable, stale) = match self.map.get_mut(&key) {
            None => (None, false),
            Some(slot) if slot.fingerprint != *fp => (None, false),
            Some(slot) if slot.generation == generation && now < slot.expires_at => {
                slot.referenced = true;
                (Some(slot.value.clone()), false)
            }
            Some(_) => (None, true),
        };
        if stale {
            self.remove(&key);
        }
        if usable.is_none() {
            self.stats.misses += 1;
        } else {
            self.stats.hits += 1;
        }
        usable
    }

    /// Stores a verified token. `skew` extends the entry to the same instant the claim check
    /// would stop accepting the token.
    pub fn insert(&mut self, provider: ProviderId, fp: &Fingerprint, generation: u64, now: u64, skew: u64, value: Rc<Verified>) {
        if !self.enabled() {
            return;
        }
        let expires_at = match value.times.exp {
            Some(exp) => exp.saturating_add(skew),
            None => now.saturating_add(MAX_TTL_WITHOUT_EXP),
        };
        let weight = value.weight() + ENTRY_OVERHEAD;
        if weight > self.max_bytes || expires_at <= now {
            return;
        }
        let key = (provider, short(fp));
        self.remove(&key);
        while self.map.len() >= self.max_entries || self.bytes + weight > self.max_bytes {
            if !self.evict_one() {
                break;
            }
        }
        self.seq += 1;
        self.clock.push_back((key, self.seq));
        self.bytes += weight;
        self.map.insert(key, Slot { fingerprint: *fp, value, generation, expires_at, weight, seq: self.seq, referenced: false });
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
    use crate::json::json;

    fn v(exp: Option<u64>) -> Rc<Verified> {
        Rc::new(Verified {
            claims: crate::policy::KeptClaims::new([], true).filter(json!({"sub":"u"}).as_object().unwrap()),
            headers: vec![("x-current-user".into(), "{\"sub\":\"u\"}".into())],
            user_from_payload: false,
            times: Times { exp, nbf: None },
        })
    }

    fn t(i: u32) -> String {
        format!("token-{i}")
    }

    fn get(c: &mut TokenCache, p: usize, i: u32, g: u64, now: u64) -> Option<Rc<Verified>> {
        c.get(p, &fingerprint(&t(i)), g, now)
    }

    fn put(c: &mut TokenCache, p: usize, i: u32, g: u64, now: u64, v: Rc<Verified>) {
        c.insert(p, &fingerprint(&t(i)), g, now, 0, v)
    }

    #[test]
    fn hit_needs_same_generation_and_unexpired_entry() {
        let mut c = TokenCache::new(10, 1 << 20);
        put(&mut c, 0, 1, 7, 100, v(Some(200)));
        assert!(get(&mut c, 0, 1, 7, 150).is_some());
        assert!(get(&mut c, 1, 1, 7, 150).is_none(), "other provider");
        assert!(get(&mut c, 0, 1, 8, 150).is_none(), "keys changed");
        assert!(c.is_empty(), "stale entry dropped");
        put(&mut c, 0, 1, 7, 100, v(Some(200)));
        assert!(get(&mut c, 0, 1, 7, 200).is_none(), "expired");
        put(&mut c, 0, 2, 7, 100, v(None));
        assert!(get(&mut c, 0, 2, 7, 100 + MAX_TTL_WITHOUT_EXP - 1).is_some());
        assert!(get(&mut c, 0, 2, 7, 100 + MAX_TTL_WITHOUT_EXP).is_none());
        assert_eq!(c.stats.hits, 2);
    }

    #[test]
    fn bounded_by_entries_with_clock_eviction() {
        let mut c = TokenCache::new(3, 1 << 20);
        for i in 0..3 {
            put(&mut c, 0, i, 1, 0, v(Some(1000)));
        }
        assert!(get(&mut c, 0, 0, 1, 1).is_some(), "reference entry 0");
        put(&mut c, 0, 3, 1, 1, v(Some(1000)));
        assert_eq!(c.len(), 3);
        assert!(get(&mut c, 0, 0, 1, 1).is_some(), "recently used entry survives");
        assert!(get(&mut c, 0, 1, 1, 1).is_none(), "oldest unreferenced entry evicted");
        for i in 10..1000 {
            put(&mut c, 0, i, 1, 1, v(Some(1000)));
        }
        assert_eq!(c.len(), 3);
        assert!(c.clock.len() <= 2 * c.len() + 64);
    }

    #[test]
    fn bounded_by_bytes() {
        let w = v(Some(1000)).weight() + ENTRY_OVERHEAD;
        let mut c = TokenCache::new(1000, 5 * w);
        for i in 0..50 {
            put(&mut c, 0, i, 1, 0, v(Some(1000)));
        }
        assert_eq!(c.len(), 5);
        assert!(c.bytes() <= 5 * w);
    }

    #[test]
    fn a_hit_needs_the_whole_hash() {
        let mut c = TokenCache::new(10, 1 << 20);
        // The standard SHA-256 test vector: the fingerprint is the token's SHA-256.
        let abc = fingerprint("abc");
        assert_eq!(abc.get(..4), Some(&[0xba, 0x78, 0x16, 0xbf][..]));
        assert_eq!(abc.get(28..), Some(&[0xf2, 0x00, 0x15, 0xad][..]));
        let real = format!("{}.{}.{}", "h".repeat(20), "p".repeat(300), "s".repeat(342));
        let forged = real.replacen("ppp", "pPp", 1);
        c.insert(0, &fingerprint(&real), 1, 0, 0, v(Some(1000)));
        assert!(c.get(0, &fingerprint(&forged), 1, 1).is_none(), "a payload swapped in front of a real signature");
        // Same map key (the first 8 bytes), other hash: a miss, and the entry stays.
        let mut near = fingerprint(&real);
        near[31] ^= 1;
        assert!(c.get(0, &near, 1, 1).is_none());
        assert!(c.get(0, &fingerprint(&real), 1, 1).is_some(), "the real entry is untouched");
        assert_eq!(c.stats, CacheStats { hits: 1, misses: 2, evictions: 0 });
    }

    #[test]
    fn clear_provider_and_disabled_cache() {
        let mut c = TokenCache::new(10, 1 << 20);
        put(&mut c, 0, 1, 1, 0, v(Some(1000)));
        put(&mut c, 1, 1, 1, 0, v(Some(1000)));
        c.clear_provider(0);
        assert!(get(&mut c, 0, 1, 1, 1).is_none());
        assert!(get(&mut c, 1, 1, 1, 1).is_some());
        let mut off = TokenCache::new(0, 1 << 20);
        put(&mut off, 0, 1, 1, 0, v(Some(1000)));
        assert!(get(&mut off, 0, 1, 1, 1).is_none());
    }
}
