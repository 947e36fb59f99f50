//! Counters, gauges and the request histogram: lock-free on the request path,
//! read and exported by `server::admin` at scrape time.
//!
//! Every value is spread over [`SHARDS`] cache-line-aligned slots, and a
//! thread always adds to the slot it was given on first use: cores do not
//! pass one cache line between them on every request, and a scrape sums the
//! slots. A request's counters are one block per site ([`Requests`]), made
//! when a configuration is built, so counting a response is an index and a
//! few relaxed atomic adds: no lock, no map lookup, no allocation. Labels
//! come from fixed sets (methods, status classes, protocols), so no client
//! can grow the number of series.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Slots per value: more than the cores of most servers (threads past it
/// share slots, which stays correct, only less spread).
pub const SHARDS: usize = 16;

/// A value of `T` per slot, each on its own cache lines (128 bytes: the
/// adjacent-line prefetcher pairs 64-byte lines).
#[repr(align(128))]
#[derive(Debug, Default)]
struct Padded<T>(T);

/// One `T` per slot; a thread always uses the same slot.
#[derive(Debug)]
pub struct Sharded<T> {
    slots: Box<[Padded<T>; SHARDS]>,
}

impl<T: Default> Default for Sharded<T> {
    fn default() -> Self {
        Sharded {
            slots: Box::new(std::array::from_fn(|_| Padded::default())),
        }
    }
}

impl<T> Sharded<T> {
    /// This thread's slot.
    pub fn local(&self) -> &T {
        // `% SHARDS` keeps the index in bounds whatever `slot()` returns.
        &self.slots[slot() % SHARDS].0
    }

    /// Every slot, for a scrape.
    pub fn all(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|p| &p.0)
    }
}

/// The slot of the calling thread: handed out round robin on first use.
fn slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SLOT.with(|s| {
        let mine = s.get();
        if mine != usize::MAX {
            return mine;
        }
        let mine = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
        s.set(mine);
        mine
    })
}

/// A monotonic count.
#[derive(Debug, Default)]
pub struct Counter(Sharded<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.local().fetch_add(n, Ordering::Relaxed);
    }

    /// The total.
    pub fn get(&self) -> u64 {
        self.0
            .all()
            .fold(0, |sum, v| sum.wrapping_add(v.load(Ordering::Relaxed)))
    }
}

/// A value that goes up and down (connections open). A connection may close
/// on another thread than the one it opened on: slots may go negative, the
/// sum is right.
#[derive(Debug, Default)]
pub struct Gauge(Sharded<AtomicI64>);

impl Gauge {
    /// Adds `n` (negative to subtract).
    pub fn add(&self, n: i64) {
        self.0.local().fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0
            .all()
            .fold(0, |sum, v| sum.wrapping_add(v.load(Ordering::Relaxed)))
    }
}

/// The `method` label: a fixed set, so a client cannot add series.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "other"];

/// The `status_class` label.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The `protocol` label: HTTP/1.x (1.0 included) or HTTP/2.
pub const PROTOCOLS: [&str; 2] = ["h1", "h2"];

/// Upper bounds of the duration histogram's buckets, in seconds: static
/// files are answered in well under a millisecond from memory, and a large
/// download to a slow client takes seconds.
pub const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// [`DURATION_BUCKETS`] in nanoseconds, compared against on every request.
const BUCKET_NANOS: [u64; 16] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

const SERIES: usize = METHODS.len() * STATUS_CLASSES.len() * PROTOCOLS.len();

/// One slot of a site's request counters.
#[derive(Debug)]
struct RequestSlot {
    /// By method, status class and protocol: see [`series`].
    requests: [AtomicU64; SERIES],
    bytes: AtomicU64,
    /// Per bucket (not cumulative); the last is `+Inf`.
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    nanos: AtomicU64,
}

impl Default for RequestSlot {
    fn default() -> Self {
        RequestSlot {
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            bytes: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            nanos: AtomicU64::new(0),
        }
    }
}

/// The index of a series in [`RequestSlot::requests`].
fn series(method: usize, class: usize, protocol: usize) -> usize {
    (method * STATUS_CLASSES.len() + class) * PROTOCOLS.len() + protocol
}

/// The index in [`METHODS`] of a method.
pub fn method_index(method: &http::Method) -> usize {
    use http::Method;
    // Compared in order of how common they are.
    if *method == Method::GET {
        0
    } else if *method == Method::HEAD {
        1
    } else if *method == Method::POST {
        2
    } else if *method == Method::PUT {
        3
    } else if *method == Method::DELETE {
        4
    } else if *method == Method::OPTIONS {
        5
    } else {
        6
    }
}

/// The index in [`STATUS_CLASSES`] of a status (a status outside 100..=599
/// cannot be made by `http`; it would count as 5xx).
pub fn class_index(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}

/// One response, as counted.
#[derive(Debug, Clone, Copy)]
pub struct Response {
    /// Index in [`METHODS`].
    pub method: usize,
    /// Index in [`STATUS_CLASSES`].
    pub class: usize,
    /// Index in [`PROTOCOLS`].
    pub protocol: usize,
    /// Body bytes sent.
    pub bytes: u64,
    /// From the first byte of the request to the last of the response.
    pub duration: Duration,
}

/// The request counters of one site.
#[derive(Debug, Default)]
pub struct Requests(Sharded<RequestSlot>);

impl Requests {
    /// Counts one response: four relaxed adds on this thread's slot.
    pub fn record(&self, r: Response) {
        let slot = self.0.local();
        let relaxed = Ordering::Relaxed;
        if let Some(n) = slot.requests.get(series(r.method, r.class, r.protocol)) {
            n.fetch_add(1, relaxed);
        }
        slot.bytes.fetch_add(r.bytes, relaxed);
        let nanos = u64::try_from(r.duration.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BUCKET_NANOS
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(BUCKET_NANOS.len());
        if let Some(b) = slot.buckets.get(bucket) {
            b.fetch_add(1, relaxed);
        }
        slot.nanos.fetch_add(nanos, relaxed);
    }

    /// The sums over every slot.
    pub fn snapshot(&self) -> RequestsSnapshot {
        let mut out = RequestsSnapshot {
            requests: [0; SERIES],
            bytes: 0,
            buckets: [0; DURATION_BUCKETS.len() + 1],
            nanos: 0,
        };
        let relaxed = Ordering::Relaxed;
        for slot in self.0.all() {
            for (sum, v) in out.requests.iter_mut().zip(&slot.requests) {
                *sum = sum.wrapping_add(v.load(relaxed));
            }
            out.bytes = out.bytes.wrapping_add(slot.bytes.load(relaxed));
            for (sum, v) in out.buckets.iter_mut().zip(&slot.buckets) {
                *sum = sum.wrapping_add(v.load(relaxed));
            }
            out.nanos = out.nanos.wrapping_add(slot.nanos.load(relaxed));
        }
        out
    }
}

/// A site's request counters at one moment.
#[derive(Debug, Clone)]
pub struct RequestsSnapshot {
    requests: [u64; SERIES],
    /// Body bytes sent.
    pub bytes: u64,
    /// Responses per duration bucket (not cumulative; the last is `+Inf`).
    pub buckets: [u64; DURATION_BUCKETS.len() + 1],
    /// Total duration, in nanoseconds.
    pub nanos: u64,
}

impl RequestsSnapshot {
    /// Responses counted with these label indexes.
    pub fn requests(&self, method: usize, class: usize, protocol: usize) -> u64 {
        self.requests
            .get(series(method, class, protocol))
            .copied()
            .unwrap_or(0)
    }

    /// Responses counted in all.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// Hits and misses of one cache.
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Lookups answered from the cache.
    pub hits: Counter,
    /// Lookups that were not.
    pub misses: Counter,
}

/// One cache at one moment, for the exporter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheFigures {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that were not.
    pub misses: u64,
    /// Bytes held.
    pub bytes: u64,
}

impl CacheCounters {
    /// The figures, with `bytes` held.
    pub fn figures(&self, bytes: usize) -> CacheFigures {
        CacheFigures {
            hits: self.hits.get(),
            misses: self.misses.get(),
            bytes: u64::try_from(bytes).unwrap_or(u64::MAX),
        }
    }
}

/// Everything a server counts besides its caches (which count themselves):
/// requests per site, connections, TLS handshake failures, reloads. Shared
/// by the generations of one server, so counters survive reloads.
#[derive(Debug)]
pub struct Metrics {
    /// Connections open, by [`PROTOCOLS`] index.
    pub connections: [Gauge; PROTOCOLS.len()],
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: Counter,
    /// Responses that no site answered (malformed requests, unknown hosts).
    pub unrouted: Arc<Requests>,
    sites: Mutex<Vec<(Arc<str>, Arc<Requests>)>>,
    last_reload_ok: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            connections: Default::default(),
            tls_handshake_failures: Counter::default(),
            unrouted: Arc::default(),
            sites: Mutex::new(Vec::new()),
            last_reload_ok: AtomicBool::new(true),
        }
    }
}

impl Metrics {
    /// The counters of the site labelled `label`, made on first use: called
    /// when a configuration is built, never per request.
    pub fn site(&self, label: &str) -> Arc<Requests> {
        let Ok(mut sites) = self.sites.lock() else {
            return Arc::default();
        };
        if let Some((_, counters)) = sites.iter().find(|(l, _)| &**l == label) {
            return counters.clone();
        }
        let counters = Arc::<Requests>::default();
        sites.push((Arc::from(label), counters.clone()));
        counters
    }

    /// Every site's counters, by label, in the order first built (sites a
    /// reload removed included: their counts stay).
    pub fn sites(&self) -> Vec<(Arc<str>, Arc<Requests>)> {
        self.sites.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Records how the last reload went.
    pub fn set_last_reload_ok(&self, ok: bool) {
        // Release/Acquire: whoever reads the outcome sees what came before it
        // (the swapped generation).
        self.last_reload_ok.store(ok, Ordering::Release);
    }

    /// Whether the last reload succeeded (true before any).
    pub fn last_reload_ok(&self) -> bool {
        self.last_reload_ok.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_across_threads() {
        let c = Arc::new(Counter::default());
        let g = Arc::new(Gauge::default());
        let threads: Vec<_> = (0..20)
            .map(|_| {
                let (c, g) = (c.clone(), g.clone());
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.inc();
                        g.add(1);
                    }
                    g.add(-500);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.get(), 20_000);
        assert_eq!(g.get(), 10_000);
    }

    #[test]
    fn labels_and_buckets() {
        assert_eq!(method_index(&http::Method::GET), 0);
        assert_eq!(method_index(&http::Method::OPTIONS), 5);
        assert_eq!(method_index(&http::Method::PATCH), 6);
        assert_eq!(method_index(&http::Method::from_bytes(b"BREW").unwrap()), 6);
        for (status, class) in [(100, 0), (204, 1), (308, 2), (404, 3), (503, 4), (599, 4)] {
            assert_eq!(class_index(status), class, "{status}");
        }
        let r = Requests::default();
        for (ms, method) in [(0, 0), (3, 1), (20_000, 0)] {
            r.record(Response {
                method,
                class: 1,
                protocol: 0,
                bytes: 10,
                duration: Duration::from_millis(ms),
            });
        }
        let s = r.snapshot();
        assert_eq!((s.requests(0, 1, 0), s.requests(1, 1, 0)), (2, 1));
        assert_eq!((s.count(), s.bytes), (3, 30));
        assert_eq!(s.buckets[0], 1, "0 ms is in the first bucket");
        assert_eq!(s.buckets[5], 1, "3 ms is at most 5 ms");
        assert_eq!(s.buckets[16], 1, "20 s is past the last bound");
        assert_eq!(s.nanos, 20_003_000_000);
        assert_eq!(BUCKET_NANOS.len(), DURATION_BUCKETS.len());
        for (n, s) in BUCKET_NANOS.iter().zip(DURATION_BUCKETS) {
            assert_eq!(*n, (s * 1e9).round() as u64);
        }
    }

    #[test]
    fn a_site_keeps_its_counters_across_builds() {
        let m = Metrics::default();
        let a = m.site("a.example");
        let again = m.site("a.example");
        assert!(Arc::ptr_eq(&a, &again));
        m.site("b.example");
        let labels: Vec<String> = m.sites().iter().map(|(l, _)| l.to_string()).collect();
        assert_eq!(labels, ["a.example", "b.example"]);
    }
}
