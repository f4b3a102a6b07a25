//! Attention for decoding steps in which every query row has keys and values of its own: the
//! rows of a batched step belong to different sequences (their self-attention caches and encoder
//! frames differ in length), and the rows of a prefill see a causal prefix of one cache each.
//!
//! [`attend_rows`] takes plain slices in the layout caches grow in (`[position][heads · d]`, a
//! new position is one append), does each row's heads in one pass (scores, softmax, weighted sum)
//! and returns the heads merged, with each row's weights averaged over its heads when asked (what
//! word alignment reads). No tensors are built per row: the candle chain it replaces (narrow,
//! split heads, scale, attend, mean, concatenate) cost more per row than the arithmetic.

use crate::attention::{axpy, dot};
use rayon::prelude::*;

/// Multiply-adds below which one thread does every row (a rayon dispatch costs about as much).
const MIN_WORK_PER_TASK: usize = 1 << 17;

/// The keys and values one query row attends over: `len` positions of `kv_heads` heads of `d`
/// values. Value `i` of head `h` starts at `i * v_pos_stride + h * v_head_stride` in `v` (its `d`
/// values contiguous); keys lie as [`Keys`] says.
#[derive(Debug, Clone, Copy)]
pub struct RowKv<'a> {
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub len: usize,
    pub keys: Keys,
    pub v_pos_stride: usize,
    pub v_head_stride: usize,
}

/// How a row's keys are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// Key `i` of head `h` is `d` contiguous values at `i * pos_stride + h * head_stride` (a cache
    /// that grows by appending whole positions).
    Rows {
        pos_stride: usize,
        head_stride: usize,
    },
    /// Dimension `x` of head `h` is a run over positions at `h * head_stride + x * dim_stride`:
    /// the scores of every position are then sums of whole runs, with no per-key reductions
    /// (short heads of 40–64 values make those cost more than the products).
    Columns {
        head_stride: usize,
        dim_stride: usize,
    },
}

impl<'a> RowKv<'a> {
    /// Keys and values stored `[position][kv_heads · d]`, the first `len` positions.
    pub fn interleaved(k: &'a [f32], v: &'a [f32], len: usize, kv_heads: usize, d: usize) -> Self {
        Self {
            k,
            v,
            len,
            keys: Keys::Rows {
                pos_stride: kv_heads * d,
                head_stride: d,
            },
            v_pos_stride: kv_heads * d,
            v_head_stride: d,
        }
    }

    /// The end of the last key and value read, in `k` and `v`.
    fn ends(&self, kv_heads: usize, d: usize) -> (usize, usize) {
        let (last_pos, last_head) = (self.len - 1, kv_heads - 1);
        let k = match self.keys {
            Keys::Rows {
                pos_stride,
                head_stride,
            } => last_pos * pos_stride + last_head * head_stride + d,
            Keys::Columns {
                head_stride,
                dim_stride,
            } => last_head * head_stride + (d - 1) * dim_stride + self.len,
        };
        let v = last_pos * self.v_pos_stride + last_head * self.v_head_stride + d;
        (k, v)
    }

    /// Whether every position of every head lies inside `k` and `v`.
    fn fits(&self, kv_heads: usize, d: usize) -> bool {
        if self.len == 0 {
            return true;
        }
        if kv_heads == 0 || d == 0 {
            return false;
        }
        let (k, v) = self.ends(kv_heads, d);
        k <= self.k.len() && v <= self.v.len()
    }
}

/// Softmax attention of query rows `q` (`[rows][heads · d]`, already scaled) each over its own
/// `kv[row]` with `kv_heads` heads (query head `h` reads key head `h / (heads / kv_heads)`).
/// Returns the outputs `[rows][heads · d]` and, when `keep_weights`, each row's weights averaged
/// over heads (`[len]`; empty otherwise). Rows with no positions give zeros.
pub fn attend_rows(
    q: &[f32],
    kv: &[RowKv<'_>],
    heads: usize,
    kv_heads: usize,
    d: usize,
    keep_weights: bool,
) -> candle_core::Result<(Vec<f32>, Vec<Vec<f32>>)> {
    let width = heads * d;
    if kv_heads == 0 || !heads.is_multiple_of(kv_heads) || q.len() != kv.len() * width {
        candle_core::bail!(
            "attend_rows: {} query values for {} rows of {heads} heads of {d} ({kv_heads} kv heads)",
            q.len(),
            kv.len()
        );
    }
    if let Some(bad) = kv.iter().position(|r| !r.fits(kv_heads, d)) {
        candle_core::bail!("attend_rows: row {bad}'s keys and values are shorter than its length");
    }
    // Consecutive rows over the same keys and values (a prefill's positions of one sequence)
    // run as one task, heads outer: each head's keys and values are then read from memory once
    // for all of them and stay in cache while they are used (one head of 700 encoder frames is
    // 220 KB; read again for every row from far caches, a long prefill's cross-attention was
    // bound by memory). At most GROUP_ROWS rows a task, so that one sequence's prefill still
    // spreads over the cores.
    let mut groups: Vec<std::ops::Range<usize>> = Vec::new();
    for r in 0..kv.len() {
        match groups.last_mut() {
            Some(g) if g.len() < GROUP_ROWS && same_store(&kv[g.start], &kv[r]) => g.end = r + 1,
            _ => groups.push(r..r + 1),
        }
    }
    let mut outs: Vec<(std::ops::Range<usize>, &mut [f32])> = Vec::with_capacity(groups.len());
    let mut out = vec![0f32; q.len()];
    let mut rest = out.as_mut_slice();
    for g in groups {
        let (this, tail) = rest.split_at_mut(g.len() * width);
        outs.push((g, this));
        rest = tail;
    }
    let run = |(g, out): (std::ops::Range<usize>, &mut [f32])| {
        let mut weights: Vec<Vec<f32>> = g
            .clone()
            .map(|r| vec![0f32; if keep_weights { kv[r].len } else { 0 }])
            .collect();
        pulp::Arch::new().dispatch(Group {
            q: &q[g.start * width..g.end * width],
            kv: &kv[g],
            heads,
            group: heads / kv_heads,
            d,
            out,
            mean_w: &mut weights,
        });
        weights
    };
    let work: usize = kv.iter().map(|r| r.len).sum::<usize>() * width * 2;
    let weights: Vec<Vec<Vec<f32>>> = if outs.len() > 1 && work >= 2 * MIN_WORK_PER_TASK {
        outs.into_par_iter().map(run).collect()
    } else {
        outs.into_iter().map(run).collect()
    };
    Ok((out, weights.into_iter().flatten().collect()))
}

/// Rows of one sequence a task takes at most (see [`attend_rows`]).
const GROUP_ROWS: usize = 16;

/// Whether two rows read the same stored keys and values (their lengths may differ: a
/// prefill's causal rows).
fn same_store(a: &RowKv<'_>, b: &RowKv<'_>) -> bool {
    std::ptr::eq(a.k.as_ptr(), b.k.as_ptr())
        && std::ptr::eq(a.v.as_ptr(), b.v.as_ptr())
        && a.keys == b.keys
        && a.v_pos_stride == b.v_pos_stride
        && a.v_head_stride == b.v_head_stride
}

struct Group<'a> {
    q: &'a [f32],
    kv: &'a [RowKv<'a>],
    heads: usize,
    group: usize,
    d: usize,
    out: &'a mut [f32],
    mean_w: &'a mut [Vec<f32>],
}

impl pulp::WithSimd for Group<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Group {
            q,
            kv,
            heads,
            group,
            d,
            out,
            mean_w,
        } = self;
        let width = heads * d;
        let mut scores = vec![0f32; kv.iter().map(|r| r.len).max().unwrap_or(0)];
        let share = 1.0 / heads as f32;
        for h in 0..heads {
            let kh = h / group;
            for (r, row) in kv.iter().enumerate() {
                let qh = &q[r * width + h * d..r * width + (h + 1) * d];
                let scores = &mut scores[..row.len];
                match row.keys {
                    Keys::Rows {
                        pos_stride,
                        head_stride,
                    } => {
                        for (j, score) in scores.iter_mut().enumerate() {
                            let at = j * pos_stride + kh * head_stride;
                            *score = dot(qh, &row.k[at..at + d]);
                        }
                    }
                    Keys::Columns {
                        head_stride,
                        dim_stride,
                    } => column_scores(simd, qh, row.k, kh * head_stride, dim_stride, scores),
                }
                crate::ops::softmax_row(scores);
                let o = &mut out[r * width + h * d..r * width + (h + 1) * d];
                weighted_values(simd, scores, row, kh * row.v_head_stride, o);
                for (m, &wj) in mean_w[r].iter_mut().zip(scores.iter()) {
                    *m += wj * share;
                }
            }
        }
    }
}

/// Frames of scores one pass of [`column_scores`] keeps in registers, in vectors.
const SCORE_VECTORS: usize = 4;

/// `scores[j] = Σₓ qh[x] · k[base + x · dim_stride + j]`: keys stored as runs over frames
/// ([`Keys::Columns`]). [`SCORE_VECTORS`] vectors of frames at a time are summed in registers over
/// every dimension (each score written once, not read and written back per dimension).
#[inline(always)]
fn column_scores<S: pulp::Simd>(
    simd: S,
    qh: &[f32],
    k: &[f32],
    base: usize,
    dim_stride: usize,
    scores: &mut [f32],
) {
    let block = SCORE_VECTORS * S::F32_LANES;
    let full = scores.len() / block * block;
    for (j, out) in (0..full)
        .step_by(block)
        .zip(scores[..full].chunks_exact_mut(block))
    {
        let mut acc = [simd.splat_f32s(0.0); SCORE_VECTORS];
        for (x, &qx) in qh.iter().enumerate() {
            let at = base + x * dim_stride + j;
            let (kv, _) = S::as_simd_f32s(&k[at..at + block]);
            let Ok(kv) = <&[S::f32s; SCORE_VECTORS]>::try_from(kv) else {
                continue;
            };
            let qv = simd.splat_f32s(qx);
            for c in 0..SCORE_VECTORS {
                acc[c] = simd.mul_add_f32s(qv, kv[c], acc[c]);
            }
        }
        let (ov, _) = S::as_mut_simd_f32s(out);
        ov.copy_from_slice(&acc[..ov.len()]);
    }
    let rest = &mut scores[full..];
    rest.fill(0.0);
    for (x, &qx) in qh.iter().enumerate() {
        let at = base + x * dim_stride + full;
        axpy(rest, qx, &k[at..at + rest.len()]);
    }
}

/// `o += Σⱼ w[j] · v[base + j · v_pos_stride ..][..d]`: the head's output summed in registers
/// (`d` rounded up to whole vectors, at most four; the lanes past `d` read the next values and are
/// dropped), two frames in flight. Frames whose rounded-up read would pass the end of `v`, and
/// wider heads, take the plain path.
#[inline(always)]
fn weighted_values<S: pulp::Simd>(simd: S, w: &[f32], row: &RowKv<'_>, base: usize, o: &mut [f32]) {
    let done = match o.len().div_ceil(S::F32_LANES) {
        1 => values_in_registers::<S, 1>(simd, w, row, base, o),
        2 => values_in_registers::<S, 2>(simd, w, row, base, o),
        3 => values_in_registers::<S, 3>(simd, w, row, base, o),
        4 => values_in_registers::<S, 4>(simd, w, row, base, o),
        _ => 0,
    };
    let d = o.len();
    for (j, &wj) in w.iter().enumerate().skip(done) {
        let at = base + j * row.v_pos_stride;
        axpy(o, wj, &row.v[at..at + d]);
    }
}

/// [`weighted_values`]' register path for heads of `N` vectors; returns the frames done.
#[inline(always)]
fn values_in_registers<S: pulp::Simd, const N: usize>(
    simd: S,
    w: &[f32],
    row: &RowKv<'_>,
    base: usize,
    o: &mut [f32],
) -> usize {
    let padded = N * S::F32_LANES;
    let mut sum = [0f32; 64];
    if padded > sum.len() {
        return 0;
    }
    let stride = row.v_pos_stride;
    // Frames whose padded read lies inside `v`.
    let fit = row
        .v
        .len()
        .checked_sub(base + padded)
        .map_or(0, |room| (room / stride.max(1) + 1).min(w.len()));
    let pairs = fit / 2 * 2;
    let (mut a0, mut a1) = ([simd.splat_f32s(0.0); N], [simd.splat_f32s(0.0); N]);
    let load = |j: usize| -> Option<&[S::f32s; N]> {
        let at = base + j * stride;
        let (vv, _) = S::as_simd_f32s(row.v.get(at..at + padded)?);
        <&[S::f32s; N]>::try_from(vv).ok()
    };
    for j in (0..pairs).step_by(2) {
        let (Some(v0), Some(v1)) = (load(j), load(j + 1)) else {
            return 0;
        };
        let (w0, w1) = (simd.splat_f32s(w[j]), simd.splat_f32s(w[j + 1]));
        for c in 0..N {
            a0[c] = simd.mul_add_f32s(w0, v0[c], a0[c]);
            a1[c] = simd.mul_add_f32s(w1, v1[c], a1[c]);
        }
    }
    for c in 0..N {
        let (lanes, _) = S::as_mut_simd_f32s(&mut sum[c * S::F32_LANES..(c + 1) * S::F32_LANES]);
        if let Some(l) = lanes.first_mut() {
            *l = simd.add_f32s(a0[c], a1[c]);
        }
    }
    for (o, s) in o.iter_mut().zip(&sum) {
        *o += s;
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Rows of different lengths and grouped heads against the tensor kernel, row by row.
    #[test]
    fn each_row_attends_over_its_own_keys_as_the_tensor_kernel_does() -> candle_core::Result<()> {
        // Heads of 20 and 40 values: two and three vectors read rounded up (the next values'
        // lanes dropped), and the last frames, whose rounded-up read would pass the end, plain;
        // heads of 72 (five vectors) take the plain path throughout.
        for d in [20, 40, 72] {
            rows_match_the_tensor_kernel(d)?;
        }
        Ok(())
    }

    fn rows_match_the_tensor_kernel(d: usize) -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let (heads, kv_heads) = (4, 2);
        let lens = [1usize, 7, 300];
        let q: Vec<f32> = Tensor::randn(0f32, 1.0, lens.len() * heads * d, &dev)?.to_vec1()?;
        let caches: Vec<(Vec<f32>, Vec<f32>)> = lens
            .iter()
            .map(|&n| {
                let k = Tensor::randn(0f32, 1.0, n * kv_heads * d, &dev)?.to_vec1()?;
                let v = Tensor::randn(0f32, 1.0, n * kv_heads * d, &dev)?.to_vec1()?;
                Ok((k, v))
            })
            .collect::<candle_core::Result<_>>()?;
        let kv: Vec<RowKv> = caches
            .iter()
            .zip(lens)
            .map(|((k, v), n)| RowKv::interleaved(k, v, n, kv_heads, d))
            .collect();
        let (out, weights) = attend_rows(&q, &kv, heads, kv_heads, d, true)?;
        // The same keys stored by columns, `[head][d][capacity]` with room to spare.
        let columns: Vec<Vec<f32>> = caches
            .iter()
            .zip(lens)
            .map(|((k, _), n)| {
                let cap = n + 3;
                let mut t = vec![f32::NAN; kv_heads * d * cap];
                for i in 0..n {
                    for h in 0..kv_heads {
                        for x in 0..d {
                            t[(h * d + x) * cap + i] = k[(i * kv_heads + h) * d + x];
                        }
                    }
                }
                t
            })
            .collect();
        let by_columns: Vec<RowKv> = kv
            .iter()
            .zip(&columns)
            .map(|(r, t)| RowKv {
                k: t,
                keys: Keys::Columns {
                    head_stride: d * (r.len + 3),
                    dim_stride: r.len + 3,
                },
                ..*r
            })
            .collect();
        let (out2, weights2) = attend_rows(&q, &by_columns, heads, kv_heads, d, true)?;
        let diff = out
            .iter()
            .zip(&out2)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff < 1e-5, "keys by columns: outputs differ by {diff}");
        assert_eq!(weights.len(), weights2.len());
        for (r, &n) in lens.iter().enumerate() {
            // [1, heads, 1, d] queries; keys repeated per group to [1, heads, n, d].
            let qt = Tensor::from_slice(
                &q[r * heads * d..(r + 1) * heads * d],
                (1, heads, 1, d),
                &dev,
            )?;
            let expand = |x: &[f32]| -> candle_core::Result<Tensor> {
                Tensor::from_slice(x, (n, kv_heads, 1, d), &dev)?
                    .repeat((1, 1, heads / kv_heads, 1))?
                    .reshape((n, heads, d))?
                    .transpose(0, 1)?
                    .unsqueeze(0)
            };
            let (kt, vt) = (expand(&caches[r].0)?, expand(&caches[r].1)?);
            let (want, w) = crate::attention::attend(&qt, &kt, &vt, None, true)?;
            let want: Vec<f32> = want.flatten_all()?.to_vec1()?;
            let got = &out[r * heads * d..(r + 1) * heads * d];
            let diff = want
                .iter()
                .zip(got)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(diff < 1e-5, "row {r}: outputs differ by {diff}");
            let mean: Vec<f32> = w
                .expect("weights")
                .squeeze(0)?
                .mean(0)?
                .flatten_all()?
                .to_vec1()?;
            let diff = mean
                .iter()
                .zip(&weights[r])
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                diff < 1e-6 && weights[r].len() == n,
                "row {r}: weights differ by {diff}"
            );
        }
        Ok(())
    }

    /// Rows sharing one store (a prefill's causal rows, more than a task takes) give what each
    /// gives alone.
    #[test]
    fn rows_over_one_store_give_what_each_gives_alone() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let (heads, kv_heads, d, n) = (4, 2, 8, 40);
        let rows = GROUP_ROWS + 5;
        let q: Vec<f32> = Tensor::randn(0f32, 1.0, 2 * rows * heads * d, &dev)?.to_vec1()?;
        let k: Vec<f32> = Tensor::randn(0f32, 1.0, n * kv_heads * d, &dev)?.to_vec1()?;
        let v: Vec<f32> = Tensor::randn(0f32, 1.0, n * kv_heads * d, &dev)?.to_vec1()?;
        let other: Vec<f32> = Tensor::randn(0f32, 1.0, n * kv_heads * d, &dev)?.to_vec1()?;
        // Causal rows over `k`, `v`, then whole rows over another store.
        let kv: Vec<RowKv> = (0..rows)
            .map(|r| RowKv::interleaved(&k, &v, n - rows + r + 1, kv_heads, d))
            .chain((0..rows).map(|_| RowKv::interleaved(&other, &v, n, kv_heads, d)))
            .collect();
        let (out, weights) = attend_rows(&q, &kv, heads, kv_heads, d, true)?;
        let width = heads * d;
        for (r, row) in kv.iter().enumerate() {
            let (alone, w) = attend_rows(
                &q[r * width..(r + 1) * width],
                std::slice::from_ref(row),
                heads,
                kv_heads,
                d,
                true,
            )?;
            let diff = alone
                .iter()
                .zip(&out[r * width..(r + 1) * width])
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(diff < 1e-6, "row {r}: outputs differ by {diff}");
            assert_eq!(w[0], weights[r], "row {r}: weights");
        }
        Ok(())
    }

    #[test]
    fn short_keys_and_bad_shapes_are_errors_not_panics() {
        let k = vec![0f32; 10];
        let row = RowKv::interleaved(&k, &k, 3, 1, 4);
        assert!(attend_rows(&[0.0; 4], &[row], 1, 1, 4, false).is_err());
        let row = RowKv::interleaved(&k, &k, 2, 1, 4);
        assert!(attend_rows(&[0.0; 4], &[row], 1, 1, 4, false).is_ok());
        assert!(attend_rows(&[0.0; 3], &[row], 1, 1, 4, false).is_err());
        assert!(attend_rows(&[0.0; 8], &[row], 2, 0, 4, false).is_err());
    }
}
