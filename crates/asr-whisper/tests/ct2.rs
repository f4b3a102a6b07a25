//! CTranslate2 (faster-whisper) model directories: the fixture `tiny-random-ct2` holds
//! tiny-random's weights as CTranslate2's own writer saved them, and `golden_ct2.safetensors` what
//! CTranslate2's runtime computes with them (`fixtures/make_ct2_fixture.py`).

use candle_core::Device;
use hark_asr_whisper::WhisperEngine;
use std::path::{Path, PathBuf};

mod support;
use support::{encoder_and_logits, fixtures, ids, max_abs_diff, rel_err, vec_f32};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hark-ct2-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The CTranslate2 fixture as faster-whisper lays it out (model.bin, config.json, tokenizer.json).
fn ct2_dir(name: &str) -> PathBuf {
    let dir = scratch(name);
    for f in ["model.bin", "config.json"] {
        std::fs::copy(fixtures().join("tiny-random-ct2").join(f), dir.join(f)).expect("copy");
    }
    std::fs::copy(
        fixtures().join("tiny-random/tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .expect("copy tokenizer");
    dir
}

fn golden_ct2() -> std::collections::HashMap<String, candle_core::Tensor> {
    candle_core::safetensors::load(fixtures().join("golden_ct2.safetensors"), &Device::Cpu)
        .expect("golden_ct2.safetensors")
}

fn log_softmax(v: &[f32]) -> Vec<f32> {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = v.iter().map(|x| (x - max).exp()).sum();
    v.iter().map(|x| x - max - sum.ln()).collect()
}

#[test]
fn a_ctranslate2_model_computes_what_ctranslate2_and_the_safetensors_model_compute() {
    let dir = ct2_dir("parity");
    let g = golden_ct2();
    let prefix = ids(&g["prefix"]);
    let (enc, logits) = encoder_and_logits(&dir, &prefix);
    // Against CTranslate2's own runtime on the file its writer made.
    let err = rel_err(&enc, &vec_f32(&g["encoder_out"]));
    assert!(
        err <= 1e-4,
        "encoder relative error {err} against ctranslate2"
    );
    let d = max_abs_diff(&log_softmax(&logits), &vec_f32(&g["logprobs_first"]));
    assert!(
        d <= 1e-3,
        "log-probabilities differ by {d} from ctranslate2's"
    );
    // The same weights from the Hugging Face layout give the same numbers (both are f16 on disk).
    let (enc_hf, logits_hf) = encoder_and_logits(&fixtures().join("tiny-random"), &prefix);
    assert!(max_abs_diff(&enc, &enc_hf) <= 1e-6);
    assert!(max_abs_diff(&logits, &logits_hf) <= 1e-5);
}

#[test]
fn the_shape_and_decoding_facts_come_from_model_bin_and_ctranslate2s_config() {
    let dir = ct2_dir("config");
    let ct2 = WhisperEngine::load(&dir, "m", Device::Cpu).expect("load");
    let hf = WhisperEngine::load(&fixtures().join("tiny-random"), "m", Device::Cpu).expect("hf");
    let (a, b) = (ct2.config(), hf.config());
    assert_eq!(
        (
            a.vocab_size,
            a.num_mel_bins,
            a.d_model,
            a.encoder_layers,
            a.encoder_attention_heads,
            a.decoder_layers,
            a.decoder_attention_heads,
            a.encoder_ffn_dim,
            a.max_source_positions,
            a.max_target_positions,
        ),
        (
            b.vocab_size,
            b.num_mel_bins,
            b.d_model,
            b.encoder_layers,
            b.encoder_attention_heads,
            b.decoder_layers,
            b.decoder_attention_heads,
            b.encoder_ffn_dim,
            b.max_source_positions,
            b.max_target_positions,
        )
    );
    assert_eq!(ct2.generation().alignment_heads, vec![[1, 0], [1, 1]]);
    assert_eq!(a.begin_suppress_tokens, vec![220, 50256]);
    assert!(
        !ct2.is_multilingual(),
        "a 51864-token vocabulary is English-only"
    );
    assert!(!a.variable_length, "OpenAI's models get 30 s inputs");
}

fn load_err(dir: &Path) -> String {
    match WhisperEngine::load(dir, "m", Device::Cpu) {
        Ok(_) => panic!("{} should not load", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn damaged_model_files_are_errors_not_panics() {
    let bytes = std::fs::read(fixtures().join("tiny-random-ct2/model.bin")).expect("model.bin");
    let dir = ct2_dir("damaged");
    // Cut anywhere: in the header, in a name, in an array.
    for cut in [0, 3, 9, 40, 1000, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(dir.join("model.bin"), &bytes[..cut]).expect("write");
        let e = load_err(&dir);
        assert!(e.contains("model.bin"), "cut at {cut}: {e}");
    }
    let mut other = bytes.clone();
    other[0] = 9;
    std::fs::write(dir.join("model.bin"), &other).expect("write");
    assert!(load_err(&dir).contains("version 9"));
    // A byte count that does not match the dimensions.
    let mut lying = bytes.clone();
    let name = b"decoder/embeddings/weight";
    let at = lying
        .windows(name.len())
        .position(|w| w == name)
        .expect("array name")
        + name.len()
        + 1; // NUL
    let count_at = at + 1 + 8 + 1; // rank, two dims, type
    lying[count_at] ^= 0x40;
    std::fs::write(dir.join("model.bin"), &lying).expect("write");
    let e = load_err(&dir);
    assert!(e.contains("bytes for dims"), "{e}");
}

#[test]
fn flipped_bytes_anywhere_in_the_header_are_errors_not_panics() {
    let bytes = std::fs::read(fixtures().join("tiny-random-ct2/model.bin")).expect("model.bin");
    let dir = ct2_dir("flipped");
    // Every third byte of the header and the first array records (names, ranks, dimensions,
    // types, byte counts), and a spread of bytes further on, each flipped in turn: loading may
    // succeed or fail, never panic.
    let positions = (0..300)
        .step_by(3)
        .chain((300..bytes.len()).step_by(bytes.len() / 29));
    for at in positions {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0xA5;
        std::fs::write(dir.join("model.bin"), &damaged).expect("write");
        let outcome = std::panic::catch_unwind(|| WhisperEngine::load(&dir, "m", Device::Cpu));
        assert!(outcome.is_ok(), "flipping byte {at} panicked");
    }
}
