//! Attention for a few query rows on the CPU (f32): the decoder's self- and cross-attention.
//!
//! candle computes attention as a chain of tensor operations (split heads, transpose, two batched
//! matmuls, softmax, merge heads), each with its own allocation and copies; for the one query row
//! of a decoding step those costs, not the arithmetic, dominate. [`attend`] does the whole thing in
//! one pass per (item, head): dot products of the query with each key, softmax, and the weighted
//! sum of the values, reading queries, keys and values where they lie (any strides, heads
//! interleaved or not) and writing the heads already merged, `[B, L, H·D]`.
//!
//! Keys may also lie by columns (`k` a `[B, H, S, D]` view whose unit stride is over positions:
//! the transpose of a contiguous `[B, H, D, S]`), as the decoder keeps its cross-attention keys:
//! a query's scores are then `D` runs of multiply-adds over all positions, with no per-key
//! horizontal sum (head widths of 64 make those cost as much as the products).
//!
//! Long unmasked queries (the encoder's) use [`crate::long_attention`] instead, which works on
//! blocks of queries with packed operands. Other devices and dtypes use candle's operations.

use candle_core::{CpuStorage, DType, Device, Layout, Result, Storage, Tensor};
use rayon::prelude::*;

/// Lanes of the partial sums (one AVX-512 register).
const LANES: usize = 16;
/// Multiply-adds below which one thread does all heads (a rayon dispatch costs about as much).
const MIN_WORK_PER_TASK: usize = 1 << 17;

/// Whether [`attend`] handles these tensors.
pub fn supported(q: &Tensor) -> bool {
    matches!(q.device(), Device::Cpu) && q.dtype() == DType::F32
}

/// A strided f32 view `[B, H, N, D]` (unit stride in D).
pub(crate) struct View<'a> {
    pub(crate) data: &'a [f32],
    pub(crate) offset: usize,
    pub(crate) stride: [usize; 3],
}

impl View<'_> {
    pub(crate) fn row(&self, b: usize, h: usize, i: usize, d: usize) -> &[f32] {
        let at = self.offset + b * self.stride[0] + h * self.stride[1] + i * self.stride[2];
        &self.data[at..at + d]
    }
}

/// How [`attend`]'s keys lie: `Rows` a [`View`] (unit stride in D), or `Columns`, a [`View`]
/// over `[B, H, D, S]` (unit stride in S, one run of positions per dimension).
enum KeyView<'a> {
    Rows(View<'a>),
    Columns(View<'a>),
}

impl<'a> KeyView<'a> {
    fn of(storage: &'a Storage, layout: &Layout) -> Result<Self> {
        let s = layout.stride();
        if layout.dims().len() == 4 && s[3] != 1 && s[2] == 1 {
            let Storage::Cpu(CpuStorage::F32(data)) = storage else {
                candle_core::bail!("attention: k is not a CPU f32 tensor")
            };
            return Ok(KeyView::Columns(View {
                data,
                offset: layout.start_offset(),
                stride: [s[0], s[1], s[3]],
            }));
        }
        Ok(KeyView::Rows(view(storage, layout, "k")?))
    }
}

pub(crate) fn view<'a>(storage: &'a Storage, layout: &Layout, what: &str) -> Result<View<'a>> {
    let Storage::Cpu(CpuStorage::F32(data)) = storage else {
        candle_core::bail!("attention: {what} is not a CPU f32 tensor")
    };
    let s = layout.stride();
    if layout.dims().len() != 4 || s[3] != 1 {
        candle_core::bail!("attention: {what} must be [B, H, N, D] with unit stride in D");
    }
    Ok(View {
        data,
        offset: layout.start_offset(),
        stride: [s[0], s[1], s[2]],
    })
}

/// Softmax attention of `q` `[B, H, L, D]` (already scaled) over `k`, `v` `[B, H, S, D]`, with an
/// additive `mask` broadcastable to `[B, H, L, S]`. Returns the output `[B, L, H·D]` and, when
/// `keep_weights`, the weights `[B, H, L, S]`.
pub fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    keep_weights: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let (b, h, l, d) = q.dims4()?;
    let (kb, kh, s, kd) = k.dims4()?;
    if (kb, kh, kd) != (b, h, d) || v.dims4()? != (b, h, s, d) {
        candle_core::bail!(
            "attention: shapes {:?} {:?} {:?} do not fit",
            q.dims(),
            k.dims(),
            v.dims()
        );
    }
    // The mask as dense rows `[B, L, S]` (never per head here).
    let mask: Option<Vec<f32>> = match mask {
        Some(m) => Some(
            m.to_dtype(DType::F32)?
                .broadcast_as((b, 1, l, s))?
                .contiguous()?
                .flatten_all()?
                .to_vec1()?,
        ),
        None => None,
    };
    let (qs, ql) = q.storage_and_layout();
    let (ks, kl) = k.storage_and_layout();
    let (vs, vl) = v.storage_and_layout();
    let job = Job {
        q: view(&qs, ql, "q")?,
        k: KeyView::of(&ks, kl)?,
        v: view(&vs, vl, "v")?,
        mask: mask.as_deref(),
        dims: (h, l, s, d),
    };
    // One task per (item, head): its output rows `[L, D]` and weights `[L, S]`.
    let run = |bh: usize| {
        let mut out = vec![0f32; l * d];
        let mut w = vec![0f32; l * s];
        pulp::Arch::new().dispatch(Head {
            job: &job,
            b: bh / h,
            h: bh % h,
            out: &mut out,
            w: &mut w,
        });
        (out, w)
    };
    let heads: Vec<(Vec<f32>, Vec<f32>)> = if b * h * l * s * d >= 2 * MIN_WORK_PER_TASK {
        (0..b * h).into_par_iter().map(run).collect()
    } else {
        (0..b * h).map(run).collect()
    };
    drop((qs, ks, vs));
    let mut out = vec![0f32; b * l * h * d];
    for (bh, (o, _)) in heads.iter().enumerate() {
        let (bi, hi) = (bh / h, bh % h);
        for (i, row) in o.chunks_exact(d.max(1)).enumerate() {
            let at = ((bi * l + i) * h + hi) * d;
            out[at..at + d].copy_from_slice(row);
        }
    }
    let out = Tensor::from_vec(out, (b, l, h * d), q.device())?;
    let weights = if keep_weights {
        let w: Vec<f32> = heads.into_iter().flat_map(|(_, w)| w).collect();
        Some(Tensor::from_vec(w, (b, h, l, s), q.device())?)
    } else {
        None
    };
    Ok((out, weights))
}

struct Job<'a> {
    q: View<'a>,
    k: KeyView<'a>,
    v: View<'a>,
    mask: Option<&'a [f32]>,
    /// Heads, query rows, key rows, head width.
    dims: (usize, usize, usize, usize),
}

struct Head<'a> {
    job: &'a Job<'a>,
    b: usize,
    h: usize,
    out: &'a mut [f32],
    w: &'a mut [f32],
}

impl pulp::WithSimd for Head<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Head { job, b, h, out, w } = self;
        let (_, l, s, d) = job.dims;
        for i in 0..l {
            let q = job.q.row(b, h, i, d);
            let scores = &mut w[i * s..(i + 1) * s];
            match &job.k {
                KeyView::Rows(k) => {
                    for (j, score) in scores.iter_mut().enumerate() {
                        *score = dot(q, k.row(b, h, j, d));
                    }
                }
                KeyView::Columns(k) => {
                    scores.fill(0.0);
                    for (x, &qx) in q.iter().enumerate() {
                        axpy(scores, qx, k.row(b, h, x, s));
                    }
                }
            }
            if let Some(m) = job.mask {
                for (score, m) in scores.iter_mut().zip(&m[(b * l + i) * s..]) {
                    *score += m;
                }
            }
            crate::ops::softmax_row(scores);
            let o = &mut out[i * d..(i + 1) * d];
            for (j, &wj) in scores.iter().enumerate() {
                if wj != 0.0 {
                    axpy(o, wj, job.v.row(b, h, j, d));
                }
            }
        }
    }
}

/// `y += a · x` (vectorizes under `with_simd`).
#[inline(always)]
pub(crate) fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y = a.mul_add(*x, *y);
    }
}

/// `a · b` with [`LANES`] partial sums (vectorizes under `with_simd`).
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            lanes[k] = x[k].mul_add(y[k], lanes[k]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// candle's chain of operations, the reference.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, h, l, d) = q.dims4()?;
        let mut scores = q.contiguous()?.matmul(&k.contiguous()?.t()?)?;
        if let Some(m) = mask {
            scores = scores.broadcast_add(m)?;
        }
        let w = candle_nn::ops::softmax_last_dim(&scores)?;
        w.matmul(&v.contiguous()?)?
            .transpose(1, 2)?
            .reshape((b, l, h * d))
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
        (a - b)?.abs()?.max_all()?.to_scalar::<f32>()
    }

    #[test]
    fn fused_attention_matches_candles_operations() -> Result<()> {
        let dev = Device::Cpu;
        // Heads interleaved in storage, as the linear layers write them: [B, S, H, D] viewed as
        // [B, H, S, D]. D = 20 is not a multiple of the lane count.
        for (b, h, l, s, d) in [(1, 6, 1, 350, 64), (3, 2, 5, 17, 20), (2, 4, 40, 300, 64)] {
            let split = |t: Tensor| t.reshape((b, (), h, d))?.transpose(1, 2);
            let q = split(Tensor::randn(0f32, 1.0, (b, l, h * d), &dev)?)?;
            let k = split(Tensor::randn(0f32, 1.0, (b, s, h * d), &dev)?)?;
            let v = split(Tensor::randn(0f32, 1.0, (b, s, h * d), &dev)?)?;
            let want = reference(&q, &k, &v, None)?;
            let (got, w) = attend(&q, &k, &v, None, true)?;
            assert!(max_diff(&want, &got)? < 1e-4, "{b} {h} {l} {s} {d}");
            let sums = w.expect("weights").sum(3)?;
            assert!(max_diff(&sums, &sums.ones_like()?)? < 1e-5);
            // A padding mask per item, as the decoder's cross-attention uses.
            let m: Vec<f32> = (0..b * s)
                .map(|i| {
                    if i % s < s - 3 * (i / s) {
                        0.0
                    } else {
                        f32::NEG_INFINITY
                    }
                })
                .collect();
            let mask = Tensor::from_vec(m, (b, 1, 1, s), &dev)?;
            let want = reference(&q, &k, &v, Some(&mask))?;
            let (got, _) = attend(&q, &k, &v, Some(&mask), false)?;
            assert!(max_diff(&want, &got)? < 1e-4, "masked {b} {h} {l} {s} {d}");
        }
        Ok(())
    }

    #[test]
    fn keys_stored_by_columns_give_the_same_attention() -> Result<()> {
        let dev = Device::Cpu;
        for (b, h, l, s, d) in [(2, 6, 1, 1500, 64), (3, 2, 5, 17, 20)] {
            // Queries scaled by 1/√d, as attention is given them.
            let q = (Tensor::randn(0f32, 1.0, (b, h, l, d), &dev)? / (d as f64).sqrt())?;
            let k = Tensor::randn(0f32, 1.0, (b, h, s, d), &dev)?;
            let v = Tensor::randn(0f32, 1.0, (b, h, s, d), &dev)?;
            // [B, H, D, S] in memory, seen as [B, H, S, D].
            let columns = k.transpose(2, 3)?.contiguous()?.transpose(2, 3)?;
            assert_eq!(columns.stride()[2], 1);
            let m: Vec<f32> = (0..b * s)
                .map(|i| {
                    if i % s < s - 2 {
                        0.0
                    } else {
                        f32::NEG_INFINITY
                    }
                })
                .collect();
            let mask = Tensor::from_vec(m, (b, 1, 1, s), &dev)?;
            for mask in [None, Some(&mask)] {
                let (want, ww) = attend(&q, &k, &v, mask, true)?;
                let (got, gw) = attend(&q, &columns, &v, mask, true)?;
                assert!(max_diff(&want, &got)? < 1e-5, "{b} {h} {l} {s} {d}");
                assert!(max_diff(&ww.expect("weights"), &gw.expect("weights"))? < 1e-5);
                assert!(max_diff(&reference(&q, &k, &v, mask)?, &got)? < 1e-4);
            }
        }
        Ok(())
    }

    #[test]
    fn a_causal_mask_over_cached_keys_is_respected() -> Result<()> {
        let dev = Device::Cpu;
        let (b, h, l, s, d) = (2, 3, 4, 9, 16);
        let q = Tensor::randn(0f32, 1.0, (b, h, l, d), &dev)?;
        let k = Tensor::randn(0f32, 1.0, (b, h, s, d), &dev)?;
        let v = Tensor::randn(0f32, 1.0, (b, h, s, d), &dev)?;
        // Query i sees keys 0..=s-l+i.
        let m: Vec<f32> = (0..l * s)
            .map(|x| {
                if x % s <= s - l + x / s {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
            .collect();
        let mask = Tensor::from_vec(m, (l, s), &dev)?;
        let want = reference(&q, &k, &v, Some(&mask))?;
        let (got, w) = attend(&q, &k, &v, Some(&mask), true)?;
        assert!(max_diff(&want, &got)? < 1e-4);
        let w: Vec<f32> = w.expect("weights").flatten_all()?.to_vec1()?;
        // The first query's weights on the last l - 1 keys are exactly zero.
        assert!(w[s - l + 1..s].iter().all(|x| *x == 0.0));
        Ok(())
    }
}
