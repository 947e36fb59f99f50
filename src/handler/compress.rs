//! On-the-fly compression of responses: the options, the limits on work in
//! progress, and the compressing body. What is worth compressing, the levels
//! and the encoders themselves are in `codec`.
//!
//! The on-the-fly body ([`Compressor::compress_stream`]) is pulled, not pushed:
//! each time the connection asks for the next chunk and none is ready, one
//! bounded *step* (at most [`STEP_INPUT`] bytes read with `pread` and fed to
//! the encoder) runs on the blocking pool, under a permit of a semaphore of
//! [`CompressOptions::max_jobs`] permits, and yields the output so far. So:
//!
//! - no CPU-heavy work runs on a runtime thread (encoders are even dropped in
//!   the blocking pool);
//! - compression never uses more than `max_jobs` threads at once;
//! - a slow client holds no thread and no permit, only its encoder's memory,
//!   and the number of such encoders is bounded by
//!   [`CompressOptions::max_streams`] (past it the caller sends identity);
//! - memory per response is bounded: one read buffer, the encoder's state, one
//!   step's output, and the output collected for the cache (at most
//!   [`CompressCache::max_entry`]);
//! - a client that goes away stops the work at once: the stream is dropped,
//!   at most the step already running finishes, and nothing starts after it;
//! - while the connection writes a chunk the next step already runs if a permit
//!   is free, so compression and sending overlap.
//!
//! A stream that covers a whole file and whose output fits the cache hands the
//! complete output to the [`CompressCache`] at its end, once the file's
//! metadata is checked unchanged; the next request is then served from memory
//! with an exact Content-Length ([`Compressor::cached`]).

use std::fs::File;
use std::future::Future;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::PollSemaphore;

use super::compress_cache::{CacheKey, CompressCache, DEFAULT_CACHE_BYTES};
use crate::body::{Body, ChunkStream};
use crate::codec::{is_compressible, Encoder, Encoding, Levels, MAX_SIZE, MIN_SIZE, ON_THE_FLY};

/// On-the-fly responses in progress at most; past it the caller sends
/// identity. Each holds an encoder (measured: brotli 5 with its 1 MiB window
/// about 5.5 MiB, zstd 3 about 3 MiB, gzip 0.3 MiB), so a crowd of slow
/// clients costs at most about 100 MiB of encoder state. More would not be
/// faster: steps are already queued for [`CompressOptions::max_jobs`] threads.
pub const DEFAULT_MAX_STREAMS: usize = 16;

/// Bytes read from the file at once.
pub const READ_CHUNK: usize = 64 * 1024;

/// Input one step compresses at most (256 KiB): a few milliseconds of CPU, so
/// a permit is never held long and streams take turns fairly.
pub const STEP_INPUT: usize = 256 * 1024;

/// Output a step aims to produce before it returns (16 KiB): chunks of a useful
/// size for the socket, without holding input back long.
pub const OUT_CHUNK: usize = 16 * 1024;

/// How responses are compressed; filled from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressOptions {
    /// Whether responses are compressed on the fly at all.
    pub enabled: bool,
    /// Smallest file compressed.
    pub min_size: u64,
    /// Largest file compressed on the fly.
    pub max_size: u64,
    /// Bound on the compressed-response cache, bytes (`--compress-cache-size`);
    /// 0 disables it.
    pub cache_bytes: usize,
    /// Compression steps running at once (threads busy compressing).
    pub max_jobs: usize,
    /// On-the-fly responses in progress at once.
    pub max_streams: usize,
    /// Encoder levels.
    pub levels: Levels,
}

impl Default for CompressOptions {
    fn default() -> Self {
        CompressOptions {
            enabled: true,
            min_size: MIN_SIZE,
            max_size: MAX_SIZE,
            cache_bytes: DEFAULT_CACHE_BYTES,
            max_jobs: default_jobs(),
            max_streams: DEFAULT_MAX_STREAMS,
            levels: ON_THE_FLY,
        }
    }
}

impl CompressOptions {
    /// Whether a file of this type and length should be compressed on the fly:
    /// enabled, a compressible type, and within the size limits.
    pub fn wants(&self, content_type: &str, len: u64) -> bool {
        self.enabled
            && len >= self.min_size
            && len <= self.max_size
            && is_compressible(content_type)
    }
}

/// Compression steps at once by default: half the cores, at least one.
/// Compression is the most CPU-hungry thing the server does; the other half
/// keeps TLS, sendfile and cache hits responsive during a burst of it. On a
/// 2-core machine that is one.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() / 2)
        .unwrap_or(1)
        .max(1)
}

/// On-the-fly compression for a handler: options, the job and stream limits,
/// and the cache. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Compressor {
    shared: Arc<Shared>,
}

struct Shared {
    options: CompressOptions,
    cache: CompressCache,
    /// One permit per step running (CPU bound).
    jobs: Arc<Semaphore>,
    /// One permit per stream alive (memory bound).
    streams: Arc<Semaphore>,
    running: AtomicUsize,
    peak_running: AtomicUsize,
    steps: AtomicU64,
    /// Responses sent as identity because every stream slot was taken.
    fallbacks: crate::metrics::Counter,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("options", &self.shared.options)
            .field("cache_entries", &self.shared.cache.len())
            .field("active_streams", &self.active_streams())
            .finish()
    }
}

impl Compressor {
    /// A compressor with its own cache and limits. Zero limits count as one.
    pub fn new(options: CompressOptions) -> Compressor {
        let jobs = options.max_jobs.max(1);
        let streams = options.max_streams.max(1);
        Compressor {
            shared: Arc::new(Shared {
                cache: CompressCache::new(options.cache_bytes),
                options,
                jobs: Arc::new(Semaphore::new(jobs)),
                streams: Arc::new(Semaphore::new(streams)),
                running: AtomicUsize::new(0),
                peak_running: AtomicUsize::new(0),
                steps: AtomicU64::new(0),
                fallbacks: Default::default(),
            }),
        }
    }

    /// The options it was made with.
    pub fn options(&self) -> &CompressOptions {
        &self.shared.options
    }

    /// The compressed-response cache.
    pub fn cache(&self) -> &CompressCache {
        &self.shared.cache
    }

    /// Whether a file of this type and length should be compressed on the fly:
    /// enabled, a compressible type, and within the size limits.
    pub fn wants(&self, content_type: &str, len: u64) -> bool {
        self.shared.options.wants(content_type, len)
    }

    /// The complete compressed body for `key`, when an earlier response left it.
    pub fn cached(&self, key: &CacheKey) -> Option<Bytes> {
        self.shared.cache.get(key)
    }

    /// Streams `len` bytes of `file` from `offset`, compressed with `encoding`,
    /// as a `Body::Stream`. No work starts until the body is first polled (a
    /// HEAD response costs nothing). A file that ends before `offset + len`
    /// ends the stream with an error (`UnexpectedEof`), so a shrunk file is
    /// never sent as a complete response.
    ///
    /// `fill`: the key of the whole file (`offset` 0, `len` its size); the
    /// output is then collected while it fits the cache's per-entry limit and
    /// cached at the end if the file's metadata still matches the key.
    ///
    /// `None` when `encoding` is identity or [`CompressOptions::max_streams`]
    /// streams are in progress: send the file as it is.
    pub fn compress_stream(
        &self,
        file: Arc<File>,
        offset: u64,
        len: u64,
        encoding: Encoding,
        fill: Option<CacheKey>,
    ) -> Option<Body> {
        if encoding == Encoding::Identity {
            return None;
        }
        let Ok(slot) = self.shared.streams.clone().try_acquire_owned() else {
            self.shared.fallbacks.inc();
            return None;
        };
        let fill = fill
            .filter(|key| {
                offset == 0
                    && key.size() == len
                    && key.encoding() == encoding
                    && self.shared.cache.admits(key, 0)
            })
            .map(|key| Fill {
                key,
                parts: Vec::new(),
                len: 0,
            });
        let end = offset.saturating_add(len);
        let job = Job {
            shared: self.shared.clone(),
            file,
            pos: offset,
            end,
            encoding,
            encoder: None,
            buf: Vec::new(),
            fill,
        };
        let stream = CompressStream {
            jobs: PollSemaphore::new(self.shared.jobs.clone()),
            state: State::Idle(Box::new(job)),
            _slot: slot,
        };
        Some(Body::Stream(Box::pin(stream)))
    }

    /// Streams in progress (bodies made and not yet dropped).
    pub fn active_streams(&self) -> usize {
        self.shared.options.max_streams.max(1) - self.shared.streams.available_permits()
    }

    /// Responses sent uncompressed because [`CompressOptions::max_streams`]
    /// streams were in progress.
    pub fn fallbacks(&self) -> u64 {
        self.shared.fallbacks.get()
    }

    /// Compression steps running right now.
    pub fn running_jobs(&self) -> usize {
        self.shared.running.load(Ordering::Relaxed)
    }
}

/// Output collected for the cache while it fits.
struct Fill {
    key: CacheKey,
    parts: Vec<Bytes>,
    len: usize,
}

/// What one step produced.
enum Step {
    /// More to come.
    Chunk(Bytes),
    /// The last chunk: the stream is complete.
    End(Bytes),
}

/// The compression of one response, moved to the blocking pool for each step.
struct Job {
    shared: Arc<Shared>,
    file: Arc<File>,
    pos: u64,
    end: u64,
    encoding: Encoding,
    /// Made by the first step: making one allocates megabytes, off the runtime.
    encoder: Option<Encoder<Vec<u8>>>,
    buf: Vec<u8>,
    fill: Option<Fill>,
}

impl Job {
    /// Reads and compresses up to [`STEP_INPUT`] bytes; at the end of the
    /// input, finishes the stream and fills the cache.
    fn step(&mut self) -> io::Result<Step> {
        if self.buf.is_empty() {
            self.buf = vec![0; READ_CHUNK];
        }
        let encoder = match &mut self.encoder {
            Some(encoder) => encoder,
            None => self.encoder.insert(Encoder::new(
                self.encoding,
                &self.shared.options.levels,
                Some(self.end - self.pos),
                Vec::with_capacity(OUT_CHUNK * 2),
            )?),
        };
        let mut consumed = 0;
        while self.pos < self.end {
            let want = (self.end - self.pos).min(self.buf.len() as u64) as usize;
            let n = match self.file.read_at(&mut self.buf[..want], self.pos) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while being compressed",
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            encoder.write_all(&self.buf[..n])?;
            self.pos += n as u64;
            consumed += n;
            if consumed >= STEP_INPUT && encoder.get_ref().is_empty() {
                // Brotli holds up to twice its window of input before it
                // emits anything: flushed here, an encoder holds 5 MiB instead
                // of 10, output flows every step, and the cost is under 0.2%
                // of size (measured on 3 MiB of text).
                encoder.flush()?;
            }
            if encoder.get_ref().len() >= OUT_CHUNK || consumed >= STEP_INPUT {
                let out = std::mem::replace(encoder.get_mut(), Vec::with_capacity(OUT_CHUNK * 2));
                let out = Bytes::from(out);
                self.collect(&out);
                return Ok(Step::Chunk(out));
            }
        }
        let out = match self.encoder.take() {
            Some(encoder) => Bytes::from(encoder.finish()?),
            None => Bytes::new(),
        };
        self.collect(&out);
        self.fill_cache();
        Ok(Step::End(out))
    }

    fn collect(&mut self, out: &Bytes) {
        let Some(fill) = &mut self.fill else { return };
        fill.len += out.len();
        if !self.shared.cache.admits(&fill.key, fill.len) {
            // Too big to cache: stop collecting and free what was kept.
            self.fill = None;
            return;
        }
        if !out.is_empty() {
            fill.parts.push(out.clone());
        }
    }

    fn fill_cache(&mut self) {
        let Some(fill) = self.fill.take() else { return };
        // A file changed while read gave output of no one version: not cached.
        match self.file.metadata() {
            Ok(meta) if fill.key.matches(&meta) => {}
            _ => return,
        }
        // One buffer of the exact size: the cache charges what it holds.
        let mut whole = Vec::with_capacity(fill.len);
        for part in &fill.parts {
            whole.extend_from_slice(part);
        }
        self.shared.cache.insert(fill.key, Bytes::from(whole));
    }
}

type StepResult = (Box<Job>, io::Result<Step>);

enum State {
    /// Waiting to be asked for a chunk, or for a permit.
    Idle(Box<Job>),
    /// A step runs in the blocking pool.
    Running(JoinHandle<StepResult>),
    Done,
}

/// The `ChunkStream` of an on-the-fly compressed body.
struct CompressStream {
    jobs: PollSemaphore,
    state: State,
    /// Held while the stream lives: the bound on encoders in memory.
    _slot: OwnedSemaphorePermit,
}

impl CompressStream {
    /// Starts a step in the blocking pool, holding `permit` while it runs.
    fn start(&mut self, job: Box<Job>, permit: OwnedSemaphorePermit) -> io::Result<()> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| io::Error::other("compression needs a tokio runtime"))?;
        self.state = State::Running(handle.spawn_blocking(move || {
            let mut job = job;
            let shared = job.shared.clone();
            let now = shared.running.fetch_add(1, Ordering::Relaxed) + 1;
            shared.peak_running.fetch_max(now, Ordering::Relaxed);
            shared.steps.fetch_add(1, Ordering::Relaxed);
            let result = job.step();
            shared.running.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            (job, result)
        }));
        Ok(())
    }
}

impl ChunkStream for CompressStream {
    fn poll_chunk(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Idle(job) => match this.jobs.poll_acquire(cx) {
                    Poll::Pending => {
                        this.state = State::Idle(job);
                        return Poll::Pending;
                    }
                    Poll::Ready(None) => {
                        return Poll::Ready(Some(Err(io::Error::other("compression shut down"))))
                    }
                    Poll::Ready(Some(permit)) => {
                        if let Err(e) = this.start(job, permit) {
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                },
                State::Running(mut handle) => match Pin::new(&mut handle).poll(cx) {
                    Poll::Pending => {
                        this.state = State::Running(handle);
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(io::Error::other(e)))),
                    Poll::Ready(Ok((_, Err(e)))) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok((_, Ok(Step::End(out))))) => {
                        return Poll::Ready((!out.is_empty()).then_some(Ok(out)))
                    }
                    Poll::Ready(Ok((job, Ok(Step::Chunk(out))))) => {
                        // Start the next step now if a permit is free, so it
                        // runs while this chunk is written; else wait to be
                        // polled. (try_acquire never jumps the queue.)
                        match this.jobs.clone_inner().try_acquire_owned() {
                            Ok(permit) => {
                                if let Err(e) = this.start(job, permit) {
                                    return Poll::Ready(Some(Err(e)));
                                }
                            }
                            Err(_) => this.state = State::Idle(job),
                        }
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(out)));
                        }
                    }
                },
            }
        }
    }
}

impl Drop for CompressStream {
    fn drop(&mut self) {
        // An encoder's memory is megabytes and gzip's finishes on drop: let the
        // blocking pool free it, not the runtime thread dropping the body.
        if let State::Idle(job) = std::mem::replace(&mut self.state, State::Done) {
            if job.encoder.is_some() {
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    handle.spawn_blocking(move || drop(job));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codec::encoder::tests::{decode, text};
    use std::path::Path;
    use std::time::{Duration, Instant};

    #[test]
    fn mime_table_agrees() {
        use crate::files::mime::content_type;
        for (name, want) in [
            ("a.html", true),
            ("a.css", true),
            ("a.js", true),
            ("a.mjs", true),
            ("a.json", true),
            ("a.svg", true),
            ("a.xml", true),
            ("a.txt", true),
            ("a.wasm", true),
            ("a.ico", true),
            ("a.ttf", true),
            ("a.otf", true),
            ("a.eot", true),
            ("a.webmanifest", true),
            ("a.png", false),
            ("a.jpg", false),
            ("a.webp", false),
            ("a.woff", false),
            ("a.woff2", false),
            ("a.mp4", false),
            ("a.zip", false),
            ("a.gz", false),
            ("a.br", false),
            ("a.zst", false),
            ("noext", false),
        ] {
            let ct = content_type(Path::new(name));
            assert_eq!(is_compressible(&ct), want, "{name} ({ct})");
        }
    }

    fn temp_file(data: &[u8]) -> (tempfile::NamedTempFile, Arc<File>) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(data).unwrap();
        f.flush().unwrap();
        let file = Arc::new(File::open(f.path()).unwrap());
        (f, file)
    }

    fn stream_of(body: Body) -> Pin<Box<dyn ChunkStream>> {
        match body {
            Body::Stream(s) => s,
            other => panic!("not a stream: {other:?}"),
        }
    }

    async fn next(stream: &mut Pin<Box<dyn ChunkStream>>) -> Option<io::Result<Bytes>> {
        std::future::poll_fn(|cx| stream.as_mut().poll_chunk(cx)).await
    }

    /// All chunks, or the first error.
    async fn drain(body: Body) -> (io::Result<Vec<u8>>, usize) {
        let mut stream = stream_of(body);
        let mut out = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = next(&mut stream).await {
            match chunk {
                Ok(c) => {
                    assert!(!c.is_empty(), "empty chunk sent");
                    chunks += 1;
                    out.extend_from_slice(&c);
                }
                Err(e) => return (Err(e), chunks),
            }
        }
        (Ok(out), chunks)
    }

    fn compressor(jobs: usize, streams: usize) -> Compressor {
        Compressor::new(CompressOptions {
            max_jobs: jobs,
            max_streams: streams,
            ..CompressOptions::default()
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streams_decode_to_the_original() {
        let data = text(1024 * 1024);
        let (_tmp, file) = temp_file(&data);
        let c = compressor(2, 8);
        for encoding in [Encoding::Br, Encoding::Zstd, Encoding::Gzip] {
            let started = Instant::now();
            let body = c
                .compress_stream(file.clone(), 0, data.len() as u64, encoding, None)
                .unwrap();
            assert!(body.len().is_none());
            let (out, chunks) = drain(body).await;
            let out = out.unwrap();
            let elapsed = started.elapsed();
            assert!(chunks > 1, "{encoding:?}: {chunks} chunk(s)");
            assert_eq!(decode(encoding, &out), data, "{encoding:?}");
            eprintln!(
                "{:>4}: 1 MiB text -> {} bytes, ratio {:.2}, {:.1} MB/s, {chunks} chunks{}",
                encoding.token(),
                out.len(),
                data.len() as f64 / out.len() as f64,
                data.len() as f64 / 1e6 / elapsed.as_secs_f64(),
                if cfg!(debug_assertions) {
                    " (debug build)"
                } else {
                    ""
                }
            );
        }
        assert_eq!(c.active_streams(), 0);
    }

    #[tokio::test]
    async fn a_slice_of_the_file() {
        let data = text(300_000);
        let (_tmp, file) = temp_file(&data);
        let c = compressor(1, 4);
        let body = c
            .compress_stream(file, 1000, 200_000, Encoding::Gzip, None)
            .unwrap();
        let (out, _) = drain(body).await;
        assert_eq!(decode(Encoding::Gzip, &out.unwrap()), &data[1000..201_000]);
    }

    #[tokio::test]
    async fn a_short_file_ends_with_an_error() {
        let data = text(500_000);
        let (_tmp, file) = temp_file(&data);
        let c = compressor(1, 4);
        for encoding in [Encoding::Br, Encoding::Zstd, Encoding::Gzip] {
            // As if the file had shrunk after its length was taken.
            let body = c
                .compress_stream(file.clone(), 0, 600_000, encoding, None)
                .unwrap();
            let (out, _) = drain(body).await;
            let err = out.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{encoding:?}");
        }
    }

    #[tokio::test]
    async fn a_file_truncated_while_streaming_ends_with_an_error() {
        let data = text(2 * 1024 * 1024);
        let (tmp, file) = temp_file(&data);
        let c = compressor(1, 4);
        let body = c
            .compress_stream(file, 0, data.len() as u64, Encoding::Zstd, None)
            .unwrap();
        let mut stream = stream_of(body);
        assert!(next(&mut stream).await.unwrap().is_ok());
        std::fs::OpenOptions::new()
            .write(true)
            .open(tmp.path())
            .unwrap()
            .set_len(100_000)
            .unwrap();
        let mut failed = false;
        while let Some(chunk) = next(&mut stream).await {
            if let Err(e) = chunk {
                assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
                failed = true;
                break;
            }
        }
        assert!(failed, "stream ended cleanly on a truncated file");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_stream_stops() {
        let data = text(4 * 1024 * 1024);
        let (_tmp, file) = temp_file(&data);
        let c = compressor(1, 4);
        let body = c
            .compress_stream(file, 0, data.len() as u64, Encoding::Gzip, None)
            .unwrap();
        assert_eq!(c.active_streams(), 1);
        let mut stream = stream_of(body);
        assert!(next(&mut stream).await.unwrap().is_ok());
        drop(stream);
        assert_eq!(c.active_streams(), 0, "the stream slot is freed at once");
        // At most the step already running finishes.
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.running_jobs() > 0 || c.shared.jobs.available_permits() < 1 {
            assert!(Instant::now() < deadline, "step still running");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let steps = c.shared.steps.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            c.shared.steps.load(Ordering::Relaxed),
            steps,
            "work went on"
        );
        let needed = data.len() as u64 / STEP_INPUT as u64;
        assert!(steps <= 3 && steps < needed, "{steps} steps of {needed}");
    }

    #[tokio::test]
    async fn an_unpolled_body_does_nothing() {
        let data = text(100_000);
        let (_tmp, file) = temp_file(&data);
        let c = compressor(1, 4);
        let body = c.compress_stream(file, 0, 100_000, Encoding::Br, None);
        drop(body);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(c.shared.steps.load(Ordering::Relaxed), 0);
        assert_eq!(c.active_streams(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrency_is_bounded() {
        let data = text(1024 * 1024);
        let (_tmp, file) = temp_file(&data);
        let c = compressor(2, 16);
        let mut tasks = Vec::new();
        for i in 0..8 {
            let encoding = [Encoding::Br, Encoding::Zstd, Encoding::Gzip][i % 3];
            let body = c
                .compress_stream(file.clone(), 0, data.len() as u64, encoding, None)
                .unwrap();
            tasks.push(tokio::spawn(async move { (encoding, drain(body).await.0) }));
        }
        assert_eq!(c.active_streams(), 8);
        for task in tasks {
            let (encoding, out) = task.await.unwrap();
            assert_eq!(decode(encoding, &out.unwrap()), data);
        }
        let peak = c.shared.peak_running.load(Ordering::Relaxed);
        assert!((1..=2).contains(&peak), "peak {peak} steps at once");
        assert_eq!(c.running_jobs(), 0);
    }

    #[tokio::test]
    async fn streams_are_bounded() {
        let (_tmp, file) = temp_file(&text(10_000));
        let c = compressor(1, 2);
        let a = c.compress_stream(file.clone(), 0, 10_000, Encoding::Br, None);
        let b = c.compress_stream(file.clone(), 0, 10_000, Encoding::Br, None);
        assert!(a.is_some() && b.is_some());
        assert!(c
            .compress_stream(file.clone(), 0, 10_000, Encoding::Br, None)
            .is_none());
        drop(a);
        assert!(c
            .compress_stream(file.clone(), 0, 10_000, Encoding::Br, None)
            .is_some());
        assert!(c
            .compress_stream(file, 0, 10_000, Encoding::Identity, None)
            .is_none());
    }

    #[tokio::test]
    async fn a_complete_stream_fills_the_cache() {
        let data = text(300_000);
        let (tmp, file) = temp_file(&data);
        let meta = file.metadata().unwrap();
        let c = compressor(1, 4);
        for encoding in [Encoding::Br, Encoding::Zstd, Encoding::Gzip] {
            let key = CacheKey::new("a.js", &meta, encoding);
            assert!(c.cached(&key).is_none());
            let body = c
                .compress_stream(
                    file.clone(),
                    0,
                    data.len() as u64,
                    encoding,
                    Some(key.clone()),
                )
                .unwrap();
            let (out, _) = drain(body).await;
            let out = out.unwrap();
            assert_eq!(c.cached(&key).unwrap(), out, "{encoding:?}");
        }
        assert_eq!(c.cache().len(), 3);

        // A slice is never cached as the whole file.
        let key = CacheKey::new("b.js", &meta, Encoding::Br);
        let body = c
            .compress_stream(file.clone(), 0, 1000, Encoding::Br, Some(key.clone()))
            .unwrap();
        drain(body).await.0.unwrap();
        assert!(c.cached(&key).is_none());

        // A file whose metadata changed since the key was taken is not cached.
        let key = CacheKey::new("c.js", &meta, Encoding::Gzip);
        std::fs::File::options()
            .write(true)
            .open(tmp.path())
            .unwrap()
            .set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1))
            .unwrap();
        let body = c
            .compress_stream(
                file.clone(),
                0,
                data.len() as u64,
                Encoding::Gzip,
                Some(key.clone()),
            )
            .unwrap();
        drain(body).await.0.unwrap();
        assert!(c.cached(&key).is_none());
    }

    #[tokio::test]
    async fn output_too_big_for_the_cache_is_not_collected() {
        let data = text(300_000);
        let (_tmp, file) = temp_file(&data);
        let meta = file.metadata().unwrap();
        // max_entry = 8 KiB: far less than the compressed output.
        let c = Compressor::new(CompressOptions {
            cache_bytes: 64 * 1024,
            max_jobs: 1,
            ..CompressOptions::default()
        });
        let key = CacheKey::new("a.js", &meta, Encoding::Br);
        let body = c
            .compress_stream(file, 0, data.len() as u64, Encoding::Br, Some(key.clone()))
            .unwrap();
        drain(body).await.0.unwrap();
        assert!(c.cached(&key).is_none());
        assert_eq!(c.cache().bytes_held(), 0);
    }

    #[test]
    fn wants_respects_options() {
        let c = Compressor::new(CompressOptions::default());
        assert!(c.wants("text/css", 5000));
        assert!(!c.wants("text/css", MIN_SIZE - 1));
        assert!(c.wants("text/css", MIN_SIZE));
        assert!(c.wants("text/css", MAX_SIZE));
        assert!(!c.wants("text/css", MAX_SIZE + 1));
        assert!(!c.wants("image/png", 5000));
        let off = Compressor::new(CompressOptions {
            enabled: false,
            ..CompressOptions::default()
        });
        assert!(!off.wants("text/css", 5000));
    }
}
