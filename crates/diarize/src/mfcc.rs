//! MFCC features, computed as audio arrives.

use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// The only rate the extractor takes.
pub const SAMPLE_RATE_HZ: u32 = 16_000;
/// Frames per second (a 10 ms hop).
pub const FRAMES_PER_S: f32 = 100.0;
/// Coefficients kept per frame (c1..c12; c0, the loudness, says little about who speaks).
pub const N_COEFFS: usize = 12;

const FRAME: usize = 400;
const HOP: usize = 160;
const N_FFT: usize = 512;
const N_MELS: usize = 26;
const LOW_HZ: f32 = 100.0;
const HIGH_HZ: f32 = 7600.0;
const PRE_EMPHASIS: f32 = 0.97;
/// Power floor before the log (full-scale audio in [-1, 1]).
const POWER_FLOOR: f32 = 1e-10;

fn hz_to_mel(hz: f32) -> f32 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

fn mel_to_hz(mel: f32) -> f32 {
    700.0 * (10f32.powf(mel / 2595.0) - 1.0)
}

/// Triangular mel filters over the FFT bins: `(first bin, weights)` per band.
fn filters() -> Vec<(usize, Vec<f32>)> {
    let bins = N_FFT / 2 + 1;
    let (lo, hi) = (hz_to_mel(LOW_HZ), hz_to_mel(HIGH_HZ));
    let edges: Vec<f32> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f32 / (N_MELS + 1) as f32))
        .map(|hz| hz * N_FFT as f32 / SAMPLE_RATE_HZ as f32)
        .collect();
    (0..N_MELS)
        .map(|m| {
            let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
            let first = left.ceil().max(0.0) as usize;
            let last = (right.floor() as usize).min(bins - 1);
            let weights = (first..=last)
                .map(|k| {
                    let f = k as f32;
                    if f <= centre {
                        (f - left) / (centre - left).max(1e-6)
                    } else {
                        (right - f) / (right - centre).max(1e-6)
                    }
                    .max(0.0)
                })
                .collect();
            (first, weights)
        })
        .collect()
}

/// The MFCC extractor of one channel: push 16 kHz samples, read [`Mfcc::frames`].
pub struct Mfcc {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    filters: Vec<(usize, Vec<f32>)>,
    /// DCT-II rows for c1..c12.
    dct: Vec<[f32; N_MELS]>,
    /// Samples not yet framed (pre-emphasised), at most a frame's worth.
    pending: Vec<f32>,
    last_sample: f32,
    frames: Vec<[f32; N_COEFFS]>,
    /// The stream frame `frames[0]` is (frames before it were forgotten).
    first: usize,
    input: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
}

impl Default for Mfcc {
    fn default() -> Self {
        Self::new()
    }
}

impl Mfcc {
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        let spectrum = fft.make_output_vec();
        let window = (0..FRAME)
            .map(|i| {
                0.54 - 0.46 * (2.0 * std::f32::consts::PI * i as f32 / (FRAME - 1) as f32).cos()
            })
            .collect();
        let dct = (1..=N_COEFFS)
            .map(|k| {
                let mut row = [0.0; N_MELS];
                for (m, r) in row.iter_mut().enumerate() {
                    *r = (std::f32::consts::PI * k as f32 * (m as f32 + 0.5) / N_MELS as f32).cos();
                }
                row
            })
            .collect();
        Self {
            fft,
            window,
            filters: filters(),
            dct,
            pending: Vec::with_capacity(FRAME + HOP),
            last_sample: 0.0,
            frames: Vec::new(),
            first: 0,
            input: vec![0.0; N_FFT],
            spectrum,
        }
    }

    /// Add each channel's new samples to its extractor (`chunk[i]` to `all[i]`), adding
    /// extractors for channels not seen before.
    pub fn push_channels(all: &mut Vec<Mfcc>, chunk: &[Vec<f32>]) {
        let n = all.len().max(chunk.len());
        all.resize_with(n, Mfcc::new);
        for (m, samples) in all.iter_mut().zip(chunk) {
            m.push(samples);
        }
    }

    /// Add samples (16 kHz mono, any chunking).
    pub fn push(&mut self, samples: &[f32]) {
        for &s in samples {
            self.pending.push(s - PRE_EMPHASIS * self.last_sample);
            self.last_sample = s;
            if self.pending.len() == FRAME {
                self.frame();
                self.pending.drain(..HOP);
            }
        }
    }

    fn frame(&mut self) {
        for (i, x) in self.input.iter_mut().enumerate() {
            *x = match (self.pending.get(i), self.window.get(i)) {
                (Some(s), Some(w)) => s * w,
                _ => 0.0,
            };
        }
        if self
            .fft
            .process(&mut self.input, &mut self.spectrum)
            .is_err()
        {
            return; // lengths are fixed at construction: cannot happen
        }
        let power: Vec<f32> = self.spectrum.iter().map(|c| c.norm_sqr()).collect();
        let mut logmel = [0.0f32; N_MELS];
        for (band, (first, weights)) in logmel.iter_mut().zip(&self.filters) {
            let e: f32 = weights
                .iter()
                .zip(&power[*first..])
                .map(|(w, p)| w * p)
                .sum();
            *band = e.max(POWER_FLOOR).ln();
        }
        let mut out = [0.0f32; N_COEFFS];
        for (o, row) in out.iter_mut().zip(&self.dct) {
            *o = row.iter().zip(&logmel).map(|(a, b)| a * b).sum();
        }
        self.frames.push(out);
    }

    /// The frames kept: `frames()[i]` is stream frame `first_frame() + i`, which starts at
    /// `(first_frame() + i) / FRAMES_PER_S` seconds.
    pub fn frames(&self) -> &[[f32; N_COEFFS]] {
        &self.frames
    }

    /// The stream frame the kept ones start at (0 unless [`Mfcc::forget_before_s`] was called).
    pub fn first_frame(&self) -> usize {
        self.first
    }

    /// Drop the frames before `seconds` (a live stream keeps only what results may still ask
    /// about).
    pub fn forget_before_s(&mut self, seconds: f32) {
        let frame = (seconds.max(0.0) * FRAMES_PER_S) as usize;
        let drop = frame.saturating_sub(self.first).min(self.frames.len());
        self.frames.drain(..drop);
        self.first += drop;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32, seconds: f32) -> Vec<f32> {
        (0..(seconds * SAMPLE_RATE_HZ as f32) as usize)
            .map(|i| 0.3 * (2.0 * std::f32::consts::PI * hz * i as f32 / 16_000.0).sin())
            .collect()
    }

    #[test]
    fn one_frame_per_hop_whatever_the_chunking() {
        let audio = tone(440.0, 1.0);
        let mut whole = Mfcc::new();
        whole.push(&audio);
        let mut pieces = Mfcc::new();
        for c in audio.chunks(37) {
            pieces.push(c);
        }
        // 16000 samples: (16000 - 400) / 160 + 1 frames.
        assert_eq!(whole.frames().len(), 98);
        assert_eq!(whole.frames(), pieces.frames());
    }

    #[test]
    fn forgetting_keeps_the_clock() {
        let mut m = Mfcc::new();
        m.push(&tone(440.0, 1.0));
        let tail = m.frames()[50..].to_vec();
        m.forget_before_s(0.5);
        assert_eq!(m.first_frame(), 50);
        assert_eq!(m.frames(), &tail[..]);
        m.forget_before_s(0.2); // already gone: nothing changes
        assert_eq!(m.first_frame(), 50);
        m.forget_before_s(9.0);
        assert!(m.frames().is_empty());
        m.push(&tone(440.0, 0.1));
        assert_eq!(m.first_frame() + m.frames().len(), 98 + 10);
    }

    #[test]
    fn different_sounds_give_different_coefficients() {
        let mut low = Mfcc::new();
        low.push(&tone(300.0, 0.5));
        let mut high = Mfcc::new();
        high.push(&tone(3000.0, 0.5));
        let d: f32 = low.frames()[20]
            .iter()
            .zip(&high.frames()[20])
            .map(|(a, b)| (a - b).abs())
            .sum();
        assert!(d > 10.0, "{d}");
    }
}
