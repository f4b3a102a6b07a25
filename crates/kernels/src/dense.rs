//! Dense f32 linear layers on the CPU: gemm writes the product into a fresh output that is never
//! zero-filled, then one pass applies the bias and GELU or a residual.
//!
//! candle's CPU matmul makes the same gemm call, but into `vec![0; rows · n]`, which gemm then
//! overwrites without reading. For the encoder's products (1500 rows, up to 2048 columns: 12 MB
//! of output) that fill is a pass over memory that also pushes out of the caches what the
//! product is about to use. Measured on base's shapes (best of 30 alternating calls, 2 threads):
//! the product through candle ran at 0.65–0.85× the speed of the same gemm call into memory not
//! zeroed first.
//!
//! The results are bit for bit candle's: same gemm, same arguments, same order of sums.
//!
//! One of the workspace's two `unsafe` blocks is here: the gemm call (raw pointers), and marking
//! the output initialised once gemm has written it.
//!
//! Not here: other devices and dtypes, operands that are not contiguous (callers keep candle's
//! path), and the few rows of a decoding step ([`crate::packed`]).

use crate::ops::{contiguous_f32, gelu, MIN_ELEMS_PER_TASK};
use candle_core::{CpuStorage, Device, Result, Storage, Tensor};
use rayon::prelude::*;

/// `x` `[rows, k]` times `w` `[n, k]` transposed: `[rows, n]`, row-major. Both contiguous.
pub(crate) fn matmul_t(x: &[f32], w: &[f32], rows: usize, n: usize, k: usize) -> Result<Vec<f32>> {
    let (Some(x_len), Some(w_len), Some(len)) =
        (rows.checked_mul(k), n.checked_mul(k), rows.checked_mul(n))
    else {
        candle_core::bail!("dense product: {rows}×{k} by {n}×{k} overflows")
    };
    if x.len() != x_len || w.len() != w_len {
        candle_core::bail!(
            "dense product: operands of {} and {} values for {rows}×{k} by {n}×{k}",
            x.len(),
            w.len()
        );
    }
    let (Ok(n_stride), Ok(k_stride)) = (isize::try_from(n), isize::try_from(k)) else {
        candle_core::bail!("dense product: {n} or {k} does not fit a stride")
    };
    if len == 0 || k == 0 {
        return Ok(vec![0.0; len]);
    }
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let mut out = Vec::<f32>::with_capacity(len);
    // SAFETY: gemm reads `x` as `rows × k` (column stride 1, row stride `k`) and `w` as the
    // `k × n` matrix `wᵀ` (row stride 1, column stride `k`): exactly `x.len()` and `w.len()`
    // values, checked above. It writes `rows × n` values at `out` (column stride 1, row stride
    // `n`): `len`, the capacity reserved. With `read_dst = false` (and `k > 0`) it never reads
    // the output before writing it and writes every element, so after the call all `len` values
    // are initialised and `set_len` is sound. Nothing else holds `out` meanwhile.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            rows,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n_stride,
            false,
            x.as_ptr(),
            1,
            k_stride,
            w.as_ptr(),
            k_stride,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
        out.set_len(len);
    }
    Ok(out)
}

/// `x` `[…, k]` (CPU f32) times `weight` `[n, k]` transposed, then `+ bias`, then GELU (`gelu`)
/// or `+ residual` (`[…, n]`): `[…, n]`. `None` when an operand is not a contiguous CPU f32
/// tensor; the caller then takes candle's path.
pub(crate) fn linear(
    x: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    gelu: bool,
    residual: Option<&Tensor>,
) -> Result<Option<Tensor>> {
    let (n, k) = weight.dims2()?;
    let dims = x.dims();
    let Some((&last, lead)) = dims.split_last() else {
        candle_core::bail!("linear: scalar input")
    };
    if last != k {
        candle_core::bail!("linear: input width {last}, weight width {k}");
    }
    let rows = lead.iter().product::<usize>();
    let mut shape = lead.to_vec();
    shape.push(n);
    let x = x.contiguous()?;
    let (xs, xl) = x.storage_and_layout();
    let (ws, wl) = weight.storage_and_layout();
    let (Storage::Cpu(CpuStorage::F32(xv)), Storage::Cpu(CpuStorage::F32(wv))) = (&*xs, &*ws)
    else {
        return Ok(None);
    };
    let (Some((xa, xb)), Some((wa, wb))) = (xl.contiguous_offsets(), wl.contiguous_offsets())
    else {
        return Ok(None);
    };
    let mut y = matmul_t(&xv[xa..xb], &wv[wa..wb], rows, n, k)?;
    drop((xs, ws));
    let bias = match bias {
        Some(b) => b.flatten_all()?.to_vec1::<f32>()?,
        None if residual.is_none() && !gelu => {
            return Ok(Some(Tensor::from_vec(y, shape, &Device::Cpu)?));
        }
        None => vec![0.0; n],
    };
    let residual = match residual {
        Some(r) => Some(r.reshape(shape.as_slice())?.contiguous()?),
        None => None,
    };
    let rs = residual.as_ref().map(|r| r.storage_and_layout());
    let residual = match &rs {
        Some((s, l)) => match &**s {
            Storage::Cpu(s) => Some(contiguous_f32(s, l, "linear residual")?),
            _ => candle_core::bail!("linear: the residual is not on the CPU"),
        },
        None => None,
    };
    epilogue(&mut y, &bias, residual, gelu)?;
    drop(rs);
    Ok(Some(Tensor::from_vec(y, shape, &Device::Cpu)?))
}

/// `y` `[rows, width]` ← `y + bias` (`[width]`), then GELU (`gelu`) or `+ residual` (`y`'s
/// shape): one pass over `y`.
pub(crate) fn epilogue(
    y: &mut [f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    gelu: bool,
) -> Result<()> {
    let width = bias.len();
    if width == 0 || !y.len().is_multiple_of(width) || residual.is_some_and(|r| r.len() != y.len())
    {
        candle_core::bail!("epilogue: bias or residual does not fit the output");
    }
    let rows_per_task = (MIN_ELEMS_PER_TASK / width).max(1);
    y.par_chunks_mut(rows_per_task * width)
        .enumerate()
        .for_each(|(i, rows)| {
            let residual = residual.map(|r| &r[i * rows_per_task * width..][..rows.len()]);
            pulp::Arch::new().dispatch(EpilogueRows {
                rows,
                bias,
                residual,
                gelu,
            })
        });
    Ok(())
}

struct EpilogueRows<'a> {
    rows: &'a mut [f32],
    bias: &'a [f32],
    residual: Option<&'a [f32]>,
    gelu: bool,
}

impl pulp::WithSimd for EpilogueRows<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let width = self.bias.len();
        match (self.residual, self.gelu) {
            (Some(residual), _) => {
                for (row, res) in self
                    .rows
                    .chunks_exact_mut(width)
                    .zip(residual.chunks_exact(width))
                {
                    for ((y, b), r) in row.iter_mut().zip(self.bias).zip(res) {
                        *y += b + r;
                    }
                }
            }
            (None, true) => {
                for row in self.rows.chunks_exact_mut(width) {
                    for (y, b) in row.iter_mut().zip(self.bias) {
                        *y = gelu(*y + b);
                    }
                }
            }
            (None, false) => {
                for row in self.rows.chunks_exact_mut(width) {
                    for (y, b) in row.iter_mut().zip(self.bias) {
                        *y += b;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
        (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
    }

    /// candle's operations, the reference: the product, the bias, then GELU or the residual.
    fn reference(
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        gelu: bool,
        residual: Option<&Tensor>,
    ) -> Result<Tensor> {
        let y = x.broadcast_matmul(&w.t()?)?.broadcast_add(b)?;
        match (residual, gelu) {
            (Some(r), _) => y + r,
            (None, true) => y.gelu_erf(),
            (None, false) => Ok(y),
        }
    }

    #[test]
    fn the_product_and_its_epilogue_match_candles_operations() -> Result<()> {
        let dev = Device::Cpu;
        // Sizes that are not multiples of any register or block width; one below a task's rows.
        for (rows, k, n) in [(37, 45, 29), (300, 64, 96), (1, 7, 3)] {
            let x = Tensor::randn(0f32, 1.0, (1, rows, k), &dev)?;
            let w = Tensor::randn(0f32, 0.2, (n, k), &dev)?;
            let b = Tensor::randn(0f32, 0.2, n, &dev)?;
            let r = Tensor::randn(0f32, 1.0, (1, rows, n), &dev)?;
            for (gelu, residual) in [(false, None), (true, None), (false, Some(&r))] {
                let want = reference(&x, &w, &b, gelu, residual)?;
                let got = linear(&x, &w, Some(&b), gelu, residual)?.expect("a CPU f32 layer");
                assert_eq!(got.dims(), &[1, rows, n]);
                let diff = max_diff(&want, &got)?;
                assert!(diff < 1e-5, "{rows}×{k}×{n} gelu={gelu}: differs by {diff}");
            }
            // Without a bias: the product alone, the same bits as candle's (the same gemm call).
            let got = linear(&x, &w, None, false, None)?.expect("a CPU f32 layer");
            assert_eq!(max_diff(&x.broadcast_matmul(&w.t()?)?, &got)?, 0.0);
        }
        Ok(())
    }

    #[test]
    fn strided_inputs_empty_inputs_and_mismatches() -> Result<()> {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 0.2, (5, 8), &dev)?;
        // A transposed (non-contiguous) input is made contiguous first.
        let xt = Tensor::randn(0f32, 1.0, (8, 6), &dev)?.t()?;
        let got = linear(&xt, &w, None, false, None)?.expect("a CPU f32 layer");
        assert!(max_diff(&xt.matmul(&w.t()?)?, &got)? < 1e-6);
        // No rows: an empty output of the right shape.
        let none = Tensor::zeros((0, 8), candle_core::DType::F32, &dev)?;
        let got = linear(&none, &w, None, true, None)?.expect("a CPU f32 layer");
        assert_eq!(got.dims(), &[0, 5]);
        // A width that does not fit the weight is an error, not a panic.
        let narrow = Tensor::zeros((2, 7), candle_core::DType::F32, &dev)?;
        assert!(linear(&narrow, &w, None, false, None).is_err());
        // So is a residual of the wrong size, or a bias of the wrong width.
        let x = Tensor::zeros((2, 8), candle_core::DType::F32, &dev)?;
        let r = Tensor::zeros((3, 5), candle_core::DType::F32, &dev)?;
        assert!(linear(&x, &w, None, false, Some(&r)).is_err());
        let b = Tensor::zeros(4, candle_core::DType::F32, &dev)?;
        assert!(linear(&x, &w, Some(&b), false, None).is_err());
        // Operands of other dtypes are left to candle.
        let w16 = w.to_dtype(candle_core::DType::F16)?;
        assert!(linear(&x, &w16, None, false, None)?.is_none());
        Ok(())
    }
}
