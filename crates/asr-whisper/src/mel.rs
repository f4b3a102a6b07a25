//! Whisper's log-mel spectrogram, computed exactly as OpenAI's `log_mel_spectrogram`:
//! 400-point STFT with a periodic Hann window, hop 160, centre frames with reflect padding, the
//! last frame dropped, power spectrum, Slaney mel filterbank (librosa's), `log10(max(x, 1e-10))`,
//! clamped to `max - 8`, then `(x + 4) / 4`.
//!
//! [`log_mel_spectrogram`] does one window at once. [`MelStream`] does the same frames
//! incrementally: each pushed sample costs only the frames it completes, and
//! [`MelStream::window`] normalises any frame range on demand (the clamp depends on the window).

use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

pub const SAMPLE_RATE_HZ: u32 = 16_000;
pub const N_FFT: usize = 400;
pub const HOP_SAMPLES: usize = 160;
const N_FREQS: usize = N_FFT / 2 + 1;

/// Librosa's Slaney mel filterbank for 16 kHz and a 400-point FFT: `n_mels × 201`, row-major.
pub fn mel_filters(n_mels: usize) -> Vec<f32> {
    fn hz_to_mel(f: f64) -> f64 {
        let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
        if f < min_log_hz {
            f / f_sp
        } else {
            min_log_hz / f_sp + (f / min_log_hz).ln() / (6.4f64.ln() / 27.0)
        }
    }
    fn mel_to_hz(m: f64) -> f64 {
        let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
        let min_log_mel = min_log_hz / f_sp;
        if m < min_log_mel {
            m * f_sp
        } else {
            min_log_hz * ((6.4f64.ln() / 27.0) * (m - min_log_mel)).exp()
        }
    }
    let sr = f64::from(SAMPLE_RATE_HZ);
    let fft_freqs: Vec<f64> = (0..N_FREQS).map(|k| k as f64 * sr / N_FFT as f64).collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let points: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = vec![0f32; n_mels * N_FREQS];
    for m in 0..n_mels {
        let (f0, f1, f2) = (points[m], points[m + 1], points[m + 2]);
        let enorm = 2.0 / (f2 - f0);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - f0) / (f1 - f0);
            let upper = (f2 - f) / (f2 - f1);
            out[m * N_FREQS + k] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    out
}

/// Computes unnormalised `log10` mel frames.
struct FrameMaker {
    n_mels: usize,
    filters: Vec<f32>,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    input: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    power: Vec<f32>,
}

impl FrameMaker {
    fn new(n_mels: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        let window = (0..N_FFT)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos()) as f32
            })
            .collect();
        Self {
            n_mels,
            filters: mel_filters(n_mels),
            window,
            input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            fft,
            power: vec![0.0; N_FREQS],
        }
    }

    /// `samples` holds exactly the 400 samples of one frame (already padded where needed).
    fn frame(&mut self, samples: impl Iterator<Item = f32>, out: &mut Vec<f32>) {
        for ((dst, s), w) in self.input.iter_mut().zip(samples).zip(&self.window) {
            *dst = s * w;
        }
        // The lengths are fixed at construction, so this cannot fail.
        let _ = self.fft.process(&mut self.input, &mut self.spectrum);
        for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
            *p = c.norm_sqr();
        }
        for m in 0..self.n_mels {
            let row = &self.filters[m * N_FREQS..(m + 1) * N_FREQS];
            let e: f32 = row.iter().zip(&self.power).map(|(a, b)| a * b).sum();
            out.push(e.max(1e-10).log10());
        }
    }
}

/// Torch's reflect padding: index `i` of the signal extended by reflection (edge not repeated).
fn reflect(x: &[f32], i: isize) -> f32 {
    let n = x.len() as isize;
    if n == 1 {
        return x[0];
    }
    let period = 2 * (n - 1);
    let mut j = i.rem_euclid(period);
    if j >= n {
        j = period - j;
    }
    x[j as usize]
}

/// Normalise `log10` frames (frame-major, `n_mels` per frame) into Whisper's input layout
/// `n_mels × frames` (mel-major), with the clamp taken over exactly these frames.
fn normalise(frames: &[f32], n_mels: usize) -> Vec<f32> {
    let n_frames = frames.len() / n_mels.max(1);
    let max = frames.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let floor = max - 8.0;
    let mut out = vec![0f32; frames.len()];
    for t in 0..n_frames {
        for m in 0..n_mels {
            out[m * n_frames + t] = (frames[t * n_mels + m].max(floor) + 4.0) / 4.0;
        }
    }
    out
}

/// Batch log-mel for whole windows; holds the FFT plan and filterbank so each window costs only its frames.
pub struct MelFrontend {
    maker: FrameMaker,
    n_mels: usize,
    frames: Vec<f32>,
}

impl MelFrontend {
    pub fn new(n_mels: usize) -> Self {
        Self {
            maker: FrameMaker::new(n_mels),
            n_mels,
            frames: Vec::new(),
        }
    }

    /// Whisper's log-mel spectrogram of one window: `n_mels × (len / 160)` values, mel-major.
    pub fn log_mel(&mut self, samples: &[f32]) -> Vec<f32> {
        let n_frames = samples.len() / HOP_SAMPLES;
        if n_frames == 0 {
            return Vec::new();
        }
        self.frames.clear();
        for t in 0..n_frames {
            let start = (t * HOP_SAMPLES) as isize - (N_FFT / 2) as isize;
            self.maker.frame(
                (0..N_FFT as isize).map(|i| reflect(samples, start + i)),
                &mut self.frames,
            );
        }
        normalise(&self.frames, self.n_mels)
    }
}

impl MelFrontend {
    /// The encoder input of `frames` frames for `samples`, padded as faster-whisper pads: the
    /// log-mel of the audio (zero-padded), then 0 (in the normalised log-mel) from frame
    /// `len / 160 + 1` on. Only the frames that reach the audio are computed, and the clamp is
    /// the one the whole zero-padded window would give: frames of pure zeros sit at the floor
    /// of `log10` and never set the maximum.
    pub fn log_mel_padded(&mut self, samples: &[f32], frames: usize) -> Vec<f32> {
        let keep = (samples.len() / HOP_SAMPLES + 1).min(frames);
        // Past these, a frame's window holds only zeros (`N_FFT / 2` samples either side).
        let computed = (keep + N_FFT / HOP_SAMPLES + 1).min(frames);
        let mut s = samples[..samples.len().min(computed * HOP_SAMPLES)].to_vec();
        s.resize(computed * HOP_SAMPLES, 0.0);
        let mel = self.log_mel(&s);
        let mut out = vec![0f32; self.n_mels * frames];
        for (m, row) in out.chunks_exact_mut(frames).enumerate() {
            row[..keep].copy_from_slice(&mel[m * computed..m * computed + keep]);
        }
        out
    }
}

/// Whisper's log-mel spectrogram of one window (a one-off [`MelFrontend`]).
pub fn log_mel_spectrogram(samples: &[f32], n_mels: usize) -> Vec<f32> {
    MelFrontend::new(n_mels).log_mel(samples)
}

/// Incremental log-mel frames for one stream.
///
/// Frame `t` is centred on sample `160·t` and needs samples up to `160·t + 200`, so it is made as
/// soon as those arrive; the first frames use reflect padding at the stream start, like the
/// reference. Frames at the end of the stream that would need right padding are made by
/// [`MelStream::finish`].
pub struct MelStream {
    maker: FrameMaker,
    n_mels: usize,
    samples: Vec<f32>,
    /// Index of `samples[0]` in the stream.
    sample_offset: usize,
    frames: Vec<f32>,
    /// Index of the first frame still stored.
    frame_offset: usize,
}

impl MelStream {
    pub fn new(n_mels: usize) -> Self {
        Self {
            maker: FrameMaker::new(n_mels),
            n_mels,
            samples: Vec::new(),
            sample_offset: 0,
            frames: Vec::new(),
            frame_offset: 0,
        }
    }

    /// Frames made so far (absolute count since the stream began).
    pub fn frames_made(&self) -> usize {
        self.frame_offset + self.frames.len() / self.n_mels
    }

    /// Add samples and make every frame they complete.
    pub fn push(&mut self, new: &[f32]) {
        self.samples.extend_from_slice(new);
        let total = self.sample_offset + self.samples.len();
        loop {
            let t = self.frames_made();
            let end = t * HOP_SAMPLES + N_FFT / 2;
            if end > total {
                break;
            }
            self.make(t, total, false);
        }
        // Keep only what future frames can still need (plus the start, for reflection).
        let next_start = (self.frames_made() * HOP_SAMPLES).saturating_sub(N_FFT / 2);
        if self.frames_made() > 2 && next_start > self.sample_offset {
            let drop = next_start - self.sample_offset;
            self.samples.drain(..drop);
            self.sample_offset = next_start;
        }
    }

    /// Make the remaining frames, reflecting at the end of the stream (`len / 160` frames in all).
    pub fn finish(&mut self) {
        let total = self.sample_offset + self.samples.len();
        while self.frames_made() < total / HOP_SAMPLES {
            let t = self.frames_made();
            self.make(t, total, true);
        }
    }

    fn make(&mut self, t: usize, total: usize, at_end: bool) {
        let start = (t * HOP_SAMPLES) as isize - (N_FFT / 2) as isize;
        let offset = self.sample_offset as isize;
        let samples = &self.samples;
        let get = |i: isize| -> f32 {
            let mut j = i;
            if j < 0 {
                j = -j; // reflect at the stream start
            }
            if at_end && j >= total as isize {
                j = 2 * (total as isize - 1) - j; // reflect at the stream end
            }
            samples
                .get((j - offset).max(0) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        self.maker.frame(
            (0..N_FFT as isize).map(|i| get(start + i)),
            &mut self.frames,
        );
    }

    /// Normalised mel (`n_mels × frames`) for frames `[from, to)`; `None` if they are not made or were dropped.
    pub fn window(&self, from: usize, to: usize) -> Option<Vec<f32>> {
        if from < self.frame_offset || to > self.frames_made() || from > to {
            return None;
        }
        let a = (from - self.frame_offset) * self.n_mels;
        let b = (to - self.frame_offset) * self.n_mels;
        Some(normalise(&self.frames[a..b], self.n_mels))
    }

    /// Forget frames before `frame` (they will not be asked for again).
    pub fn discard_before(&mut self, frame: usize) {
        if frame > self.frame_offset {
            let n = (frame - self.frame_offset).min(self.frames.len() / self.n_mels);
            self.frames.drain(..n * self.n_mels);
            self.frame_offset += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chirp(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i as f32 * 0.001).powi(2) + i as f32 * 0.05).sin() * 0.3)
            .collect()
    }

    #[test]
    fn streaming_frames_equal_the_batch_frames() {
        let x = chirp(16_000 + 77);
        let batch = log_mel_spectrogram(&x, 80);
        let mut s = MelStream::new(80);
        for c in x.chunks(333) {
            s.push(c);
        }
        s.finish();
        let n = x.len() / HOP_SAMPLES;
        assert_eq!(s.frames_made(), n);
        let streamed = s.window(0, n).expect("frames");
        let worst = batch
            .iter()
            .zip(&streamed)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-6, "max diff {worst}");
    }

    #[test]
    fn filterbank_rows_are_triangles_with_slaney_area() {
        let f = mel_filters(80);
        assert_eq!(f.len(), 80 * 201);
        assert!(f.iter().all(|v| *v >= 0.0));
        assert!((0..80).all(|m| f[m * 201..(m + 1) * 201].iter().any(|v| *v > 0.0)));
    }

    #[test]
    fn padded_frames_are_the_whole_windows_then_zeros_in_every_bin() {
        let frames = 300; // a 3 s window
        let mut f = MelFrontend::new(80);
        let mut seed = 7u32;
        let audio: Vec<f32> = (0..frames * HOP_SAMPLES)
            .map(|i| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (i as f32 * 0.05).sin() * 0.3 + (seed >> 8) as f32 / (1u32 << 24) as f32 * 0.01
            })
            .collect();
        for n in [
            0,
            1,
            159,
            160,
            161,
            12_345,
            frames * HOP_SAMPLES - 1,
            frames * HOP_SAMPLES,
        ] {
            let mut whole = audio[..n].to_vec();
            whole.resize(frames * HOP_SAMPLES, 0.0);
            let mut want = f.log_mel(&whole);
            let keep = (n / HOP_SAMPLES + 1).min(frames);
            for row in want.chunks_exact_mut(frames) {
                row[keep..].fill(0.0);
            }
            assert_eq!(f.log_mel_padded(&audio[..n], frames), want, "{n} samples");
        }
    }

    #[test]
    fn reflect_matches_torch() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let got: Vec<f32> = (-3..7).map(|i| reflect(&x, i)).collect();
        assert_eq!(got, vec![4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0]);
    }
}
