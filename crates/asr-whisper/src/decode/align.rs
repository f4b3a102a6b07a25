//! Word timestamps from cross-attention, as OpenAI's `find_alignment`: the alignment heads'
//! weights are normalised over tokens, median-filtered over time (width 7), averaged, and
//! aligned to the audio by dynamic time warping. Encoder positions are 20 ms apart.

use crate::model::Whisper;
use candle_core::{IndexOp, Tensor};

const MEDIAN_WIDTH: usize = 7;
pub const SECONDS_PER_POSITION: f32 = 0.02;

/// Dynamic time warping over a cost matrix `x` (`n × m`, row-major): the path as
/// `(row, column)` pairs from the start, with OpenAI's tie-breaking and edge handling.
pub fn dtw(x: &[f32], n: usize, m: usize) -> Vec<(isize, isize)> {
    let w = m + 1;
    let mut cost = vec![f32::INFINITY; (n + 1) * w];
    let mut trace = vec![0u8; (n + 1) * w];
    cost[0] = 0.0;
    for j in 1..=m {
        for i in 1..=n {
            let (c0, c1, c2) = (
                cost[(i - 1) * w + j - 1],
                cost[(i - 1) * w + j],
                cost[i * w + j - 1],
            );
            let (c, t) = if c0 < c1 && c0 < c2 {
                (c0, 0)
            } else if c1 < c0 && c1 < c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            cost[i * w + j] = x[(i - 1) * m + j - 1] + c;
            trace[i * w + j] = t;
        }
    }
    trace[..w].fill(2);
    for i in 0..=n {
        trace[i * w] = 1;
    }
    let (mut i, mut j) = (n, m);
    let mut path = Vec::new();
    while i > 0 || j > 0 {
        path.push((i as isize - 1, j as isize - 1));
        match trace[i * w + j] {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    path.reverse();
    path
}

/// Median filter along each row (`n × m`), reflect-padded like OpenAI's `median_filter`.
fn median_rows(x: &mut [f32], n: usize, m: usize) {
    let pad = MEDIAN_WIDTH / 2;
    if m <= pad {
        return;
    }
    let mut window = [0f32; MEDIAN_WIDTH];
    for r in 0..n {
        let row: Vec<f32> = x[r * m..(r + 1) * m].to_vec();
        let at = |k: isize| -> f32 {
            let k = if k < 0 {
                -k
            } else if k >= m as isize {
                2 * (m as isize - 1) - k
            } else {
                k
            };
            row[k.clamp(0, m as isize - 1) as usize]
        };
        for c in 0..m {
            for (o, slot) in window.iter_mut().enumerate() {
                *slot = at(c as isize + o as isize - pad as isize);
            }
            window.sort_by(f32::total_cmp);
            x[r * m + c] = window[pad];
        }
    }
}

/// Token times for one window, in seconds from its start, by running the decoder over the text
/// again: `tokens.len() + 2` values, where value `i` is when token `i` starts (as OpenAI's
/// `jump_times`, the time of the row that predicts it) and the last is the end of the audio.
///
/// `audio`: encoder output `[1, S, d]`; `prompt` ends with `<|notimestamps|>` and has
/// `<|startoftranscript|>` at `sot_index` (anything before it, such as a key-term prompt, takes no
/// part); `positions`: how many encoder positions hold real audio.
#[allow(clippy::too_many_arguments)]
pub fn token_times(
    model: &Whisper,
    audio: &Tensor,
    prompt: &[u32],
    sot_index: usize,
    tokens: &[u32],
    eot: u32,
    heads: &[[usize; 2]],
    positions: usize,
) -> candle_core::Result<Vec<f32>> {
    if prompt.is_empty() {
        candle_core::bail!("token_times: the prompt must hold at least <|notimestamps|>");
    }
    let mut full = prompt.to_vec();
    full.extend_from_slice(tokens);
    full.push(eot);
    let mut state = model.decoder.start(audio)?;
    let ids = Tensor::from_vec(full.clone(), (1, full.len()), &model.device)?;
    let cross = model.decoder.cross_attention(&ids, &mut state)?;
    // As OpenAI: every row from <|startoftranscript|> to <|endoftext|> is normalised and filtered;
    // the DTW then uses the rows of <|notimestamps|> and the text tokens.
    let sot = sot_index.min(prompt.len().saturating_sub(1));
    let width = state.audio_positions()?;
    let mut weights = Vec::new();
    for &[layer, head] in heads {
        let Some(w) = cross.get(layer) else { continue };
        if head >= w.dim(1)? {
            continue;
        }
        let w = w
            .i((0, head))?
            .narrow(0, sot, full.len() - sot)?
            .to_dtype(candle_core::DType::F32)?;
        weights.push(w.flatten_all()?.to_vec1()?);
    }
    let first = prompt.len() - 1 - sot;
    Ok(times_from_attention(
        &weights,
        width,
        first,
        tokens.len(),
        positions,
    ))
}

/// [`token_times`] from the alignment heads' cross-attention weights already at hand: per head,
/// the rows from `<|startoftranscript|>` through the `<|endoftext|>` after the text, each `width`
/// encoder positions wide (row-major). `first`: the row of `<|notimestamps|>`; `tokens`: how many
/// text tokens follow it; `positions`: how many encoder positions hold real audio.
pub(crate) fn times_from_attention(
    heads: &[Vec<f32>],
    width: usize,
    first: usize,
    tokens: usize,
    positions: usize,
) -> Vec<f32> {
    let n = tokens + 1;
    let m = positions.min(width).max(1);
    let mut matrix = vec![0f32; n * m];
    let mut used = 0;
    for weights in heads {
        let rows = weights.len() / width.max(1);
        if rows < first + n {
            continue;
        }
        let mut h: Vec<f32> = weights
            .chunks_exact(width)
            .flat_map(|row| row[..m].iter().copied())
            .collect();
        // OpenAI takes the softmax over the real audio positions only; the weights here were
        // normalised over every encoder position, so renormalise each row over the first `m`.
        for row in h.chunks_exact_mut(m) {
            let sum: f32 = row.iter().sum();
            if sum > 0.0 {
                row.iter_mut().for_each(|v| *v /= sum);
            }
        }
        for c in 0..m {
            let mean = (0..rows).map(|r| h[r * m + c]).sum::<f32>() / rows as f32;
            let var = (0..rows)
                .map(|r| (h[r * m + c] - mean).powi(2))
                .sum::<f32>()
                / rows as f32;
            let std = var.sqrt().max(1e-10);
            for r in 0..rows {
                h[r * m + c] = (h[r * m + c] - mean) / std;
            }
        }
        median_rows(&mut h, rows, m);
        for (acc, v) in matrix.iter_mut().zip(&h[first * m..(first + n) * m]) {
            *acc += v;
        }
        used += 1;
    }
    let scale = -1.0 / used.max(1) as f32;
    for v in &mut matrix {
        *v *= scale;
    }
    let path = dtw(&matrix, n, m);
    let mut times = Vec::with_capacity(n);
    let mut prev_row = None;
    for (row, col) in path {
        if prev_row != Some(row) {
            times.push(col.max(0) as f32 * SECONDS_PER_POSITION);
            prev_row = Some(row);
        }
    }
    times.truncate(n);
    while times.len() < n {
        times.push(m as f32 * SECONDS_PER_POSITION);
    }
    times.push(m as f32 * SECONDS_PER_POSITION);
    times
}

/// Collects the alignment heads' cross-attention rows of each row of a batch while it decodes
/// (greedy), so that word times need no second pass over the text.
pub(crate) struct Collector {
    heads: Vec<[usize; 2]>,
    /// Per batch row, per head: rows of `width` weights.
    rows: Vec<Vec<Vec<f32>>>,
    width: usize,
    /// The row's `<|endoftext|>` has been fed: nothing more to collect.
    closed: Vec<bool>,
}

impl Collector {
    /// For a batch of `rows` over `width` encoder positions; `None` without valid heads.
    pub(crate) fn new(
        model: &Whisper,
        heads: &[[usize; 2]],
        rows: usize,
        width: usize,
    ) -> Option<Self> {
        let c = &model.config;
        let heads: Vec<[usize; 2]> = heads
            .iter()
            .copied()
            .filter(|&[l, h]| l < c.decoder_layers && h < c.decoder_attention_heads)
            .collect();
        (!heads.is_empty()).then(|| Self {
            rows: vec![vec![Vec::new(); heads.len()]; rows],
            heads,
            width,
            closed: vec![false; rows],
        })
    }

    /// Keep positions `from[b]..to[b]` of row `b` from one step's weights (per layer
    /// `[B, H, L, S]`), in order.
    pub(crate) fn take(
        &mut self,
        cross: &[Tensor],
        from: &[usize],
        to: &[usize],
    ) -> candle_core::Result<()> {
        for (k, &[layer, head]) in self.heads.iter().enumerate() {
            let Some(w) = cross.get(layer) else { continue };
            let w: Vec<Vec<Vec<f32>>> = w
                .i((.., head))?
                .to_dtype(candle_core::DType::F32)?
                .to_vec3()?;
            for (b, rows) in w.iter().enumerate() {
                if self.closed[b] {
                    continue;
                }
                for row in &rows[from[b]..to[b]] {
                    self.rows[b][k].extend_from_slice(row);
                }
            }
        }
        Ok(())
    }

    /// Keep one step's weights (one fed token per row); a row fed `<|endoftext|>` is complete.
    pub(crate) fn step(
        &mut self,
        cross: &[Tensor],
        fed: &[u32],
        eot: u32,
    ) -> candle_core::Result<()> {
        let n = fed.len();
        self.take(cross, &vec![0; n], &vec![1; n])?;
        for (closed, &t) in self.closed.iter_mut().zip(fed) {
            *closed |= t == eot;
        }
        Ok(())
    }

    /// Some row still needs its `<|endoftext|>` fed.
    pub(crate) fn pending(&self) -> bool {
        self.closed.iter().any(|c| !c)
    }

    /// Row `b`'s token times (see [`times_from_attention`]).
    pub(crate) fn times(
        &self,
        b: usize,
        first: usize,
        tokens: usize,
        positions: usize,
    ) -> Vec<f32> {
        times_from_attention(&self.rows[b], self.width, first, tokens, positions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtw_follows_the_cheap_diagonal() {
        // 3 tokens over 6 frames: token k is cheap at frames 2k and 2k+1.
        let (n, m) = (3, 6);
        let x: Vec<f32> = (0..n * m)
            .map(|i| if (i % m) / 2 == i / m { -1.0 } else { 1.0 })
            .collect();
        let path = dtw(&x, n, m);
        assert_eq!(path.first(), Some(&(0, 0)));
        assert_eq!(path.last(), Some(&(2, 5)));
        let starts: Vec<isize> = (0..n as isize)
            .map(|r| path.iter().find(|p| p.0 == r).map_or(-1, |p| p.1))
            .collect();
        assert_eq!(starts, vec![0, 2, 4]);
    }

    #[test]
    fn median_filter_removes_spikes() {
        let mut x = vec![0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0];
        median_rows(&mut x, 1, 8);
        assert!(x.iter().all(|v| *v == 0.0));
    }
}
