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

const TINY: &str = r#"{
  "model_type": "moonshine_streaming",
  "vocab_size": 32768,
  "hidden_size": 320,
  "intermediate_size": 1280,
  "num_hidden_layers": 6,
  "num_attention_heads": 8,
  "num_key_value_heads": 8,
  "hidden_act": "silu",
  "max_position_embeddings": 4096,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "tie_word_embeddings": false,
  "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.8},
  "encoder_config": {
    "hidden_size": 320,
    "intermediate_size": 1280,
    "num_hidden_layers": 6,
    "num_attention_heads": 8,
    "num_key_value_heads": 8,
    "hidden_act": "gelu",
    "sample_rate": 16000,
    "frame_ms": 5.0,
    "sliding_windows": [[16, 4], [16, 4], [16, 0], [16, 0], [16, 4], [16, 4]]
  }
}"#;

const SMALL: &str = r#"{
  "model_type": "moonshine_streaming",
  "vocab_size": 32768,
  "hidden_size": 512,
  "intermediate_size": 2048,
  "num_hidden_layers": 10,
  "num_attention_heads": 8,
  "num_key_value_heads": 8,
  "head_dim": 64,
  "hidden_act": "silu",
  "max_position_embeddings": 4096,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "tie_word_embeddings": false,
  "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
  "encoder_config": {
    "hidden_size": 620,
    "intermediate_size": 2480,
    "num_hidden_layers": 10,
    "num_attention_heads": 8,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "hidden_act": "gelu",
    "sample_rate": 16000,
    "frame_ms": 5.0,
    "sliding_windows": [[16, 4], [16, 4], [16, 0], [16, 0], [16, 0], [16, 0], [16, 0], [16, 0], [16, 4], [16, 4]]
  }
}"#;

const MEDIUM: &str = r#"{
  "model_type": "moonshine_streaming",
  "vocab_size": 32768,
  "hidden_size": 640,
  "intermediate_size": 2560,
  "num_hidden_layers": 14,
  "num_attention_heads": 10,
  "num_key_value_heads": 10,
  "head_dim": 64,
  "hidden_act": "silu",
  "max_position_embeddings": 4096,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "tie_word_embeddings": false,
  "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
  "encoder_config": {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 14,
    "num_attention_heads": 10,
    "num_key_value_heads": 10,
    "head_dim": 64,
    "hidden_act": "gelu",
    "sample_rate": 16000,
    "frame_ms": 5.0,
    "sliding_windows": [[16, 4], [16, 4], [16, 0], [16, 0], [16, 0], [16, 0], [16, 0], [16, 0], [16, 0], [16, 0], [16, 0], [16, 0], [16, 4], [16, 4]]
  }
}"#;

fn main() -> anyhow::Result<()> {
    let usage = || anyhow::anyhow!("usage: random_checkpoint OUT_DIR [tiny|small|medium]");
    let mut args = std::env::args().skip(1);
    let out = args.next().ok_or_else(usage)?;
    let shape = match args.next().as_deref() {
        None | Some("tiny") => TINY,
        Some("small") => SMALL,
        Some("medium") => MEDIUM,
        Some(_) => return Err(usage()),
    };
    let out = std::path::Path::new(&out);
    std::fs::create_dir_all(out)?;
    let config = MoonshineConfig::from_json(shape).map_err(anyhow::Error::msg)?;
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
    std::fs::write(out.join("config.json"), shape)?;
    println!("{}", out.display());
    Ok(())
}
