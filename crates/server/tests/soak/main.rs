//! Fault and soak harness: many real-time streams against one server for a while, with client
//! faults (TCP resets, half-closed sockets, readers that never read, slow writers, KeepAlive-only
//! sessions, reconnect storms) and server faults (engine errors, engine panics, engine stalls
//! that fill the scheduler's queue) injected throughout. It reports, and asserts:
//!
//! - every session that got an answer ended with a documented close code (1000, or 1011 when an
//!   engine fault hit it), and no cleanly closed session lost a final: its finals cover every
//!   second of audio sent, each with the engine's words, and `Metadata.duration` is what was sent;
//! - after all sessions end the server holds none (`hark_sessions_active` 0), and the process
//!   is back to its file descriptors and threads of before the run;
//! - resident memory flat after a warm-up under the full load (allocators keep what the first
//!   sessions touched; growth after that beyond 25% + 16 MiB fails).
//!
//! `HARK_SOAK_SECS` (default 40) and `HARK_SOAK_STREAMS` (clean real-time streams at once,
//! default 6) size it; CI runs the default, `bench/soak.sh` runs it for an hour.

mod clients;
mod engine;
mod process;

use clients::{Kind, Outcome};
use hark_asr::{ModelRegistry, Scheduler, SchedulerConfig};
use hark_server::{Server, ServerConfig};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The server under test, in this process: real sockets, the real session code, a faulty engine.
/// Windows the scheduler's queue holds: small, so that engine stalls fill it.
const QUEUE_CAPACITY: usize = 12;

async fn start_server(
    faults: engine::Faults,
) -> (SocketAddr, std::sync::Arc<engine::Counts>, Scheduler) {
    let (engine, counts) = engine::FaultyEngine::new(faults);
    let scheduler = Scheduler::spawn(
        Box::new(engine),
        SchedulerConfig {
            max_streams: 24,
            max_batch: 8,
            queue_capacity: QUEUE_CAPACITY,
            max_bulk_batch: 2,
        },
    )
    .expect("spawn engine");
    let mut registry = ModelRegistry::new();
    registry.insert(scheduler.clone());
    let config = ServerConfig {
        vad: false,
        idle_timeout_ms: 5_000,
        send_timeout_ms: 3_000,
        ..ServerConfig::default()
    };
    let server = Server::new(config, registry);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(server.serve(listener, std::future::pending()));
    (addr, counts, scheduler)
}

/// The value of a metric line `name{…} value` (summed over labels) in `/metrics` text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn metrics_text() -> String {
    hark_server::metrics::handle().map_or_else(String::new, |h| h.render())
}

#[test]
fn soak_with_faults() {
    let secs = env_or("HARK_SOAK_SECS", 40);
    let streams = env_or("HARK_SOAK_STREAMS", 6) as usize;
    // The injected panics print one line: with RUST_BACKTRACE set, the default hook would load
    // the test binary's debug info (about 110 MiB, kept for the process's life) at the first
    // one, which is the backtrace machinery's memory, not the server's.
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let faults = engine::Faults {
            error_every: 97,
            panic_every: 151,
            stall_every: 61,
            stall: Duration::from_millis(1500),
        };
        let (addr, counts, scheduler) = start_server(faults).await;
        let url = format!("ws://{addr}/v1/listen?encoding=linear16&sample_rate=16000");

        // Warm-up: one clean session of each size the run uses, then the baseline.
        let warm = clients::run(Kind::Clean, &url, 0).await;
        assert_eq!(warm.close, Some(1000), "warm-up: {warm:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = process::Snapshot::now();

        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        let kinds: Vec<Kind> = std::iter::repeat_n(Kind::Clean, streams)
            .chain(Kind::FAULTS.iter().copied())
            .collect();
        for (i, kind) in kinds.into_iter().enumerate() {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    out.extend(clients::run_batch(kind, &url, (i as u64) << 32 | n).await);
                    n += 1;
                }
                out
            }));
        }
        // Memory is judged after a warm-up under the full load (a quarter of the run, at least
        // 10 s): allocators keep what the first sessions touched, and that is no leak.
        let warm_up = Duration::from_secs((secs / 4).max(10));
        let started = Instant::now();
        let (mut warm_rss, mut peak_rss, mut peak_queue) = (0, 0, 0);
        let mut outcomes: Vec<Outcome> = Vec::new();
        let sampler = async {
            while Instant::now() < deadline {
                let rss = process::Snapshot::now().rss_kib;
                peak_rss = peak_rss.max(rss);
                if started.elapsed() <= warm_up {
                    warm_rss = peak_rss;
                }
                // Sampled often enough to see the queue full during a 1.5 s stall.
                for _ in 0..10 {
                    peak_queue = peak_queue.max(scheduler.waiting_windows());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let (_, results) = tokio::join!(sampler, futures_util::future::join_all(tasks));
        for r in results {
            outcomes.extend(r.expect("client task"));
        }

        // Every session is over on the server's side too, within the send/idle timeouts.
        let settle = Instant::now();
        while metric(&metrics_text(), "hark_sessions_active") > 0.0
            && settle.elapsed() < Duration::from_secs(20)
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let active = metric(&metrics_text(), "hark_sessions_active");
        // Blocking-pool threads linger 10 s after their last job.
        let mut after = process::Snapshot::now();
        let settle = Instant::now();
        while (after.fds > before.fds || after.threads > before.threads)
            && settle.elapsed() < Duration::from_secs(20)
        {
            tokio::time::sleep(Duration::from_millis(500)).await;
            after = process::Snapshot::now();
        }

        let report = clients::Report::new(&outcomes);
        println!("soak: {secs} s, {streams} clean real-time streams plus one client of each fault kind");
        println!("{report}");
        println!(
            "server faults injected: {} engine errors, {} engine panics, {} engine stalls of 1.5 s ({} model calls); scheduler queue peak {peak_queue} of {QUEUE_CAPACITY} (full: further windows fail their sessions with 1011)",
            counts.errors(),
            counts.panics(),
            counts.stalls(),
            counts.calls(),
        );
        println!(
            "process: RSS {} MiB before the run, {} MiB after {} s of warm-up under load, {} MiB peak, {} MiB at the end; fds {} → {}; threads {} → {}; server sessions open at the end: {active}",
            before.rss_kib / 1024,
            warm_rss / 1024,
            warm_up.as_secs(),
            peak_rss / 1024,
            after.rss_kib / 1024,
            before.fds,
            after.fds,
            before.threads,
            after.threads,
        );

        assert!(report.sessions(Kind::Clean) > 0, "no clean session ran");
        assert_eq!(report.lost_finals(), 0, "finals lost:\n{report}");
        let undocumented = report.undocumented();
        assert!(undocumented.is_empty(), "undocumented endings: {undocumented:?}");
        assert!(counts.errors() + counts.panics() > 0, "no engine fault was injected");
        assert_eq!(active, 0.0, "sessions still open on the server");
        assert!(after.fds <= before.fds, "file descriptors leaked: {} → {}", before.fds, after.fds);
        assert!(
            after.threads <= before.threads,
            "threads leaked: {} → {}",
            before.threads,
            after.threads
        );
        // Flat after the warm-up: a leak of even 1 KiB a session would show over an hour.
        assert!(
            after.rss_kib <= warm_rss + warm_rss / 4 + 16 * 1024,
            "memory grew after the warm-up: {warm_rss} → {} KiB",
            after.rss_kib
        );
        let closes: BTreeMap<_, _> = report.closes_by_kind();
        assert!(
            closes.get(&Kind::KeepAliveOnly).is_some_and(|c| c.contains_key(&Some(1000))),
            "KeepAlive-only sessions end with 1000: {closes:?}"
        );
    });
}
