//! Times a Moonshine model's encoder and decoder on a 16 kHz mono WAV file:
//! `cargo run --release -p hark-asr-moonshine --example profile -- MODEL_DIR FILE.wav`.
//! Env: `HARK_PROFILE_BATCH` (rows decoded together, default 1: the same window repeated, each
//! row with its own copy of the frames),
//! `HARK_PROFILE_8BIT=1` (the decoder's products in q8_0, as `hark serve` runs it on the CPU),
//! `HARK_PROFILE_DRAFT=1` (each row decoded again with its text as the draft: a prefill alone).

#[path = "common/wav.rs"]
mod wav;

fn main() -> anyhow::Result<()> {
    // As `hark` runs its models.
    hark_kernels::quiet_candle_pool();
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: profile MODEL_DIR FILE.wav");
    let batch: usize = std::env::var("HARK_PROFILE_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let eight_bit = std::env::var("HARK_PROFILE_8BIT").is_ok_and(|v| v == "1");
    let drafts = std::env::var("HARK_PROFILE_DRAFT").is_ok_and(|v| v == "1");
    let model = hark_asr_moonshine::Moonshine::load_dir_with(
        std::path::Path::new(&args[1]),
        &candle_core::Device::Cpu,
        eight_bit,
    )?;
    let samples = wav::read(&args[2])?;
    for _ in 0..3 {
        let t0 = std::time::Instant::now();
        let frames = model.encode(&samples)?;
        let t1 = std::time::Instant::now();
        let cross = model.cross(&frames)?;
        let t2 = std::time::Instant::now();
        let limit = model.token_limit(samples.len());
        // Each row its own copy of the frames, as different streams' windows have.
        let crosses: Vec<_> = (0..batch).map(|_| cross.clone()).collect();
        let jobs: Vec<_> = crosses
            .iter()
            .map(|cross| hark_asr_moonshine::DecodeJob {
                cross,
                forced: &[],
                draft: &[],
                max_tokens: limit,
            })
            .collect();
        let stop = || false;
        let stops: Vec<&dyn Fn() -> bool> =
            (0..batch).map(|_| &stop as &dyn Fn() -> bool).collect();
        let mut hyps = model.greedy_batch(&jobs, &stops)?;
        let t3 = std::time::Instant::now();
        if drafts {
            // Again with each row's text as its draft: the prefill checks it, no step runs.
            let texts: Vec<Vec<u32>> = hyps.iter().map(|h| h.tokens.clone()).collect();
            let jobs: Vec<_> = jobs
                .iter()
                .zip(&texts)
                .map(|(j, t)| hark_asr_moonshine::DecodeJob { draft: t, ..*j })
                .collect();
            let t = std::time::Instant::now();
            hyps = model.greedy_batch(&jobs, &stops)?;
            println!(
                "  again with its text as the draft: {:.0} ms ({} of {} tokens drafted)",
                t.elapsed().as_secs_f64() * 1e3,
                hyps.iter().map(|h| h.drafted).sum::<usize>(),
                hyps.iter().map(|h| h.tokens.len()).sum::<usize>()
            );
        }
        let steps = hyps.iter().map(|h| h.tokens.len()).max().unwrap_or(0);
        println!(
            "{} s audio: encode {:.0} ms ({} frames), cross {:.0} ms, decode {:.0} ms ({} rows x {} tokens, {:.2} ms/step)",
            samples.len() as f32 / 16000.0,
            (t1 - t0).as_secs_f64() * 1e3,
            frames.dim(0)?,
            (t2 - t1).as_secs_f64() * 1e3,
            (t3 - t2).as_secs_f64() * 1e3,
            batch,
            steps,
            (t3 - t2).as_secs_f64() * 1e3 / steps.max(1) as f64
        );
    }
    if let hark_asr_moonshine::model::Encoder::Streaming(encoder) = &model.encoder {
        // As a live stream runs it: half a second at a time, the look-ahead tail on a copy.
        let chunk = 8_000;
        for _ in 0..2 {
            let mut state = encoder.start()?;
            let (mut push_s, mut tail_s, mut pushes) = (0.0, 0.0, 0);
            for part in samples.chunks(chunk).filter(|p| p.len() == chunk) {
                let t = std::time::Instant::now();
                encoder.push(&mut state, part)?;
                let pushed = t.elapsed().as_secs_f64();
                encoder.finish(&mut state.clone())?;
                push_s += pushed;
                tail_s += t.elapsed().as_secs_f64() - pushed;
                pushes += 1;
            }
            println!(
                "stream: push of {} ms of audio {:.1} ms, look-ahead tail {:.1} ms (mean of {pushes})",
                chunk / 16,
                push_s * 1e3 / f64::from(pushes.max(1)),
                tail_s * 1e3 / f64::from(pushes.max(1))
            );
        }
    }
    Ok(())
}
