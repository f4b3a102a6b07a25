//! Streaming, band-limited resampling of one channel (rubato), with exact output accounting.
//!
//! Fixed rational ratios that reduce to small FFTs (8, 11.025, 22.05, 32, 44.1, 48 kHz → 16 kHz)
//! use rubato's synchronous FFT resampler; other rates use its asynchronous sinc resampler.
//! [`StreamResampler::flush`] pushes the held-back tail through (zero-padded) and emits exactly
//! `round(input_frames × ratio)` frames in total since the previous flush, then starts afresh.

use crate::error::AudioError;
use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, Fft, FixedAsync, FixedSync, Indexing, Resampler, SincInterpolationParameters,
    WindowFunction,
};

/// Input chunk per resampler call, as a fraction of a second (20 ms).
const CHUNK_PER_SECOND: u32 = 50;
/// Largest reduced ratio term for which the FFT resampler is used.
const MAX_FFT_TERM: u32 = 4096;

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Resamples a mono stream from `from_hz` to `to_hz`; a pass-through when they are equal.
pub struct StreamResampler {
    inner: Option<Box<dyn Resampler<f32>>>,
    from_hz: u32,
    to_hz: u32,
    pending: Vec<f32>,
    scratch: Vec<f32>,
    delay_left: usize,
    in_since_reset: u64,
    out_since_reset: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from_hz", &self.from_hz)
            .field("to_hz", &self.to_hz)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl StreamResampler {
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, AudioError> {
        let inner: Option<Box<dyn Resampler<f32>>> = if from_hz == to_hz {
            None
        } else {
            let err = |e: &dyn std::fmt::Display| AudioError::Resample {
                from_hz,
                to_hz,
                detail: e.to_string(),
            };
            let chunk = (from_hz / CHUNK_PER_SECOND).max(16) as usize;
            let g = gcd(from_hz, to_hz);
            if from_hz / g <= MAX_FFT_TERM && to_hz / g <= MAX_FFT_TERM {
                let r =
                    Fft::<f32>::new(from_hz as usize, to_hz as usize, chunk, 1, FixedSync::Input)
                        .map_err(|e| err(&e))?;
                Some(Box::new(r))
            } else {
                let params = SincInterpolationParameters::new(128, WindowFunction::BlackmanHarris2);
                let ratio = f64::from(to_hz) / f64::from(from_hz);
                let r = Async::<f32>::new_sinc(ratio, 1.0, &params, chunk, 1, FixedAsync::Input)
                    .map_err(|e| err(&e))?;
                Some(Box::new(r))
            }
        };
        let delay_left = inner.as_ref().map_or(0, |r| r.output_delay());
        Ok(Self {
            inner,
            from_hz,
            to_hz,
            pending: Vec::new(),
            scratch: Vec::new(),
            delay_left,
            in_since_reset: 0,
            out_since_reset: 0,
        })
    }

    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    fn expected_out(&self) -> u64 {
        (self.in_since_reset * u64::from(self.to_hz) + u64::from(self.from_hz) / 2)
            / u64::from(self.from_hz)
    }

    /// Resample `input`, appending whatever output is ready to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        let Some(mut inner) = self.inner.take() else {
            out.extend_from_slice(input);
            return;
        };
        self.in_since_reset += input.len() as u64;
        self.pending.extend_from_slice(input);
        let mut consumed = 0;
        loop {
            let need = inner.input_frames_next();
            if self.pending.len() - consumed < need {
                break;
            }
            let n = Self::run(
                inner.as_mut(),
                &self.pending[consumed..consumed + need],
                None,
                &mut self.scratch,
            );
            consumed += need;
            self.emit(n, out, u64::MAX);
        }
        self.pending.drain(..consumed);
        self.inner = Some(inner);
    }

    /// Push everything held back through the filter and emit the exact remaining output, then
    /// start a fresh filter state (call at Finalize / end of stream).
    pub fn flush(&mut self, out: &mut Vec<f32>) {
        if self.inner.is_none() {
            return;
        }
        let expected = self.expected_out();
        let mut guard = 0;
        while self.out_since_reset < expected && guard < 64 {
            guard += 1;
            let Some(mut inner) = self.inner.take() else {
                return;
            };
            let need = inner.input_frames_next();
            let take = self.pending.len().min(need);
            let mut chunk = self.pending[..take].to_vec();
            chunk.resize(need, 0.0);
            let idx = Indexing::new().partial_len(take);
            let n = Self::run(inner.as_mut(), &chunk, Some(&idx), &mut self.scratch);
            self.inner = Some(inner);
            self.pending.drain(..take);
            self.emit(n, out, expected);
        }
        if let Some(inner) = self.inner.as_mut() {
            inner.reset();
            self.delay_left = inner.output_delay();
        }
        self.pending.clear();
        self.in_since_reset = 0;
        self.out_since_reset = 0;
    }

    fn run(
        inner: &mut dyn Resampler<f32>,
        input: &[f32],
        idx: Option<&Indexing>,
        scratch: &mut Vec<f32>,
    ) -> usize {
        let out_frames = inner.output_frames_next();
        scratch.clear();
        scratch.resize(out_frames, 0.0);
        let (Ok(src), Ok(mut dst)) = (
            InterleavedSlice::new(input, 1, input.len()),
            InterleavedSlice::new_mut(scratch.as_mut_slice(), 1, out_frames),
        ) else {
            return 0;
        };
        match inner.process_into_buffer(&src, &mut dst, idx) {
            Ok((_, written)) => written,
            Err(_) => 0,
        }
    }

    fn emit(&mut self, n: usize, out: &mut Vec<f32>, cap: u64) {
        let skip = self.delay_left.min(n);
        self.delay_left -= skip;
        let room = cap.saturating_sub(self.out_since_reset) as usize;
        let take = (n - skip).min(room);
        out.extend_from_slice(&self.scratch[skip..skip + take]);
        self.out_since_reset += take as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    fn sine(hz: f32, rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * PI * hz * i as f32 / rate as f32).sin() * 0.5)
            .collect()
    }

    fn check(from: u32, to: u32) {
        let input = sine(440.0, from, from as usize * 2 + 37);
        let mut r = StreamResampler::new(from, to).expect("resampler");
        let mut out = Vec::new();
        for c in input.chunks(333) {
            r.push(c, &mut out);
        }
        r.flush(&mut out);
        let expected = (input.len() as u64 * u64::from(to) + u64::from(from) / 2) / u64::from(from);
        assert_eq!(out.len() as u64, expected, "{from}->{to} length");
        // Away from the edges the output is a clean 440 Hz sine: fit a·sin + b·cos, then check the
        // residual (distortion/aliasing) and the phase lag (must stay under one output sample).
        let mid = out.len() / 4..out.len() * 3 / 4;
        let w = 2.0 * PI * 440.0 / to as f32;
        let (mut ss, mut sc, mut cc, mut ys, mut yc) = (0.0f32, 0.0, 0.0, 0.0, 0.0);
        for i in mid.clone() {
            let (s, c) = ((w * i as f32).sin(), (w * i as f32).cos());
            ss += s * s;
            sc += s * c;
            cc += c * c;
            ys += out[i] * s;
            yc += out[i] * c;
        }
        let det = ss * cc - sc * sc;
        let (a, b) = ((ys * cc - yc * sc) / det, (yc * ss - ys * sc) / det);
        let resid: f32 = mid
            .clone()
            .map(|i| (out[i] - a * (w * i as f32).sin() - b * (w * i as f32).cos()).powi(2))
            .sum::<f32>();
        let resid = (resid / mid.len() as f32).sqrt();
        let amplitude = a.hypot(b);
        let lag_samples = (-b).atan2(a).abs() / w;
        assert!(resid < 0.002, "{from}->{to} residual {resid}");
        assert!(
            (amplitude - 0.5).abs() < 0.01,
            "{from}->{to} amplitude {amplitude}"
        );
        assert!(lag_samples < 1.0, "{from}->{to} lag {lag_samples} samples");
    }

    #[test]
    fn common_rates_to_16k_keep_length_and_phase() {
        for from in [8_000, 22_050, 44_100, 48_000, 11_025] {
            check(from, 16_000);
        }
    }

    #[test]
    fn odd_rates_use_the_sinc_resampler() {
        check(7_993, 16_000);
    }

    #[test]
    fn flush_mid_stream_keeps_exact_totals() {
        let mut r = StreamResampler::new(8_000, 16_000).expect("resampler");
        let mut out = Vec::new();
        r.push(&sine(300.0, 8_000, 1234), &mut out);
        r.flush(&mut out);
        assert_eq!(out.len(), 2468);
        r.push(&sine(300.0, 8_000, 801), &mut out);
        r.flush(&mut out);
        assert_eq!(out.len(), 2468 + 1602);
    }

    #[test]
    fn equal_rates_pass_through() {
        let mut r = StreamResampler::new(16_000, 16_000).expect("resampler");
        let mut out = Vec::new();
        r.push(&[0.1, 0.2], &mut out);
        r.flush(&mut out);
        assert_eq!(out, vec![0.1, 0.2]);
    }
}
