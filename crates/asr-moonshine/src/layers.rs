//! The building blocks both Moonshine networks share: projections, the two layer norms, rotary
//! positions, multi-head attention with grouped key/value heads, and the two feed-forwards.

use candle_core::{DType, Device, Result, Tensor, D};
use candle_nn::VarBuilder;
use hark_kernels::{Linear, Then};

/// Layer-norm epsilon of every norm in both networks (PyTorch's default).
pub const LN_EPS: f64 = 1e-5;

/// A `Linear` read from `{prefix}.weight` (and `{prefix}.bias` when `bias`).
pub fn linear(vb: &VarBuilder, in_dim: usize, out_dim: usize, bias: bool) -> Result<Linear> {
    let w = vb.get((out_dim, in_dim), "weight")?;
    let b = if bias {
        Some(vb.get(out_dim, "bias")?)
    } else {
        None
    };
    Ok(Linear::new(candle_nn::Linear::new(w, b)))
}

/// Prepares a decoder product for the few rows of a decoding step: packed f32, or, when
/// `eight_bit`, packed q8_0 (8-bit weights in blocks of 32 with one scale each; a quarter of the
/// memory traffic, which is what bounds these products).
pub fn for_decoding(l: &mut Linear, eight_bit: bool) -> Result<()> {
    if eight_bit {
        if let Linear::Dense(inner) = l {
            if inner.weight().dim(1)?.is_multiple_of(32) {
                let q = candle_core::quantized::QTensor::quantize(
                    inner.weight(),
                    candle_core::quantized::GgmlDType::Q8_0,
                )?;
                return l.quantize(q);
            }
        }
    }
    l.pack()
}

/// Layer norm without a bias: `weight` (`nn.LayerNorm(bias=False)`), or, for the streaming
/// encoder, `gamma + 1` (its unit-offset norm).
#[derive(Debug, Clone)]
pub struct Norm {
    scale: Tensor,
    zeros: Tensor,
}

impl Norm {
    pub fn plain(vb: &VarBuilder, dim: usize) -> Result<Self> {
        Self::new(vb.get(dim, "weight")?)
    }

    pub fn unit_offset(vb: &VarBuilder, dim: usize) -> Result<Self> {
        Self::new((vb.get(dim, "gamma")? + 1.0)?)
    }

    fn new(scale: Tensor) -> Result<Self> {
        Ok(Self {
            zeros: scale.zeros_like()?,
            scale,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // candle's fused layer norm (one pass per row) with a zero bias.
        candle_nn::ops::layer_norm(&x.contiguous()?, &self.scale, &self.zeros, LN_EPS as f32)
    }
}

/// `gelu` (exact, erf) or `silu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    Gelu,
    Silu,
}

impl Act {
    pub fn parse(name: &str) -> Self {
        if name == "silu" {
            Act::Silu
        } else {
            Act::Gelu
        }
    }

    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Act::Gelu => x.gelu_erf(),
            Act::Silu => candle_nn::ops::silu(x),
        }
    }
}

/// Encoder feed-forward: `fc2(act(fc1(x)))` (GELU fused into the first product on the CPU).
pub struct Mlp {
    fc1: Linear,
    fc2: Linear,
    act: Act,
}

impl Mlp {
    pub fn load(vb: &VarBuilder, dim: usize, inner: usize, act: Act) -> Result<Self> {
        Ok(Self {
            fc1: linear(&vb.pp("fc1"), dim, inner, true)?,
            fc2: linear(&vb.pp("fc2"), inner, dim, true)?,
            act,
        })
    }

    /// Keeps packed copies beside the weights for products of a few rows
    /// ([`Linear::pack_beside`]).
    pub fn pack_beside(&mut self) -> Result<()> {
        self.fc1.pack_beside()?;
        self.fc2.pack_beside()
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = match self.act {
            Act::Gelu => self.fc1.forward_then(x, Then::Gelu)?,
            Act::Silu => candle_nn::ops::silu(&self.fc1.forward(x)?)?,
        };
        self.fc2.forward(&h)
    }
}

/// Decoder feed-forward, gated: `fc1` gives `[h, gate]`, then `fc2(act(gate) * h)`.
pub struct GatedMlp {
    fc1: Linear,
    fc2: Linear,
    act: Act,
    inner: usize,
}

impl GatedMlp {
    pub fn load(vb: &VarBuilder, dim: usize, inner: usize, act: Act) -> Result<Self> {
        Ok(Self {
            fc1: linear(&vb.pp("fc1"), dim, 2 * inner, true)?,
            fc2: linear(&vb.pp("fc2"), inner, dim, true)?,
            act,
            inner,
        })
    }

    /// Stores the weights for few-row products (decoding steps): [`for_decoding`].
    pub fn pack(&mut self, eight_bit: bool) -> Result<()> {
        for_decoding(&mut self.fc1, eight_bit)?;
        for_decoding(&mut self.fc2, eight_bit)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let both = self.fc1.forward(x)?;
        let h = both.narrow(D::Minus1, 0, self.inner)?;
        let gate = both.narrow(D::Minus1, self.inner, self.inner)?;
        self.fc2.forward(&(self.act.apply(&gate)? * h)?)
    }
}

/// Rotary positions as Moonshine applies them: on the first `rotary_dim` dimensions of each
/// head, with neighbouring dimensions (0 and 1, 2 and 3, …) forming the rotating pairs.
#[derive(Debug, Clone)]
pub struct Rotary {
    inv_freq: Vec<f32>,
    device: Device,
}

impl Rotary {
    pub fn new(head_dim: usize, partial_factor: f64, theta: f64, device: &Device) -> Self {
        let dim = (head_dim as f64 * partial_factor) as usize;
        let inv_freq = (0..dim)
            .step_by(2)
            .map(|i| (1.0 / theta.powf(i as f64 / dim as f64)) as f32)
            .collect();
        Self {
            inv_freq,
            device: device.clone(),
        }
    }

    /// Dimensions of each head that rotate.
    pub fn rotary_dim(&self) -> usize {
        2 * self.inv_freq.len()
    }

    /// `(cos, sin)` for the given positions, each `[positions, rotary_dim]`, pairs repeated.
    pub fn tables(&self, positions: std::ops::Range<usize>) -> Result<(Tensor, Tensor)> {
        let n = positions.len();
        let rd = self.rotary_dim();
        let mut cos = Vec::with_capacity(n * rd);
        let mut sin = Vec::with_capacity(n * rd);
        for p in positions {
            for &f in &self.inv_freq {
                let a = p as f32 * f;
                cos.extend([a.cos(); 2]);
                sin.extend([a.sin(); 2]);
            }
        }
        Ok((
            Tensor::from_vec(cos, (n, rd), &self.device)?,
            Tensor::from_vec(sin, (n, rd), &self.device)?,
        ))
    }

    /// Each position's `(cos, sin)` per rotating pair, for [`Self::rotate`].
    pub fn turns(&self, positions: &[usize]) -> Vec<Vec<(f32, f32)>> {
        positions
            .iter()
            .map(|&p| {
                self.inv_freq
                    .iter()
                    .map(|&f| {
                        let a = p as f32 * f;
                        (a.cos(), a.sin())
                    })
                    .collect()
            })
            .collect()
    }

    /// Rotates one row of heads (`[heads · head_dim]`) in place by a position's `turn`
    /// ([`Self::turns`]): each pair `(a, b)` of a head's first dimensions becomes
    /// `(a·cos − b·sin, b·cos + a·sin)`, as [`Self::apply`] does.
    pub fn rotate(&self, row: &mut [f32], head_dim: usize, turn: &[(f32, f32)]) {
        for head in row.chunks_exact_mut(head_dim.max(1)) {
            for (pair, &(cos, sin)) in head.chunks_exact_mut(2).zip(turn) {
                let (a, b) = (pair[0], pair[1]);
                pair[0] = a * cos - b * sin;
                pair[1] = b * cos + a * sin;
            }
        }
    }

    /// Rotates `x` (`[heads, positions, head_dim]`) by the tables of its positions.
    pub fn apply(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let (h, t, hd) = x.dims3()?;
        let rd = self.rotary_dim();
        let rot = x.narrow(2, 0, rd)?;
        let pairs = rot.reshape((h, t, rd / 2, 2))?;
        let a = pairs.narrow(3, 0, 1)?;
        let b = pairs.narrow(3, 1, 1)?;
        // rotate_half on interleaved pairs: (a, b) -> (-b, a).
        let turned = Tensor::cat(&[&b.neg()?, &a], 3)?.reshape((h, t, rd))?;
        let rotated = (rot.broadcast_mul(cos)? + turned.broadcast_mul(sin)?)?;
        if rd == hd {
            Ok(rotated)
        } else {
            Tensor::cat(&[&rotated, &x.narrow(2, rd, hd - rd)?], 2)
        }
    }
}

/// Query, key, value and output projections of one attention block.
pub struct AttnProj {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

impl AttnProj {
    pub fn load(
        vb: &VarBuilder,
        dim: usize,
        kv_in_dim: usize,
        heads: usize,
        kv_heads: usize,
        head_dim: usize,
    ) -> Result<Self> {
        Ok(Self {
            q: linear(&vb.pp("q_proj"), dim, heads * head_dim, false)?,
            k: linear(&vb.pp("k_proj"), kv_in_dim, kv_heads * head_dim, false)?,
            v: linear(&vb.pp("v_proj"), kv_in_dim, kv_heads * head_dim, false)?,
            o: linear(&vb.pp("o_proj"), heads * head_dim, dim, false)?,
            heads,
            kv_heads,
            head_dim,
        })
    }

    /// The attention block of a layer of `stack` (input and keys/values of its own width).
    pub fn of(vb: &VarBuilder, stack: &crate::config::StackConfig) -> Result<Self> {
        let h = stack.hidden_size;
        Self::load(vb, h, h, stack.heads, stack.kv_heads, stack.head_dim)
    }

    /// Stores the query and output projections packed for few-row products, and the key and
    /// value ones too when `kv` (self-attention of a decoding step; cross-attention keys and
    /// values are computed over many encoder frames at once).
    pub fn pack(&mut self, kv: bool, eight_bit: bool) -> Result<()> {
        for_decoding(&mut self.q, eight_bit)?;
        for_decoding(&mut self.o, eight_bit)?;
        if kv {
            for_decoding(&mut self.k, eight_bit)?;
            for_decoding(&mut self.v, eight_bit)?;
        }
        Ok(())
    }

    /// Keeps packed copies beside the four projections for products of a few rows
    /// ([`Linear::pack_beside`]).
    pub fn pack_beside(&mut self) -> Result<()> {
        for l in [&mut self.q, &mut self.k, &mut self.v, &mut self.o] {
            l.pack_beside()?;
        }
        Ok(())
    }

    /// Queries, keys (both rotated by `cos`/`sin`) and values of normalised rows `xn`, each
    /// `[heads, t, head_dim]`.
    pub fn qkv_rotary(
        &self,
        xn: &Tensor,
        rotary: &Rotary,
        cos: &Tensor,
        sin: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let q = rotary.apply(&self.split(&self.q.forward(xn)?, self.heads)?, cos, sin)?;
        let k = rotary.apply(&self.split(&self.k.forward(xn)?, self.kv_heads)?, cos, sin)?;
        let v = self.split(&self.v.forward(xn)?, self.kv_heads)?;
        Ok((q, k, v))
    }

    /// `[t, heads * head_dim]` rows to `[heads, t, head_dim]`.
    pub fn split(&self, x: &Tensor, heads: usize) -> Result<Tensor> {
        let t = x.dim(0)?;
        x.reshape((t, heads, self.head_dim))?
            .transpose(0, 1)?
            .contiguous()
    }

    /// Attention of `q` (`[heads, tq, hd]`) over `k`, `v` (`[kv_heads, tk, hd]`) with an additive
    /// `mask` (`[tq, tk]`, 0 or -inf) when given; returns the projected output `[tq, dim]` and,
    /// when asked, the attention weights averaged over heads (`[tq, tk]`).
    pub fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        want_weights: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (out, weights) = self.attend_heads(q, k, v, mask, want_weights)?;
        Ok((self.o.forward(&out)?, weights))
    }

    /// [`Self::attend`] without the output projection: the heads merged, `[tq, heads * hd]`.
    pub fn attend_heads(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        want_weights: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let group = self.heads / self.kv_heads;
        let (k, v) = if group == 1 {
            (k.clone(), v.clone())
        } else {
            (repeat_heads(k, group)?, repeat_heads(v, group)?)
        };
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        if hark_kernels::attention::supported(q) {
            // The kernels take `[1, heads, t, hd]`, the queries already scaled.
            let q4 = (q * scale)?.unsqueeze(0)?;
            let k4 = k.contiguous()?.unsqueeze(0)?;
            let v4 = v.contiguous()?.unsqueeze(0)?;
            if mask.is_none() && !want_weights && q.dim(1)? > 64 {
                // Long unmasked queries (the original encoder's): blocks of queries, cache-resident.
                let out = hark_kernels::long_attention::attend(&q4, &k4, &v4)?;
                return Ok((out.squeeze(0)?, None));
            }
            // One pass per head: scores, softmax and the weighted sum without intermediate tensors.
            let (out, weights) =
                hark_kernels::attention::attend(&q4, &k4, &v4, mask, want_weights)?;
            let weights = match weights {
                Some(w) => Some(w.squeeze(0)?.mean(0)?),
                None => None,
            };
            return Ok((out.squeeze(0)?, weights));
        }
        let mut scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?;
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(&v)?; // [heads, tq, hd]
        let tq = out.dim(1)?;
        let out = out
            .transpose(0, 1)?
            .contiguous()?
            .reshape((tq, self.heads * self.head_dim))?;
        let weights = if want_weights {
            Some(probs.mean(0)?)
        } else {
            None
        };
        Ok((out, weights))
    }
}

fn repeat_heads(x: &Tensor, group: usize) -> Result<Tensor> {
    let (h, t, d) = x.dims3()?;
    x.unsqueeze(1)?
        .expand((h, group, t, d))?
        .contiguous()?
        .reshape((h * group, t, d))
}

/// An additive mask `[tq, tk]`: 0 where `allowed(q, k)`, -inf elsewhere.
pub fn mask(
    tq: usize,
    tk: usize,
    device: &Device,
    allowed: impl Fn(usize, usize) -> bool,
) -> Result<Tensor> {
    let mut m = Vec::with_capacity(tq * tk);
    for q in 0..tq {
        for k in 0..tk {
            m.push(if allowed(q, k) {
                0f32
            } else {
                f32::NEG_INFINITY
            });
        }
    }
    Tensor::from_vec(m, (tq, tk), device)?.to_dtype(DType::F32)
}
