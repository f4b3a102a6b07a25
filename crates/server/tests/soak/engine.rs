//! A test double behind the real scheduler: a steady talker (a word every 0.5 s of audio) that
//! takes a few milliseconds a window, and on a schedule fails, panics or stalls. Never shipped.

use hark_asr::{AsrError, AudioWindow, Engine, ModelDescriptor, Transcript, WordTiming};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const RATE_HZ: u32 = 16_000;

/// Every `error_every`-th call fails, every `panic_every`-th panics, every `stall_every`-th
/// takes `stall` (windows queue up behind it meanwhile).
#[derive(Clone, Copy)]
pub struct Faults {
    pub error_every: u64,
    pub panic_every: u64,
    pub stall_every: u64,
    pub stall: Duration,
}

#[derive(Default)]
pub struct Counts {
    calls: AtomicU64,
    errors: AtomicU64,
    panics: AtomicU64,
    stalls: AtomicU64,
}

impl Counts {
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::SeqCst)
    }
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::SeqCst)
    }
    pub fn stalls(&self) -> u64 {
        self.stalls.load(Ordering::SeqCst)
    }
}

pub struct FaultyEngine {
    descriptor: ModelDescriptor,
    faults: Faults,
    counts: Arc<Counts>,
}

impl FaultyEngine {
    pub fn new(faults: Faults) -> (Self, Arc<Counts>) {
        let counts = Arc::new(Counts::default());
        let engine = Self {
            descriptor: ModelDescriptor {
                name: "soak-engine".into(),
                version: "0".into(),
                arch: "steady".into(),
                uuid: "00000000-0000-4000-8000-00000000500a".into(),
            },
            faults,
            counts: Arc::clone(&counts),
        };
        (engine, counts)
    }
}

/// The words a steady talker says in `n` samples: `w0`, `w1`, … every 0.5 s, 0.4 s long.
pub fn steady_words(n: usize) -> Vec<WordTiming> {
    (0..n / (RATE_HZ as usize / 2))
        .map(|k| WordTiming {
            text: format!("word{k}"),
            start_s: k as f32 * 0.5,
            end_s: k as f32 * 0.5 + 0.4,
            confidence: 0.9,
        })
        .collect()
}

impl Engine for FaultyEngine {
    fn descriptor(&self) -> &ModelDescriptor {
        &self.descriptor
    }
    fn sample_rate_hz(&self) -> u32 {
        RATE_HZ
    }
    fn max_window_samples(&self) -> usize {
        RATE_HZ as usize * 4
    }
    fn transcribe_batch(&mut self, windows: &[AudioWindow]) -> Result<Vec<Transcript>, AsrError> {
        let call = self.counts.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call.is_multiple_of(self.faults.panic_every) {
            self.counts.panics.fetch_add(1, Ordering::SeqCst);
            panic!("injected engine panic (call {call})");
        }
        if call.is_multiple_of(self.faults.error_every) {
            self.counts.errors.fetch_add(1, Ordering::SeqCst);
            return Err(AsrError::Engine {
                model: self.descriptor.name.clone(),
                detail: format!("injected engine error (call {call})"),
            });
        }
        let busy = if call.is_multiple_of(self.faults.stall_every) {
            self.counts.stalls.fetch_add(1, Ordering::SeqCst);
            self.faults.stall
        } else {
            Duration::from_millis(3 * windows.len() as u64)
        };
        std::thread::sleep(busy);
        Ok(windows
            .iter()
            .map(|w| Transcript {
                words: steady_words(w.samples.len()),
                ..Transcript::default()
            })
            .collect())
    }
}
