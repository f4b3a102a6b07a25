//! CPU fast paths for the operations where candle's generic CPU kernels leave most of the speed on
//! the table for Whisper: the attention softmax and the erf-GELU (the decoder's linear layers are
//! [`super::linear`]).
//!
//! candle's CPU versions call scalar `expf`/`erff` per element; on a 30 s window that is ~55 ms per
//! encoder layer for the softmax alone. These versions compute the same functions with polynomial
//! approximations (relative error ≈ 1e-7, below f32 rounding of the reference) written as plain
//! loops over lanes, compiled under the best SIMD level the CPU has (`pulp` runtime dispatch) and
//! split over rayon's threads. The softmax works in place on a freshly computed score tensor.
//!
//! Other devices and dtypes (CUDA, f16) use candle's own operations.

use candle_core::{
    CpuStorage, CustomOp1, DType, Device, InplaceOp1, Layout, Result, Shape, Tensor,
};
use rayon::prelude::*;

const LANES: usize = 16;
/// Rows handed to one rayon task: big enough to amortise the dispatch.
pub(crate) const MIN_ELEMS_PER_TASK: usize = 1 << 14;

/// `e^x` for f32 (Cephes polynomial, range-reduced by powers of two); 0 below -87.3.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to an integer in the low mantissa bits
    let xc = x.clamp(-87.3, 88.0);
    let t = xc.mul_add(LOG2E, MAGIC);
    let n = t - MAGIC;
    let r = n.mul_add(-0.693_359_4, xc);
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let y = (p * r).mul_add(r, r) + 1.0;
    let bits = t.to_bits().wrapping_sub(MAGIC.to_bits()).wrapping_add(127) << 23;
    let y = y * f32::from_bits(bits);
    if x < -87.3 {
        0.0
    } else {
        y
    }
}

/// erf(x): Maclaurin series below |x| = 0.5, else Abramowitz & Stegun 7.1.26 (absolute error
/// < 1.5e-7 in exact arithmetic; both branches are computed so the loop vectorizes).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x2 = x * x;
    let mut s = 1.0f32 / 1320.0;
    s = s.mul_add(-x2, 1.0 / 216.0);
    s = s.mul_add(-x2, 1.0 / 42.0);
    s = s.mul_add(-x2, 1.0 / 10.0);
    s = s.mul_add(-x2, 1.0 / 3.0);
    s = s.mul_add(-x2, 1.0);
    let small = s * x * std::f32::consts::FRAC_2_SQRT_PI;
    let a = x.abs();
    let t = 1.0 / a.mul_add(0.327_591_1, 1.0);
    let mut p = 1.061_405_4f32;
    p = p.mul_add(t, -1.453_152_1);
    p = p.mul_add(t, 1.421_413_8);
    p = p.mul_add(t, -0.284_496_74);
    p = p.mul_add(t, 0.254_829_6);
    let y = (1.0 - p * t * exp(-a * a)).copysign(x);
    if a < 0.5 {
        small
    } else {
        y
    }
}

/// `x · Φ(x)`, the exact GELU.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// The largest value of `row` (−∞ when empty), in [`LANES`] running maxima.
#[inline(always)]
fn row_max(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (m, v) in lanes.iter_mut().zip(c) {
            *m = m.max(*v);
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |a, b| a.max(*b))
}

#[inline(always)]
pub(crate) fn softmax_row(row: &mut [f32]) {
    let max = row_max(row);
    if max == f32::NEG_INFINITY {
        row.fill(0.0);
        return;
    }
    let mut sums = [0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for (s, v) in sums.iter_mut().zip(c.iter_mut()) {
            *v = exp(*v - max);
            *s += *v;
        }
    }
    let mut sum = 0.0;
    for v in chunks.into_remainder() {
        *v = exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / (sum + sums.iter().sum::<f32>());
    for v in row.iter_mut() {
        *v *= inv;
    }
}

// The loops run inside `WithSimd::with_simd`, which pulp calls from a function compiled for the
// detected SIMD level; everything below it is `inline(always)` so it is compiled at that level too
// (a closure would not be inlined there, and `mul_add` would become a libm call).

struct SoftmaxRows<'a> {
    block: &'a mut [f32],
    width: usize,
}

impl pulp::WithSimd for SoftmaxRows<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for row in self.block.chunks_exact_mut(self.width) {
            softmax_row(row);
        }
    }
}

struct LogSumExp<'a>(&'a [f32]);

impl pulp::WithSimd for LogSumExp<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> f32 {
        let row = self.0;
        let max = row_max(row);
        if max == f32::NEG_INFINITY {
            return max;
        }
        let mut sums = [0f32; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for c in &mut chunks {
            for (s, v) in sums.iter_mut().zip(c) {
                *s += exp(*v - max);
            }
        }
        let tail: f32 = chunks.remainder().iter().map(|v| exp(*v - max)).sum();
        max + (tail + sums.iter().sum::<f32>()).ln()
    }
}

/// `ln Σ e^x` over `row`, computed as `max + ln Σ e^(x − max)` with the vectorised `exp`
/// (−∞ for an empty row or one of −∞ only).
pub fn log_sum_exp(row: &[f32]) -> f32 {
    pulp::Arch::new().dispatch(LogSumExp(row))
}

struct GeluSlice<'a> {
    src: &'a [f32],
    dst: &'a mut [f32],
}

impl pulp::WithSimd for GeluSlice<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        for (d, &x) in self.dst.iter_mut().zip(self.src) {
            *d = gelu(x);
        }
    }
}

pub fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("{op}: needs a contiguous f32 tensor"),
    }
}

struct SoftmaxInPlace;

impl InplaceOp1 for SoftmaxInPlace {
    fn name(&self) -> &'static str {
        "hark-softmax-last-dim"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let width = layout.dims().last().copied().unwrap_or(1).max(1);
        let (CpuStorage::F32(v), Some((a, b))) = (storage, layout.contiguous_offsets()) else {
            candle_core::bail!("softmax: needs a contiguous f32 tensor")
        };
        let rows_per_task = (MIN_ELEMS_PER_TASK / width).max(1);
        v[a..b]
            .par_chunks_mut(rows_per_task * width)
            .for_each(|block| pulp::Arch::new().dispatch(SoftmaxRows { block, width }));
        Ok(())
    }
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "hark-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(storage, layout, "gelu")?;
        let mut out = vec![0f32; src.len()];
        out.par_chunks_mut(MIN_ELEMS_PER_TASK)
            .zip(src.par_chunks(MIN_ELEMS_PER_TASK))
            .for_each(|(dst, src)| pulp::Arch::new().dispatch(GeluSlice { src, dst }));
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// What follows a linear layer's product, fused into one in-place pass over it where possible.
pub enum Then<'a> {
    /// Only the bias.
    Bias,
    /// The bias, then the exact (erf) GELU.
    Gelu,
    /// The bias, then a residual added (same shape as the output).
    Add(&'a Tensor),
}

/// Whether `x` takes the CPU fast paths (f32 on the CPU).
pub(crate) fn fast_path(x: &Tensor) -> bool {
    matches!(x.device(), Device::Cpu) && x.dtype() == DType::F32
}

/// Softmax over the last dimension. On CPU/f32 it reuses `x`'s storage when `x` is contiguous.
pub fn softmax_last_dim(x: Tensor) -> Result<Tensor> {
    if !fast_path(&x) {
        return candle_nn::ops::softmax_last_dim(&x);
    }
    let x = x.contiguous()?;
    x.inplace_op1(&SoftmaxInPlace)?;
    Ok(x)
}

/// `x · Φ(x)` with the exact (erf) GELU, as Whisper uses.
pub fn gelu_erf(x: &Tensor) -> Result<Tensor> {
    if !fast_path(x) {
        return x.gelu_erf();
    }
    x.contiguous()?.apply_op1_no_bwd(&GeluErf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_matches_the_scalar_formula() {
        let row: Vec<f32> = (0..51_865)
            .map(|i| ((i * 7919) % 1000) as f32 * 0.03 - 20.0)
            .collect();
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let want = f64::from(max)
            + row
                .iter()
                .map(|v| (f64::from(*v) - f64::from(max)).exp())
                .sum::<f64>()
                .ln();
        assert!((f64::from(log_sum_exp(&row)) - want).abs() < 1e-4);
        assert_eq!(log_sum_exp(&[]), f32::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[f32::NEG_INFINITY; 20]), f32::NEG_INFINITY);
        let mut one = vec![f32::NEG_INFINITY; 33];
        one[32] = 1.5;
        assert!((log_sum_exp(&one) - 1.5).abs() < 1e-6);
    }

    #[test]
    fn exp_and_erf_match_libm() {
        let mut worst_exp = 0f32;
        let mut worst_erf = 0f32;
        for i in -20_000..=20_000 {
            let x = i as f32 * 0.004_3;
            worst_exp = worst_exp.max(((exp(x) - x.exp()) / x.exp()).abs());
            let x = i as f32 * 0.000_31;
            let reference = libm_erf(f64::from(x));
            worst_erf = worst_erf.max((f64::from(erf(x)) - reference).abs() as f32);
        }
        assert!(worst_exp < 3e-7, "exp relative error {worst_exp}");
        assert!(worst_erf < 3e-7, "erf absolute error {worst_erf}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-100.0), 0.0);
    }

    /// erf in f64 by its Maclaurin series, or 1 − the asymptotic erfc series for |x| ≥ 3: a
    /// reference independent of `erf`.
    fn libm_erf(x: f64) -> f64 {
        if x.abs() < 3.0 {
            let mut term = x;
            let mut sum = x;
            for n in 1..200 {
                term *= -x * x / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let a = x.abs();
            let inv = 1.0 / (2.0 * a * a);
            let series = 1.0 - inv + 3.0 * inv * inv - 15.0 * inv * inv * inv;
            let erfc = (-a * a).exp() / (a * std::f64::consts::PI.sqrt()) * series;
            x.signum() * (1.0 - erfc)
        }
    }

    #[test]
    fn fast_ops_match_candle() -> Result<()> {
        let x = (Tensor::randn(0f32, 3.0, (3, 5, 77), &Device::Cpu)? * 4.0)?;
        let want = candle_nn::ops::softmax_last_dim(&x)?;
        let got = softmax_last_dim(x.copy()?)?;
        let diff = (want - got)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-6, "softmax differs by {diff}");
        let want = x.gelu_erf()?;
        let got = gelu_erf(&x)?;
        let diff = (want - got)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 2e-5, "gelu differs by {diff}");
        Ok(())
    }

    #[test]
    fn fully_masked_rows_are_zero_not_nan() -> Result<()> {
        let x = Tensor::new(
            &[[f32::NEG_INFINITY; 3], [0.0, f32::NEG_INFINITY, 0.0]],
            &Device::Cpu,
        )?;
        let got: Vec<Vec<f32>> = softmax_last_dim(x)?.to_vec2()?;
        assert_eq!(got, vec![vec![0.0; 3], vec![0.5, 0.0, 0.5]]);
        Ok(())
    }
}
