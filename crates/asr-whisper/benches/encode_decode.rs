//! Rust side of `bench/whisper.sh` (not a test): encoder over one 30 s window plus 20 greedy decoder
//! steps, on model directories given as arguments (`name=dir`). Prints `hark <name> encoder_ms
//! decode_ms`, medians of 5 warm runs. `HARK_BENCH_FRAMES` sets a shorter window,
//! `HARK_BENCH_BATCH` how many windows go through together, `HARK_BENCH_TOKENS` the decoder
//! steps, `HARK_BENCH_DECODE_RUNS` extra decodes of the first encoder output (to profile the
//! decoder alone).

use candle_core::Device;
use hark_asr_whisper::{greedy, DecodeConfig, WhisperEngine};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // As `hark` runs its models.
    hark_kernels::quiet_candle_pool();
    for arg in std::env::args().skip(1).filter(|a| a.contains('=')) {
        let (name, dir) = arg.split_once('=').unwrap_or(("model", &arg));
        let engine = match WhisperEngine::load(std::path::Path::new(dir), name, Device::Cpu) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("{name}: {e}");
                continue;
            }
        };
        let model = engine.model();
        // HARK_BENCH_FRAMES: a shorter window (10 ms frames), as live segments are.
        let frames = std::env::var("HARK_BENCH_FRAMES")
            .ok()
            .and_then(|f| f.parse().ok())
            .unwrap_or(3000);
        let mel: Vec<f32> = (0..80 * frames)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        // HARK_BENCH_BATCH: windows encoded and decoded together (as pre-recorded batches are).
        let batch = std::env::var("HARK_BENCH_BATCH")
            .ok()
            .and_then(|b| b.parse().ok())
            .unwrap_or(1usize)
            .max(1);
        let mels = vec![mel; batch];
        // HARK_BENCH_TOKENS: decoder steps (20 by default).
        let tokens: usize = std::env::var("HARK_BENCH_TOKENS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(20);
        let eot = engine.tokenizer().specials.eot;
        let cfg = DecodeConfig {
            prompt: vec![engine.tokenizer().specials.sot],
            forced: vec![],
            sot_index: 0,
            eot,
            no_speech: None,
            suppress: vec![eot],
            begin_suppress: vec![],
            max_tokens: tokens,
            row_max_tokens: vec![],
            audio_positions: vec![],
            padded: false,
            temperature: 0.0,
            seed: 0,
            timestamps: None,
            alignment_heads: vec![],
            withdrawn: vec![],
            keywords: vec![],
        };
        // HARK_BENCH_DECODE_RUNS: decode the same encoder output this many more times (a
        // profile of the decoder alone).
        let decode_runs: usize = std::env::var("HARK_BENCH_DECODE_RUNS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(0);
        let (mut enc_ms, mut dec_ms) = (Vec::new(), Vec::new());
        for run in 0..6 {
            let t0 = Instant::now();
            let audio = model.encode(&mels, frames).expect("encode");
            let t1 = Instant::now();
            let out = greedy(model, &audio, &cfg).expect("decode");
            let t2 = Instant::now();
            assert_eq!(out[0].tokens.len(), tokens);
            if run > 0 {
                enc_ms.push((t1 - t0).as_secs_f64() * 1000.0);
                dec_ms.push((t2 - t1).as_secs_f64() * 1000.0);
            }
            if run == 0 {
                for _ in 0..decode_runs {
                    greedy(model, &audio, &cfg).expect("decode");
                }
            }
        }
        println!("hark {name} {:.1} {:.1}", median(enc_ms), median(dec_ms));
    }
}
