//! The Whisper network (Hugging Face tensor names) on candle: a batched encoder and a batched,
//! incremental decoder with a key/value cache that can also return cross-attention weights
//! (for word timestamps).

use crate::model::config::WhisperConfig;
use candle_core::quantized::QTensor;
use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, VarBuilder};
use hark_kernels::attention;
use hark_kernels::long_attention;
use hark_kernels::packed::PackedMatrix;
use hark_kernels::{Linear, Then};
use rayon::prelude::*;
use std::collections::HashMap;

fn linear(d_in: usize, d_out: usize, vb: VarBuilder) -> Result<Linear> {
    candle_nn::linear(d_in, d_out, vb).map(Linear::new)
}

fn linear_no_bias(d_in: usize, d_out: usize, vb: VarBuilder) -> Result<Linear> {
    candle_nn::linear_no_bias(d_in, d_out, vb).map(Linear::new)
}

/// Up to this many rows the packed output projection beats gemm (two passes over the matrix).
const PACKED_MAX_ROWS: usize = 2 * hark_kernels::packed::MAX_TILE_ROWS;

/// Score tensors above this size are computed in blocks of query rows, which keeps each block
/// under the allocator's mmap threshold (no page faults per call). 16 MiB measured best for a 30 s
/// window on 2 cores (4 MiB blocks cost ~20% more, unblocked ~25% more).
const ATTENTION_BLOCK_BYTES: usize = 16 << 20;

/// Up to this many query rows (decoding steps, prompts, very short windows) attention runs fused
/// on the CPU ([`attention::attend`]); longer unmasked ones use [`long_attention::attend`], and
/// the rest (masks with long queries, other devices and dtypes) candle's batched matmuls.
const FUSED_MAX_ROWS: usize = 64;

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    /// q, k and v as one layer (`[3d, d]`), for self-attention; `q`, `k`, `v` are then views of
    /// its weight.
    qkv: Option<Linear>,
    out: Linear,
    heads: usize,
    scale: f64,
}

impl Attention {
    fn load(d: usize, heads: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            q: linear(d, d, vb.pp("q_proj"))?,
            k: linear_no_bias(d, d, vb.pp("k_proj"))?,
            v: linear(d, d, vb.pp("v_proj"))?,
            qkv: None,
            out: linear(d, d, vb.pp("out_proj"))?,
            heads,
            scale: ((d / heads) as f64).powf(-0.5),
        })
    }

    /// Multiply the query projection's weight and bias by the attention scale once, so that no
    /// pass over the queries is needed per call. Only for dense layers that are never swapped
    /// for quantized weights afterwards (the encoder's).
    fn fold_query_scale(&mut self) -> Result<()> {
        if let Linear::Dense(l) = &self.q {
            let weight = (l.weight() * self.scale)?;
            let bias = l.bias().map(|b| b * self.scale).transpose()?;
            self.q = Linear::new(candle_nn::Linear::new(weight, bias));
            self.scale = 1.0;
        }
        Ok(())
    }

    /// Join the q, k and v projections into one layer, so that self-attention reads its input
    /// once in one larger (faster) product. Dense layers only; like [`Self::fold_query_scale`],
    /// for the encoder, whose layers are never swapped afterwards.
    fn fuse_qkv(&mut self) -> Result<()> {
        let (Linear::Dense(q), Linear::Dense(k), Linear::Dense(v)) = (&self.q, &self.k, &self.v)
        else {
            return Ok(());
        };
        let w = q.weight();
        let d = w.dim(0)?;
        let zeros = Tensor::zeros(d, w.dtype(), w.device())?;
        let bias = |l: &candle_nn::Linear| l.bias().cloned().unwrap_or_else(|| zeros.clone());
        let has_bias = [q.bias().is_some(), k.bias().is_some(), v.bias().is_some()];
        let weight = Tensor::cat(&[q.weight(), k.weight(), v.weight()], 0)?;
        let biases = Tensor::cat(&[bias(q), bias(k), bias(v)], 0)?;
        let part = |i: usize| -> Result<Linear> {
            let b = match has_bias[i] {
                true => Some(biases.narrow(0, i * d, d)?),
                false => None,
            };
            Ok(Linear::new(candle_nn::Linear::new(
                weight.narrow(0, i * d, d)?,
                b,
            )))
        };
        (self.q, self.k, self.v) = (part(0)?, part(1)?, part(2)?);
        self.qkv = Some(Linear::new(candle_nn::Linear::new(weight, Some(biases))));
        Ok(())
    }

    /// Self-attention of `x` `[B, T, d]` (no mask), added to `residual`.
    fn self_attend(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        let (q, k, v) = self.self_qkv(x, false)?;
        Ok(self.attend_heads(&q, &k, &v, None, false, residual)?.0)
    }

    /// Queries (split into heads, scaled), keys and values of `x` `[B, T, d]`, each
    /// `[B, H, T, d/H]`, through the joined projection when there is one: views of the product
    /// (heads interleaved), or with `stored` the keys and values stored head by head.
    fn self_qkv(&self, x: &Tensor, stored: bool) -> Result<(Tensor, Tensor, Tensor)> {
        let Some(qkv) = &self.qkv else {
            let q = self.scaled(self.q.forward_then(x, Then::Bias)?)?;
            let (k, v) = self.kv(x, stored)?;
            return Ok((self.split(&q, false)?, k, v));
        };
        let (b, t, d) = x.dims3()?;
        let y = qkv
            .forward_then(x, Then::Bias)?
            .reshape((b, t, 3, self.heads, d / self.heads))?;
        let part = |i: usize| y.narrow(2, i, 1)?.squeeze(2)?.transpose(1, 2);
        let (k, v) = match stored {
            true => (part(1)?.contiguous()?, part(2)?.contiguous()?),
            false => (part(1)?, part(2)?),
        };
        Ok((self.scaled(part(0)?)?, k, v))
    }

    /// Self-attention of the first `T` positions of a longer sequence whose other positions'
    /// keys and values are given: `x` `[B, T, d]` attends to its own keys/values followed by
    /// positions `T..` of `tail` (`[1, H, S, d/H]` each, shared by every row); added to
    /// `residual`.
    fn self_attend_before(
        &self,
        x: &Tensor,
        residual: &Tensor,
        tail: &(Tensor, Tensor),
    ) -> Result<Tensor> {
        let (q, k, v) = self.self_qkv(x, true)?;
        let (k, v) = (extend(k, &tail.0)?, extend(v, &tail.1)?);
        Ok(self.attend_heads(&q, &k, &v, None, false, residual)?.0)
    }

    /// The self-attention's products as 8-bit layers (the joined q, k, v when there is one; the
    /// separate layers are then only its views and stay as they are).
    fn use_int8(&mut self) -> Result<usize> {
        let joined = match &mut self.qkv {
            Some(qkv) => usize::from(qkv.use_int8()?),
            None => {
                usize::from(self.q.use_int8()?)
                    + usize::from(self.k.use_int8()?)
                    + usize::from(self.v.use_int8()?)
            }
        };
        Ok(joined + usize::from(self.out.use_int8()?))
    }

    /// Queries times the attention scale, unless it was folded into the weights.
    fn scaled(&self, q: Tensor) -> Result<Tensor> {
        if self.scale == 1.0 {
            Ok(q)
        } else {
            q * self.scale
        }
    }

    /// `[B, T, d]` → `[B, H, T, d/H]`: a view of the same storage (heads interleaved), which the
    /// fused CPU attention reads as it is, or a contiguous copy for candle's matmuls.
    fn split(&self, x: &Tensor, copy: bool) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let heads = x
            .reshape((b, t, self.heads, d / self.heads))?
            .transpose(1, 2)?;
        if copy {
            heads.contiguous()
        } else {
            Ok(heads)
        }
    }

    /// Keys and values of `x`, split into heads `[B, H, S, d/H]`: views of the products, or
    /// (`contiguous`, and wherever the fused attention cannot read views) stored head by head.
    ///
    /// The cross-attention's, made once per window and read at every decoding step, are stored
    /// head by head so that each head's pass over the ~1500 positions reads memory in order. Left
    /// as views (heads interleaved, each row's 64 values 2 KiB apart for base) the hardware
    /// prefetcher does not follow them, and the decoder's cross-attention took 2.3× as long (base,
    /// 20 steps).
    fn kv(&self, x: &Tensor, contiguous: bool) -> Result<(Tensor, Tensor)> {
        let copy = contiguous || !attention::supported(x);
        Ok((
            self.split(&self.k.forward(x)?, copy)?,
            self.split(&self.v.forward_then(x, Then::Bias)?, copy)?,
        ))
    }

    /// Attend from `x` to keys/values `k`, `v`, and add the output to `residual`. Returns the sum
    /// and, when `keep_weights`, the attention weights `[B, H, T, S]`; otherwise long queries are
    /// processed in blocks of rows.
    fn attend(
        &self,
        x: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        keep_weights: bool,
        residual: &Tensor,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let q = self.scaled(self.q.forward_then(x, Then::Bias)?)?;
        self.attend_heads(&self.split(&q, false)?, k, v, mask, keep_weights, residual)
    }

    /// [`Self::attend`] from queries already projected and split, `[B, H, T, d/H]` (any strides
    /// with unit stride in the last dimension).
    fn attend_heads(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        keep_weights: bool,
        residual: &Tensor,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (b, _, t, head_dim) = q.dims4()?;
        let d = self.heads * head_dim;
        if t <= FUSED_MAX_ROWS && attention::supported(q) {
            let (out, weights) = attention::attend(q, k, v, mask, keep_weights)?;
            return Ok((self.out.forward_then(&out, Then::Add(residual))?, weights));
        }
        // (Keys stored by columns, the decoder's cross-attention, are not packed for it.)
        let rows_of_keys = k.stride().get(3) == Some(&1);
        if mask.is_none() && !keep_weights && attention::supported(q) && rows_of_keys {
            let out = long_attention::attend(q, k, v)?;
            return Ok((self.out.forward_then(&out, Then::Add(residual))?, None));
        }
        let q = q.contiguous()?;
        let (k, v) = (k.contiguous()?, v.contiguous()?);
        let s = k.dim(2)?;
        let row_bytes = b * self.heads * s * q.dtype().size_in_bytes();
        let block = if keep_weights || mask.is_some() {
            t
        } else {
            (ATTENTION_BLOCK_BYTES / row_bytes.max(1)).clamp(1, t.max(1))
        };
        let kt = k.transpose(2, 3)?;
        let mut outs = Vec::with_capacity(t.div_ceil(block.max(1)));
        let mut weights = None;
        for start in (0..t).step_by(block.max(1)) {
            let n = block.min(t - start);
            let mut scores = q.narrow(2, start, n)?.matmul(&kt)?;
            if let Some(m) = mask {
                scores = scores.broadcast_add(m)?;
            }
            let w = hark_kernels::softmax_last_dim(scores)?;
            outs.push(w.matmul(&v)?.transpose(1, 2)?.reshape((b, n, d))?);
            if keep_weights {
                weights = Some(w);
            }
        }
        let out = match outs.len() {
            1 => outs.remove(0),
            _ => Tensor::cat(&outs, 1)?,
        };
        Ok((self.out.forward_then(&out, Then::Add(residual))?, weights))
    }
}

/// `own` `[B, H, T, D]` followed by positions `T..S` of `known` `[1, H, S, D]` (the same for every
/// row): `[B, H, S, D]`, or `own` as it is when it already covers `S`.
fn extend(own: Tensor, known: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = own.dims4()?;
    let s = known.dim(2)?;
    if t >= s {
        return Ok(own);
    }
    let rest = known.narrow(2, t, s - t)?.broadcast_as((b, h, s - t, d))?;
    Tensor::cat(&[&own, &rest.contiguous()?], 2)
}

struct Mlp {
    fc1: Linear,
    fc2: Linear,
}

impl Mlp {
    fn load(d: usize, ffn: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            fc1: linear(d, ffn, vb.pp("fc1"))?,
            fc2: linear(ffn, d, vb.pp("fc2"))?,
        })
    }
    fn use_int8(&mut self) -> Result<usize> {
        Ok(usize::from(self.fc1.use_int8()?) + usize::from(self.fc2.use_int8()?))
    }

    /// `residual + fc2(GELU(fc1(x)))`.
    fn forward(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        let hidden = self.fc1.forward_then(x, Then::Gelu)?;
        self.fc2.forward_then(&hidden, Then::Add(residual))
    }
}

/// Self-attention and MLP with their pre-norms: the part encoder and decoder layers share.
struct Block {
    attn: Attention,
    attn_ln: LayerNorm,
    mlp: Mlp,
    mlp_ln: LayerNorm,
}

impl Block {
    fn load(d: usize, heads: usize, ffn: usize, vb: &VarBuilder) -> Result<Self> {
        Ok(Self {
            attn: Attention::load(d, heads, vb.pp("self_attn"))?,
            attn_ln: layer_norm(d, 1e-5, vb.pp("self_attn_layer_norm"))?,
            mlp: Mlp::load(d, ffn, vb.clone())?,
            mlp_ln: layer_norm(d, 1e-5, vb.pp("final_layer_norm"))?,
        })
    }

    fn mlp_residual(&self, x: &Tensor) -> Result<Tensor> {
        self.mlp.forward(&self.mlp_ln.forward(x)?, x)
    }
}

type EncoderLayer = Block;

struct DecoderLayer {
    block: Block,
    cross: Attention,
    cross_ln: LayerNorm,
}

/// A width-3, padding-1 convolution over time, computed as one matrix product: the three time
/// steps each output reads are laid side by side (im2col, taps outermost: `[x(t−1) | x(t) |
/// x(t+1)]`) and multiplied by the kernel seen as an `[out, 3·in]` matrix (permuted to match at
/// load). Works in time-major layout `[B, T, C]` so no transposes are needed.
struct Conv3 {
    kernel: Linear,
}

/// Output rows per rayon task when laying out windows.
const WINDOW_ROWS_PER_TASK: usize = 64;

impl Conv3 {
    fn load(c_in: usize, c_out: usize, vb: VarBuilder) -> Result<Self> {
        let w = vb
            .get((c_out, c_in, 3), "weight")?
            .permute((0, 2, 1))?
            .contiguous()?
            .reshape((c_out, 3 * c_in))?;
        let b = vb.get(c_out, "bias")?;
        Ok(Self {
            kernel: Linear::new(candle_nn::Linear::new(w, Some(b))),
        })
    }

    /// `x`: `[B, T, C]` → GELU of the convolution, `[B, ⌈T / stride⌉, out]` (`stride` is 1 or 2).
    fn forward_gelu(&self, x: &Tensor, stride: usize) -> Result<Tensor> {
        let cols = if matches!(x.device(), Device::Cpu) && x.dtype() == DType::F32 {
            windows_cpu(x, stride)?
        } else {
            windows(x, stride)?
        };
        self.kernel.forward_then(&cols, Then::Gelu)
    }
}

/// Each output step's three input steps side by side, `[B, ⌈T / stride⌉, 3·C]`: output `i` reads
/// inputs `stride·i − 1`, `stride·i`, `stride·i + 1` (zeros outside `0..T`). Any device.
fn windows(x: &Tensor, stride: usize) -> Result<Tensor> {
    let t = x.dim(1)?;
    // An odd length gets one more (never read) zero so the pairs below line up.
    let padded = x.pad_with_zeros(1, 1, 1 + (stride - 1) * (t % 2))?;
    let taps = if stride == 1 {
        [
            padded.narrow(1, 0, t)?,
            padded.narrow(1, 1, t)?,
            padded.narrow(1, 2, t)?,
        ]
    } else {
        // Output position i reads inputs 2i, 2i+1, 2i+2 of the padded sequence.
        let (b, _, c) = x.dims3()?;
        let half = t.div_ceil(2);
        let pairs = padded.reshape((b, half + 1, 2, c))?;
        [
            pairs.narrow(1, 0, half)?.narrow(2, 0, 1)?.squeeze(2)?,
            pairs.narrow(1, 0, half)?.narrow(2, 1, 1)?.squeeze(2)?,
            pairs.narrow(1, 1, half)?.narrow(2, 0, 1)?.squeeze(2)?,
        ]
    };
    Tensor::cat(&taps, 2)
}

/// [`windows`] for CPU f32 tensors: three row copies per output step, split over rayon's threads
/// (candle's strided concatenation copies element by element: ~40% of the convolutions' time).
fn windows_cpu(x: &Tensor, stride: usize) -> Result<Tensor> {
    let (b, t, c) = x.dims3()?;
    let t_out = t.div_ceil(stride);
    let x = x.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    let candle_core::Storage::Cpu(storage) = &*storage else {
        candle_core::bail!("conv windows: not a CPU tensor")
    };
    let xs = hark_kernels::ops::contiguous_f32(storage, layout, "conv input")?;
    let mut out = vec![0f32; b * t_out * 3 * c];
    if c > 0 {
        out.par_chunks_mut(WINDOW_ROWS_PER_TASK * 3 * c)
            .enumerate()
            .for_each(|(task, rows)| {
                for (j, row) in rows.chunks_exact_mut(3 * c).enumerate() {
                    let r = task * WINDOW_ROWS_PER_TASK + j;
                    let (item, i) = (r / t_out, r % t_out);
                    for (tap, dst) in row.chunks_exact_mut(c).enumerate() {
                        // Input step `stride·i + tap − 1`; outside the sequence, zeros stay.
                        if let Some(s) = (stride * i + tap).checked_sub(1).filter(|&s| s < t) {
                            dst.copy_from_slice(&xs[(item * t + s) * c..][..c]);
                        }
                    }
                }
            });
    }
    Tensor::from_vec(out, (b, t_out, 3 * c), &Device::Cpu)
}

/// The encoder half.
pub struct Encoder {
    conv1: Conv3,
    conv2: Conv3,
    positions: Tensor,
    layers: Vec<EncoderLayer>,
    ln: LayerNorm,
    /// Each layer's self-attention keys and values for a window of silence over the full input,
    /// `[1, H, S, d/H]`: see [`Whisper::remember_silence`].
    silence: Option<Vec<(Tensor, Tensor)>>,
}

/// The decoder half.
pub struct Decoder {
    tokens: Embedding,
    /// The output projection, quantized (the embedding stays dense for lookups).
    logits_q: Option<candle_core::quantized::QMatMul>,
    /// The output projection packed for a few rows (CPU; f32, or 8-bit from a q8_0 file). A
    /// second copy beside the embedding, which lookups and many-row products use: +80 MB for
    /// tiny in f32, +270 MB for large-v3.
    logits_packed: Option<PackedMatrix>,
    positions: Tensor,
    layers: Vec<DecoderLayer>,
    ln: LayerNorm,
    /// Each layer's cross-attention keys and values of the encoder output for silence,
    /// `[1, H, S, d/H]`: an encoder output shorter than `S` is extended with their tail.
    silence: Option<Vec<(Tensor, Tensor)>>,
}

/// Per-batch decoding state: cross-attention keys/values (fixed) and the self-attention cache.
pub struct DecoderState {
    cross_kv: Vec<(Tensor, Tensor)>,
    /// `[B, 1, 1, S]`: 0 for encoder positions a row attends to, -∞ for padding.
    cross_mask: Option<Tensor>,
    self_kv: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
    /// Rows whose prompts were shorter than the batch's (see [`DecoderState::pad_rows`]): each
    /// row's next position, and `[B, 1, 1, len]`: -∞ for the padding slots of the cache.
    padded: Option<(Vec<usize>, Tensor)>,
}

impl DecoderState {
    /// Tokens already in the cache.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Let row `b` attend only to its first `positions[b]` encoder positions: a batch of windows
    /// of different lengths, padded to the longest, then decodes each row as if it were alone.
    /// Rows whose audio fills the batch need no mask; an empty `positions` removes it.
    pub fn limit_audio(&mut self, positions: &[usize]) -> Result<()> {
        let Some((k, _)) = self.cross_kv.first() else {
            return Ok(());
        };
        let (b, _, s, _) = k.dims4()?;
        if positions.iter().all(|&p| p >= s) {
            self.cross_mask = None;
            return Ok(());
        }
        if positions.len() != b {
            candle_core::bail!("{} audio lengths for a batch of {b}", positions.len());
        }
        let m: Vec<f32> = positions
            .iter()
            .flat_map(|&p| (0..s).map(move |j| if j < p { 0.0 } else { f32::NEG_INFINITY }))
            .collect();
        let mask = Tensor::from_vec(m, (b, 1, 1, s), k.device())?.to_dtype(k.dtype())?;
        self.cross_mask = Some(mask);
        Ok(())
    }

    /// After a step that fed right-padded prompts, declare that row `b`'s prompt was only its
    /// first `lens[b]` tokens: the cache slots after them are padding that later tokens never
    /// attend to, and row `b`'s next token takes position `lens[b]`. Rows of different prompt
    /// lengths (different known text) so decode as one batch, each as if alone.
    pub fn pad_rows(&mut self, lens: &[usize]) -> Result<()> {
        if lens.iter().all(|&l| l == self.len) {
            return Ok(());
        }
        if lens.len() != self.rows()? || lens.iter().any(|&l| l == 0 || l > self.len) {
            candle_core::bail!("prompt lengths {lens:?} do not fit a cache of {}", self.len);
        }
        let len = self.len;
        let m: Vec<f32> = lens
            .iter()
            .flat_map(|&l| (0..len).map(move |j| if j < l { 0.0 } else { f32::NEG_INFINITY }))
            .collect();
        let device = self.cross_kv[0].0.device().clone();
        let mask = Tensor::from_vec(m, (lens.len(), 1, 1, len), &device)?;
        self.padded = Some((lens.to_vec(), mask));
        Ok(())
    }

    /// The encoder positions the decoder attends to (the full input for padded windows).
    pub fn audio_positions(&self) -> Result<usize> {
        match self.cross_kv.first() {
            Some((k, _)) => k.dim(2),
            None => Ok(0),
        }
    }

    fn rows(&self) -> Result<usize> {
        match self.cross_kv.first() {
            Some((k, _)) => k.dim(0),
            None => Ok(0),
        }
    }

    /// Keep rows `rows` (`[R]` u32) of the self-attention cache, in that order (beam search).
    pub fn reorder(&mut self, rows: &Tensor) -> Result<()> {
        if let Some((pos, mask)) = &mut self.padded {
            let ids: Vec<u32> = rows.to_vec1()?;
            *pos = ids.iter().map(|&r| pos[r as usize]).collect();
            *mask = mask.index_select(rows, 0)?;
        }
        for (k, v) in self.self_kv.iter_mut().flatten() {
            *k = k.contiguous()?.index_select(rows, 0)?;
            *v = v.contiguous()?.index_select(rows, 0)?;
        }
        if let Some(m) = &mut self.cross_mask {
            *m = m.index_select(rows, 0)?;
        }
        Ok(())
    }
}

impl Encoder {
    fn load(c: &WhisperConfig, vb: VarBuilder) -> Result<Self> {
        let d = c.d_model;
        let layers = (0..c.encoder_layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                let mut layer =
                    EncoderLayer::load(d, c.encoder_attention_heads, c.encoder_ffn_dim, &vb)?;
                layer.attn.fold_query_scale()?;
                layer.attn.fuse_qkv()?;
                Ok(layer)
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            conv1: Conv3::load(c.num_mel_bins, d, vb.pp("conv1"))?,
            conv2: Conv3::load(d, d, vb.pp("conv2"))?,
            positions: vb.get((c.max_source_positions, d), "embed_positions.weight")?,
            layers,
            ln: layer_norm(d, 1e-5, vb.pp("layer_norm"))?,
            silence: None,
        })
    }

    /// Run the layers' linear products in 8 bits (`int8.rs`) where this CPU has the kernel:
    /// for quantized models. The number of layers converted (0 on other CPUs and devices).
    pub fn use_int8(&mut self) -> Result<usize> {
        let mut n = 0;
        for l in &mut self.layers {
            n += l.attn.use_int8()? + l.mlp.use_int8()?;
        }
        Ok(n)
    }

    /// How many of the layers' linear products run in 8 bits.
    pub fn int8_layers(&self) -> usize {
        let attn = |a: &Attention| {
            [
                Some(&a.q),
                Some(&a.k),
                Some(&a.v),
                a.qkv.as_ref(),
                Some(&a.out),
            ]
            .into_iter()
            .flatten()
            .filter(|l| l.is_int8())
            .count()
        };
        self.layers
            .iter()
            .map(|l| {
                attn(&l.attn) + usize::from(l.mlp.fc1.is_int8()) + usize::from(l.mlp.fc2.is_int8())
            })
            .sum()
    }

    /// `mel`: `[B, n_mels, frames]` with `frames ≤ 2 × max_source_positions` → `[B, frames/2, d]`.
    pub fn forward(&self, mel: &Tensor) -> Result<Tensor> {
        self.forward_unless(mel, &|| false)?
            .ok_or_else(|| candle_core::Error::Msg("encoder stopped".into()))
    }

    /// As [`Self::forward`], but `None` as soon as `stop()` says the result is no longer
    /// wanted (asked before each layer: a stale interim's encoder pass stops within a layer).
    pub fn forward_unless(&self, mel: &Tensor, stop: &dyn Fn() -> bool) -> Result<Option<Tensor>> {
        let x = self.conv1.forward_gelu(&mel.transpose(1, 2)?, 1)?;
        let x = self.conv2.forward_gelu(&x, 2)?;
        let t = x.dim(1)?;
        let mut x = x.broadcast_add(&self.positions.narrow(0, 0, t)?)?;
        let full = self.positions.dim(0)?;
        let silence = self.silence.as_ref().filter(|_| t < full);
        for (i, l) in self.layers.iter().enumerate() {
            if stop() {
                return Ok(None);
            }
            let h = l.attn_ln.forward(&x)?;
            x = match silence {
                Some(kv) => l.attn.self_attend_before(&h, &x, &kv[i])?,
                None => l.attn.self_attend(&h, &x)?,
            };
            x = l.mlp_residual(&x)?;
        }
        self.ln.forward(&x).map(Some)
    }

    /// The encoder output for a window of silence (an all-zero log-mel, `[1, S, d]`), and each
    /// layer's self-attention keys and values on the way.
    fn silence_pass(&self, n_mels: usize) -> Result<(Tensor, Vec<(Tensor, Tensor)>)> {
        let full = self.positions.dim(0)?;
        let dtype = self.positions.dtype();
        let mel = Tensor::zeros((1, 2 * full, n_mels), dtype, self.positions.device())?;
        let x = self.conv1.forward_gelu(&mel, 1)?;
        let x = self.conv2.forward_gelu(&x, 2)?;
        let mut x = x.broadcast_add(&self.positions)?;
        let mut kv = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            let h = l.attn_ln.forward(&x)?;
            let (q, k, v) = l.attn.self_qkv(&h, true)?;
            x = l.attn.attend_heads(&q, &k, &v, None, false, &x)?.0;
            kv.push((k, v));
            x = l.mlp_residual(&x)?;
        }
        Ok((self.ln.forward(&x)?, kv))
    }
}

impl Decoder {
    fn load(c: &WhisperConfig, vb: VarBuilder) -> Result<Self> {
        let d = c.d_model;
        let mut layers = (0..c.decoder_layers)
            .map(|i| {
                let vb = vb.pp(format!("layers.{i}"));
                Ok(DecoderLayer {
                    block: Block::load(d, c.decoder_attention_heads, c.decoder_ffn_dim, &vb)?,
                    cross: Attention::load(d, c.decoder_attention_heads, vb.pp("encoder_attn"))?,
                    cross_ln: layer_norm(d, 1e-5, vb.pp("encoder_attn_layer_norm"))?,
                })
            })
            .collect::<Result<Vec<DecoderLayer>>>()?;
        for l in &mut layers {
            let (a, x) = (&mut l.block.attn, &mut l.cross);
            for lin in [
                &mut a.q, &mut a.k, &mut a.v, &mut a.out, &mut x.q, &mut x.out,
            ] {
                lin.pack()?;
            }
            l.block.mlp.fc1.pack()?;
            l.block.mlp.fc2.pack()?;
        }
        let tokens = embedding(c.vocab_size, d, vb.pp("embed_tokens"))?;
        Ok(Self {
            logits_q: None,
            logits_packed: PackedMatrix::new(tokens.embeddings())?,
            tokens,
            positions: vb.get((c.max_target_positions, d), "embed_positions.weight")?,
            layers,
            ln: layer_norm(d, 1e-5, vb.pp("layer_norm"))?,
            silence: None,
        })
    }

    /// Swap in quantized weights (HF names, `model.decoder.` prefix) for the matrices a decoding
    /// step multiplies; returns how many were swapped.
    pub fn quantize(&mut self, weights: &mut HashMap<String, QTensor>) -> Result<usize> {
        let mut n = 0;
        let mut take = |name: String, l: &mut Linear| -> Result<()> {
            if let Some(q) = weights.remove(&name) {
                l.quantize(q)?;
                n += 1;
            }
            Ok(())
        };
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let p = format!("model.decoder.layers.{i}");
            let a = &mut layer.block.attn;
            take(format!("{p}.self_attn.q_proj.weight"), &mut a.q)?;
            take(format!("{p}.self_attn.k_proj.weight"), &mut a.k)?;
            take(format!("{p}.self_attn.v_proj.weight"), &mut a.v)?;
            take(format!("{p}.self_attn.out_proj.weight"), &mut a.out)?;
            take(
                format!("{p}.encoder_attn.q_proj.weight"),
                &mut layer.cross.q,
            )?;
            take(
                format!("{p}.encoder_attn.out_proj.weight"),
                &mut layer.cross.out,
            )?;
            take(format!("{p}.fc1.weight"), &mut layer.block.mlp.fc1)?;
            take(format!("{p}.fc2.weight"), &mut layer.block.mlp.fc2)?;
        }
        if let Some(q) = weights.remove("model.decoder.embed_tokens.weight") {
            // The dense embedding (the same values) stays for lookups and many-row products.
            self.logits_packed = PackedMatrix::from_q8_0(&q)?;
            self.logits_q = match self.logits_packed {
                Some(_) => None,
                None => Some(candle_core::quantized::QMatMul::from_qtensor(q)?),
            };
            n += 1;
        }
        Ok(n)
    }

    /// Start decoding against an encoder output `[B, S, d]`. After
    /// [`Whisper::remember_silence`], a shorter output `[B, T, d]` is the start of a window whose
    /// positions `T..S` hold silence: the decoder attends to all `S`, the last `S − T` as they are
    /// for silence.
    pub fn start(&self, audio: &Tensor) -> Result<DecoderState> {
        let cross_kv = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let (k, v) = l.cross.kv(audio, true)?;
                let (k, v) = match &self.silence {
                    Some(tail) => (extend(k, &tail[i].0)?, extend(v, &tail[i].1)?),
                    None => (k, v),
                };
                // On the CPU, keys by columns (`[B, H, d/H, S]` in memory, seen as
                // `[B, H, S, d/H]`): each step's scores are then runs of multiply-adds over the
                // positions (hark_kernels::attention): tiny.en, 16 windows, 100 steps 2.29 -> 2.20 s.
                let k = if attention::supported(&k) {
                    k.transpose(2, 3)?.contiguous()?.transpose(2, 3)?
                } else {
                    k
                };
                Ok((k, v))
            })
            .collect::<Result<_>>()?;
        Ok(DecoderState {
            cross_kv,
            cross_mask: None,
            self_kv: vec![None; self.layers.len()],
            len: 0,
            padded: None,
        })
    }

    /// Feed `tokens` `[B, L]` (appended after the cached ones). Returns logits `[B, L, vocab]` and,
    /// when asked, each layer's cross-attention weights `[B, H, L, S]`.
    pub fn step(
        &self,
        tokens: &Tensor,
        state: &mut DecoderState,
        want_cross: bool,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (x, cross_weights) = self.hidden(tokens, state, want_cross)?;
        let (b, l, d) = x.dims3()?;
        let rows = x.reshape((b * l, d))?;
        let logits = match (&self.logits_packed, &self.logits_q) {
            (Some(p), _) if b * l <= PACKED_MAX_ROWS => p.matmul_t(&rows)?,
            (_, Some(q)) => candle_core::Module::forward(q, &rows)?,
            _ => hark_kernels::matmul_t(self.tokens.embeddings(), &rows)?,
        };
        let logits = logits.reshape((b, l, ()))?;
        Ok((logits, cross_weights))
    }

    /// Feed `tokens` like [`Self::step`] but return only each layer's cross-attention weights,
    /// skipping the output projection (word alignment needs no logits).
    pub fn cross_attention(
        &self,
        tokens: &Tensor,
        state: &mut DecoderState,
    ) -> Result<Vec<Tensor>> {
        Ok(self.hidden(tokens, state, true)?.1)
    }

    /// The decoder layers and final norm: hidden states `[B, L, d]` and cross-attention weights.
    fn hidden(
        &self,
        tokens: &Tensor,
        state: &mut DecoderState,
        want_cross: bool,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let (b, l) = tokens.dims2()?;
        let start = state.len;
        let total = start + l;
        let embedded = self.tokens.forward(tokens)?;
        let mut x = match &state.padded {
            // Each row at its own positions.
            Some((next, _)) => {
                let ids: Vec<u32> = next
                    .iter()
                    .flat_map(|&p| (p..p + l).map(|i| i as u32))
                    .collect();
                let ids = Tensor::from_vec(ids, b * l, tokens.device())?;
                let pos = self.positions.index_select(&ids, 0)?;
                (embedded + pos.reshape((b, l, ()))?)?
            }
            None => embedded.broadcast_add(&self.positions.narrow(0, start, l)?)?,
        };
        let causal = if l > 1 {
            let m: Vec<f32> = (0..l)
                .flat_map(|i| {
                    (0..total).map(move |j| {
                        if j > start + i {
                            f32::NEG_INFINITY
                        } else {
                            0.0
                        }
                    })
                })
                .collect();
            Some(Tensor::from_vec(m, (l, total), tokens.device())?.to_dtype(x.dtype())?)
        } else {
            None
        };
        // The padding slots of short prompts, `[B, 1, 1, total]`, the new slots open.
        let padding = match &state.padded {
            Some((_, m)) => Some(m.pad_with_zeros(3, 0, l)?.to_dtype(x.dtype())?),
            None => None,
        };
        let mask = match (causal, &padding) {
            (Some(c), Some(p)) => Some(p.broadcast_add(&c)?),
            (c, p) => c.or_else(|| p.clone()),
        };
        let mut cross_weights = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.block.attn_ln.forward(&x)?;
            let (k, v) = layer.block.attn.kv(&h, false)?;
            let (k, v) = match state.self_kv[i].take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                None => (k, v),
            };
            x = layer
                .block
                .attn
                .attend(&h, &k, &v, mask.as_ref(), false, &x)?
                .0;
            state.self_kv[i] = Some((k, v));
            let h = layer.cross_ln.forward(&x)?;
            let (ck, cv) = &state.cross_kv[i];
            let (out, w) =
                layer
                    .cross
                    .attend(&h, ck, cv, state.cross_mask.as_ref(), want_cross, &x)?;
            x = out;
            cross_weights.extend(w);
            x = layer.block.mlp_residual(&x)?;
        }
        state.len += l;
        if let (Some((next, m)), Some(p)) = (&mut state.padded, padding) {
            next.iter_mut().for_each(|n| *n += l);
            *m = p.to_dtype(DType::F32)?;
        }
        Ok((self.ln.forward(&x)?, cross_weights))
    }
}

/// A loaded Whisper network.
pub struct Whisper {
    pub config: WhisperConfig,
    pub encoder: Encoder,
    pub decoder: Decoder,
    pub device: Device,
}

impl Whisper {
    /// Build from a VarBuilder over HF-named tensors (weights are converted to `dtype`).
    pub fn load(config: WhisperConfig, vb: VarBuilder, device: Device) -> Result<Self> {
        let encoder = Encoder::load(&config, vb.pp("model.encoder"))?;
        let decoder = Decoder::load(&config, vb.pp("model.decoder"))?;
        Ok(Self {
            config,
            encoder,
            decoder,
            device,
        })
    }

    pub fn dtype(&self) -> DType {
        self.decoder.positions.dtype()
    }

    /// Compute once what the network makes of a window of silence (an all-zero log-mel, as
    /// windows are padded), and from then on encode only the start of a window that holds audio:
    /// [`Encoder::forward`] on fewer than the full input's frames computes those positions
    /// exactly as far as they go, attending in every layer to the silence's keys and values for
    /// the positions after them, and [`Decoder::start`] completes a shorter output with the
    /// silence's. The positions after the computed ones are approximated by silence that heard
    /// no audio. Costs the keys and values of both halves for the full input (tiny: 37 MB in
    /// f32) and one encoder pass now.
    pub fn remember_silence(&mut self) -> Result<()> {
        self.forget_silence();
        let (out, kv) = self.encoder.silence_pass(self.config.num_mel_bins)?;
        let cross = self
            .decoder
            .layers
            .iter()
            .map(|l| l.cross.kv(&out, true))
            .collect::<Result<Vec<_>>>()?;
        self.encoder.silence = Some(kv);
        self.decoder.silence = Some(cross);
        Ok(())
    }

    /// Encode every window over the full input again (undoes [`Self::remember_silence`]).
    pub fn forget_silence(&mut self) {
        self.encoder.silence = None;
        self.decoder.silence = None;
    }

    /// Whether [`Self::remember_silence`] was called.
    pub fn remembers_silence(&self) -> bool {
        self.encoder.silence.is_some()
    }

    /// Mel windows (each `n_mels × frames`, same frame count) → encoder output `[B, frames/2, d]`.
    pub fn encode(&self, mels: &[Vec<f32>], frames: usize) -> Result<Tensor> {
        self.encode_unless(mels, frames, &|| false)?
            .ok_or_else(|| candle_core::Error::Msg("encoder stopped".into()))
    }

    /// As [`Self::encode`], `None` once `stop()` (see [`Encoder::forward_unless`]).
    pub fn encode_unless(
        &self,
        mels: &[Vec<f32>],
        frames: usize,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<Tensor>> {
        let n_mels = self.config.num_mel_bins;
        let flat: Vec<f32> = mels.iter().flat_map(|m| m.iter().copied()).collect();
        let mel = Tensor::from_vec(flat, (mels.len(), n_mels, frames), &self.device)?
            .to_dtype(self.dtype())?;
        self.encoder.forward_unless(&mel, stop)
    }
}

/// Index of the largest value in the last dimension, per row of a `[B, vocab]` tensor.
pub fn argmax_rows(logits: &Tensor) -> Result<Vec<u32>> {
    logits.argmax(D::Minus1)?.to_vec1::<u32>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    /// The CPU's window layout equals the generic one (views and a concatenation), for both
    /// strides, odd and even lengths, two items.
    #[test]
    fn convolution_windows_are_laid_out_alike_on_both_paths() -> Result<()> {
        for (t, stride) in [(7, 1), (7, 2), (8, 2), (1, 2), (130, 1), (131, 2)] {
            let x = Tensor::randn(0f32, 1.0, (2, t, 5), &Device::Cpu)?;
            let fast = windows_cpu(&x, stride)?;
            let generic = windows(&x, stride)?;
            assert_eq!(fast.dims(), &[2, t.div_ceil(stride), 15]);
            assert_eq!(fast.dims(), generic.dims());
            let d = (fast - generic)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert_eq!(d, 0.0, "T = {t}, stride {stride}");
        }
        // Non-contiguous input (the encoder's first convolution reads the mel transposed).
        let mel = Tensor::randn(0f32, 1.0, (1, 4, 9), &Device::Cpu)?;
        let d = (windows_cpu(&mel.t()?, 1)? - windows(&mel.t()?, 1)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f32>()?;
        assert_eq!(d, 0.0);
        Ok(())
    }

    /// The encoder's load-time rewrites (query scale folded into the weights, q/k/v joined) give
    /// the same self-attention as the layers as loaded, on the few-row and the long-query paths.
    #[test]
    fn folded_and_joined_projections_attend_like_the_separate_ones() -> Result<()> {
        let dev = Device::Cpu;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &dev);
        let (d, heads) = (48, 3);
        let plain = Attention::load(d, heads, vb.clone())?;
        let mut joined = Attention::load(d, heads, vb)?;
        joined.fold_query_scale()?;
        joined.fuse_qkv()?;
        assert!(joined.qkv.is_some() && plain.qkv.is_none());
        for t in [7, 50, 130] {
            let x = Tensor::randn(0f32, 1.0, (2, t, d), &dev)?;
            let residual = Tensor::randn(0f32, 1.0, (2, t, d), &dev)?;
            let want = plain.self_attend(&x, &residual)?;
            let got = joined.self_attend(&x, &residual)?;
            let diff = (want - got)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-4, "t={t}: differs by {diff}");
        }
        Ok(())
    }
}
