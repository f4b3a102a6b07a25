//! Attention for long queries on the CPU (f32): the encoder's self-attention over a whole window.
//!
//! candle computes it as two batched matrix products around a softmax: the whole score matrix
//! (9 MB per head for a 30 s window) goes out to memory and comes back, and products whose inner
//! dimension is a head width of 64 are too thin for gemm's packing to pay. Here one task takes
//! [`COLS`] query rows of one item and, head by head, computes their scores against every key, the
//! softmax, and the weighted sum of the values, with the register-tiled products of
//! [`crate::tile`]; the scores (`[S][32]`, 192 KB for a 30 s window) never leave the core's cache.
//!
//! The products are taken transposed so that every operand is a packed panel: scoresᵀ = K · Qᵀ
//! (keys packed `[⌈S/8⌉][D][8]` once per head, the block's queries `[D][32]`), which leaves the
//! scores as a `[S][32]` panel, ready for outᵀ = Vᵀ · scoresᵀ (values packed `[⌈D/8⌉][S][8]`).
//! The softmax runs down the columns of that panel, 32 queries at a time, and its division is
//! applied to the output.
//!
//! No mask, no weights: the decoder's attention (causal and padding masks, the cross-attention
//! weights word timestamps need) is [`crate::attention`]. Other devices and dtypes use candle.

use crate::attention::{view, View};
use crate::ops::exp;
use crate::tile::{self, Aligned, A_ROWS, COLS};
use candle_core::{Result, Tensor};
use rayon::prelude::*;

/// Softmax attention of `q` `[B, H, T, D]` (already scaled) over `k`, `v` `[B, H, S, D]` (any
/// strides with unit stride in D, e.g. heads interleaved as the linear layers write them). Returns
/// `[B, T, H·D]`, the heads merged.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = q.dims4()?;
    let (kb, kh, s, kd) = k.dims4()?;
    if (kb, kh, kd) != (b, h, d) || v.dims4()? != (b, h, s, d) || s == 0 || d == 0 {
        candle_core::bail!(
            "attention: shapes {:?} {:?} {:?} do not fit",
            q.dims(),
            k.dims(),
            v.dims()
        );
    }
    if b * t * h == 0 {
        return Tensor::zeros((b, t, h * d), q.dtype(), q.device());
    }
    let (qs, ql) = q.storage_and_layout();
    let (ks, kl) = k.storage_and_layout();
    let (vs, vl) = v.storage_and_layout();
    let (qv, kv, vv) = (
        view(&qs, ql, "q")?,
        view(&ks, kl, "k")?,
        view(&vs, vl, "v")?,
    );
    let dims = (b, h, s, d);
    let (keys, values) = (pack(&kv, dims, false), pack(&vv, dims, true));
    drop((ks, vs));
    let mut out = vec![0f32; b * t * h * d];
    let job = Job {
        q: qv,
        keys: keys.as_slice(),
        values: values.as_slice(),
        dims: (h, s, d),
    };
    out.par_chunks_mut(t * h * d)
        .enumerate()
        .for_each(|(item, rows)| {
            rows.par_chunks_mut(COLS * h * d)
                .enumerate()
                .for_each(|(i, out)| {
                    pulp::Arch::new().dispatch(Block {
                        job: &job,
                        item,
                        first: i * COLS,
                        out,
                    })
                })
        });
    drop(qs);
    Tensor::from_vec(out, (b, t, h * d), q.device())
}

/// Each (item, head)'s `[S, D]` matrix of `m`, packed as tiles of [`A_ROWS`] rows (zero-padded):
/// keys by key, `[⌈S/8⌉][D][8]`, or (`transposed`) values by dimension, `[⌈D/8⌉][S][8]`.
fn pack(m: &View, (b, h, s, d): (usize, usize, usize, usize), transposed: bool) -> Aligned {
    let (rows, k_len) = if transposed { (d, s) } else { (s, d) };
    let len = rows.div_ceil(A_ROWS) * k_len * A_ROWS;
    let mut packed = Aligned::zeros(b * h * len);
    packed
        .as_mut_slice()
        .par_chunks_mut(len)
        .enumerate()
        .for_each(|(bh, dst)| {
            for j in 0..s {
                let src = m.row(bh / h, bh % h, j, d);
                if transposed {
                    for (tile, part) in dst.chunks_exact_mut(s * A_ROWS).zip(src.chunks(A_ROWS)) {
                        tile[j * A_ROWS..][..part.len()].copy_from_slice(part);
                    }
                } else {
                    let tile = &mut dst[(j / A_ROWS) * d * A_ROWS..][..d * A_ROWS];
                    for (at, &value) in tile.iter_mut().skip(j % A_ROWS).step_by(A_ROWS).zip(src) {
                        *at = value;
                    }
                }
            }
        });
    packed
}

struct Job<'a> {
    q: View<'a>,
    keys: &'a [f32],
    values: &'a [f32],
    /// Heads, key rows, head width.
    dims: (usize, usize, usize),
}

/// Query rows `first..first + 32` (or fewer) of one item, all heads: writes `out` `[rows, H·D]`.
struct Block<'a> {
    job: &'a Job<'a>,
    item: usize,
    first: usize,
    out: &'a mut [f32],
}

impl pulp::WithSimd for Block<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Block {
            job,
            item,
            first,
            out,
        } = self;
        let (h, s, d) = job.dims;
        let n = out.len() / (h * d);
        let (s_pad, d_pad) = (s.div_ceil(A_ROWS) * A_ROWS, d.div_ceil(A_ROWS) * A_ROWS);
        let (k_len, v_len) = (s_pad * d, d_pad * s);
        let mut queries = Aligned::zeros(d * COLS);
        let queries = queries.as_mut_slice();
        let mut scores = Aligned::zeros(s_pad * COLS);
        let scores = scores.as_mut_slice();
        let mut out_t = Aligned::zeros(d_pad * COLS);
        let out_t = out_t.as_mut_slice();
        for head in 0..h {
            // The block's queries transposed, `[D][32]` (missing rows stay zero).
            for i in 0..n {
                for (x, &value) in job.q.row(item, head, first + i, d).iter().enumerate() {
                    queries[x * COLS + i] = value;
                }
            }
            let keys = &job.keys[(item * h + head) * k_len..][..k_len];
            for (tile, rows) in keys
                .chunks_exact(d * A_ROWS)
                .zip(scores.chunks_exact_mut(A_ROWS * COLS))
            {
                tile::tile_packed_store(simd, tile, queries, d, rows);
            }
            let sums = softmax_columns(&mut scores[..s * COLS]);
            let values = &job.values[(item * h + head) * v_len..][..v_len];
            for (tile, rows) in values
                .chunks_exact(s * A_ROWS)
                .zip(out_t.chunks_exact_mut(A_ROWS * COLS))
            {
                tile::tile_packed_store(simd, tile, scores, s, rows);
            }
            for (i, row) in out.chunks_exact_mut(h * d).enumerate() {
                let inv = 1.0 / sums[i];
                for (x, o) in row[head * d..][..d].iter_mut().enumerate() {
                    *o = out_t[x * COLS + i] * inv;
                }
            }
        }
    }
}

/// Softmax down each of the [`COLS`] columns of `scores` `[S][COLS]`, leaving the numerators
/// `e^(x − max)` in place; returns each column's denominator.
#[inline(always)]
fn softmax_columns(scores: &mut [f32]) -> [f32; COLS] {
    let mut max = [f32::NEG_INFINITY; COLS];
    for row in scores.chunks_exact(COLS) {
        for (m, &x) in max.iter_mut().zip(row) {
            *m = m.max(x);
        }
    }
    let mut sums = [0f32; COLS];
    for row in scores.chunks_exact_mut(COLS) {
        for ((x, m), sum) in row.iter_mut().zip(&max).zip(sums.iter_mut()) {
            *x = exp(*x - m);
            *sum += *x;
        }
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// candle's chain of operations, the reference.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        let (b, h, l, d) = q.dims4()?;
        let scores = q.contiguous()?.matmul(&k.contiguous()?.t()?)?;
        let w = candle_nn::ops::softmax_last_dim(&scores)?;
        w.matmul(&v.contiguous()?)?
            .transpose(1, 2)?
            .reshape((b, l, h * d))
    }

    #[test]
    fn blocked_attention_matches_candles_operations() -> Result<()> {
        let dev = Device::Cpu;
        // Heads interleaved in storage, as the linear layers write them. Sizes that are not
        // multiples of the panel width (keys, head width) or of the tile and block heights, more
        // query rows than one block holds, and a single key.
        for (b, h, l, s, d) in [
            (1, 6, 150, 150, 64),
            (2, 3, 70, 45, 20),
            (1, 2, 1500, 1500, 64),
            (2, 1, 9, 1, 40),
        ] {
            let split = |t: Tensor| t.reshape((b, (), h, d))?.transpose(1, 2);
            let q = split(Tensor::randn(0f32, 1.0, (b, l, h * d), &dev)?)?;
            let k = split(Tensor::randn(0f32, 1.0, (b, s, h * d), &dev)?)?;
            let v = split(Tensor::randn(0f32, 1.0, (b, s, h * d), &dev)?)?;
            let want = reference(&q, &k, &v)?;
            let got = attend(&q, &k, &v)?;
            assert_eq!(got.dims(), &[b, l, h * d]);
            let diff = (want - got)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-4, "{b} {h} {l} {s} {d}: differs by {diff}");
        }
        Ok(())
    }

    #[test]
    fn keys_and_values_of_different_lengths_than_queries_and_contiguous_heads() -> Result<()> {
        let dev = Device::Cpu;
        let (b, h, l, s, d) = (2, 4, 33, 77, 32);
        let q = Tensor::randn(0f32, 1.0, (b, h, l, d), &dev)?;
        let k = Tensor::randn(0f32, 1.0, (b, h, s, d), &dev)?;
        let v = Tensor::randn(0f32, 1.0, (b, h, s, d), &dev)?;
        let diff = (reference(&q, &k, &v)? - attend(&q, &k, &v)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(diff < 1e-4, "differs by {diff}");
        let short = Tensor::randn(0f32, 1.0, (b, h, s, d + 1), &dev)?;
        assert!(attend(&q, &k, &short).is_err());
        // No query rows: an empty output, not a panic.
        let none = Tensor::zeros((b, h, 0, d), DType::F32, &dev)?;
        assert_eq!(attend(&none, &k, &v)?.dims(), &[b, 0, h * d]);
        Ok(())
    }
}
