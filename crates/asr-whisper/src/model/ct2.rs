//! CTranslate2 Whisper directories, faster-whisper's layout: `model.bin`, CTranslate2's
//! `config.json` (`alignment_heads`, `suppress_ids`, `suppress_ids_begin`, `lang_ids`) and
//! `tokenizer.json`. Users of faster-whisper serve the models they already have.
//!
//! `model.bin` (format version 5 or 6) is a little-endian list of named arrays: a version, the
//! spec's name and revision, then per array its name, rank, dimensions, type and bytes, then
//! aliases (`decoder/projection/weight` names the token embeddings; arrays CTranslate2 found
//! equal are stored once and aliased). The Whisper names map onto
//! the Hugging Face ones: `self_attention/linear_0` is q, k and v fused (k's bias is zero),
//! cross-attention `linear_0` is q and `linear_1` k and v fused, `ffn/linear_0|1` are fc1/fc2.
//! The network's shape is read off the arrays (`num_heads` is stored as a scalar).
//!
//! Arrays in f32, f16 or bf16 load as they are; 8-bit arrays with a `…_scale` beside them (a
//! model converted with `--quantization int8`) are dequantized (`q / scale` per row).

use super::Weights;
use crate::error::WhisperError;
use crate::model::config::{GenerationConfig, WhisperConfig};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::Path;

/// A CTranslate2 model's network shape, decoding facts and weights (Hugging Face names).
pub struct Ct2Model {
    pub config: WhisperConfig,
    pub generation: GenerationConfig,
    pub weights: Weights,
}

/// Whether `dir` holds a CTranslate2 model (a `model.bin` and no Hugging Face weights).
pub fn is_ct2_dir(dir: &Path) -> bool {
    dir.join("model.bin").is_file()
        && !dir.join("model.safetensors").exists()
        && !dir.join("model.safetensors.index.json").exists()
}

/// CTranslate2's `config.json` for Whisper (every field optional).
#[derive(Debug, Default, serde::Deserialize)]
struct Ct2Config {
    #[serde(default)]
    alignment_heads: Vec<[usize; 2]>,
    #[serde(default)]
    suppress_ids: Vec<u32>,
    #[serde(default)]
    suppress_ids_begin: Vec<u32>,
    #[serde(default)]
    lang_ids: Vec<u32>,
}

/// One array of `model.bin`.
struct Array {
    dims: Vec<usize>,
    dtype: u8,
    bytes: Vec<u8>,
}

fn bad(path: &Path, detail: impl std::fmt::Display) -> WhisperError {
    WhisperError::WeightMismatch(format!("{}: {detail}", path.display()))
}

struct Reader<R> {
    inner: R,
}

impl<R: Read> Reader<R> {
    fn bytes(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        let mut v = Vec::new();
        (&mut self.inner).take(n as u64).read_to_end(&mut v)?;
        if v.len() != n {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(v)
    }
    fn u8(&mut self) -> std::io::Result<u8> {
        Ok(self.bytes(1)?[0])
    }
    fn u16(&mut self) -> std::io::Result<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> std::io::Result<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A length-prefixed, NUL-terminated string.
    fn string(&mut self) -> std::io::Result<String> {
        let n = usize::from(self.u16()?);
        let mut b = self.bytes(n)?;
        if b.last() == Some(&0) {
            b.pop();
        }
        String::from_utf8(b).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

/// Bytes per element of CTranslate2's type ids (f32, i8, i16, i32, f16, bf16).
fn element_size(dtype: u8) -> Option<usize> {
    match dtype {
        0 | 3 => Some(4),
        1 => Some(1),
        2 | 4 | 5 => Some(2),
        _ => None,
    }
}

/// The arrays of `model.bin` by name, and its aliases (alias → the array's name).
struct ModelBin {
    spec: String,
    arrays: HashMap<String, Array>,
    aliases: HashMap<String, String>,
}

/// Read every array of `model.bin`.
fn read_arrays(path: &Path) -> Result<ModelBin, WhisperError> {
    let file = std::fs::File::open(path).map_err(|e| WhisperError::MissingFile {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    let mut r = Reader {
        inner: BufReader::with_capacity(1 << 20, file),
    };
    let io = |e: std::io::Error| bad(path, format!("not a CTranslate2 model.bin ({e})"));
    let version = r.u32().map_err(io)?;
    if !(5..=6).contains(&version) {
        return Err(bad(
            path,
            format!("CTranslate2 format version {version} (hark reads 5 and 6)"),
        ));
    }
    let spec = r.string().map_err(io)?;
    let _revision = r.u32().map_err(io)?;
    let count = r.u32().map_err(io)?;
    let mut arrays = HashMap::new();
    for _ in 0..count {
        let name = r.string().map_err(io)?;
        let rank = r.u8().map_err(io)?;
        let dims = (0..rank)
            .map(|_| r.u32().map(|d| d as usize))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        let dtype = r.u8().map_err(io)?;
        let size = element_size(dtype)
            .ok_or_else(|| bad(path, format!("`{name}` has unknown type id {dtype}")))?;
        let n_bytes = r.u32().map_err(io)? as usize;
        let elements = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if elements.and_then(|n| n.checked_mul(size)) != Some(n_bytes) {
            return Err(bad(
                path,
                format!("`{name}`: {n_bytes} bytes for dims {dims:?} of {size}-byte elements"),
            ));
        }
        let bytes = r.bytes(n_bytes).map_err(io)?;
        arrays.insert(name, Array { dims, dtype, bytes });
    }
    // Aliases (absent in files written before version 5 had them) name existing arrays.
    let mut aliases = HashMap::new();
    if let Ok(n) = r.u32() {
        for _ in 0..n {
            let alias = r.string().map_err(io)?;
            let target = r.string().map_err(io)?;
            if !arrays.contains_key(&target) {
                return Err(bad(
                    path,
                    format!("alias `{alias}` names no array `{target}`"),
                ));
            }
            aliases.insert(alias, target);
        }
    }
    Ok(ModelBin {
        spec,
        arrays,
        aliases,
    })
}

fn tensor(a: &Array, device: &Device) -> candle_core::Result<Tensor> {
    let dims = if a.dims.is_empty() {
        vec![1]
    } else {
        a.dims.clone()
    };
    let dtype = match a.dtype {
        0 => DType::F32,
        4 => DType::F16,
        5 => DType::BF16,
        1 => DType::U8,
        other => candle_core::bail!("type id {other} is not a weight type"),
    };
    if a.dtype == 1 {
        // i8 as f32 (candle has no i8).
        let v: Vec<f32> = a.bytes.iter().map(|&b| f32::from(b as i8)).collect();
        return Tensor::from_vec(v, dims, device);
    }
    Tensor::from_raw_buffer(&a.bytes, dtype, &dims, device)
}

/// A small integer stored as a scalar (`num_heads`).
fn scalar(a: &Array) -> Option<usize> {
    match (a.dtype, a.bytes.as_slice()) {
        (1, [b]) => Some(usize::from(*b)),
        (2, [a, b]) => usize::try_from(i16::from_le_bytes([*a, *b])).ok(),
        (3, [a, b, c, d]) => usize::try_from(i32::from_le_bytes([*a, *b, *c, *d])).ok(),
        _ => None,
    }
}

struct Arrays<'a> {
    path: &'a Path,
    bin: ModelBin,
    device: &'a Device,
}

impl Arrays<'_> {
    fn get(&self, name: &str) -> Result<&Array, WhisperError> {
        let name = self.bin.aliases.get(name).map_or(name, String::as_str);
        self.bin
            .arrays
            .get(name)
            .ok_or_else(|| bad(self.path, format!("no array `{name}`")))
    }

    /// The array `name` as a float tensor (8-bit weights dequantized by their `_scale`).
    fn float(&self, name: &str) -> Result<Tensor, WhisperError> {
        let a = self.get(name)?;
        let t = tensor(a, self.device).map_err(|e| bad(self.path, format!("`{name}`: {e}")))?;
        if a.dtype != 1 {
            return Ok(t);
        }
        let scale = self.float(&format!("{name}_scale"))?.to_dtype(DType::F32)?;
        let scale = if scale.rank() == 1 && t.rank() == 2 {
            scale.unsqueeze(1)?
        } else {
            scale
        };
        Ok(t.broadcast_div(&scale)?)
    }

    fn dim(&self, name: &str, i: usize) -> Result<usize, WhisperError> {
        let a = self.get(name)?;
        a.dims
            .get(i)
            .copied()
            .ok_or_else(|| bad(self.path, format!("`{name}` has rank {}", a.dims.len())))
    }

    fn count_layers(&self, prefix: &str) -> usize {
        (0..)
            .take_while(|i| {
                self.get(&format!("{prefix}/layer_{i}/ffn/linear_0/weight"))
                    .is_ok()
            })
            .count()
    }
}

/// Rows `from..from + n` of a fused projection.
fn rows(t: &Tensor, from: usize, n: usize) -> candle_core::Result<Tensor> {
    t.narrow(0, from, n)?.contiguous()
}

/// Load the CTranslate2 model in `dir`.
pub fn load(dir: &Path, device: &Device) -> Result<Ct2Model, WhisperError> {
    let path = dir.join("model.bin");
    let bin = read_arrays(&path)?;
    if !bin.spec.contains("Whisper") {
        return Err(bad(&path, format!("a `{}` model, not Whisper", bin.spec)));
    }
    let config_path = dir.join("config.json");
    let ct2: Ct2Config = if config_path.exists() {
        crate::model::config::read_json(&config_path)?
    } else {
        Ct2Config::default()
    };
    let a = Arrays {
        path: &path,
        bin,
        device,
    };
    let heads = |name: &str| {
        a.get(name)
            .ok()
            .and_then(scalar)
            .ok_or_else(|| bad(&path, format!("no integer `{name}`")))
    };
    let d = a.dim("encoder/conv1/weight", 0)?;
    let config = WhisperConfig {
        vocab_size: a.dim("decoder/embeddings/weight", 0)?,
        num_mel_bins: a.dim("encoder/conv1/weight", 1)?,
        d_model: d,
        encoder_layers: a.count_layers("encoder"),
        encoder_attention_heads: heads("encoder/num_heads")?,
        decoder_layers: a.count_layers("decoder"),
        decoder_attention_heads: heads("decoder/num_heads")?,
        encoder_ffn_dim: a.dim("encoder/layer_0/ffn/linear_0/weight", 0)?,
        decoder_ffn_dim: a.dim("decoder/layer_0/ffn/linear_0/weight", 0)?,
        max_source_positions: a.dim("encoder/position_encodings/encodings", 0)?,
        max_target_positions: a.dim("decoder/position_encodings/encodings", 0)?,
        scale_embedding: false,
        suppress_tokens: ct2.suppress_ids.clone(),
        begin_suppress_tokens: ct2.suppress_ids_begin.clone(),
        decoder_start_token_id: None,
        eos_token_id: None,
        variable_length: false,
    };
    config.check(&config_path)?;
    let generation = GenerationConfig {
        alignment_heads: ct2.alignment_heads.clone(),
        // English-only vocabularies have 51864 tokens; multilingual ones more, and list languages.
        is_multilingual: Some(config.vocab_size > 51864 && ct2.lang_ids.len() != 1),
        ..GenerationConfig::default()
    };
    let dense = hf_tensors(&a, &config)?;
    Ok(Ct2Model {
        config,
        generation,
        weights: Weights {
            dense,
            quantized: HashMap::new(),
            quantized_encoder: false,
            source: path.display().to_string(),
        },
    })
}

/// The arrays under their Hugging Face names.
fn hf_tensors(a: &Arrays, c: &WhisperConfig) -> Result<HashMap<String, Tensor>, WhisperError> {
    let mut out = HashMap::new();
    let d = c.d_model;
    let mut put = |hf: String, t: Tensor| {
        out.insert(hf, t);
    };
    let norm = |put: &mut dyn FnMut(String, Tensor), ct: &str, hf: &str| {
        put(format!("{hf}.weight"), a.float(&format!("{ct}/gamma"))?);
        put(format!("{hf}.bias"), a.float(&format!("{ct}/beta"))?);
        Ok::<_, WhisperError>(())
    };
    let linear = |put: &mut dyn FnMut(String, Tensor), ct: &str, hf: &str| {
        put(format!("{hf}.weight"), a.float(&format!("{ct}/weight"))?);
        put(format!("{hf}.bias"), a.float(&format!("{ct}/bias"))?);
        Ok::<_, WhisperError>(())
    };
    // q, k and v fused; k has no bias in Whisper.
    let fused_qkv = |put: &mut dyn FnMut(String, Tensor), ct: &str, hf: &str, parts: &[&str]| {
        let w = a.float(&format!("{ct}/weight"))?;
        let b = a.float(&format!("{ct}/bias"))?;
        if w.dim(0)? != parts.len() * d {
            return Err(bad(
                a.path,
                format!(
                    "`{ct}/weight` has {} rows, not {}",
                    w.dim(0)?,
                    parts.len() * d
                ),
            ));
        }
        for (i, p) in parts.iter().enumerate() {
            put(format!("{hf}.{p}.weight"), rows(&w, i * d, d)?);
            if *p != "k_proj" {
                put(format!("{hf}.{p}.bias"), rows(&b, i * d, d)?);
            }
        }
        Ok(())
    };
    for (side, n) in [("encoder", c.encoder_layers), ("decoder", c.decoder_layers)] {
        for i in 0..n {
            let ct = format!("{side}/layer_{i}");
            let hf = format!("model.{side}.layers.{i}");
            let attn = format!("{ct}/self_attention");
            norm(
                &mut put,
                &format!("{attn}/layer_norm"),
                &format!("{hf}.self_attn_layer_norm"),
            )?;
            fused_qkv(
                &mut put,
                &format!("{attn}/linear_0"),
                &format!("{hf}.self_attn"),
                &["q_proj", "k_proj", "v_proj"],
            )?;
            linear(
                &mut put,
                &format!("{attn}/linear_1"),
                &format!("{hf}.self_attn.out_proj"),
            )?;
            if side == "decoder" {
                let cross = format!("{ct}/attention");
                norm(
                    &mut put,
                    &format!("{cross}/layer_norm"),
                    &format!("{hf}.encoder_attn_layer_norm"),
                )?;
                linear(
                    &mut put,
                    &format!("{cross}/linear_0"),
                    &format!("{hf}.encoder_attn.q_proj"),
                )?;
                fused_qkv(
                    &mut put,
                    &format!("{cross}/linear_1"),
                    &format!("{hf}.encoder_attn"),
                    &["k_proj", "v_proj"],
                )?;
                linear(
                    &mut put,
                    &format!("{cross}/linear_2"),
                    &format!("{hf}.encoder_attn.out_proj"),
                )?;
            }
            norm(
                &mut put,
                &format!("{ct}/ffn/layer_norm"),
                &format!("{hf}.final_layer_norm"),
            )?;
            linear(
                &mut put,
                &format!("{ct}/ffn/linear_0"),
                &format!("{hf}.fc1"),
            )?;
            linear(
                &mut put,
                &format!("{ct}/ffn/linear_1"),
                &format!("{hf}.fc2"),
            )?;
        }
        norm(
            &mut put,
            &format!("{side}/layer_norm"),
            &format!("model.{side}.layer_norm"),
        )?;
    }
    for conv in ["conv1", "conv2"] {
        linear(
            &mut put,
            &format!("encoder/{conv}"),
            &format!("model.encoder.{conv}"),
        )?;
    }
    put(
        "model.encoder.embed_positions.weight".into(),
        a.float("encoder/position_encodings/encodings")?,
    );
    put(
        "model.decoder.embed_positions.weight".into(),
        a.float("decoder/position_encodings/encodings")?,
    );
    put(
        "model.decoder.embed_tokens.weight".into(),
        a.float("decoder/embeddings/weight")?,
    );
    Ok(out)
}
