//! Counting per key in bounded memory: a flood of refusals adds to counters, it never
//! stores one entry per call, and past a cap new keys share one overflow counter.

use std::collections::HashMap;
use std::hash::Hash;

/// How a call to [`Counts::add`] was counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// The first time this key was seen.
    First,
    Again,
    /// The key was new but the table is full: counted in [`Counts::overflow`].
    Overflow,
}

/// Counts per key, at most `cap` keys.
#[derive(Clone, Debug)]
pub struct Counts<K> {
    map: HashMap<K, u64>,
    cap: usize,
    overflow: u64,
}

impl<K: Hash + Eq + Clone + Ord> Counts<K> {
    pub fn new(cap: usize) -> Self {
        Counts {
            map: HashMap::new(),
            cap,
            overflow: 0,
        }
    }

    pub fn add(&mut self, key: &K) -> Added {
        self.add_n(key, 1)
    }

    /// Counts `n` calls at once (the kernel path reads counts, not calls).
    pub fn add_n(&mut self, key: &K, n: u64) -> Added {
        if let Some(c) = self.map.get_mut(key) {
            *c += n;
            return Added::Again;
        }
        if self.map.len() >= self.cap {
            self.overflow += n;
            return Added::Overflow;
        }
        self.map.insert(key.clone(), n);
        Added::First
    }

    /// Calls made under keys that did not fit.
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    pub fn total(&self) -> u64 {
        self.map.values().sum::<u64>() + self.overflow
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && self.overflow == 0
    }

    /// Every key with its count, largest first (ties in key order).
    pub fn sorted(&self) -> Vec<(K, u64)> {
        let mut all: Vec<(K, u64)> = self.map.iter().map(|(k, n)| (k.clone(), *n)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all
    }

    pub fn get(&self, key: &K) -> u64 {
        self.map.get(key).copied().unwrap_or(0)
    }
}
