//! Prints a Moonshine model's words with their times for a 16 kHz mono WAV file:
//! `cargo run --release -p hark-asr-moonshine --example words -- MODEL_DIR FILE.wav`.

use hark_asr::{AudioWindow, DecodeOptions, Engine};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: words MODEL_DIR FILE.wav");
    let mut engine = hark_asr_moonshine::MoonshineEngine::load(
        std::path::Path::new(&args[1]),
        "moonshine",
        &candle_core::Device::Cpu,
    )?;
    let bytes = std::fs::read(&args[2])?;
    let data = bytes
        .windows(4)
        .position(|w| w == b"data")
        .ok_or_else(|| anyhow::anyhow!("no data chunk"))?
        + 8;
    let samples: Vec<f32> = bytes[data..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let started = std::time::Instant::now();
    let out = engine.transcribe_batch(&[AudioWindow {
        samples,
        options: DecodeOptions::default(),
        withdrawn: None,
    }])?;
    for w in &out[0].words {
        println!(
            "{:6.2} {:6.2} {:.2} {}",
            w.start_s, w.end_s, w.confidence, w.text
        );
    }
    eprintln!("{} ms", started.elapsed().as_millis());
    Ok(())
}
