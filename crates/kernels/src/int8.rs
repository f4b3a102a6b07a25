//! 8-bit linear layers for the encoder of a quantized model, on CPUs with AVX-512 VNNI.
//!
//! The encoder multiplies every weight by ~1500 rows of a 30 s window, so it is bound by
//! arithmetic, not by memory. VNNI's `vpdpbusd` multiplies 64 pairs of 8-bit integers and adds
//! them, four at a time, into 16 32-bit sums: four times the products of one f32 FMA. On the
//! encoder's shapes here that takes 0.33–0.57× the time of gemm's f32 product.
//!
//! How the numbers are made:
//! - **Weights**: one scale per output column (`max |w| / 127`), values rounded to `i8`. They are
//!   made at load from the layer's f32 weight: for a quantized model file, the dequantized
//!   weights (so a q8_0 encoder is quantized twice; measured error below).
//! - **Activations**: one scale per row, made per call (`max |x| / 127`), rounded to `i8`.
//! - `vpdpbusd` multiplies unsigned by signed bytes, and only its signed operand can be broadcast
//!   from memory inside the instruction. So the activations are the signed operand (one load
//!   per row serves 16 columns) and the weights are stored shifted by +128. The shift adds
//!   `128 · Σₖ x` to every sum of a row; each row's sums start at minus that, so no correction
//!   pass is needed.
//! - **Output**: `sum · scale_row · scale_column + bias`, then GELU or a residual added, in one
//!   pass while the tile is in cache (the same [`Then`] as the f32 layers).
//!
//! The register tile is 8 rows × 32 columns (16 accumulators); weights are packed per 32 columns
//! as `[k/4][32][4]` bytes, and each tile's rows as `[k/4][rows][4]`, so the inner loop reads only
//! contiguous fixed-size chunks.
//!
//! Error against the f32 layer: 0.86% relative RMS on a random 384-wide layer (tests below).
//!
//! Not here: CPUs without AVX-512 VNNI (the layer stays f32: [`Int8Matrix::new`] returns `None`),
//! other devices, and the decoder's few-row products ([`crate::packed`], memory-bound, where
//! 8-bit weights with f32 activations keep more precision for the same speed).
//!
//! One of the workspace's two `unsafe` blocks is here: the call into the kernel compiled for
//! VNNI, made only after the CPU has been seen to have it (the other: [`crate::dense`]'s gemm
//! call).

use crate::ops::{contiguous_f32, gelu, Then};
use candle_core::{DType, Device, Result, Storage, Tensor};
use rayon::prelude::*;

/// Output columns per panel: two 16-lane registers.
const COLS: usize = 32;
/// Rows per register tile: two accumulators each, 16 registers.
const TILE_ROWS: usize = 8;
/// Rows per rayon task: eight tiles share each panel while it is in the core's cache.
const TASK_ROWS: usize = 64;

/// A weight `[n, k]` quantized per output column and packed for [`Int8Matrix::forward`].
pub struct Int8Matrix {
    n: usize,
    k: usize,
    /// `k` rounded up to a multiple of four (a `vpdpbusd` group).
    k4: usize,
    /// Per panel of [`COLS`] columns: `[k4 / 4][COLS][4]` bytes, each `q + 128` (the padding
    /// past `k` and past `n` holds 128, a zero weight), as 64-byte halves of a panel row.
    panels: Vec<[u8; 64]>,
    /// Per column (padded to whole panels): the weight scale.
    scales: Vec<f32>,
}

/// Whether this CPU runs the 8-bit kernel.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl Int8Matrix {
    /// Quantize and pack `w` `[n, k]`; `None` unless it is a non-empty f32 matrix on the CPU and
    /// this CPU has AVX-512 VNNI.
    pub fn new(w: &Tensor) -> Result<Option<Self>> {
        if !available()
            || !matches!(w.device(), Device::Cpu)
            || w.dtype() != DType::F32
            || w.rank() != 2
        {
            return Ok(None);
        }
        let (n, k) = w.dims2()?;
        if n == 0 || k == 0 {
            return Ok(None);
        }
        let flat: Vec<f32> = w.flatten_all()?.to_vec1()?;
        let k4 = k.div_ceil(4) * 4;
        let n_pad = n.div_ceil(COLS) * COLS;
        let quads = k4 / 4;
        let mut bytes = vec![128u8; n_pad * k4];
        let mut scales = vec![0f32; n_pad];
        for (c, row) in flat.chunks_exact(k).enumerate() {
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
            scales[c] = amax / 127.0;
            let (p, col) = (c / COLS, c % COLS);
            for (i, &v) in row.iter().enumerate() {
                let q = (v * inv).round_ties_even().clamp(-127.0, 127.0) as i32;
                bytes[((p * quads + i / 4) * COLS + col) * 4 + i % 4] = (q + 128) as u8;
            }
        }
        let panels = bytes
            .chunks_exact(64)
            .map(|c| std::array::from_fn(|i| c[i]))
            .collect();
        Ok(Some(Self {
            n,
            k,
            k4,
            panels,
            scales,
        }))
    }

    /// `x · Wᵀ + bias`, then `then`, for `x` `[…, k]` (f32, CPU): `[…, n]`.
    pub fn forward(&self, x: &Tensor, bias: Option<&Tensor>, then: Then) -> Result<Tensor> {
        let dims = x.dims();
        let Some((&last, lead)) = dims.split_last() else {
            candle_core::bail!("int8 linear: scalar input")
        };
        if last != self.k {
            candle_core::bail!("int8 linear: input width {last}, weight width {}", self.k);
        }
        let rows = lead.iter().product::<usize>();
        let mut shape = lead.to_vec();
        shape.push(self.n);
        if rows == 0 {
            return Tensor::zeros(shape, DType::F32, &Device::Cpu);
        }
        let x = x.to_dtype(DType::F32)?.contiguous()?;
        let bias = match bias {
            Some(b) => b.to_dtype(DType::F32)?.contiguous()?,
            None => Tensor::zeros(self.n, DType::F32, &Device::Cpu)?,
        };
        let (gelu, residual) = match then {
            Then::Bias => (false, None),
            Then::Gelu => (true, None),
            Then::Add(r) => (false, Some(r.to_dtype(DType::F32)?.contiguous()?)),
        };
        let (xs, xl) = x.storage_and_layout();
        let (bs, bl) = bias.storage_and_layout();
        let rs = residual.as_ref().map(|r| r.storage_and_layout());
        let (Storage::Cpu(xs), Storage::Cpu(bs)) = (&*xs, &*bs) else {
            candle_core::bail!("int8 linear: CPU tensors only")
        };
        let xs = contiguous_f32(xs, xl, "int8 linear input")?;
        let bias = contiguous_f32(bs, bl, "int8 linear bias")?;
        let residual = match &rs {
            Some((s, l)) => match &**s {
                Storage::Cpu(s) => Some(contiguous_f32(s, l, "int8 linear residual")?),
                _ => candle_core::bail!("int8 linear: CPU tensors only"),
            },
            None => None,
        };
        if bias.len() != self.n || residual.is_some_and(|r| r.len() != rows * self.n) {
            candle_core::bail!("int8 linear: bias or residual does not fit the output");
        }
        let mut out = vec![0f32; rows * self.n];
        out.par_chunks_mut(TASK_ROWS * self.n)
            .zip(xs.par_chunks(TASK_ROWS * self.k))
            .enumerate()
            .for_each(|(i, (out, x))| {
                let residual = residual.map(|r| &r[i * TASK_ROWS * self.n..][..out.len()]);
                let task = Task {
                    m: self,
                    x,
                    out,
                    bias,
                    residual,
                    gelu,
                };
                task.run();
            });
        Tensor::from_vec(out, shape, &Device::Cpu)
    }
}

/// One task's rows: quantize them, multiply them by every panel, write the finished outputs.
struct Task<'a> {
    m: &'a Int8Matrix,
    x: &'a [f32],
    out: &'a mut [f32],
    bias: &'a [f32],
    residual: Option<&'a [f32]>,
    gelu: bool,
}

impl Task<'_> {
    #[allow(unsafe_code)]
    fn run(self) {
        #[cfg(not(target_arch = "x86_64"))]
        let _ = self;
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an `Int8Matrix` is only made by `Int8Matrix::new`, after `available()` saw
        // avx512f, avx512bw and avx512vnni on this CPU; `vnni::run` needs exactly those.
        unsafe {
            vnni::run(self)
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use super::{gelu, Task, COLS, TILE_ROWS};
    use std::arch::x86_64::{
        __m128i, __m512, __m512i, _mm512_cvtepi32_epi8, _mm512_cvtps_epi32, _mm512_dpbusd_epi32,
        _mm512_mul_ps, _mm512_set1_epi32, _mm512_set1_ps,
    };

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) fn run(t: Task) {
        let m = t.m;
        let rows = t.x.len() / m.k;
        let quads = m.k4 / 4;
        // Tile by tile: `[quads][tile rows][4]` bytes (padding past `k`: zeros).
        let mut xq = vec![[0u8; 4]; rows * quads];
        let mut row_scales = vec![0f32; rows];
        let mut row_sums = vec![0i32; rows];
        let mut scratch = vec![0u8; m.k4];
        for (((x, xq), scales), sums) in
            t.x.chunks(TILE_ROWS * m.k)
                .zip(xq.chunks_mut(TILE_ROWS * quads))
                .zip(row_scales.chunks_mut(TILE_ROWS))
                .zip(row_sums.chunks_mut(TILE_ROWS))
        {
            let tile_rows = scales.len();
            for (r, x) in x.chunks_exact(m.k).enumerate() {
                (scales[r], sums[r]) = quantize_row(x, &mut scratch);
                for (j, quad) in scratch.as_chunks::<4>().0.iter().enumerate() {
                    xq[j * tile_rows + r] = *quad;
                }
            }
        }
        let panel_len = quads * COLS * 4 / 64;
        for (p, panel) in m.panels.chunks_exact(panel_len).enumerate() {
            let c0 = p * COLS;
            let cols = COLS.min(m.n - c0);
            let col_scales = &m.scales[c0..c0 + cols];
            let bias = &t.bias[c0..c0 + cols];
            for (i, xq) in xq.chunks(TILE_ROWS * quads).enumerate() {
                let r0 = i * TILE_ROWS;
                let tile_rows = xq.len() / quads;
                let start = &row_sums[r0..r0 + tile_rows];
                let mut sums = [[0i32; COLS]; TILE_ROWS];
                match tile_rows {
                    1 => tile::<1>(xq, panel, start, &mut sums),
                    2 => tile::<2>(xq, panel, start, &mut sums),
                    3 => tile::<3>(xq, panel, start, &mut sums),
                    4 => tile::<4>(xq, panel, start, &mut sums),
                    5 => tile::<5>(xq, panel, start, &mut sums),
                    6 => tile::<6>(xq, panel, start, &mut sums),
                    7 => tile::<7>(xq, panel, start, &mut sums),
                    _ => tile::<8>(xq, panel, start, &mut sums),
                }
                for (r, sums) in sums.iter().take(tile_rows).enumerate() {
                    let row = r0 + r;
                    let s = row_scales[row];
                    let out = &mut t.out[row * m.n + c0..][..cols];
                    for (((o, &v), &cs), &b) in out.iter_mut().zip(sums).zip(col_scales).zip(bias) {
                        *o = (v as f32 * s).mul_add(cs, b);
                    }
                    if let Some(res) = t.residual {
                        for (o, &r) in out.iter_mut().zip(&res[row * m.n + c0..][..cols]) {
                            *o += r;
                        }
                    } else if t.gelu {
                        for o in out.iter_mut() {
                            *o = gelu(*o);
                        }
                    }
                }
            }
        }
    }

    /// One row to `i8` bytes in `q` (its first `x.len()` bytes): the row's scale and the sum of
    /// its integers.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn quantize_row(x: &[f32], q: &mut [u8]) -> (f32, i32) {
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
        let q = &mut q[..x.len()];
        let (blocks, rest) = x.as_chunks::<16>();
        let (q_blocks, q_rest) = q.as_chunks_mut::<16>();
        let inv_v = _mm512_set1_ps(inv);
        for (x, q) in blocks.iter().zip(q_blocks.iter_mut()) {
            let v: __m512 = bytemuck::cast(*x);
            // Rounds to nearest even (the default rounding mode); |v · inv| ≤ 127.
            let i = _mm512_cvtps_epi32(_mm512_mul_ps(v, inv_v));
            *q = bytemuck::cast::<__m128i, [u8; 16]>(_mm512_cvtepi32_epi8(i));
        }
        for (q, v) in q_rest.iter_mut().zip(rest) {
            *q = ((v * inv).round_ties_even() as i32) as u8;
        }
        let sum = q.iter().map(|&b| i32::from(b as i8)).sum();
        (amax / 127.0, sum)
    }

    /// `R` rows (`xq`: `[quads][R][4]`) times one panel (`[quads][COLS][4]` as 64-byte halves);
    /// row `r`'s sums start at `-128 · row_sums[r]`, which cancels the weights' +128 shift.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    fn tile<const R: usize>(
        xq: &[[u8; 4]],
        panel: &[[u8; 64]],
        row_sums: &[i32],
        sums: &mut [[i32; COLS]; TILE_ROWS],
    ) {
        let mut acc: [[__m512i; 2]; R] = std::array::from_fn(|r| {
            let start = _mm512_set1_epi32(-128 * row_sums.get(r).copied().unwrap_or(0));
            [start; 2]
        });
        for (x, w) in xq.chunks_exact(R).zip(panel.chunks_exact(2)) {
            let w0: __m512i = bytemuck::cast(w[0]);
            let w1: __m512i = bytemuck::cast(w[1]);
            for (acc, x) in acc.iter_mut().zip(x) {
                let xv = _mm512_set1_epi32(i32::from_le_bytes(*x));
                acc[0] = _mm512_dpbusd_epi32(acc[0], w0, xv);
                acc[1] = _mm512_dpbusd_epi32(acc[1], w1, xv);
            }
        }
        for (s, acc) in sums.iter_mut().zip(acc) {
            *s = bytemuck::cast(acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values spread like a layer's (a sum of uniforms, roughly Gaussian).
    fn values(len: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let mut next = || {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        (0..len)
            .map(|_| (next() + next() + next()) * scale)
            .collect()
    }

    fn tensor(v: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        Tensor::from_vec(v, shape, &Device::Cpu)
    }

    /// The same quantization in plain scalar code, sums exact in i64: what the kernel must give.
    fn reference(x: &[f32], w: &[f32], bias: &[f32], k: usize) -> Vec<f32> {
        let quantize = |row: &[f32]| {
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
            let q: Vec<i64> = row
                .iter()
                .map(|v| (v * inv).round_ties_even() as i64)
                .collect();
            (q, amax / 127.0)
        };
        let ws: Vec<_> = w.chunks(k).map(quantize).collect();
        let mut out = Vec::new();
        for row in x.chunks(k) {
            let (xq, xs) = quantize(row);
            for ((wq, wscale), b) in ws.iter().zip(bias) {
                let sum: i64 = xq.iter().zip(wq).map(|(a, b)| a * b).sum();
                out.push((sum as f32 * xs).mul_add(*wscale, *b));
            }
        }
        out
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
    }

    #[test]
    fn products_equal_the_integer_arithmetic_they_stand_for() -> Result<()> {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return Ok(());
        }
        // Rows beyond one task and not a multiple of a tile; columns beyond one panel and not a
        // multiple of it; widths with and without a partial group of four.
        for (rows, n, k) in [(131, 70, 37), (9, 32, 384), (1, 5, 4), (200, 96, 1536)] {
            let x = values(rows * k, 1, 2.0);
            let w = values(n * k, 2, 0.1);
            let bias = values(n, 3, 1.0);
            let m = Int8Matrix::new(&tensor(w.clone(), &[n, k])?)?.expect("VNNI CPU");
            let b = tensor(bias.clone(), &[n])?;
            let y = m.forward(&tensor(x.clone(), &[rows, k])?, Some(&b), Then::Bias)?;
            assert_eq!(y.dims(), &[rows, n]);
            let want = reference(&x, &w, &bias, k);
            let got: Vec<f32> = y.flatten_all()?.to_vec1()?;
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = max_abs_diff(&got, &want);
            assert!(diff <= scale * 1e-6, "{rows}×{n}×{k}: off by {diff}");
        }
        Ok(())
    }

    #[test]
    fn gelu_and_residual_follow_the_product_like_the_separate_ops() -> Result<()> {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return Ok(());
        }
        let (rows, n, k) = (70, 40, 64);
        let x = tensor(values(rows * k, 4, 1.0), &[2, rows / 2, k])?;
        let w = tensor(values(n * k, 5, 0.2), &[n, k])?;
        let b = tensor(values(n, 6, 0.5), &[n])?;
        let residual = tensor(values(rows * n, 7, 3.0), &[2, rows / 2, n])?;
        let m = Int8Matrix::new(&w)?.expect("VNNI CPU");
        let plain = m.forward(&x, Some(&b), Then::Bias)?;
        assert_eq!(plain.dims(), &[2, rows / 2, n]);
        let gelu = m.forward(&x, Some(&b), Then::Gelu)?;
        let want = crate::ops::gelu_erf(&plain)?;
        let d = (gelu - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(d < 1e-6, "gelu off by {d}");
        let added = m.forward(&x, Some(&b), Then::Add(&residual))?;
        let d = (added - (&plain + &residual)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(d < 1e-5, "residual off by {d}");
        // Without a bias, the same product minus the bias.
        let bare = m.forward(&x, None, Then::Bias)?;
        let d = ((bare + b.reshape((1, 1, n))?.broadcast_as((2, rows / 2, n))?)? - plain)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(d < 1e-5, "bias off by {d}");
        Ok(())
    }

    #[test]
    fn eight_bits_stay_within_a_percent_of_the_f32_product() -> Result<()> {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return Ok(());
        }
        let (rows, n, k) = (100, 96, 384);
        let x = tensor(values(rows * k, 8, 1.0), &[rows, k])?;
        let w = tensor(values(n * k, 9, 0.05), &[n, k])?;
        let m = Int8Matrix::new(&w)?.expect("VNNI CPU");
        let got = m.forward(&x, None, Then::Bias)?;
        let want = x.matmul(&w.t()?)?;
        let err = (got - &want)?.sqr()?.mean_all()?.to_scalar::<f32>()?.sqrt();
        let rms = want.sqr()?.mean_all()?.to_scalar::<f32>()?.sqrt();
        assert!(err / rms < 0.015, "relative RMS error {}", err / rms);
        Ok(())
    }

    #[test]
    fn edge_shapes_are_answered_without_panics() -> Result<()> {
        if !available() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return Ok(());
        }
        let m = Int8Matrix::new(&tensor(values(3 * 8, 10, 1.0), &[3, 8])?)?.expect("VNNI CPU");
        // No rows: an empty output.
        let y = m.forward(
            &Tensor::zeros((0, 8), DType::F32, &Device::Cpu)?,
            None,
            Then::Bias,
        )?;
        assert_eq!(y.dims(), &[0, 3]);
        // A wrong width is an error.
        assert!(m
            .forward(
                &Tensor::zeros((2, 9), DType::F32, &Device::Cpu)?,
                None,
                Then::Bias
            )
            .is_err());
        // All-zero inputs and an all-zero weight column give exact zeros.
        let mut w = values(3 * 8, 11, 1.0);
        w[8..16].fill(0.0);
        let m = Int8Matrix::new(&tensor(w, &[3, 8])?)?.expect("VNNI CPU");
        let x = tensor([vec![0.0; 8], values(8, 12, 1.0)].concat(), &[2, 8])?;
        let y: Vec<Vec<f32>> = m.forward(&x, None, Then::Bias)?.to_vec2()?;
        assert_eq!(y[0], vec![0.0; 3]);
        assert_eq!(y[1][1], 0.0);
        // Empty matrices are not converted.
        assert!(Int8Matrix::new(&Tensor::zeros((0, 8), DType::F32, &Device::Cpu)?)?.is_none());
        Ok(())
    }
}
