//! A weight matrix packed for products with a few rows: the decoder's output projection, which
//! every decoding step multiplies by one row per stream.
//!
//! `W` `[V, d]` is stored as blocks of [`COLS`] output columns, each block `[d][COLS]`: the
//! product `x · Wᵀ` then streams the matrix once, front to back, and for every `k` adds
//! `x[r][k] · W[block][k]` into a few rows' accumulators (two SIMD registers each) with no
//! horizontal sums. It stays memory-bound up to [`MAX_TILE_ROWS`] rows, where a dot product per
//! (row, column) pair costs about twice as much for three rows as for one. With AVX2 an f32 pass
//! takes three rows ([`tile::rows_per_pass`]): eight rows' accumulators would not fit in its
//! registers (`cargo bench -p hark-kernels --bench packed`: 16 rows 13.5 → 9.1 ms for a
//! 32768 × 320 matrix on a 2-core Zen 1).
//!
//! Weights are f32, or 8-bit integers with one f32 scale per 32 consecutive inputs of an output
//! (exactly the values of a q8_0 GGUF tensor, a quarter of the bytes). The inputs stay f32: the
//! weights are widened in registers, so an 8-bit matrix costs a quarter of the memory traffic and
//! none of the precision that quantizing the activations too (candle's q8_0 kernel) would.
//!
//! CPU only; other devices use candle's matmul.

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Result, Tensor};
use rayon::prelude::*;

pub use crate::tile::MAX_TILE_ROWS;
use crate::tile::{self, by_rows, Aligned, COLS};

/// Matrix elements handed to one rayon task.
const MIN_ELEMS_PER_TASK: usize = 1 << 16;

/// Rows one pass over the matrix takes at most (see [`PackedMatrix::matmul_t`]).
const CHUNK_ROWS: usize = 128;

/// Inputs sharing one scale in the 8-bit form (q8_0's block).
const GROUP: usize = 32;

/// `W` `[V, d]` in blocks of [`COLS`] rows, each transposed to `[d][COLS]` (the last block padded
/// with zeros).
pub struct PackedMatrix {
    data: Data,
    rows: usize,
    d: usize,
}

enum Data {
    F32(Aligned),
    /// Per block: per group of [`GROUP`] inputs, `COLS` scales; `[d][COLS]` integers.
    I8 {
        q: Vec<i8>,
        scales: Vec<f32>,
    },
}

impl PackedMatrix {
    /// Pack `w` `[V, d]`; `None` unless it is an f32 matrix on the CPU.
    pub fn new(w: &Tensor) -> Result<Option<Self>> {
        if !matches!(w.device(), Device::Cpu) || w.dtype() != DType::F32 || w.rank() != 2 {
            return Ok(None);
        }
        let (rows, d) = w.dims2()?;
        let flat: Vec<f32> = w.flatten_all()?.to_vec1()?;
        let mut data = Aligned::zeros(rows.div_ceil(COLS) * d * COLS);
        for (r, row) in flat.chunks_exact(d.max(1)).enumerate() {
            let block = &mut data.as_mut_slice()[(r / COLS) * d * COLS..];
            for (k, &v) in row.iter().enumerate() {
                block[k * COLS + r % COLS] = v;
            }
        }
        Ok(Some(Self {
            data: Data::F32(data),
            rows,
            d,
        }))
    }

    /// Pack a q8_0 matrix `[V, d]` on the CPU as 8-bit integers; `None` for other types.
    pub fn from_q8_0(w: &QTensor) -> Result<Option<Self>> {
        let dims = w.shape().dims();
        let cpu = matches!(w.device(), Device::Cpu);
        if !cpu || w.dtype() != GgmlDType::Q8_0 || dims.len() != 2 || !dims[1].is_multiple_of(GROUP)
        {
            return Ok(None);
        }
        let (rows, d) = (dims[0], dims[1]);
        let flat: Vec<f32> = w.dequantize(&Device::Cpu)?.flatten_all()?.to_vec1()?;
        let blocks = rows.div_ceil(COLS);
        let mut q = vec![0i8; blocks * d * COLS];
        let mut scales = vec![0f32; blocks * (d / GROUP) * COLS];
        for (r, row) in flat.chunks_exact(d).enumerate() {
            let (b, c) = (r / COLS, r % COLS);
            for (g, group) in row.chunks_exact(GROUP).enumerate() {
                // q8_0 stores amax/127 and round(x / scale): this recovers both exactly.
                let amax = group.iter().fold(0f32, |m, v| m.max(v.abs()));
                let scale = amax / 127.0;
                let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
                scales[(b * (d / GROUP) + g) * COLS + c] = scale;
                for (k, v) in group.iter().enumerate() {
                    q[(b * d + g * GROUP + k) * COLS + c] = (v * inv).round() as i8;
                }
            }
        }
        Ok(Some(Self {
            data: Data::I8 { q, scales },
            rows,
            d,
        }))
    }

    /// `x · Wᵀ` for `x` `[n, d]` (f32, CPU): `[n, V]`.
    pub fn matmul_t(&self, x: &Tensor) -> Result<Tensor> {
        let (n, d) = x.dims2()?;
        if d != self.d {
            candle_core::bail!("packed matmul: inner dimensions {d} and {} differ", self.d);
        }
        let xs: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        // Every block of columns reads all the rows it is given: given them all, a long prefill
        // (hundreds of rows) would read its rows from far caches once per block (500 rows of a
        // 320 × 320 product: 3× the time of 250 rows twice). So at most CHUNK_ROWS at a time.
        let mut out = Vec::with_capacity(n * self.rows);
        for chunk in xs.chunks(CHUNK_ROWS * d.max(1)) {
            out.extend(self.product(chunk));
        }
        Tensor::from_vec(out, (n, self.rows), x.device())
    }

    /// `x · Wᵀ` for rows `x` (`[n][d]`, row-major): `[n][V]`, row-major.
    fn product(&self, xs: &[f32]) -> Vec<f32> {
        let n = xs.len() / self.d.max(1);
        let block_elems = (self.d * COLS).max(1);
        let blocks_per_task = (MIN_ELEMS_PER_TASK / block_elems).max(1);
        let blocks = self.rows.div_ceil(COLS);
        // Per block, `[n][COLS]`; rearranged to `[n][V]` below (n × V copies, ≪ the matrix).
        let mut blocked = vec![0f32; blocks * n * COLS];
        let outs = blocked.par_chunks_mut(blocks_per_task * n * COLS);
        match &self.data {
            Data::F32(data) => outs
                .zip(data.as_slice().par_chunks(blocks_per_task * block_elems))
                .for_each(|(out, w)| {
                    let x = xs;
                    let d = self.d;
                    pulp::Arch::new().dispatch(Blocks { w, x, d, out })
                }),
            Data::I8 { q, scales } => {
                let scale_elems = self.d / GROUP * COLS;
                outs.zip(q.par_chunks(blocks_per_task * block_elems))
                    .zip(scales.par_chunks(blocks_per_task * scale_elems))
                    .for_each(|((out, q), scales)| {
                        let x = xs;
                        let d = self.d;
                        pulp::Arch::new().dispatch(BlocksI8 {
                            q,
                            scales,
                            x,
                            d,
                            out,
                        })
                    })
            }
        }
        let mut out = vec![0f32; n * self.rows];
        for (b, chunk) in blocked.chunks_exact(n * COLS).enumerate() {
            let first = b * COLS;
            let width = COLS.min(self.rows - first);
            for (r, acc) in chunk.chunks_exact(COLS).enumerate() {
                out[r * self.rows + first..][..width].copy_from_slice(&acc[..width]);
            }
        }
        out
    }
}

struct Blocks<'a> {
    w: &'a [f32],
    x: &'a [f32],
    d: usize,
    out: &'a mut [f32],
}

impl pulp::WithSimd for Blocks<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let (d, x) = (self.d, self.x);
        let n = x.len() / d;
        for (w, out) in self
            .w
            .chunks_exact(d * COLS)
            .zip(self.out.chunks_exact_mut(n * COLS))
        {
            let mut first = 0;
            while first < n {
                let rows = (n - first).min(tile::rows_per_pass::<S>());
                let (x, out) = (&x[first * d..], &mut out[first * COLS..]);
                by_rows!(rows, tile::tile, simd, w, x, d, out);
                first += rows;
            }
        }
    }
}

struct BlocksI8<'a> {
    q: &'a [i8],
    scales: &'a [f32],
    x: &'a [f32],
    d: usize,
    out: &'a mut [f32],
}

impl pulp::WithSimd for BlocksI8<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let (d, x) = (self.d, self.x);
        let n = x.len() / d;
        let groups = d / GROUP;
        let many = n > tile::rows_per_pass::<S>();
        let mut panel = Aligned::zeros(if many { d * COLS } else { 0 });
        for ((q, scales), out) in self
            .q
            .chunks_exact(d * COLS)
            .zip(self.scales.chunks_exact(groups * COLS))
            .zip(self.out.chunks_exact_mut(n * COLS))
        {
            let per_pass = tile::rows_per_pass::<S>();
            if n <= per_pass {
                by_rows!(n, tile_i8, simd, q, scales, x, d, out);
                continue;
            }
            // More rows than one pass takes: the panel widened once, then f32 passes over it.
            widen(simd, q, scales, panel.as_mut_slice());
            let mut first = 0;
            while first < n {
                let rows = (n - first).min(per_pass);
                let (x, out) = (&x[first * d..], &mut out[first * COLS..]);
                by_rows!(rows, tile::tile, simd, panel.as_slice(), x, d, out);
                first += rows;
            }
        }
    }
}

/// One 8-bit panel `[d][COLS]` as f32 (each weight times its group's scale), into `out`.
#[inline(always)]
fn widen<S: pulp::Simd>(simd: S, q: &[i8], scales: &[f32], out: &mut [f32]) {
    for ((q, scale), out) in q
        .chunks_exact(GROUP * COLS)
        .zip(scales.chunks_exact(COLS))
        .zip(out.chunks_exact_mut(GROUP * COLS))
    {
        let Ok(scale) = <&[f32; COLS]>::try_from(scale) else {
            continue;
        };
        let (sv, _) = S::as_simd_f32s(scale);
        for (qk, ok) in q.chunks_exact(COLS).zip(out.chunks_exact_mut(COLS)) {
            let Ok(qk) = <&[i8; COLS]>::try_from(qk) else {
                continue;
            };
            let wide: [f32; COLS] = std::array::from_fn(|j| f32::from(qk[j]));
            let (wv, _) = S::as_simd_f32s(&wide);
            let (ov, _) = S::as_mut_simd_f32s(ok);
            for j in 0..COLS / S::F32_LANES {
                ov[j] = simd.mul_f32s(wv[j], sv[j]);
            }
        }
    }
}

/// [`tile`] for 8-bit weights: each row of the block is widened and scaled in registers.
#[inline(always)]
fn tile_i8<S: pulp::Simd, const R: usize>(
    simd: S,
    q: &[i8],
    scales: &[f32],
    x: &[f32],
    d: usize,
    out: &mut [f32],
) {
    let mut acc = tile::zeros::<S, R>(simd);
    for (g, (q, scale)) in q
        .chunks_exact(GROUP * COLS)
        .zip(scales.chunks_exact(COLS))
        .enumerate()
    {
        let Ok(scale) = <&[f32; COLS]>::try_from(scale) else {
            continue;
        };
        for (k, qk) in q.chunks_exact(COLS).enumerate() {
            let Ok(qk) = <&[i8; COLS]>::try_from(qk) else {
                continue;
            };
            let wk: [f32; COLS] = std::array::from_fn(|j| f32::from(qk[j]) * scale[j]);
            tile::fma_rows(simd, &mut acc, &wk, &x[g * GROUP + k..], d);
        }
    }
    tile::store::<S, R>(&acc, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_product_matches_matmul_for_any_row_count() -> Result<()> {
        // 1003 columns: the last block is partial; 67: not a multiple of anything.
        let w = Tensor::randn(0f32, 1.0, (1003, 67), &Device::Cpu)?;
        let p = PackedMatrix::new(&w)?.expect("cpu f32");
        for n in [1, 2, 3, 8, 9, 19] {
            let x = Tensor::randn(0f32, 1.0, (n, 67), &Device::Cpu)?;
            let want = x.matmul(&w.t()?)?;
            let got = p.matmul_t(&x)?;
            assert_eq!(got.dims(), &[n, 1003]);
            let diff = (want - got)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-4, "n={n}: differs by {diff}");
        }
        Ok(())
    }

    #[test]
    fn q8_0_matrices_pack_to_their_dequantized_values() -> Result<()> {
        let w = Tensor::randn(0f32, 1.0, (1003, 96), &Device::Cpu)?;
        let q = QTensor::quantize(&w, GgmlDType::Q8_0)?;
        let p = PackedMatrix::from_q8_0(&q)?.expect("q8_0");
        let dense = q.dequantize(&Device::Cpu)?;
        for n in [1, 3, 8, 11] {
            let x = Tensor::randn(0f32, 1.0, (n, 96), &Device::Cpu)?;
            let want = x.matmul(&dense.t()?)?;
            let got = p.matmul_t(&x)?;
            assert_eq!(got.dims(), &[n, 1003]);
            let diff = (want - got)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-4, "n={n}: differs by {diff}");
        }
        let q4 = QTensor::quantize(&w, GgmlDType::Q4_0)?;
        assert!(PackedMatrix::from_q8_0(&q4)?.is_none());
        Ok(())
    }

    #[test]
    fn only_cpu_f32_matrices_are_packed() -> Result<()> {
        let w = Tensor::zeros((4, 4), DType::F16, &Device::Cpu)?;
        assert!(PackedMatrix::new(&w)?.is_none());
        Ok(())
    }
}
