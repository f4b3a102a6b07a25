//! Shared by the golden tests: the fixture files and tensor helpers.
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use hark_asr_whisper::WhisperEngine;
use std::collections::HashMap;
use std::path::PathBuf;

pub mod real_speech;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub fn golden() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join("golden.safetensors"), &Device::Cpu)
        .expect("golden.safetensors")
}

pub fn vec_f32(t: &Tensor) -> Vec<f32> {
    t.flatten_all()
        .and_then(|t| t.to_dtype(candle_core::DType::F32))
        .and_then(|t| t.to_vec1())
        .expect("f32")
}

pub fn ids(t: &Tensor) -> Vec<u32> {
    t.to_dtype(candle_core::DType::I64)
        .and_then(|t| t.to_vec1::<i64>())
        .expect("ids")
        .into_iter()
        .map(|v| v as u32)
        .collect()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn rel_err(ours: &[f32], reference: &[f32]) -> f32 {
    let scale = reference
        .iter()
        .map(|v| v.abs())
        .fold(0.0, f32::max)
        .max(1e-6);
    max_abs_diff(ours, reference) / scale
}

pub fn engine() -> WhisperEngine {
    WhisperEngine::load(&fixtures().join("tiny-random"), "tiny-random", Device::Cpu)
        .expect("load fixture model")
}

/// The encoder's output for the golden mel's first 200 frames, and the decoder's logits after
/// `prefix`, for the model in `dir`.
pub fn encoder_and_logits(dir: &std::path::Path, prefix: &[u32]) -> (Vec<f32>, Vec<f32>) {
    let e = WhisperEngine::load(dir, "m", Device::Cpu).expect("load");
    let g = golden();
    let mel = vec_f32(&g["mel80"]);
    let frames = mel.len() / 80;
    let first: Vec<f32> = (0..80)
        .flat_map(|m| mel[m * frames..m * frames + 200].to_vec())
        .collect();
    let enc = e.model().encode(&[first], 200).expect("encode");
    let mut state = e.model().decoder.start(&enc).expect("start");
    let t = Tensor::from_vec(prefix.to_vec(), (1, prefix.len()), &Device::Cpu).expect("t");
    let (logits, _) = e.model().decoder.step(&t, &mut state, false).expect("step");
    let last = vec_f32(&logits.narrow(1, prefix.len() - 1, 1).expect("last"));
    (vec_f32(&enc), last)
}
