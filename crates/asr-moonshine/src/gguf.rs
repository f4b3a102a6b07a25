//! Moonshine checkpoints as GGUF files: a directory's `model.gguf` (or its only `*.gguf` file),
//! tensors under transformers' names, some of them quantized (`hark models quantize` writes them:
//! the encoder layers' and decoder's matrices whose input width is a multiple of the block, in
//! q8_0 by default). Every tensor is read back as f32: the encoder runs dense, and the decoder's
//! products are packed again as the engine packs them ([`crate::layers::for_decoding`]; q8_0 read
//! back and packed as q8_0 gives the file's own values). What a GGUF file saves is its size on disk
//! and on the wire.

use crate::error::MoonshineError;
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The GGUF file of `dir`: `model.gguf`, else its only `*.gguf` file, else none.
pub fn find(dir: &Path) -> Result<Option<PathBuf>, MoonshineError> {
    let preferred = dir.join("model.gguf");
    if preferred.exists() {
        return Ok(Some(preferred));
    }
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "gguf"))
                .collect()
        })
        .unwrap_or_default();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        _ => Err(MoonshineError::MissingFile {
            path: preferred.display().to_string(),
            detail: "several GGUF files: name the one to use model.gguf".into(),
        }),
    }
}

/// Every tensor of the GGUF file at `path`, as f32.
pub fn read(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>, MoonshineError> {
    let bad = |e: &dyn std::fmt::Display| {
        MoonshineError::WeightMismatch(format!("{}: {e}", path.display()))
    };
    let mut file = std::fs::File::open(path).map_err(|e| MoonshineError::MissingFile {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    let content = gguf_file::Content::read(&mut file).map_err(|e| bad(&e))?;
    let mut tensors = HashMap::with_capacity(content.tensor_infos.len());
    for name in content.tensor_infos.keys() {
        let q = content
            .tensor(&mut file, name, device)
            .map_err(|e| bad(&e))?;
        tensors.insert(name.clone(), q.dequantize(device).map_err(|e| bad(&e))?);
    }
    Ok(tensors)
}
