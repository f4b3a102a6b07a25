//! Moonshine Streaming's encoder, run as audio arrives: each 5 ms frame goes through the
//! frontend once, each 20 ms encoder frame through each layer once.
//!
//! The network: per 80-sample frame, normalisation to zero mean and unit RMS, `asinh(k·x)`, a
//! projection and SiLU; two causal convolutions (kernel 5, stride 2: 5 ms → 10 ms → 20 ms
//! frames); transformer layers whose attention is limited to a window around each frame
//! (`(left, right)`: frames `t-left+1 ..= t+right-1`); a final norm. Nothing depends on the
//! future beyond the windows' right sides, so a frame's output is final once
//! [`crate::MoonshineConfig::lookahead_frames`] later frames have arrived; [`EncoderState::push`]
//! returns exactly those, and [`EncoderState::finish`] the rest (as the reference computes the
//! end of a segment). Frames are counted from the start of the segment, which is also where the
//! decoder's learned positions start.

use crate::config::MoonshineConfig;
use crate::layers::{linear, mask, Act, AttnProj, Mlp, Norm};
use candle_core::{Device, Result, Tensor};
use candle_nn::VarBuilder;
use hark_kernels::Linear;

/// Queries attended together at most (bounds the mask of a long push).
const QUERY_BLOCK: usize = 64;
const CONV_KERNEL: usize = 5;
const CONV_STRIDE: usize = 2;

/// A causal strided convolution as a product: each output row gathers its kernel's input rows.
struct CausalConv {
    /// `[out, kernel * in]`, column `k * in + c` holding `weight[o, c, k]`, with the bias.
    linear: Linear,
    in_dim: usize,
}

impl CausalConv {
    fn load(vb: &VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        let w = vb.get((out_dim, in_dim, CONV_KERNEL), "weight")?;
        let w = w
            .permute((0, 2, 1))?
            .contiguous()?
            .reshape((out_dim, CONV_KERNEL * in_dim))?;
        let mut linear = Linear::new(candle_nn::Linear::new(w, Some(vb.get(out_dim, "bias")?)));
        linear.pack_beside()?;
        Ok(Self { linear, in_dim })
    }
}

/// What a causal convolution still needs of its input.
#[derive(Debug, Clone)]
struct ConvState {
    /// Input rows from padded index `first` on (the left padding is `kernel - 1` zero rows).
    rows: Tensor,
    first: usize,
    /// Outputs produced so far.
    done: usize,
}

impl ConvState {
    fn new(conv: &CausalConv, device: &Device) -> Result<Self> {
        Ok(Self {
            rows: Tensor::zeros(
                (CONV_KERNEL - 1, conv.in_dim),
                candle_core::DType::F32,
                device,
            )?,
            first: 0,
            done: 0,
        })
    }

    /// Appends input rows and returns every output whose kernel is now complete.
    fn push(&mut self, conv: &CausalConv, input: &Tensor) -> Result<Option<Tensor>> {
        if input.dim(0)? > 0 {
            self.rows = Tensor::cat(&[&self.rows, input], 0)?;
        }
        let end = self.first + self.rows.dim(0)?; // padded index past the last row
        if end < CONV_KERNEL {
            return Ok(None);
        }
        let total = (end - CONV_KERNEL) / CONV_STRIDE + 1;
        if total <= self.done {
            return Ok(None);
        }
        let n = total - self.done;
        let mut idx = Vec::with_capacity(n * CONV_KERNEL);
        for j in self.done..total {
            for k in 0..CONV_KERNEL {
                idx.push((j * CONV_STRIDE + k - self.first) as u32);
            }
        }
        let idx = Tensor::from_vec(idx, n * CONV_KERNEL, self.rows.device())?;
        let gathered = self
            .rows
            .index_select(&idx, 0)?
            .reshape((n, CONV_KERNEL * conv.in_dim))?;
        let out = conv.linear.forward(&gathered)?;
        self.done = total;
        let keep_from = total * CONV_STRIDE; // the next output's first row
        let drop = keep_from - self.first;
        self.rows = self.rows.narrow(0, drop, self.rows.dim(0)? - drop)?;
        self.first = keep_from;
        Ok(Some(out))
    }
}

struct Layer {
    norm1: Norm,
    attn: AttnProj,
    norm2: Norm,
    mlp: Mlp,
    left: usize,
    right: usize,
}

impl Layer {
    fn lookahead(&self) -> usize {
        self.right.saturating_sub(1)
    }
}

/// One layer's memory of a stream.
#[derive(Debug, Clone)]
struct LayerState {
    /// Inputs (for the residual) and queries of frames not yet output, from frame `done` on.
    resid: Option<Tensor>,
    q: Option<Tensor>,
    /// Keys and values (`[kv_heads, n, head_dim]`) of frames from `kv_first` on.
    k: Option<Tensor>,
    v: Option<Tensor>,
    kv_first: usize,
    /// Input frames seen, output frames produced.
    seen: usize,
    done: usize,
}

fn append(acc: &mut Option<Tensor>, rows: &Tensor, dim: usize) -> Result<()> {
    *acc = Some(match acc.take() {
        Some(prev) => Tensor::cat(&[&prev, rows], dim)?,
        None => rows.clone(),
    });
    Ok(())
}

fn drop_front(acc: &mut Option<Tensor>, n: usize, dim: usize) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    if let Some(t) = acc.take() {
        let len = t.dim(dim)?;
        if n < len {
            *acc = Some(t.narrow(dim, n, len - n)?);
        }
    }
    Ok(())
}

/// The streaming encoder's weights.
pub struct StreamingEncoder {
    hidden: usize,
    frame_len: usize,
    k: f32,
    linear: Linear,
    conv1: CausalConv,
    conv2: CausalConv,
    layers: Vec<Layer>,
    final_norm: Norm,
    device: Device,
}

impl StreamingEncoder {
    pub fn load(config: &MoonshineConfig, vb: VarBuilder) -> Result<Self> {
        let c = &config.encoder;
        let h = c.hidden_size;
        let emb = vb.pp("embedder");
        // A scalar; GGUF files hold it as one element (they have no rank-0 tensors).
        let log_k = emb
            .get((), "comp.log_k")
            .or_else(|_| emb.get(1, "comp.log_k")?.squeeze(0))?
            .to_scalar::<f32>()?;
        let act = Act::parse(&c.act);
        let layers = config
            .sliding_windows
            .iter()
            .enumerate()
            .map(|(i, &(left, right))| {
                let lv = vb.pp(format!("layers.{i}"));
                let mut layer = Layer {
                    norm1: Norm::unit_offset(&lv.pp("input_layernorm"), h)?,
                    attn: AttnProj::of(&lv.pp("self_attn"), c)?,
                    norm2: Norm::unit_offset(&lv.pp("post_attention_layernorm"), h)?,
                    mlp: Mlp::load(&lv.pp("mlp"), h, c.intermediate_size, act)?,
                    left,
                    right,
                };
                // A live stream pushes a few frames at a time (see `Linear::Both`).
                layer.attn.pack_beside()?;
                layer.mlp.pack_beside()?;
                Ok(layer)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut frontend = linear(&emb.pp("linear"), config.frame_len, h, false)?;
        frontend.pack_beside()?;
        Ok(Self {
            hidden: h,
            frame_len: config.frame_len,
            k: log_k.exp(),
            linear: frontend,
            conv1: CausalConv::load(&emb.pp("conv1"), h, 2 * h)?,
            conv2: CausalConv::load(&emb.pp("conv2"), 2 * h, h)?,
            layers,
            final_norm: Norm::unit_offset(&vb.pp("final_norm"), h)?,
            device: vb.device().clone(),
        })
    }

    /// The device the encoder runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A fresh stream (a new segment).
    pub fn start(&self) -> Result<EncoderState> {
        Ok(EncoderState {
            pending: Vec::new(),
            conv1: ConvState::new(&self.conv1, &self.device)?,
            conv2: ConvState::new(&self.conv2, &self.device)?,
            layers: self
                .layers
                .iter()
                .map(|_| LayerState {
                    resid: None,
                    q: None,
                    k: None,
                    v: None,
                    kv_first: 0,
                    seen: 0,
                    done: 0,
                })
                .collect(),
            frames_out: 0,
        })
    }

    /// The frontend of whole 5 ms frames: `[frames, hidden]` (before the convolutions).
    pub fn frontend(&self, samples: &[f32]) -> Result<Tensor> {
        let n = samples.len() / self.frame_len;
        let mut feats = Vec::with_capacity(n * self.frame_len);
        for frame in samples.chunks_exact(self.frame_len) {
            let mean = frame.iter().sum::<f32>() / self.frame_len as f32;
            let var =
                frame.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / self.frame_len as f32;
            let rms = (var + 1e-6).sqrt();
            feats.extend(frame.iter().map(|x| (self.k * (x - mean) / rms).asinh()));
        }
        let x = Tensor::from_vec(feats, (n, self.frame_len), &self.device)?;
        candle_nn::ops::silu(&self.linear.forward(&x)?)
    }

    fn layer_step(
        &self,
        layer: &Layer,
        st: &mut LayerState,
        input: Option<&Tensor>,
        finish: bool,
    ) -> Result<Option<Tensor>> {
        let a = &layer.attn;
        if let Some(x) = input {
            let xn = layer.norm1.forward(x)?;
            append(&mut st.q, &a.split(&a.q.forward(&xn)?, a.heads)?, 1)?;
            append(&mut st.k, &a.split(&a.k.forward(&xn)?, a.kv_heads)?, 1)?;
            append(&mut st.v, &a.split(&a.v.forward(&xn)?, a.kv_heads)?, 1)?;
            append(&mut st.resid, x, 0)?;
            st.seen += x.dim(0)?;
        }
        let end = if finish {
            st.seen
        } else {
            st.seen.saturating_sub(layer.lookahead())
        };
        if end <= st.done {
            return Ok(None);
        }
        let (Some(q_all), Some(k_all), Some(v_all), Some(resid)) = (&st.q, &st.k, &st.v, &st.resid)
        else {
            return Ok(None);
        };
        let mut outs = Vec::new();
        let mut t0 = st.done;
        while t0 < end {
            let t1 = (t0 + QUERY_BLOCK).min(end);
            let k0 = (t0 + 1).saturating_sub(layer.left).max(st.kv_first);
            let k1 = (t1 - 1 + layer.lookahead() + 1).min(st.seen);
            let q = q_all.narrow(1, t0 - st.done, t1 - t0)?;
            let k = k_all.narrow(1, k0 - st.kv_first, k1 - k0)?;
            let v = v_all.narrow(1, k0 - st.kv_first, k1 - k0)?;
            let (left, right) = (layer.left, layer.right);
            let m = mask(t1 - t0, k1 - k0, &self.device, |qi, ki| {
                let (tq, tk) = (t0 + qi, k0 + ki);
                (tq >= tk && tq - tk < left) || (tk > tq && tk - tq < right)
            })?;
            let (att, _) = a.attend(&q, &k, &v, Some(&m), false)?;
            let h = (resid.narrow(0, t0 - st.done, t1 - t0)? + att)?;
            let out = (&h + layer.mlp.forward(&layer.norm2.forward(&h)?)?)?;
            outs.push(out);
            t0 = t1;
        }
        let produced = end - st.done;
        drop_front(&mut st.q, produced, 1)?;
        drop_front(&mut st.resid, produced, 0)?;
        st.done = end;
        let keep_from = (end + 1).saturating_sub(layer.left).max(st.kv_first);
        drop_front(&mut st.k, keep_from - st.kv_first, 1)?;
        drop_front(&mut st.v, keep_from - st.kv_first, 1)?;
        st.kv_first = keep_from;
        if st.done == st.seen {
            // Everything output: nothing pending to index into.
            st.q = None;
            st.resid = None;
        }
        Ok(Some(Tensor::cat(&outs, 0)?))
    }

    fn run(
        &self,
        state: &mut EncoderState,
        frames: Option<Tensor>,
        finish: bool,
    ) -> Result<Option<Tensor>> {
        let empty = |d: usize| Tensor::zeros((0, d), candle_core::DType::F32, &self.device);
        let x0 = match frames {
            Some(f) => f,
            None => empty(self.conv1.in_dim)?,
        };
        let x1 = match state.conv1.push(&self.conv1, &x0)? {
            Some(y) => candle_nn::ops::silu(&y)?,
            None => empty(self.conv2.in_dim)?,
        };
        let mut x = state.conv2.push(&self.conv2, &x1)?;
        for (layer, st) in self.layers.iter().zip(state.layers.iter_mut()) {
            x = self.layer_step(layer, st, x.as_ref(), finish)?;
        }
        match x {
            Some(x) => {
                state.frames_out += x.dim(0)?;
                Ok(Some(self.final_norm.forward(&x)?))
            }
            None => Ok(None),
        }
    }

    /// Feeds audio (any length) and returns the encoder frames that became final (`[n, hidden]`).
    pub fn push(&self, state: &mut EncoderState, samples: &[f32]) -> Result<Option<Tensor>> {
        state.pending.extend_from_slice(samples);
        let whole = state.pending.len() / self.frame_len * self.frame_len;
        if whole == 0 {
            return Ok(None);
        }
        let frames = self.frontend(&state.pending[..whole])?;
        state.pending.drain(..whole);
        self.run(state, Some(frames), false)
    }

    /// Ends the segment: returns the frames still held back for look-ahead, computed as at the
    /// end of the audio. A trailing partial 5 ms frame is dropped.
    pub fn finish(&self, state: &mut EncoderState) -> Result<Option<Tensor>> {
        state.pending.clear();
        self.run(state, None, true)
    }

    /// The whole segment at once: `[frames, hidden]`.
    pub fn encode(&self, samples: &[f32]) -> Result<Tensor> {
        let mut state = self.start()?;
        let mut parts = Vec::new();
        parts.extend(self.push(&mut state, samples)?);
        parts.extend(self.finish(&mut state)?);
        if parts.is_empty() {
            return Tensor::zeros((0, self.hidden), candle_core::DType::F32, &self.device);
        }
        Tensor::cat(&parts, 0)
    }
}

/// One stream's encoder memory: a few frames per layer, bounded by the attention windows.
#[derive(Debug, Clone)]
pub struct EncoderState {
    pending: Vec<f32>,
    conv1: ConvState,
    conv2: ConvState,
    layers: Vec<LayerState>,
    frames_out: usize,
}

impl EncoderState {
    /// Encoder frames returned so far.
    pub fn frames_out(&self) -> usize {
        self.frames_out
    }
}
