//! Writes a Moonshine Streaming checkpoint with random weights and real sizes, for benchmarks
//! (`bench/live_moonshine.sh`): `cargo run --release -p hark-asr-moonshine --example
//! random_checkpoint -- OUT_DIR [tiny|small|medium]`. Copy a `tokenizer.json` with 32768 tokens beside it
//! (Moonshine tiny's: `scripts/real_speech.py` fetches one).
//!
//! - `tiny` (the default) is transformers' default `MoonshineStreamingConfig`, which its
//!   documentation ties to UsefulSensors/moonshine-streaming-tiny (encoder and decoder 320 wide,
//!   6 + 6 layers, 8 heads, vocabulary 32768).
//! - `small` is UsefulSensors/moonshine-streaming-small as far as public sources outside the
//!   Hugging Face hub (unreachable here) give it: the decoder's `config.json` fields (512 wide,
//!   10 layers, 8 heads, SiLU, 4096 positions) as transcribe.cpp's port intake records them
//!   (`reports/porting/moonshine_streaming/moonshine-streaming-small/intake.json`, hub revision
//!   2c036506); the encoder 620 wide with attention 512 wide (8 heads of 64) from the same port's
//!   weight loader and Microsoft Olive's export recipe (first convolution 1240 = 2 x 620); 10 + 10
//!   layers from the GGUF conversion's model card. Not published outside the hub and chosen here:
//!   the feed-forward widths, 4 x the hidden size (2480 and 2048) as in tiny (1280 = 4 x 320);
//!   with them the model has 140.1 M weights against 140.5 M from its published f32 size (562 MB),
//!   and the same rule gives medium 265.9 M against the 266 M Moonshine's documentation states.
//!   Also chosen: tiny's sliding windows stretched to 10 layers (look-ahead in the first and last
//!   two) and 32 rotary dimensions per head as in tiny. None of the chosen values changes the
//!   amount of work by more than the feed-forward widths' share of the weights.
//! - `medium` likewise: encoder 768 wide with attention 640 wide (10 heads of 64), decoder 640
//!   wide, 14 + 14 layers (Moonshine's own export tooling's `streaming_config.json` for it and its
//!   LoRA notebook's "14-layer decoder 640 units wide"; the 4 x feed-forward rule gives the 266 M
//!   weights that notebook states, 245 M without the output head as published).

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use hark_asr_moonshine::{Moonshine, MoonshineConfig};

/// A shape: widths, layers (the encoder's and the decoder's alike), heads and their width. The
/// rest follows tiny's rules: feed-forward 4 x the width, look-ahead windows in the first and last
/// two encoder layers, 32 rotary dimensions per head.
struct Shape {
    encoder: usize,
    decoder: usize,
    layers: usize,
    heads: usize,
    head_dim: usize,
}

const TINY: Shape = Shape {
    encoder: 320,
    decoder: 320,
    layers: 6,
    heads: 8,
    head_dim: 40,
};
const SMALL: Shape = Shape {
    encoder: 620,
    decoder: 512,
    layers: 10,
    heads: 8,
    head_dim: 64,
};
const MEDIUM: Shape = Shape {
    encoder: 768,
    decoder: 640,
    layers: 14,
    heads: 10,
    head_dim: 64,
};

/// `config.json` of `shape`, as transformers writes a `MoonshineStreamingConfig`.
fn config(shape: &Shape) -> String {
    let windows: Vec<[usize; 2]> = (0..shape.layers)
        .map(|i| [16, if i < 2 || i + 2 >= shape.layers { 4 } else { 0 }])
        .collect();
    let config = serde_json::json!({
        "model_type": "moonshine_streaming",
        "vocab_size": 32768,
        "hidden_size": shape.decoder,
        "intermediate_size": 4 * shape.decoder,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.heads,
        "head_dim": shape.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "tie_word_embeddings": false,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "partial_rotary_factor": 32.0 / shape.head_dim as f64
        },
        "encoder_config": {
            "hidden_size": shape.encoder,
            "intermediate_size": 4 * shape.encoder,
            "num_hidden_layers": shape.layers,
            "num_attention_heads": shape.heads,
            "num_key_value_heads": shape.heads,
            "head_dim": shape.head_dim,
            "hidden_act": "gelu",
            "sample_rate": 16000,
            "frame_ms": 5.0,
            "sliding_windows": windows
        }
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let usage = || anyhow::anyhow!("usage: random_checkpoint OUT_DIR [tiny|small|medium]");
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or_else(usage)?;
    let json = config(match args.next().as_deref() {
        None | Some("tiny") => &TINY,
        Some("small") => &SMALL,
        Some("medium") => &MEDIUM,
        Some(_) => return Err(usage()),
    });
    let out = std::path::Path::new(&out);
    std::fs::create_dir_all(out)?;
    let config = MoonshineConfig::from_json(&json).map_err(anyhow::Error::msg)?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    Moonshine::load(config, vb)?; // creates every tensor the network reads
    {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        for (name, var) in data.iter() {
            let dims = var.dims().to_vec();
            let value = if name.ends_with("log_k") {
                Tensor::new(0.75f32.ln(), &Device::Cpu)?
            } else if name.ends_with("gamma") {
                Tensor::zeros(dims.as_slice(), DType::F32, &Device::Cpu)?
            } else if name.contains("norm") {
                Tensor::ones(dims.as_slice(), DType::F32, &Device::Cpu)?
            } else {
                let fan_in = *dims.last().unwrap_or(&1) as f64;
                (Tensor::randn(0f32, 1.0, dims.as_slice(), &Device::Cpu)? / fan_in.sqrt())?
            };
            var.set(&value)?;
        }
    }
    varmap.save(out.join("model.safetensors"))?;
    std::fs::write(out.join("config.json"), &json)?;
    println!("{}", out.display());
    Ok(())
}
