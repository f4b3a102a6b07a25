//! Writes a Moonshine Streaming checkpoint with random weights and real sizes, for benchmarks
//! (`bench/live_moonshine.sh`): `cargo run --release -p hark-asr-moonshine --example
//! random_checkpoint -- OUT_DIR`. The shape is transformers' default `MoonshineStreamingConfig`,
//! which its documentation ties to UsefulSensors/moonshine-streaming-tiny (encoder and decoder
//! 320 wide, 6 + 6 layers, 8 heads, vocabulary 32768). Copy a `tokenizer.json` with 32768
//! tokens beside it (Moonshine tiny's: `scripts/real_speech.py` fetches one).

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use hark_asr_moonshine::{Moonshine, MoonshineConfig};

const CONFIG: &str = r#"{
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

fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: random_checkpoint OUT_DIR"))?;
    let out = std::path::Path::new(&out);
    std::fs::create_dir_all(out)?;
    let config = MoonshineConfig::from_json(CONFIG).map_err(anyhow::Error::msg)?;
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
    std::fs::write(out.join("config.json"), CONFIG)?;
    println!("{}", out.display());
    Ok(())
}
