//! Weight formats beyond one `model.safetensors`: sharded checkpoints and quantized GGUF files,
//! each built here from the fixture model in the real file format.

use candle_core::Device;
use hark_asr::{AudioWindow, DecodeOptions, Engine};
use hark_asr_whisper::weights::{parse_quantization, quantize_model};
use hark_asr_whisper::WhisperEngine;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod support;
use support::{encoder_and_logits, fixtures, golden, ids, rel_err, vec_f32};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hark-weights-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn copy_text_files(to: &Path) {
    for f in ["config.json", "generation_config.json", "tokenizer.json"] {
        std::fs::copy(fixtures().join("tiny-random").join(f), to.join(f)).expect("copy");
    }
}

/// Decoder logits at the golden prefix, for the model in `dir`.
fn prefix_logits(dir: &Path) -> Vec<f32> {
    encoder_and_logits(dir, &ids(&golden()["prefix"])).1
}

#[test]
fn sharded_checkpoints_load_like_one_file() {
    let dir = scratch("sharded");
    copy_text_files(&dir);
    let all = candle_core::safetensors::load(
        fixtures().join("tiny-random/model.safetensors"),
        &Device::Cpu,
    )
    .expect("fixture weights");
    let (mut a, mut b) = (HashMap::new(), HashMap::new());
    let mut map = serde_json::Map::new();
    for (k, v) in all {
        let shard = if k.contains("encoder") {
            "model-00001-of-00002.safetensors"
        } else {
            "model-00002-of-00002.safetensors"
        };
        map.insert(k.clone(), shard.into());
        if k.contains("encoder") {
            &mut a
        } else {
            &mut b
        }
        .insert(k, v);
    }
    candle_core::safetensors::save(&a, dir.join("model-00001-of-00002.safetensors")).expect("a");
    candle_core::safetensors::save(&b, dir.join("model-00002-of-00002.safetensors")).expect("b");
    let index = serde_json::json!({ "metadata": {}, "weight_map": map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).expect("index");
    let err = rel_err(&prefix_logits(&dir), &vec_f32(&golden()["logits_last"]));
    assert!(err <= 1e-4, "sharded logits relative error {err}");

    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).expect("rm");
    let msg = WhisperEngine::load(&dir, "m", Device::Cpu)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("model-00002-of-00002.safetensors") && msg.contains("shard"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn quantized_gguf_models_load_and_stay_close_to_f32() {
    let dir = scratch("q8");
    let q8 = parse_quantization("Q8_0").expect("q8_0");
    assert_eq!(parse_quantization("q3_k"), None);
    let report = quantize_model(&fixtures().join("tiny-random"), &dir, q8).expect("quantize");
    // Per decoder layer: self q/k/v/out, cross q/out, fc1, fc2; plus the output projection;
    // per encoder layer: q/k/v/out, fc1, fc2.
    assert_eq!(report.quantized_tensors, 2 * 8 + 1 + 2 * 6);
    assert!(dir.join("model.gguf").exists() && dir.join("tokenizer.json").exists());

    let reference = vec_f32(&golden()["logits_last"]);
    let (enc8, logits8) = encoder_and_logits(&dir, &ids(&golden()["prefix"]));
    let err8 = rel_err(&logits8, &reference);
    assert!(
        err8 > 0.0 && err8 <= 0.02,
        "q8_0 logits relative error {err8}"
    );
    let enc_err8 = rel_err(&enc8, &vec_f32(&golden()["encoder_out"]));
    assert!(
        enc_err8 > 0.0 && enc_err8 <= 0.01,
        "q8_0 encoder relative error {enc_err8}"
    );
    // Where the CPU has AVX-512 VNNI, the quantized encoder runs its products in 8 bits (per
    // layer: the joined q/k/v, out, fc1, fc2); an f32 model never does.
    #[cfg(target_arch = "x86_64")]
    let vnni = std::arch::is_x86_feature_detected!("avx512vnni")
        && std::arch::is_x86_feature_detected!("avx512bw");
    #[cfg(not(target_arch = "x86_64"))]
    let vnni = false;
    let int8 = |d: &Path| {
        WhisperEngine::load(d, "m", Device::Cpu)
            .expect("load")
            .model()
            .encoder
            .int8_layers()
    };
    assert_eq!(int8(&dir), if vnni { 2 * 4 } else { 0 });
    assert_eq!(int8(&fixtures().join("tiny-random")), 0);
    let q4_dir = scratch("q4");
    quantize_model(
        &fixtures().join("tiny-random"),
        &q4_dir,
        parse_quantization("q4_0").expect("q4_0"),
    )
    .expect("quantize q4");
    let err4 = rel_err(&prefix_logits(&q4_dir), &reference);
    assert!(
        err4 > err8 && err4 <= 0.15,
        "q4_0 error {err4} vs q8_0 {err8}"
    );

    // The engine runs on it end to end.
    let mut e = WhisperEngine::load(&dir, "q8", Device::Cpu).expect("load q8");
    let audio = vec_f32(&golden()["audio_16k"]);
    let out = e
        .transcribe_batch(&[AudioWindow {
            samples: audio[..32_000].to_vec(),
            options: DecodeOptions::default(),
            withdrawn: None,
        }])
        .expect("transcribe");
    assert_eq!(out.len(), 1);

    // Two GGUF files and no model.gguf: refuse to guess.
    std::fs::rename(dir.join("model.gguf"), dir.join("a.gguf")).expect("mv");
    std::fs::copy(dir.join("a.gguf"), dir.join("b.gguf")).expect("cp");
    let msg = WhisperEngine::load(&dir, "m", Device::Cpu)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("a.gguf, b.gguf"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&q4_dir);
}

#[test]
fn a_directory_without_weights_says_what_it_looked_for() {
    let dir = scratch("empty");
    copy_text_files(&dir);
    let msg = WhisperEngine::load(&dir, "m", Device::Cpu)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("model.safetensors") && msg.contains("index.json") && msg.contains(".gguf"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
