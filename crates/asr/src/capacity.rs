//! How many real-time streams an engine holds on this machine, measured before it serves.
//!
//! A live stream asks the model for about `windows_per_stream_s` windows a second (an interim every
//! `interim_ms` of audio, a final per utterance), and the scheduler runs every queued window in one
//! batched call. So `n` streams keep up when the engine's throughput at batch size `n` (windows a
//! second) covers `n × windows_per_stream_s` with headroom left for bursts. [`measure`] times
//! batches of 1, 2, 4, … windows of speech-like audio (voiced syllables; the model decodes them as
//! it would words) and returns the largest `n` that keeps up. It is an estimate, a few seconds at
//! start-up; `bench/load` measures the same thing with real speech and real clients.

use crate::engine::{AudioWindow, DecodeOptions, Engine};
use crate::error::AsrError;
use std::time::{Duration, Instant};

/// What [`measure`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityReport {
    /// Real-time streams this machine holds (at least 1, at most the `max_streams` asked).
    pub streams: usize,
    /// `(batch size, wall milliseconds of one call)` for each batch timed.
    pub batch_ms: Vec<(usize, f64)>,
    /// The load one stream was assumed to bring, in windows a second.
    pub windows_per_stream_s: f64,
}

/// Settings of a measurement.
#[derive(Debug, Clone, Copy)]
pub struct CapacityProbe {
    /// Never report more than this.
    pub max_streams: usize,
    /// The scheduler's largest batch (larger batches are not timed).
    pub max_batch: usize,
    /// Windows one stream submits a second (e.g. 1.25: an interim a second and a final every 4 s).
    pub windows_per_stream_s: f64,
    /// Share of the engine's time streams may fill (e.g. 0.75): the rest absorbs bursts.
    pub utilization: f64,
    /// Audio in each probe window, in seconds.
    pub window_s: f64,
    /// Stop timing larger batches once this much time is spent.
    pub budget: Duration,
}

impl Default for CapacityProbe {
    fn default() -> Self {
        Self {
            max_streams: 64,
            max_batch: 16,
            windows_per_stream_s: 1.25,
            utilization: 0.75,
            window_s: 6.0,
            budget: Duration::from_secs(20),
        }
    }
}

/// Time the engine on batches of probe windows and work out how many streams it holds.
pub fn measure(engine: &mut dyn Engine, probe: &CapacityProbe) -> Result<CapacityReport, AsrError> {
    let rate = engine.sample_rate_hz();
    let samples = ((probe.window_s * f64::from(rate)) as usize).min(engine.max_window_samples());
    let audio = babble(rate, samples);
    let window = AudioWindow {
        samples: audio,
        options: DecodeOptions {
            language: Some("en".into()),
            ..DecodeOptions::default()
        },
        withdrawn: None,
    };
    // Warm-up: first calls allocate and fault pages in.
    engine.transcribe_batch(std::slice::from_ref(&window))?;
    let started = Instant::now();
    let mut batch_ms = Vec::new();
    let mut batch = 1;
    while batch <= probe.max_batch.max(1) && batch <= probe.max_streams.max(1) {
        let windows = vec![window.clone(); batch];
        let t = Instant::now();
        engine.transcribe_batch(&windows)?;
        batch_ms.push((batch, t.elapsed().as_secs_f64() * 1e3));
        if started.elapsed() > probe.budget {
            break;
        }
        batch *= 2;
    }
    let streams = streams_held(&batch_ms, probe);
    Ok(CapacityReport {
        streams,
        batch_ms,
        windows_per_stream_s: probe.windows_per_stream_s,
    })
}

/// The largest stream count whose load fits the timed throughput (at the largest timed batch not
/// above it: batching only gets more efficient, so this errs low).
pub fn streams_held(batch_ms: &[(usize, f64)], probe: &CapacityProbe) -> usize {
    let mut held = 1;
    for n in 1..=probe.max_streams.max(1) {
        let Some(&(b, ms)) = batch_ms.iter().rev().find(|(b, _)| *b <= n) else {
            break;
        };
        let throughput = b as f64 / (ms.max(1e-3) / 1e3);
        if n as f64 * probe.windows_per_stream_s <= probe.utilization * throughput {
            held = n;
        } else {
            break;
        }
    }
    held
}

/// Deterministic speech-like audio: voiced syllables (a glottal pulse train at a wandering pitch,
/// shaped by two vowel formants) at about four a second, with short gaps, at -20 dBFS.
pub fn babble(rate_hz: u32, samples: usize) -> Vec<f32> {
    const VOWELS: [(f32, f32); 5] = [
        (730.0, 1090.0),
        (270.0, 2290.0),
        (530.0, 1840.0),
        (570.0, 840.0),
        (300.0, 870.0),
    ];
    let rate = rate_hz as f32;
    let syllable = (rate * 0.25) as usize;
    let mut out = Vec::with_capacity(samples);
    let mut phase = 0.0f32;
    for i in 0..samples {
        let k = i / syllable.max(1);
        let pos = (i % syllable.max(1)) as f32 / syllable.max(1) as f32;
        let (f1, f2) = VOWELS[(k * 7 + k / 3) % VOWELS.len()];
        let f0 = 110.0 + 25.0 * ((k % 5) as f32 / 4.0) + 10.0 * (pos * 3.0).sin();
        phase = (phase + f0 / rate).fract();
        // Pulse train through two resonances, approximated by harmonics weighted near them.
        let mut v = 0.0;
        for h in 1..=30 {
            let f = f0 * h as f32;
            let w =
                1.0 / (1.0 + ((f - f1) / 90.0).powi(2)) + 0.6 / (1.0 + ((f - f2) / 120.0).powi(2));
            v += w * (std::f32::consts::TAU * phase * h as f32).sin();
        }
        let envelope = if pos < 0.8 {
            (std::f32::consts::PI * pos / 0.8).sin()
        } else {
            0.0
        };
        out.push(0.1 * envelope * v / 3.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(max_streams: usize) -> CapacityProbe {
        CapacityProbe {
            max_streams,
            windows_per_stream_s: 1.0,
            utilization: 1.0,
            ..CapacityProbe::default()
        }
    }

    #[test]
    fn streams_follow_throughput_and_batching() {
        // 100 ms a window alone: 10 windows/s → 10 streams at one window a second each, but only
        // batch 1 was timed, so no credit for batching.
        assert_eq!(streams_held(&[(1, 100.0)], &probe(64)), 10);
        // Batch 4 in 200 ms: 20 windows/s once four or more streams share calls.
        assert_eq!(streams_held(&[(1, 100.0), (4, 200.0)], &probe(64)), 20);
        // Capped by max_streams.
        assert_eq!(streams_held(&[(1, 10.0)], &probe(8)), 8);
        // A machine too slow for one stream still admits one (and the log says so).
        assert_eq!(streams_held(&[(1, 5000.0)], &probe(8)), 1);
        // Headroom: at 75 % utilization, 100 ms windows hold 7 streams, not 10.
        let p = CapacityProbe {
            utilization: 0.75,
            ..probe(64)
        };
        assert_eq!(streams_held(&[(1, 100.0)], &p), 7);
    }

    #[test]
    fn babble_is_voiced_bounded_and_has_gaps() {
        let a = babble(16_000, 16_000);
        assert_eq!(a.len(), 16_000);
        assert!(a.iter().all(|x| x.abs() <= 1.0));
        let rms = (a.iter().map(|x| x * x).sum::<f32>() / a.len() as f32).sqrt();
        assert!(rms > 0.01 && rms < 0.3, "rms {rms}");
        // The last fifth of each syllable is silent.
        assert!(a[3300..4000].iter().all(|x| *x == 0.0));
        assert_eq!(a, babble(16_000, 16_000), "deterministic");
    }
}
