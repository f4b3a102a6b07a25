//! Finding and reading a model directory's weights: `model.safetensors`, a sharded checkpoint
//! (`model.safetensors.index.json` and its shards), or a GGUF file with quantized matrices
//! (HF tensor names, candle's layout). Also writes such GGUF files ([`quantize_model`]), for
//! Moonshine checkpoints too (same tensor names; `hark-asr-moonshine` reads them back).
//!
//! Quantization applies to the decoder's matrices and the output projection, and to the encoder
//! layers' matrices:
//! - One decoding step reads every decoder weight for a handful of rows, so it is bound by memory
//!   bandwidth and 4–8× fewer bytes make it faster (`packed.rs`).
//! - The encoder multiplies 1500-row matrices, where candle's quantized kernels are far slower
//!   than f32 GEMM. Its quantized matrices are read back dense, then run in 8 bits on CPUs with
//!   AVX-512 VNNI (`int8.rs`); elsewhere they stay dense f32.
//! - The convolutions, embeddings and norms stay f32.

use super::Weights;
use crate::error::WhisperError;
use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Whether a tensor is one the decoder multiplies by a few rows per step (worth quantizing).
/// Cross-attention keys and values are projected from all encoder positions at once: not these.
pub fn is_decoder_matrix(name: &str) -> bool {
    if name.contains("encoder_attn.k_proj") || name.contains("encoder_attn.v_proj") {
        return false;
    }
    name == "model.decoder.embed_tokens.weight"
        || (name.starts_with("model.decoder.layers.") && name.ends_with("_proj.weight"))
        || (name.starts_with("model.decoder.layers.")
            && (name.ends_with("fc1.weight") || name.ends_with("fc2.weight")))
}

/// Whether a tensor is one of the encoder layers' matrices (attention projections, MLP).
pub fn is_encoder_matrix(name: &str) -> bool {
    name.starts_with("model.encoder.layers.")
        && (name.ends_with("_proj.weight")
            || name.ends_with("fc1.weight")
            || name.ends_with("fc2.weight"))
}

fn missing(path: &Path, detail: &str) -> WhisperError {
    WhisperError::MissingFile {
        path: path.display().to_string(),
        detail: detail.to_owned(),
    }
}

fn bad(path: &Path, e: impl std::fmt::Display) -> WhisperError {
    WhisperError::WeightMismatch(format!("{}: {e}", path.display()))
}

/// The GGUF file of `dir`: `model.gguf`, else the only `*.gguf` file.
fn find_gguf(dir: &Path) -> Result<Option<PathBuf>, WhisperError> {
    let preferred = dir.join("model.gguf");
    if preferred.exists() {
        return Ok(Some(preferred));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(missing(
            &dir.join("model.gguf"),
            &format!(
                "several GGUF files ({}); name the one to use model.gguf",
                found
                    .iter()
                    .filter_map(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Read the weights of `dir`, preferring a GGUF file when one is present.
pub fn load(dir: &Path, device: &Device) -> Result<Weights, WhisperError> {
    if let Some(path) = find_gguf(dir)? {
        return load_gguf(&path, device);
    }
    let single = dir.join("model.safetensors");
    if single.exists() {
        let dense = candle_core::safetensors::load(&single, device).map_err(|e| bad(&single, e))?;
        return Ok(Weights {
            dense,
            quantized: HashMap::new(),
            quantized_encoder: false,
            source: single.display().to_string(),
        });
    }
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        return load_sharded(dir, &index, device);
    }
    Err(missing(
        &single,
        "not found (nor model.safetensors.index.json, nor a .gguf file)",
    ))
}

fn load_sharded(dir: &Path, index: &Path, device: &Device) -> Result<Weights, WhisperError> {
    #[derive(serde::Deserialize)]
    struct Index {
        weight_map: HashMap<String, String>,
    }
    let text = std::fs::read_to_string(index).map_err(|e| missing(index, &e.to_string()))?;
    let parsed: Index = serde_json::from_str(&text).map_err(|e| WhisperError::BadConfig {
        path: index.display().to_string(),
        detail: e.to_string(),
    })?;
    let mut shards: Vec<&String> = parsed.weight_map.values().collect();
    shards.sort();
    shards.dedup();
    let mut dense = HashMap::new();
    for shard in &shards {
        let path = dir.join(shard);
        if !path.exists() {
            return Err(missing(&path, "a shard named by the index is not there"));
        }
        dense.extend(candle_core::safetensors::load(&path, device).map_err(|e| bad(&path, e))?);
    }
    if let Some(name) = parsed.weight_map.keys().find(|k| !dense.contains_key(*k)) {
        return Err(bad(
            index,
            format!("`{name}` is in the index but in no shard"),
        ));
    }
    Ok(Weights {
        dense,
        quantized: HashMap::new(),
        quantized_encoder: false,
        source: format!("{} ({} shards)", index.display(), shards.len()),
    })
}

fn load_gguf(path: &Path, device: &Device) -> Result<Weights, WhisperError> {
    let mut file = std::fs::File::open(path).map_err(|e| missing(path, &e.to_string()))?;
    let content = gguf_file::Content::read(&mut file).map_err(|e| bad(path, e))?;
    let mut dense = HashMap::new();
    let mut quantized = HashMap::new();
    let mut quantized_encoder = false;
    for name in content.tensor_infos.keys() {
        let q = content
            .tensor(&mut file, name, device)
            .map_err(|e| bad(path, e))?;
        let is_quantized = !matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
        // Every tensor is also dense while the network is built (token embeddings stay dense for
        // lookups); the decoder then swaps in the quantized matrices and the dense copies go.
        dense.insert(name.clone(), q.dequantize(device)?);
        if is_quantized && is_decoder_matrix(name) {
            quantized.insert(name.clone(), q);
        }
        quantized_encoder |= is_quantized && is_encoder_matrix(name);
    }
    Ok(Weights {
        dense,
        quantized,
        quantized_encoder,
        source: path.display().to_string(),
    })
}

/// Copy `files` from `src` to `dst` (`generation_config.json` may be missing).
fn copy_files(src: &Path, dst: &Path, files: &[&str]) -> Result<(), WhisperError> {
    for f in files {
        let from = src.join(f);
        if from.exists() {
            std::fs::copy(&from, dst.join(f)).map_err(|e| missing(&dst.join(f), &e.to_string()))?;
        } else if *f != "generation_config.json" {
            return Err(missing(&from, "not found"));
        }
    }
    Ok(())
}

/// The `general.architecture` of a model directory's GGUF file: its `config.json`'s Moonshine
/// `model_type` (`moonshine`, `moonshine_streaming`: the same tensor names and the same quantizer
/// serve them), else `whisper`.
fn architecture(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("model_type")?.as_str().map(str::to_owned))
        .filter(|t| t.starts_with("moonshine"))
        .unwrap_or_else(|| "whisper".into())
}

/// Quantization types `hark models quantize` offers (block size 32: works for every Whisper width).
pub fn parse_quantization(name: &str) -> Option<GgmlDType> {
    match name.to_ascii_lowercase().as_str() {
        "q8_0" => Some(GgmlDType::Q8_0),
        "q5_0" => Some(GgmlDType::Q5_0),
        "q5_1" => Some(GgmlDType::Q5_1),
        "q4_0" => Some(GgmlDType::Q4_0),
        "q4_1" => Some(GgmlDType::Q4_1),
        _ => None,
    }
}

/// What [`quantize_model`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeReport {
    pub quantized_tensors: usize,
    pub dense_tensors: usize,
    pub bytes_written: u64,
}

/// Copy the model in `src` to `dst` with its decoder and encoder-layer matrices quantized to `dtype`, as
/// `dst/model.gguf` beside copies of the config and tokenizer files. Other tensors stay f32.
/// `src` may be a CTranslate2 (faster-whisper) directory: its config is written in the Hugging
/// Face layout.
pub fn quantize_model(
    src: &Path,
    dst: &Path,
    dtype: GgmlDType,
) -> Result<QuantizeReport, WhisperError> {
    std::fs::create_dir_all(dst).map_err(|e| missing(dst, &e.to_string()))?;
    let weights = if crate::model::ct2::is_ct2_dir(src) {
        // A CTranslate2 directory: its shape and decoding facts as Hugging Face files.
        let m = crate::model::ct2::load(src, &Device::Cpu)?;
        for (name, json) in [
            ("config.json", serde_json::to_string_pretty(&m.config)),
            (
                "generation_config.json",
                serde_json::to_string_pretty(&m.generation),
            ),
        ] {
            let path = dst.join(name);
            let text = json.map_err(|e| bad(&path, e))?;
            std::fs::write(&path, text).map_err(|e| missing(&path, &e.to_string()))?;
        }
        copy_files(src, dst, &["tokenizer.json"])?;
        m.weights
    } else {
        let weights = load(src, &Device::Cpu)?;
        copy_files(
            src,
            dst,
            &["config.json", "generation_config.json", "tokenizer.json"],
        )?;
        weights
    };
    let mut names: Vec<&String> = weights.dense.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    let mut quantized_tensors = 0;
    for name in names {
        let t = weights.dense[name].to_dtype(DType::F32)?;
        // GGUF has no rank-0 tensors: a scalar (Moonshine Streaming's `log_k`) as one element.
        let t = if t.rank() == 0 { t.reshape(1)? } else { t };
        let fits = t.rank() == 2 && t.dims()[1] % dtype.block_size() == 0;
        // (An untied output projection, Moonshine Streaming's, is a decoder product too.)
        let matrix =
            is_decoder_matrix(name) || is_encoder_matrix(name) || name == "proj_out.weight";
        let q = if matrix && fits {
            quantized_tensors += 1;
            QTensor::quantize(&t, dtype)?
        } else {
            QTensor::quantize(&t, GgmlDType::F32)?
        };
        tensors.push((name.clone(), q));
    }
    let out = dst.join("model.gguf");
    let tmp = dst.join("model.gguf.partial");
    let mut file = std::fs::File::create(&tmp).map_err(|e| missing(&tmp, &e.to_string()))?;
    let arch = gguf_file::Value::String(architecture(dst));
    let kind = gguf_file::Value::String(format!("{dtype:?}").to_ascii_lowercase());
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, q)| (n.as_str(), q)).collect();
    gguf_file::write(
        &mut file,
        &[
            ("general.architecture", &arch),
            ("hark.quantization", &kind),
        ],
        &refs,
    )?;
    drop(file);
    std::fs::rename(&tmp, &out).map_err(|e| missing(&out, &e.to_string()))?;
    Ok(QuantizeReport {
        quantized_tensors,
        dense_tensors: tensors.len() - quantized_tensors,
        bytes_written: std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0),
    })
}
