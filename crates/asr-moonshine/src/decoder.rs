//! The decoder both Moonshine networks share: token embedding, layers of causal self-attention
//! with rotary positions, cross-attention to the encoder frames, a gated feed-forward; then a
//! norm and the vocabulary projection. For the streaming model the encoder frames first get a
//! learned position (counted from the segment's start) and a projection to the decoder's width.
//!
//! The keys and values of the cross-attention depend only on encoder frames, so
//! [`CrossCache::extend`] computes them once per frame as frames arrive; a hypothesis is then
//! decoded over all frames so far with a self-attention cache of its own.

use crate::config::{Arch, MoonshineConfig};
use crate::layers::{linear, Act, AttnProj, GatedMlp, Norm, Rotary};
use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;
use hark_kernels::packed::PackedMatrix;
use hark_kernels::rows::{attend_rows, Keys, RowKv};
use hark_kernels::Linear;
use rayon::prelude::*;

/// A position's cross-attention over the encoder frames (averaged over heads and layers).
pub type Attention = Vec<f32>;

/// A position's likeliest next token and its probability.
pub type Pick = (u32, f32);

/// Rows of vocabulary logits [`Decoder::pick_rows`] computes at once (4 MiB at 32k tokens).
const PICK_ROWS: usize = 32;

struct DecLayer {
    norm1: Norm,
    self_attn: AttnProj,
    norm2: Norm,
    cross: AttnProj,
    norm3: Norm,
    mlp: GatedMlp,
}

/// The decoder's weights.
pub struct Decoder {
    embed: Tensor,
    pos_emb: Option<Tensor>,
    proj: Option<Linear>,
    layers: Vec<DecLayer>,
    norm: Norm,
    out: Tensor,
    /// `out` packed for the one row of a decoding step (CPU).
    out_packed: Option<PackedMatrix>,
    rotary: Rotary,
    max_positions: usize,
    device: Device,
}

/// Cross-attention keys and values of one segment's encoder frames, per layer, stored head by
/// head so that a decoding step reads each head's in one contiguous run: values
/// `[kv_heads][capacity][head_dim]`, keys by columns `[kv_heads][head_dim][capacity]`. New frames
/// are appended (the capacity doubles when full).
#[derive(Debug, Clone, Default)]
pub struct CrossCache {
    k: Vec<HeadMajor>,
    v: Vec<HeadMajor>,
    frames: usize,
}

impl CrossCache {
    /// Encoder frames held.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Layer `l`'s keys (by columns) and values as one row of [`attend_rows`] reads them.
    fn row(&self, l: usize, kv_heads: usize, hd: usize) -> RowKv<'_> {
        match (self.k.get(l), self.v.get(l)) {
            (Some(k), Some(v)) => RowKv {
                k: &k.data,
                v: &v.data,
                len: k.len.min(v.len),
                keys: Keys::Columns {
                    head_stride: hd * k.capacity,
                    dim_stride: k.capacity,
                },
                v_pos_stride: hd,
                v_head_stride: v.capacity * hd,
            },
            _ => RowKv::interleaved(&[], &[], 0, kv_heads, hd),
        }
    }
}

/// Rows of `heads · d` values stored head by head: `[head][capacity][d]`, or, for keys,
/// `[head][d][capacity]` (`columns`: each dimension's run over frames contiguous, see
/// [`Keys::Columns`]).
#[derive(Debug, Clone, Default)]
struct HeadMajor {
    data: Vec<f32>,
    capacity: usize,
    len: usize,
    columns: bool,
}

impl HeadMajor {
    fn new(columns: bool) -> Self {
        Self {
            columns,
            ..Self::default()
        }
    }

    /// Where value `x` of frame `i` of head `h` lies.
    fn at(&self, d: usize, h: usize, i: usize, x: usize) -> usize {
        if self.columns {
            (h * d + x) * self.capacity + i
        } else {
            (h * self.capacity + i) * d + x
        }
    }

    /// Appends rows `[n][heads · d]`.
    fn extend(&mut self, rows: &[f32], heads: usize, d: usize) {
        let n = rows.len() / (heads * d).max(1);
        if self.len + n > self.capacity {
            let capacity = (self.len + n).max(2 * self.capacity).max(64);
            // The held values are runs of `len` per (head, dimension) by columns, of `len · d`
            // per head otherwise; each moves to where the larger capacity puts it.
            let (runs, per_frame) = if self.columns {
                (heads * d, 1)
            } else {
                (heads, d)
            };
            let run = self.len * per_frame;
            let mut data = vec![0f32; heads * capacity * d];
            for r in 0..runs {
                let (from, to) = (r * self.capacity * per_frame, r * capacity * per_frame);
                data[to..to + run].copy_from_slice(&self.data[from..from + run]);
            }
            (self.data, self.capacity) = (data, capacity);
        }
        for (i, row) in rows.chunks_exact((heads * d).max(1)).enumerate() {
            for (h, part) in row.chunks_exact(d.max(1)).enumerate() {
                for (x, &value) in part.iter().enumerate() {
                    let at = self.at(d, h, self.len + i, x);
                    self.data[at] = value;
                }
            }
        }
        self.len += n;
    }
}

/// Self-attention keys (rotated) and values of the tokens decoded so far, per layer, each stored
/// `[position][kv_heads · head_dim]`.
#[derive(Debug, Clone, Default)]
pub struct SelfCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
}

impl SelfCache {
    /// Keeps the first `len` positions (a draft's tokens greedy decoding did not choose go).
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        for store in [&mut self.k, &mut self.v] {
            for layer in store.iter_mut() {
                let width = layer.len() / self.len.max(1);
                layer.truncate(len * width);
            }
        }
        self.len = len;
    }
}

/// Appends rows to layer `l` of a per-layer store, creating the layer when it is new.
fn append(store: &mut Vec<Vec<f32>>, l: usize, rows: &[f32]) {
    if store.len() <= l {
        store.resize_with(l + 1, Vec::new);
    }
    store[l].extend_from_slice(rows);
}

/// One decoder call's result for its last position.
#[derive(Debug, Clone)]
pub struct Step {
    /// Logits over the vocabulary (`[vocab]`).
    pub logits: Tensor,
    /// Each position's cross-attention, averaged over heads and layers (`[positions][frames]`).
    pub cross_weights: Option<Vec<Vec<f32>>>,
}

impl Decoder {
    /// Loads the decoder; `eight_bit`: its products in q8_0 ([`crate::layers::for_decoding`]).
    pub fn load(
        config: &MoonshineConfig,
        vb: VarBuilder,
        root: &VarBuilder,
        eight_bit: bool,
    ) -> Result<Self> {
        let c = &config.decoder;
        let h = c.hidden_size;
        let enc_h = config.encoder.hidden_size;
        let act = Act::parse(&c.act);
        let layers = (0..c.layers)
            .map(|i| {
                let lv = vb.pp(format!("layers.{i}"));
                let mut layer = DecLayer {
                    norm1: Norm::plain(&lv.pp("input_layernorm"), h)?,
                    self_attn: AttnProj::of(&lv.pp("self_attn"), c)?,
                    norm2: Norm::plain(&lv.pp("post_attention_layernorm"), h)?,
                    cross: AttnProj::of(&lv.pp("encoder_attn"), c)?,
                    norm3: Norm::plain(&lv.pp("final_layernorm"), h)?,
                    mlp: GatedMlp::load(&lv.pp("mlp"), h, c.intermediate_size, act)?,
                };
                layer.self_attn.pack(true, eight_bit)?;
                layer.cross.pack(false, eight_bit)?;
                layer.mlp.pack(eight_bit)?;
                Ok(layer)
            })
            .collect::<Result<Vec<_>>>()?;
        let embed = vb.get((config.vocab_size, h), "embed_tokens.weight")?;
        let out = if config.tie_word_embeddings || !root.contains_tensor("proj_out.weight") {
            embed.clone()
        } else {
            root.get((config.vocab_size, h), "proj_out.weight")?
        };
        let (pos_emb, proj) = match config.arch {
            Arch::Streaming => (
                Some(vb.get((config.max_position_embeddings, enc_h), "pos_emb.weight")?),
                if enc_h != h {
                    Some(linear(&vb.pp("proj"), enc_h, h, false)?)
                } else {
                    None
                },
            ),
            Arch::Original => (None, None),
        };
        let out_packed = if eight_bit && h.is_multiple_of(32) {
            let q = candle_core::quantized::QTensor::quantize(
                &out,
                candle_core::quantized::GgmlDType::Q8_0,
            )?;
            PackedMatrix::from_q8_0(&q)?
        } else {
            PackedMatrix::new(&out)?
        };
        Ok(Self {
            embed,
            out_packed,
            pos_emb,
            proj,
            layers,
            norm: Norm::plain(&vb.pp("norm"), h)?,
            out,
            rotary: Rotary::new(
                c.head_dim,
                config.rope.partial_factor,
                config.rope.theta,
                vb.device(),
            ),
            max_positions: config.max_position_embeddings,
            device: vb.device().clone(),
        })
    }

    /// Token positions the decoder has (the longest hypothesis).
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Adds encoder frames (`[n, encoder hidden]`, the next frames of the segment).
    pub fn extend(&self, cache: &mut CrossCache, frames: &Tensor) -> Result<()> {
        let n = frames.dim(0)?;
        if n == 0 {
            return Ok(());
        }
        let mut x = frames.clone();
        if let Some(pos) = &self.pos_emb {
            x = (x + pos.narrow(0, cache.frames, n)?)?;
        }
        if let Some(proj) = &self.proj {
            x = proj.forward(&x)?;
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let a = &layer.cross;
            let k: Vec<f32> = a.k.forward(&x)?.flatten_all()?.to_vec1()?;
            let v: Vec<f32> = a.v.forward(&x)?.flatten_all()?.to_vec1()?;
            let (heads, d) = (a.kv_heads, a.head_dim);
            if cache.k.len() <= i {
                cache.k.resize_with(i + 1, || HeadMajor::new(true));
                cache.v.resize_with(i + 1, || HeadMajor::new(false));
            }
            cache.k[i].extend(&k, heads, d);
            cache.v[i].extend(&v, heads, d);
        }
        cache.frames += n;
        Ok(())
    }

    /// Runs `tokens` (the next positions after `cache`) and returns the last position's logits.
    pub fn step(
        &self,
        tokens: &[u32],
        cache: &mut SelfCache,
        cross: &CrossCache,
        want_weights: bool,
    ) -> Result<Step> {
        let n = tokens.len();
        if n == 0 {
            candle_core::bail!("decoder step without tokens");
        }
        let rows: Vec<(usize, usize)> = (0..n).map(|i| (0, cache.len + i)).collect();
        let (x, weights) = self.forward_rows(
            tokens,
            &rows,
            std::slice::from_mut(cache),
            &[cross],
            want_weights,
        )?;
        let logits = self.logits(&x.narrow(0, n - 1, 1)?)?.squeeze(0)?;
        Ok(Step {
            logits,
            cross_weights: want_weights.then_some(weights),
        })
    }

    /// Runs several sequences' first tokens at once: `prompts[i]` (the positions after
    /// `caches[i]`) over `crosses[i]`, every row of every prompt through each layer's products in
    /// one call. Returns the likeliest token and its probability ([`Self::pick_rows`]) at each
    /// prompt's last `wanted[i]` positions (at least one), prompt after prompt, and, when asked,
    /// each prompt's cross-attention per position.
    pub fn prefill_batch(
        &self,
        prompts: &[&[u32]],
        wanted: &[usize],
        caches: &mut [SelfCache],
        crosses: &[&CrossCache],
        want_weights: bool,
    ) -> Result<(Vec<Pick>, Vec<Vec<Attention>>)> {
        if caches.len() != prompts.len()
            || crosses.len() != prompts.len()
            || wanted.len() != prompts.len()
        {
            candle_core::bail!("decoder prefill: prompts, caches and frames differ in number");
        }
        if prompts.iter().any(|p| p.is_empty()) {
            candle_core::bail!("decoder prefill: an empty prompt");
        }
        let mut tokens = Vec::new();
        let mut rows = Vec::new();
        let mut picked = Vec::new();
        for (i, p) in prompts.iter().enumerate() {
            tokens.extend_from_slice(p);
            rows.extend((0..p.len()).map(|k| (i, caches[i].len + k)));
            let n = wanted[i].clamp(1, p.len());
            picked.extend((tokens.len() - n..tokens.len()).map(|r| r as u32));
        }
        let (x, mut weights) = self.forward_rows(&tokens, &rows, caches, crosses, want_weights)?;
        let n = picked.len();
        let picked = Tensor::from_vec(picked, n, &self.device)?;
        let picks = self.pick_rows(&x.index_select(&picked, 0)?)?;
        let mut per_prompt = Vec::with_capacity(prompts.len());
        if want_weights {
            for p in prompts.iter().rev() {
                per_prompt.push(weights.split_off(weights.len() - p.len()));
            }
            per_prompt.reverse();
        } else {
            per_prompt.resize(prompts.len(), Vec::new());
        }
        Ok((picks, per_prompt))
    }

    /// The likeliest token and its probability for each hidden row `[rows, hidden]` (before the
    /// final norm): the vocabulary's logits computed [`PICK_ROWS`] rows at a time, so that a long
    /// prefill's rows never need one buffer of them all.
    pub fn pick_rows(&self, x: &Tensor) -> Result<Vec<Pick>> {
        let n = x.dim(0)?;
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(PICK_ROWS) {
            let logits = self.logits(&x.narrow(0, start, PICK_ROWS.min(n - start))?)?;
            with_logit_rows(&logits, |rows, width| {
                out.par_extend(rows.par_chunks_exact(width).map(pick));
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// The vocabulary's logits of hidden rows `[rows, hidden]` (before the final norm).
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let last = self.norm.forward(x)?;
        match &self.out_packed {
            Some(p) => p.matmul_t(&last),
            None => last.matmul(&self.out.t()?),
        }
    }

    /// The layers over token rows: row `i` is `tokens[i]` at position `rows[i].1` of sequence
    /// `rows[i].0`, whose self-attention cache is `caches[rows[i].0]` (holding every earlier
    /// position; a sequence's rows come in order of position) and whose encoder frames are
    /// `crosses[rows[i].0]`. Each row attends to its sequence's positions up to its own. Returns
    /// the hidden rows `[rows, hidden]` and, when asked, each row's cross-attention averaged over
    /// heads and layers.
    fn forward_rows(
        &self,
        tokens: &[u32],
        rows: &[(usize, usize)],
        caches: &mut [SelfCache],
        crosses: &[&CrossCache],
        want_weights: bool,
    ) -> Result<(Tensor, Vec<Vec<f32>>)> {
        let n = tokens.len();
        let ids = Tensor::from_vec(tokens.to_vec(), n, &self.device)?;
        let mut x = self.embed.index_select(&ids, 0)?;
        let positions: Vec<usize> = rows.iter().map(|r| r.1).collect();
        let turns = self.rotary.turns(&positions);
        let mut weights: Vec<Vec<f32>> = vec![Vec::new(); if want_weights { n } else { 0 }];
        for (l, layer) in self.layers.iter().enumerate() {
            let a = &layer.self_attn;
            let (heads, kv_heads, hd) = (a.heads, a.kv_heads, a.head_dim);
            let xn = layer.norm1.forward(&x)?;
            let mut q: Vec<f32> = a.q.forward(&xn)?.flatten_all()?.to_vec1()?;
            let mut k: Vec<f32> = a.k.forward(&xn)?.flatten_all()?.to_vec1()?;
            let v: Vec<f32> = a.v.forward(&xn)?.flatten_all()?.to_vec1()?;
            let (qw, kw) = (heads * hd, kv_heads * hd);
            let scale = 1.0 / (hd as f32).sqrt();
            for (i, turn) in turns.iter().enumerate() {
                self.rotary.rotate(&mut q[i * qw..(i + 1) * qw], hd, turn);
                self.rotary.rotate(&mut k[i * kw..(i + 1) * kw], hd, turn);
                let seq = &mut caches[rows[i].0];
                append(&mut seq.k, l, &k[i * kw..(i + 1) * kw]);
                append(&mut seq.v, l, &v[i * kw..(i + 1) * kw]);
            }
            q.iter_mut().for_each(|x| *x *= scale);
            let kv: Vec<RowKv> = rows
                .iter()
                .map(|&(seq, pos)| {
                    let c = &caches[seq];
                    RowKv::interleaved(&c.k[l], &c.v[l], pos + 1, kv_heads, hd)
                })
                .collect();
            let (att, _) = attend_rows(&q, &kv, heads, kv_heads, hd, false)?;
            x = (x + a
                .o
                .forward(&Tensor::from_vec(att, (n, qw), &self.device)?)?)?;
            let c = &layer.cross;
            let (heads, kv_heads, hd) = (c.heads, c.kv_heads, c.head_dim);
            let xn = layer.norm2.forward(&x)?;
            let scale = 1.0 / (hd as f64).sqrt();
            let q: Vec<f32> = (c.q.forward(&xn)? * scale)?.flatten_all()?.to_vec1()?;
            let kv: Vec<RowKv> = rows
                .iter()
                .map(|&(seq, _)| crosses[seq].row(l, kv_heads, hd))
                .collect();
            if kv.iter().any(|r| r.len > 0) {
                let (att, w) = attend_rows(&q, &kv, heads, kv_heads, hd, want_weights)?;
                x = (x + c
                    .o
                    .forward(&Tensor::from_vec(att, (n, heads * hd), &self.device)?)?)?;
                for (acc, w) in weights.iter_mut().zip(w) {
                    if acc.is_empty() {
                        *acc = w;
                    } else {
                        acc.iter_mut().zip(&w).for_each(|(a, b)| *a += b);
                    }
                }
            }
            x = (&x + layer.mlp.forward(&layer.norm3.forward(&x)?)?)?;
        }
        for &(seq, pos) in rows {
            caches[seq].len = caches[seq].len.max(pos + 1);
        }
        let layers = self.layers.len() as f32;
        for w in &mut weights {
            w.iter_mut().for_each(|x| *x /= layers);
        }
        Ok((x, weights))
    }
}

impl Decoder {
    /// One decoding step of several sequences at once: row `i` runs `tokens[i]` after
    /// `caches[i]` over `crosses[i]`. The products of every layer (projections, feed-forward,
    /// vocabulary) take all rows in one call; attention runs per row over the row's own caches
    /// ([`attend_rows`]). Returns each row's likeliest next token and its probability
    /// ([`Self::pick_rows`]) and, when asked, each row's cross-attention.
    pub fn step_batch(
        &self,
        tokens: &[u32],
        caches: &mut [SelfCache],
        crosses: &[&CrossCache],
        want_weights: bool,
    ) -> Result<(Vec<Pick>, Vec<Attention>)> {
        if caches.len() != tokens.len() || crosses.len() != tokens.len() {
            candle_core::bail!("decoder step: tokens, caches and frames differ in number");
        }
        let rows: Vec<(usize, usize)> =
            caches.iter().enumerate().map(|(i, c)| (i, c.len)).collect();
        let (x, weights) = self.forward_rows(tokens, &rows, caches, crosses, want_weights)?;
        let weights = if want_weights {
            weights
        } else {
            vec![Vec::new(); tokens.len()]
        };
        Ok((self.pick_rows(&x)?, weights))
    }
}

/// Logits rows `[rows, vocab]` as one slice (borrowed on the CPU, copied from other devices),
/// handed to `f` with the row width.
fn with_logit_rows<T>(logits: &Tensor, f: impl FnOnce(&[f32], usize) -> Result<T>) -> Result<T> {
    let width = logits.dims().last().copied().unwrap_or(1).max(1);
    let logits = logits.to_dtype(candle_core::DType::F32)?.contiguous()?;
    let (storage, layout) = logits.storage_and_layout();
    if let candle_core::Storage::Cpu(cpu) = &*storage {
        return f(
            hark_kernels::ops::contiguous_f32(cpu, layout, "logits")?,
            width,
        );
    }
    drop(storage);
    f(&logits.flatten_all()?.to_vec1::<f32>()?, width)
}

/// A logits row's likeliest token (ties: the first) and its probability.
fn pick(row: &[f32]) -> Pick {
    let token = argmax(row);
    let best = row.get(token).copied().unwrap_or(f32::NEG_INFINITY);
    let prob = (best - hark_kernels::ops::log_sum_exp(row)).exp();
    (token as u32, prob)
}

/// The index of a row's largest value (ties: the first; 0 for an empty row).
pub(crate) fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold(
            (0, f32::NEG_INFINITY),
            |(i, m), (j, &x)| {
                if x > m {
                    (j, x)
                } else {
                    (i, m)
                }
            },
        )
        .0
}
