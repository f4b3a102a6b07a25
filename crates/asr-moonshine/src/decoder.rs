//! The decoder both Moonshine networks share: token embedding, layers of causal self-attention
//! with rotary positions, cross-attention to the encoder frames, a gated feed-forward; then a
//! norm and the vocabulary projection. For the streaming model the encoder frames first get a
//! learned position (counted from the segment's start) and a projection to the decoder's width.
//!
//! The keys and values of the cross-attention depend only on encoder frames, so
//! [`CrossCache::extend`] computes them once per frame as frames arrive; a hypothesis is then
//! decoded over all frames so far with a self-attention cache of its own.

use crate::config::{Arch, MoonshineConfig};
use crate::layers::{linear, mask, Act, AttnProj, GatedMlp, Norm, Rotary};
use candle_core::{Device, IndexOp, Result, Tensor, D};
use candle_nn::VarBuilder;
use hark_kernels::packed::PackedMatrix;
use hark_kernels::Linear;

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

/// Cross-attention keys and values of one segment's encoder frames, per layer.
#[derive(Debug, Clone, Default)]
pub struct CrossCache {
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    frames: usize,
}

impl CrossCache {
    /// Encoder frames held.
    pub fn frames(&self) -> usize {
        self.frames
    }
}

/// Self-attention keys and values of the tokens decoded so far, per layer.
#[derive(Debug, Clone, Default)]
pub struct SelfCache {
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    len: usize,
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
            let k = a.split(&a.k.forward(&x)?, a.kv_heads)?;
            let v = a.split(&a.v.forward(&x)?, a.kv_heads)?;
            if cache.k.len() <= i {
                cache.k.push(k);
                cache.v.push(v);
            } else {
                cache.k[i] = Tensor::cat(&[&cache.k[i], &k], 1)?;
                cache.v[i] = Tensor::cat(&[&cache.v[i], &v], 1)?;
            }
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
        let start = cache.len;
        let ids = Tensor::from_vec(tokens.to_vec(), n, &self.device)?;
        let mut x = self.embed.index_select(&ids, 0)?;
        let (cos, sin) = self.rotary.tables(start..start + n)?;
        let causal = if n > 1 {
            Some(mask(n, start + n, &self.device, |q, k| k <= start + q)?)
        } else {
            None
        };
        let mut weights: Option<Tensor> = None;
        for (i, layer) in self.layers.iter().enumerate() {
            let a = &layer.self_attn;
            let xn = layer.norm1.forward(&x)?;
            let (q, k, v) = a.qkv_rotary(&xn, &self.rotary, &cos, &sin)?;
            let (k, v) = if cache.k.len() <= i {
                cache.k.push(k.clone());
                cache.v.push(v.clone());
                (k, v)
            } else {
                cache.k[i] = Tensor::cat(&[&cache.k[i], &k], 1)?;
                cache.v[i] = Tensor::cat(&[&cache.v[i], &v], 1)?;
                (cache.k[i].clone(), cache.v[i].clone())
            };
            let (att, _) = a.attend(&q, &k, &v, causal.as_ref(), false)?;
            x = (x + att)?;
            if cross.frames > 0 {
                let c = &layer.cross;
                let xn = layer.norm2.forward(&x)?;
                let q = c.split(&c.q.forward(&xn)?, c.heads)?;
                let (att, w) = c.attend(&q, &cross.k[i], &cross.v[i], None, want_weights)?;
                x = (x + att)?;
                if let Some(w) = w {
                    weights = Some(match weights {
                        Some(acc) => (acc + w)?,
                        None => w,
                    });
                }
            }
            x = (&x + layer.mlp.forward(&layer.norm3.forward(&x)?)?)?;
        }
        cache.len += n;
        let last = self.norm.forward(&x.i(n - 1)?.unsqueeze(0)?)?;
        let logits = match &self.out_packed {
            Some(p) => p.matmul_t(&last)?,
            None => last.matmul(&self.out.t()?)?,
        }
        .squeeze(0)?;
        let cross_weights = match weights {
            Some(w) => Some((w / self.layers.len() as f64)?.to_vec2::<f32>()?),
            None => None,
        };
        Ok(Step {
            logits,
            cross_weights,
        })
    }
}

impl Decoder {
    /// One decoding step of several sequences at once: row `i` runs `tokens[i]` after
    /// `caches[i]` over `crosses[i]`. The products of every layer (projections, feed-forward,
    /// vocabulary) take all rows in one call, which costs about what one row costs (they are
    /// bound by reading the weights); attention runs per row over the row's own caches. Returns
    /// the logits (`[rows, vocab]`) and, when asked, each row's cross-attention.
    pub fn step_batch(
        &self,
        tokens: &[u32],
        caches: &mut [SelfCache],
        crosses: &[&CrossCache],
        want_weights: bool,
    ) -> Result<(Tensor, Vec<Vec<f32>>)> {
        let b = tokens.len();
        let ids = Tensor::from_vec(tokens.to_vec(), b, &self.device)?;
        let mut x = self.embed.index_select(&ids, 0)?;
        let tables = caches
            .iter()
            .map(|c| self.rotary.tables(c.len..c.len + 1))
            .collect::<Result<Vec<_>>>()?;
        let mut weights: Vec<Option<Tensor>> = vec![None; b];
        for (l, layer) in self.layers.iter().enumerate() {
            let a = &layer.self_attn;
            let xn = layer.norm1.forward(&x)?;
            let (q, k, v) = (a.q.forward(&xn)?, a.k.forward(&xn)?, a.v.forward(&xn)?);
            let mut rows = Vec::with_capacity(b);
            for (i, cache) in caches.iter_mut().enumerate() {
                let (cos, sin) = &tables[i];
                let qi = self
                    .rotary
                    .apply(&a.split(&q.narrow(0, i, 1)?, a.heads)?, cos, sin)?;
                let ki = self
                    .rotary
                    .apply(&a.split(&k.narrow(0, i, 1)?, a.kv_heads)?, cos, sin)?;
                let vi = a.split(&v.narrow(0, i, 1)?, a.kv_heads)?;
                if cache.k.len() <= l {
                    cache.k.push(ki);
                    cache.v.push(vi);
                } else {
                    cache.k[l] = Tensor::cat(&[&cache.k[l], &ki], 1)?;
                    cache.v[l] = Tensor::cat(&[&cache.v[l], &vi], 1)?;
                }
                rows.push(
                    a.attend_heads(&qi, &cache.k[l], &cache.v[l], None, false)?
                        .0,
                );
            }
            x = (x + a.o.forward(&Tensor::cat(&rows, 0)?)?)?;
            let c = &layer.cross;
            let xn = layer.norm2.forward(&x)?;
            let q = c.q.forward(&xn)?;
            let mut rows = Vec::with_capacity(b);
            for (i, cross) in crosses.iter().enumerate() {
                let qi = c.split(&q.narrow(0, i, 1)?, c.heads)?;
                let (out, w) = c.attend_heads(&qi, &cross.k[l], &cross.v[l], None, want_weights)?;
                rows.push(out);
                if let Some(w) = w {
                    weights[i] = Some(match weights[i].take() {
                        Some(acc) => (acc + w)?,
                        None => w,
                    });
                }
            }
            x = (x + c.o.forward(&Tensor::cat(&rows, 0)?)?)?;
            x = (&x + layer.mlp.forward(&layer.norm3.forward(&x)?)?)?;
        }
        for cache in caches.iter_mut() {
            cache.len += 1;
        }
        let last = self.norm.forward(&x)?;
        let logits = match &self.out_packed {
            Some(p) => p.matmul_t(&last)?,
            None => last.matmul(&self.out.t()?)?,
        };
        let layers = self.layers.len() as f64;
        let weights = weights
            .into_iter()
            .map(|w| match w {
                Some(w) => (w / layers)?.squeeze(0)?.to_vec1::<f32>(),
                None => Ok(Vec::new()),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((logits, weights))
    }
}

/// The index of the largest value (ties: the first).
pub fn argmax(logits: &Tensor) -> Result<u32> {
    logits.argmax(D::Minus1)?.to_scalar::<u32>()
}
