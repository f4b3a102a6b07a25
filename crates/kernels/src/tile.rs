//! The register-tiled product both CPU kernels are built on: up to [`MAX_TILE_ROWS`] rows times
//! one panel of [`COLS`] columns, the panel stored `[k][COLS]` so that every `k` adds
//! `x[r][k] · panel[k]` into each row's accumulators (two AVX-512 registers a row) with no
//! horizontal sums. The decoder's packed matrices ([`crate::packed`]) read the rows where they lie
//! ([`tile`]); the encoder's attention ([`crate::long_attention`]) packs them too, `[k][8]`
//! ([`tile_packed`]), so that its inner loop reads only contiguous, fixed-size chunks.
//!
//! Everything here is `inline(always)` and generic over `pulp::Simd`: it is compiled inside a
//! caller's `WithSimd::with_simd`, at the SIMD level pulp detected, with constant trip counts so
//! the accumulators stay in registers.

/// Columns of one panel: two AVX-512 registers (four AVX2 ones).
pub const COLS: usize = 32;
/// Rows multiplied per pass over a panel (two accumulators each on AVX-512: 16 registers).
pub const MAX_TILE_ROWS: usize = 8;

/// Rows one pass over a panel may take at this SIMD width without spilling accumulators: all
/// [`MAX_TILE_ROWS`] with 16 lanes (two of AVX-512's 32 registers a row), three with 8 (four of
/// AVX2's 16 a row, and one for the broadcast input), one with fewer.
#[inline(always)]
pub fn rows_per_pass<S: pulp::Simd>() -> usize {
    match S::F32_LANES {
        16.. => MAX_TILE_ROWS,
        8..=15 => 3,
        _ => 1,
    }
}

/// `$tile::<S, rows>(args…)` for a run-time `rows` in 1..=[`MAX_TILE_ROWS`] (inside `with_simd`).
macro_rules! by_rows {
    ($rows:expr, $($tile:ident)::+, $($arg:expr),*) => {
        match $rows {
            1 => $($tile)::+::<S, 1>($($arg),*),
            2 => $($tile)::+::<S, 2>($($arg),*),
            3 => $($tile)::+::<S, 3>($($arg),*),
            4 => $($tile)::+::<S, 4>($($arg),*),
            5 => $($tile)::+::<S, 5>($($arg),*),
            6 => $($tile)::+::<S, 6>($($arg),*),
            7 => $($tile)::+::<S, 7>($($arg),*),
            _ => $($tile)::+::<S, 8>($($arg),*),
        }
    };
}
pub(crate) use by_rows;

/// One row's accumulators: `COLS / F32_LANES` of them are used.
pub type Acc<S, const R: usize> = [[<S as pulp::Simd>::f32s; COLS]; R];

/// Fresh accumulators for `R` rows.
#[inline(always)]
pub fn zeros<S: pulp::Simd, const R: usize>(simd: S) -> Acc<S, R> {
    [[simd.splat_f32s(0.0); COLS]; R]
}

/// `acc[r] += x[r · x_stride] · wk` for each of the `R` rows (`wk`: one panel row, `COLS` wide).
#[inline(always)]
pub fn fma_rows<S: pulp::Simd, const R: usize>(
    simd: S,
    acc: &mut Acc<S, R>,
    wk: &[f32],
    x: &[f32],
    x_stride: usize,
) {
    let (wv, _) = S::as_simd_f32s(wk);
    for (r, acc) in acc.iter_mut().enumerate() {
        let xv = simd.splat_f32s(x[r * x_stride]);
        for j in 0..COLS / S::F32_LANES {
            acc[j] = simd.mul_add_f32s(xv, wv[j], acc[j]);
        }
    }
}

/// Write each row's accumulators to its [`COLS`] outputs, `out` `[R][COLS]`.
#[inline(always)]
pub fn store<S: pulp::Simd, const R: usize>(acc: &Acc<S, R>, out: &mut [f32]) {
    let per_row = COLS / S::F32_LANES;
    for (o, acc) in out.chunks_exact_mut(COLS).zip(acc) {
        let (ov, _) = S::as_mut_simd_f32s(o);
        ov[..per_row].copy_from_slice(&acc[..per_row]);
    }
}

/// One panel `[d][COLS]` against `R` rows of `x` (row-major, `d` wide): `out` `[R][COLS]`.
#[inline(always)]
pub fn tile<S: pulp::Simd, const R: usize>(
    simd: S,
    panel: &[f32],
    x: &[f32],
    d: usize,
    out: &mut [f32],
) {
    let mut acc = zeros::<S, R>(simd);
    for (k, wk) in panel.chunks_exact(COLS).enumerate().take(d) {
        fma_rows(simd, &mut acc, wk, &x[k..], d);
    }
    store::<S, R>(&acc, out);
}

/// Rows of a packed left operand: `a` is stored `[k][A_ROWS]`.
pub const A_ROWS: usize = 8;

/// Rows `first..first + R` (of [`A_ROWS`]) of `a · panel`, both packed: `a` `[k_len][A_ROWS]`,
/// `panel` `[k_len][COLS]`. Contiguous fixed-size reads only, so nothing is checked per step.
#[inline(always)]
pub fn tile_packed<S: pulp::Simd, const R: usize>(
    simd: S,
    a: &[f32],
    first: usize,
    panel: &[f32],
    k_len: usize,
) -> Acc<S, R> {
    let mut acc = zeros::<S, R>(simd);
    for (ak, wk) in a
        .chunks_exact(A_ROWS)
        .zip(panel.chunks_exact(COLS))
        .take(k_len)
    {
        let (Ok(ak), Ok(wk)) = (<&[f32; A_ROWS]>::try_from(ak), <&[f32; COLS]>::try_from(wk))
        else {
            continue;
        };
        let (wv, _) = S::as_simd_f32s(wk);
        for (r, acc) in acc.iter_mut().enumerate() {
            let xv = simd.splat_f32s(ak[first + r]);
            for j in 0..COLS / S::F32_LANES {
                acc[j] = simd.mul_add_f32s(xv, wv[j], acc[j]);
            }
        }
    }
    acc
}

/// `a · panel` for all [`A_ROWS`] rows of a packed `a` (see [`tile_packed`]), written to `out`
/// `[A_ROWS][COLS]`: one pass with 16 lanes, several narrower passes otherwise (eight rows of four
/// AVX2 accumulators would not fit in 16 registers).
#[inline(always)]
pub fn tile_packed_store<S: pulp::Simd>(
    simd: S,
    a: &[f32],
    panel: &[f32],
    k_len: usize,
    out: &mut [f32],
) {
    if S::F32_LANES >= 16 {
        let acc = tile_packed::<S, A_ROWS>(simd, a, 0, panel, k_len);
        store::<S, A_ROWS>(&acc, out);
    } else {
        for first in (0..A_ROWS).step_by(2) {
            let acc = tile_packed::<S, 2>(simd, a, first, panel, k_len);
            store::<S, 2>(&acc, &mut out[first * COLS..]);
        }
    }
}

/// A zeroed f32 buffer whose slice starts on a 64-byte boundary, so that no SIMD load of a panel
/// row straddles two cache lines (a split load costs about twice as much).
pub struct Aligned {
    buf: Vec<f32>,
    start: usize,
    len: usize,
}

impl Aligned {
    pub fn zeros(len: usize) -> Self {
        let buf = vec![0f32; len + 15];
        // The heap buffer never moves: `buf` is never grown.
        let start = (buf.as_ptr() as usize).wrapping_neg() % 64 / std::mem::size_of::<f32>();
        Self { buf, start, len }
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.buf[self.start..self.start + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.buf[self.start..self.start + self.len]
    }
}
