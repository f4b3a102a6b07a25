//! Prints a Moonshine model's words with their times for a 16 kHz mono WAV file:
//! `cargo run --release -p hark-asr-moonshine --example words -- MODEL_DIR FILE.wav`.

#[path = "common/wav.rs"]
mod wav;

use hark_asr::{AudioWindow, DecodeOptions, Engine};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: words MODEL_DIR FILE.wav");
    let mut engine = hark_asr_moonshine::MoonshineEngine::load(
        std::path::Path::new(&args[1]),
        "moonshine",
        &candle_core::Device::Cpu,
    )?;
    let samples = wav::read(&args[2])?;
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
