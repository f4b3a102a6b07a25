//! Token times from the decoder's cross-attention, by dynamic time warping: the cheapest
//! monotonic path through the tokens × encoder frames attention matrix (attention averaged over
//! every head and layer, each frame's column standardised across tokens, then smoothed along the
//! frames), as OpenAI's Whisper times its words. Moonshine has no timestamp tokens; a token's
//! attention peak alone collapses on frames the decoder attends to throughout (the first words of
//! a segment all peaked on one frame in JFK's clip), the warping path cannot.

/// Frames each side of a frame in the median filter.
const MEDIAN_HALF_WIDTH: usize = 3;

/// The first and last encoder frame of each token (`attention`: one row per token, each with one
/// weight per encoder frame; rows may be shorter, meaning zero weight on the missing frames).
pub fn token_spans(attention: &[Vec<f32>]) -> Vec<(usize, usize)> {
    let n = attention.len();
    let m = attention.iter().map(Vec::len).max().unwrap_or(0);
    if n == 0 || m == 0 {
        return vec![(0, 0); n];
    }
    // Row-major `[n][m]`, missing weights zero; each frame's column standardised across tokens.
    let mut z = vec![0f32; n * m];
    for (row, weights) in z.chunks_exact_mut(m).zip(attention) {
        row[..weights.len()].copy_from_slice(weights);
    }
    let mut mean = vec![0f32; m];
    for row in z.chunks_exact(m) {
        mean.iter_mut().zip(row).for_each(|(a, x)| *a += x);
    }
    mean.iter_mut().for_each(|a| *a /= n as f32);
    let mut var = vec![0f32; m];
    for row in z.chunks_exact(m) {
        for ((v, x), mu) in var.iter_mut().zip(row).zip(&mean) {
            *v += (x - mu).powi(2);
        }
    }
    let sd: Vec<f32> = var
        .iter()
        .map(|v| (v / n as f32).sqrt().max(1e-6))
        .collect();
    for row in z.chunks_exact_mut(m) {
        for ((x, mu), sd) in row.iter_mut().zip(&mean).zip(&sd) {
            *x = (*x - mu) / sd;
        }
    }
    // Then a median filter along frames.
    let mut smoothed = vec![0f32; n * m];
    for (row, out) in z.chunks_exact(m).zip(smoothed.chunks_exact_mut(m)) {
        for (j, o) in out.iter_mut().enumerate() {
            let lo = j.saturating_sub(MEDIAN_HALF_WIDTH);
            let hi = (j + MEDIAN_HALF_WIDTH + 1).min(m);
            let mut w = [0f32; 2 * MEDIAN_HALF_WIDTH + 1];
            let w = &mut w[..hi - lo];
            w.copy_from_slice(&row[lo..hi]);
            w.sort_unstable_by(f32::total_cmp);
            *o = w[w.len() / 2];
        }
    }
    // DTW over cost = -score; moves: diagonal, down (next token, same frame), right (same token,
    // next frame). `cost` and `step` are `[n + 1][m + 1]`.
    let width = m + 1;
    let mut cost = vec![f32::INFINITY; (n + 1) * width];
    let mut step = vec![0u8; (n + 1) * width];
    cost[0] = 0.0;
    for i in 1..=n {
        for j in 1..=m {
            let (c0, c1, c2) = (
                cost[(i - 1) * width + j - 1],
                cost[(i - 1) * width + j],
                cost[i * width + j - 1],
            );
            let (best, s) = if c0 <= c1 && c0 <= c2 {
                (c0, 0)
            } else if c1 <= c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            cost[i * width + j] = best - smoothed[(i - 1) * m + j - 1];
            step[i * width + j] = s;
        }
    }
    let mut spans = vec![(usize::MAX, 0usize); n];
    let (mut i, mut j) = (n, m);
    while i > 0 && j > 0 {
        let span = &mut spans[i - 1];
        span.0 = span.0.min(j - 1);
        span.1 = span.1.max(j - 1);
        match step[i * width + j] {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    let mut last = 0;
    for span in &mut spans {
        if span.0 == usize::MAX {
            *span = (last, last);
        }
        last = span.1;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tokens` tokens over `tokens * per` frames, token `t` attending to its own `per` frames,
    /// plus `sink` (a frame every token attends to most).
    fn attention(tokens: usize, per: usize, sink: Option<usize>) -> Vec<Vec<f32>> {
        (0..tokens)
            .map(|t| {
                (0..tokens * per)
                    .map(|f| match f {
                        f if Some(f) == sink => 0.5,
                        f if f / per == t => 0.2,
                        _ => 0.01,
                    })
                    .collect()
            })
            .collect()
    }

    fn near(a: usize, b: usize) -> bool {
        a.abs_diff(b) <= 1
    }

    #[test]
    fn a_diagonal_attention_gives_each_token_its_frames() {
        let spans = token_spans(&attention(4, 10, None));
        for (t, &(start, end)) in spans.iter().enumerate() {
            assert!(near(start, t * 10) && near(end, t * 10 + 9), "{spans:?}");
        }
    }

    #[test]
    fn a_frame_every_token_looks_at_does_not_collapse_them() {
        // Frame 35 draws the most attention from every token; argmax would put all four there.
        let spans = token_spans(&attention(4, 10, Some(35)));
        for (t, &(start, _)) in spans.iter().enumerate() {
            assert!(near(start, t * 10), "{spans:?}");
        }
    }

    #[test]
    fn no_tokens_or_frames_is_no_spans() {
        assert!(token_spans(&[]).is_empty());
        assert_eq!(token_spans(&[vec![], vec![]]), vec![(0, 0), (0, 0)]);
    }
}
