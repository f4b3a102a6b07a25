//! Times a Moonshine model's encoder and decoder on a 16 kHz mono WAV file:
//! `cargo run --release -p hark-asr-moonshine --example profile -- MODEL_DIR FILE.wav`.

#[path = "common/wav.rs"]
mod wav;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: profile MODEL_DIR FILE.wav");
    let model = hark_asr_moonshine::Moonshine::load_dir(
        std::path::Path::new(&args[1]),
        &candle_core::Device::Cpu,
    )?;
    let samples = wav::read(&args[2])?;
    for _ in 0..3 {
        let t0 = std::time::Instant::now();
        let frames = model.encode(&samples)?;
        let t1 = std::time::Instant::now();
        let cross = model.cross(&frames)?;
        let t2 = std::time::Instant::now();
        let hyp = model.greedy(&cross, model.token_limit(samples.len()), true, &|| false)?;
        let t3 = std::time::Instant::now();
        println!(
            "{} s audio: encode {:.0} ms ({} frames), cross {:.0} ms, decode {:.0} ms ({} tokens, {:.1} ms/token)",
            samples.len() as f32 / 16000.0,
            (t1 - t0).as_secs_f64() * 1e3,
            frames.dim(0)?,
            (t2 - t1).as_secs_f64() * 1e3,
            (t3 - t2).as_secs_f64() * 1e3,
            hyp.tokens.len(),
            (t3 - t2).as_secs_f64() * 1e3 / hyp.tokens.len().max(1) as f64
        );
    }
    Ok(())
}
