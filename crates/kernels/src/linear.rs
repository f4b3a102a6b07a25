//! The linear layers of the network: one weight matrix, dense or quantized, and the fastest
//! product for it on this device (packed few-row products for decoding steps, fused epilogues).

use super::dense;
use super::int8::Int8Matrix;
use super::ops::{fast_path, gelu_erf, Then};
use super::packed::PackedMatrix;
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Result, Tensor};

/// `x · Wᵀ` for `x` `[n, d]` and a weight (or the token embedding) `W` `[V, d]`: `[n, V]`.
pub fn matmul_t(w: &Tensor, x: &Tensor) -> Result<Tensor> {
    // Computed as (W·xᵀ)ᵀ so the large matrix is never transposed or copied.
    w.matmul(&x.t()?.contiguous()?)?.t()?.contiguous()
}

/// A linear layer. Dense: candle's matmul. Packed (the decoder's matrices on CPU, f32 or q8_0): a
/// kernel that stays memory-bound for the few rows of a decoding step. Quantized: candle's
/// quantized matmul (other quantized types, other devices; decoder only). Int8: a quantized
/// model's encoder layers on CPUs with AVX-512 VNNI (`int8.rs`).
pub enum Linear {
    Dense(candle_nn::Linear),
    Quantized {
        weight: QMatMul,
        bias: Option<Tensor>,
    },
    /// Packed for a few rows at a time (CPU, f32): the decoder's matrices.
    Packed {
        weight: PackedMatrix,
        bias: Option<Tensor>,
    },
    /// 8-bit weights and activations (CPU with AVX-512 VNNI): a quantized model's encoder.
    Int8 {
        weight: Int8Matrix,
        bias: Option<Tensor>,
    },
    /// Dense and packed copies of one f32 weight (CPU): products of at most [`FEW_ROWS`] rows
    /// use the packed one, larger ones gemm. A streaming encoder's: a live stream's pushes are a
    /// few frames, a whole segment hundreds.
    Both {
        dense: candle_nn::Linear,
        packed: PackedMatrix,
    },
}

/// Rows up to which [`Linear::Both`] takes its packed copy. gemm packs the weight on every call,
/// which dominates a product of a few rows: `HARK_BENCH_ROWS=25,250,500 cargo bench -p
/// hark-kernels --bench packed -- 1280 320` on a 2-core Zen 5, packed against our dense layer:
/// 25 rows 0.13 against 0.23 ms (320 → 1280: 0.09 against 0.51), 250 rows 0.61 against 0.50,
/// 500 rows 1.31 against 0.92.
pub const FEW_ROWS: usize = 256;

impl Linear {
    pub fn new(inner: candle_nn::Linear) -> Self {
        Self::Dense(inner)
    }

    fn bias(&self) -> Option<Tensor> {
        match self {
            Self::Dense(l) | Self::Both { dense: l, .. } => l.bias().cloned(),
            Self::Quantized { bias, .. } | Self::Packed { bias, .. } | Self::Int8 { bias, .. } => {
                bias.clone()
            }
        }
    }

    /// Store a dense CPU f32 weight packed for products with a few rows (a decoding step), in
    /// place of the dense copy; other layers are left as they are.
    pub fn pack(&mut self) -> Result<()> {
        if let Self::Dense(l) = self {
            if let Some(weight) = PackedMatrix::new(l.weight())? {
                *self = Self::Packed {
                    weight,
                    bias: l.bias().cloned(),
                };
            }
        }
        Ok(())
    }

    /// Keep a dense CPU f32 weight and a packed copy beside it ([`Self::Both`]: twice the
    /// weight's memory); other layers are left as they are.
    pub fn pack_beside(&mut self) -> Result<()> {
        if let Self::Dense(l) = self {
            if let Some(packed) = PackedMatrix::new(l.weight())? {
                *self = Self::Both {
                    dense: l.clone(),
                    packed,
                };
            }
        }
        Ok(())
    }

    /// A [`Self::Both`] layer's dense copy when `x` has more than [`FEW_ROWS`] rows.
    fn dense_for(&self, x: &Tensor) -> Option<&candle_nn::Linear> {
        match self {
            Self::Dense(l) => Some(l),
            Self::Both { dense, .. } if rows_of(x) > FEW_ROWS => Some(dense),
            _ => None,
        }
    }

    pub fn is_int8(&self) -> bool {
        matches!(self, Self::Int8 { .. })
    }

    /// Store a dense CPU f32 weight as 8 bits ([`Int8Matrix`]) where this CPU has the kernel;
    /// other layers and CPUs are left as they are. Whether it was converted.
    pub fn use_int8(&mut self) -> Result<bool> {
        if let Self::Dense(l) = self {
            if let Some(weight) = Int8Matrix::new(l.weight())? {
                *self = Self::Int8 {
                    weight,
                    bias: l.bias().cloned(),
                };
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The same layer with its weight replaced by `weight` (quantized), keeping the bias. q8_0
    /// on the CPU is packed; other types use candle's quantized matmul.
    pub fn quantize(&mut self, weight: QTensor) -> Result<()> {
        let bias = self.bias();
        if let Some(packed) = PackedMatrix::from_q8_0(&weight)? {
            *self = Self::Packed {
                weight: packed,
                bias,
            };
            return Ok(());
        }
        *self = Self::Quantized {
            weight: QMatMul::from_qtensor(weight)?,
            bias,
        };
        Ok(())
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if let Some(inner) = self.dense_for(x) {
            if fast_path(x) {
                if let Some(y) = dense::linear(x, inner.weight(), inner.bias(), false, None)? {
                    return Ok(y);
                }
            }
            return candle_core::Module::forward(inner, x);
        }
        match self {
            Self::Dense(inner) => candle_core::Module::forward(inner, x),
            Self::Quantized { weight, bias } => {
                let y = candle_core::Module::forward(weight, x)?;
                match bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
            Self::Int8 { weight, bias } => weight.forward(x, bias.as_ref(), Then::Bias),
            Self::Packed { weight, bias } => packed_forward(weight, bias.as_ref(), x),
            Self::Both { dense, packed } => packed_forward(packed, dense.bias(), x),
        }
    }
}

/// Rows of `x` (all dimensions but the last).
fn rows_of(x: &Tensor) -> usize {
    x.dims()
        .split_last()
        .map_or(0, |(_, lead)| lead.iter().product())
}

/// `x · Wᵀ + b` through a packed weight, for `x` of any leading dimensions.
fn packed_forward(weight: &PackedMatrix, bias: Option<&Tensor>, x: &Tensor) -> Result<Tensor> {
    let dims = x.dims();
    let Some((&last, lead)) = dims.split_last() else {
        candle_core::bail!("linear: scalar input")
    };
    let y = weight.matmul_t(&x.reshape((lead.iter().product::<usize>(), last))?)?;
    let y = match bias {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    let mut shape = lead.to_vec();
    shape.push(y.dim(1)?);
    y.reshape(shape)
}

impl Linear {
    /// [`Linear::forward`] followed by `then`. A dense CPU f32 layer runs the product without the
    /// bias and applies bias and `then` in one in-place pass over it (no second tensor, no second
    /// trip through memory; [`crate::dense`]); other layers use separate operations.
    pub fn forward_then(&self, x: &Tensor, then: Then) -> Result<Tensor> {
        if let Self::Int8 { weight, bias } = self {
            return weight.forward(x, bias.as_ref(), then);
        }
        if let (Some(l), true) = (self.dense_for(x), fast_path(x)) {
            let (gelu, residual) = match then {
                Then::Bias => (false, None),
                Then::Gelu => (true, None),
                Then::Add(r) => (false, Some(r)),
            };
            if let Some(y) = dense::linear(x, l.weight(), l.bias(), gelu, residual)? {
                return Ok(y);
            }
        }
        let y = self.forward(x)?;
        match then {
            Then::Bias => Ok(y),
            Then::Gelu => gelu_erf(&y),
            Then::Add(residual) => y + residual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// A random dense layer of 24 inputs and 70 outputs: its weight, bias and the layer.
    fn random_layer(dev: &Device) -> Result<(Tensor, Tensor, Linear)> {
        let w = Tensor::randn(0f32, 1.0, (70, 24), dev)?;
        let b = Tensor::randn(0f32, 1.0, 70, dev)?;
        let layer = Linear::new(candle_nn::Linear::new(w.clone(), Some(b.clone())));
        Ok((w, b, layer))
    }

    #[test]
    fn a_layer_with_both_copies_gives_the_dense_product_for_any_row_count() -> Result<()> {
        let dev = Device::Cpu;
        let (w, b, dense) = random_layer(&dev)?;
        let mut both = Linear::new(candle_nn::Linear::new(w, Some(b)));
        both.pack_beside()?;
        assert!(matches!(both, Linear::Both { .. }));
        // Few rows (the packed copy), and more than FEW_ROWS (gemm), with leading dimensions.
        for shape in [(1, 5, 24), (2, FEW_ROWS / 2 + 3, 24)] {
            let x = Tensor::randn(0f32, 1.0, shape, &dev)?;
            for (got, want) in [
                (both.forward(&x)?, dense.forward(&x)?),
                (
                    both.forward_then(&x, Then::Gelu)?,
                    dense.forward_then(&x, Then::Gelu)?,
                ),
            ] {
                assert_eq!(got.dims(), want.dims());
                let diff = (want - got)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff < 1e-4, "{shape:?}: differs by {diff}");
            }
        }
        Ok(())
    }

    #[test]
    fn fused_epilogues_match_separate_operations() -> Result<()> {
        let dev = Device::Cpu;
        let (w, b, layer) = random_layer(&dev)?;
        // Two items of 300 rows: more rows than one task of the in-place pass takes.
        let x = Tensor::randn(0f32, 1.0, (2, 300, 24), &dev)?;
        let residual = Tensor::randn(0f32, 1.0, (2, 300, 70), &dev)?;
        let product = x.broadcast_matmul(&w.t()?)?.broadcast_add(&b)?;
        let cases = [
            (Then::Bias, product.clone()),
            (Then::Gelu, product.gelu_erf()?),
            (Then::Add(&residual), (&product + &residual)?),
        ];
        for (then, want) in cases {
            let got = layer.forward_then(&x, then)?;
            assert_eq!(got.dims(), &[2, 300, 70]);
            let diff = (want - got)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-4, "differs by {diff}");
        }
        // The residual is left as it was.
        let again = layer.forward_then(&x, Then::Add(&residual))?;
        let diff = ((&product + &residual)? - again)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert!(diff < 1e-4);
        Ok(())
    }
}
