//! The first Moonshine's encoder: a convolution stem over raw audio (strides 64, 3 and 2: one
//! frame per 24 ms at 16 kHz), a group norm over the whole segment, and full-attention layers
//! with rotary positions. Every frame depends on the whole segment, so it encodes a segment at
//! once, at the segment's own length (the model was trained on variable-length audio).

use crate::config::MoonshineConfig;
use crate::layers::{Act, AttnProj, Mlp, Norm, Rotary};
use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;

struct Layer {
    norm1: Norm,
    attn: AttnProj,
    norm2: Norm,
    mlp: Mlp,
}

/// The original encoder's weights.
pub struct OriginalEncoder {
    conv1: Tensor,
    conv2: (Tensor, Tensor),
    conv3: (Tensor, Tensor),
    gn_weight: Tensor,
    gn_bias: Tensor,
    layers: Vec<Layer>,
    norm: Norm,
    rotary: Rotary,
    hidden: usize,
    device: Device,
}

/// Samples the stem needs for one frame (the first convolution's kernel).
pub const MIN_SAMPLES: usize = 127 + 64 * (6 + 2 * 3);

impl OriginalEncoder {
    pub fn load(config: &MoonshineConfig, vb: VarBuilder) -> Result<Self> {
        let c = &config.encoder;
        let h = c.hidden_size;
        let act = Act::parse(&c.act);
        let layers = (0..c.layers)
            .map(|i| {
                let lv = vb.pp(format!("layers.{i}"));
                Ok(Layer {
                    norm1: Norm::plain(&lv.pp("input_layernorm"), h)?,
                    attn: AttnProj::of(&lv.pp("self_attn"), c)?,
                    norm2: Norm::plain(&lv.pp("post_attention_layernorm"), h)?,
                    mlp: Mlp::load(&lv.pp("mlp"), h, c.intermediate_size, act)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            conv1: vb.get((h, 1, 127), "conv1.weight")?,
            conv2: (
                vb.get((2 * h, h, 7), "conv2.weight")?,
                vb.get(2 * h, "conv2.bias")?,
            ),
            conv3: (
                vb.get((h, 2 * h, 3), "conv3.weight")?,
                vb.get(h, "conv3.bias")?,
            ),
            gn_weight: vb.get(h, "groupnorm.weight")?,
            gn_bias: vb.get(h, "groupnorm.bias")?,
            layers,
            norm: Norm::plain(&vb.pp("layer_norm"), h)?,
            rotary: Rotary::new(
                c.head_dim,
                config.rope.partial_factor,
                config.rope.theta,
                vb.device(),
            ),
            hidden: h,
            device: vb.device().clone(),
        })
    }

    /// Encodes a whole segment: `[frames, hidden]` (no frames for less than [`MIN_SAMPLES`]).
    pub fn encode(&self, samples: &[f32]) -> Result<Tensor> {
        if samples.len() < MIN_SAMPLES {
            return Tensor::zeros((0, self.hidden), candle_core::DType::F32, &self.device);
        }
        let x = Tensor::from_slice(samples, (1, 1, samples.len()), &self.device)?;
        let x = x.conv1d(&self.conv1, 0, 64, 1, 1)?.tanh()?;
        // Group norm with one group: over every channel and frame of the segment.
        let mean = x.mean_all()?;
        let centered = x.broadcast_sub(&mean)?;
        let var = centered.sqr()?.mean_all()?;
        let x = centered
            .broadcast_div(&(var + 1e-5)?.sqrt()?)?
            .broadcast_mul(&self.gn_weight.reshape((1, self.hidden, 1))?)?
            .broadcast_add(&self.gn_bias.reshape((1, self.hidden, 1))?)?;
        let x = x
            .conv1d(&self.conv2.0, 0, 3, 1, 1)?
            .broadcast_add(&self.conv2.1.reshape((1, 2 * self.hidden, 1))?)?
            .gelu_erf()?;
        let x = x
            .conv1d(&self.conv3.0, 0, 2, 1, 1)?
            .broadcast_add(&self.conv3.1.reshape((1, self.hidden, 1))?)?
            .gelu_erf()?;
        let mut x = x.squeeze(0)?.t()?.contiguous()?; // [frames, hidden]
        let t = x.dim(0)?;
        let (cos, sin) = self.rotary.tables(0..t)?;
        for layer in &self.layers {
            let a = &layer.attn;
            let xn = layer.norm1.forward(&x)?;
            let (q, k, v) = a.qkv_rotary(&xn, &self.rotary, &cos, &sin)?;
            let (att, _) = a.attend(&q, &k, &v, None, false)?;
            x = (x + att)?;
            x = (&x + layer.mlp.forward(&layer.norm2.forward(&x)?)?)?;
        }
        self.norm.forward(&x)
    }
}
