//! The network against transformers' reference on random weights (fixtures from
//! `fixtures/make_fixtures.py`): frontend, encoder in one pass and chunk by chunk, decoder
//! logits, greedy tokens — for Moonshine Streaming and the first Moonshine.

use candle_core::{Device, Tensor};
use hark_asr_moonshine::decoder::SelfCache;
use hark_asr_moonshine::model::Encoder;
use hark_asr_moonshine::{DecodeJob, Hypothesis, Moonshine};
use std::collections::HashMap;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn golden() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join("golden.safetensors"), &Device::Cpu)
        .expect("golden.safetensors")
}

fn load(name: &str) -> Moonshine {
    Moonshine::load_dir(&fixtures().join(name), &Device::Cpu).expect("model loads")
}

/// Largest difference relative to the reference's largest magnitude.
fn rel_diff(ours: &Tensor, reference: &Tensor) -> f32 {
    assert_eq!(ours.dims(), reference.dims(), "shapes differ");
    let a = ours
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("ours");
    let b = reference
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("reference");
    let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-6);
    a.iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn audio(g: &HashMap<String, Tensor>) -> Vec<f32> {
    g["audio_16k"].to_vec1::<f32>().expect("audio")
}

fn ids(t: &Tensor) -> Vec<u32> {
    t.to_vec1::<i64>()
        .expect("ids")
        .into_iter()
        .map(|x| x as u32)
        .collect()
}

fn check_decoder(model: &Moonshine, enc: &Tensor, g: &HashMap<String, Tensor>, p: &str) {
    let cross = model.cross(enc).expect("cross");
    let prefix = ids(&g["s_prefix"]);
    let step = model
        .decoder
        .step(&prefix, &mut SelfCache::default(), &cross, false)
        .expect("step");
    let d = rel_diff(&step.logits, &g[&format!("{p}_logits_last")]);
    assert!(d < 1e-4, "{p}: logits differ by {d}");

    // One token at a time through the self-attention cache: the same logits.
    let mut cache = SelfCache::default();
    let mut last = None;
    for &t in &prefix {
        last = Some(
            model
                .decoder
                .step(&[t], &mut cache, &cross, false)
                .expect("step"),
        );
    }
    let d = rel_diff(
        &last.expect("steps").logits,
        &g[&format!("{p}_logits_last")],
    );
    assert!(d < 1e-4, "{p}: incremental logits differ by {d}");

    let hyp = model.greedy(&cross, 12, false, &|| false).expect("greedy");
    assert_eq!(
        hyp.tokens,
        ids(&g[&format!("{p}_greedy")]),
        "{p}: greedy tokens"
    );
    assert_eq!(hyp.peaks().len(), 12);
    assert!(hyp.peaks().iter().all(|&f| f < cross.frames()));
}

#[test]
fn streaming_frontend_encoder_and_decoder_match_the_reference() {
    let g = golden();
    let model = load("streaming-random");
    let audio = audio(&g);
    let Encoder::Streaming(enc) = &model.encoder else {
        panic!("a streaming model")
    };
    let d = rel_diff(&enc.frontend(&audio).expect("frontend"), &g["s_frontend"]);
    assert!(d < 1e-5, "frontend differs by {d}");

    let full = model.encode(&audio).expect("encode");
    let d = rel_diff(&full, &g["s_encoder_out"]);
    assert!(d < 1e-4, "encoder differs by {d}");

    let short = model.encode(&audio[..80 * 104]).expect("encode short");
    let d = rel_diff(&short, &g["s_short_encoder_out"]);
    assert!(d < 1e-4, "short segment differs by {d}");

    check_decoder(&model, &full, &g, "s");
}

#[test]
fn streaming_encoder_chunk_by_chunk_equals_the_whole_pass() {
    let g = golden();
    let model = load("streaming-random");
    let audio = audio(&g);
    let Encoder::Streaming(enc) = &model.encoder else {
        panic!("a streaming model")
    };
    let lookahead = model.config.lookahead_frames();
    assert_eq!(lookahead, 6, "two layers look 3 frames ahead");
    // Irregular chunks, some shorter than a 5 ms frame.
    for sizes in [vec![37usize, 1000, 123, 5, 2560], vec![320], vec![16_000]] {
        let mut state = enc.start().expect("state");
        let mut parts = Vec::new();
        let mut fed = 0;
        let mut i = 0;
        while fed < audio.len() {
            let n = sizes[i % sizes.len()].min(audio.len() - fed);
            i += 1;
            if let Some(out) = enc.push(&mut state, &audio[fed..fed + n]).expect("push") {
                parts.push(out);
            }
            fed += n;
            // A frame is final once the look-ahead has arrived, never later.
            let frames_in = fed / 80 / 4;
            assert!(
                state.frames_out() + lookahead + 1 >= frames_in,
                "held back more than the look-ahead: {} out of {frames_in}",
                state.frames_out()
            );
        }
        let before_finish = state.frames_out();
        parts.extend(enc.finish(&mut state).expect("finish"));
        let streamed = Tensor::cat(&parts, 0).expect("cat");
        let d = rel_diff(&streamed, &g["s_encoder_out"]);
        assert!(
            d < 1e-4,
            "chunks {sizes:?}: streamed encoder differs by {d}"
        );
        assert_eq!(streamed.dim(0).expect("dim") - before_finish, lookahead);

        // Cross-attention keys built frame by frame equal those of the whole segment.
        let mut cross = hark_asr_moonshine::decoder::CrossCache::default();
        for p in &parts {
            model.decoder.extend(&mut cross, p).expect("extend");
        }
        let whole = model.cross(&streamed).expect("cross");
        let a = model.greedy(&cross, 12, false, &|| false).expect("greedy");
        let b = model.greedy(&whole, 12, false, &|| false).expect("greedy");
        assert_eq!(a.tokens, b.tokens);
        assert_eq!(a.tokens, ids(&g["s_greedy"]));
    }
}

#[test]
fn original_encoder_and_decoder_match_the_reference() {
    let g = golden();
    let model = load("original-random");
    let audio = audio(&g);
    let enc = model.encode(&audio).expect("encode");
    let d = rel_diff(&enc, &g["o_encoder_out"]);
    assert!(d < 1e-4, "encoder differs by {d}");
    check_decoder(&model, &enc, &g, "o");
}

#[test]
fn batched_greedy_decoding_equals_each_segment_alone() {
    let g = golden();
    for name in ["streaming-random", "original-random"] {
        let model = load(name);
        let audio = audio(&g);
        let crosses: Vec<_> = [&audio[..], &audio[..16_000], &audio[8_000..30_000]]
            .iter()
            .map(|a| {
                model
                    .cross(&model.encode(a).expect("encode"))
                    .expect("cross")
            })
            .collect();
        let forced: [&[u32]; 3] = [&[], &[17, 250], &[999]];
        let limits = [12usize, 7, 9];
        let jobs: Vec<_> = (0..3)
            .map(|i| DecodeJob {
                cross: &crosses[i],
                forced: forced[i],
                draft: &[],
                max_tokens: limits[i],
            })
            .collect();
        let never = || false;
        let stops: Vec<&dyn Fn() -> bool> = vec![&never, &never, &never];
        let batched = model.greedy_batch(&jobs, &stops).expect("batch");
        let alone: Vec<_> = (0..3)
            .map(|i| {
                model
                    .greedy_after(&crosses[i], forced[i], limits[i], true, &|| false)
                    .expect("alone")
            })
            .collect();
        for i in 0..3 {
            same_hypothesis(&batched[i], &alone[i], &format!("{name} row {i}"));
            assert_eq!(batched[i].tokens.len(), forced[i].len() + limits[i]);
            assert_eq!(batched[i].drafted, 0);
        }

        // Drafts: right all through, right for three tokens then wrong, longer than the
        // limit. The text is greedy's whatever the draft; what was right of it is kept.
        let decoded = |i: usize| alone[i].tokens[forced[i].len()..].to_vec();
        let mut wrong = decoded(1)[..3].to_vec();
        wrong.extend([decoded(1)[3] + 1, 5, 6]);
        let mut long = decoded(2);
        long.extend([1, 2, 3, 4]);
        let drafts = [decoded(0), wrong, long];
        let jobs: Vec<_> = (0..3)
            .map(|i| DecodeJob {
                draft: &drafts[i],
                ..jobs[i]
            })
            .collect();
        let drafted = model.greedy_batch(&jobs, &stops).expect("drafted");
        for i in 0..3 {
            same_hypothesis(&drafted[i], &alone[i], &format!("{name} drafted row {i}"));
        }
        assert_eq!(drafted[0].drafted, limits[0]);
        assert_eq!(drafted[1].drafted, 3);
        assert_eq!(drafted[2].drafted, limits[2]);
    }
}

/// Two decodings of one segment agree: tokens, where each token's attention peaks, and
/// probabilities.
fn same_hypothesis(a: &Hypothesis, b: &Hypothesis, what: &str) {
    assert_eq!(a.tokens, b.tokens, "{what}");
    assert_eq!(a.peaks(), b.peaks(), "{what}");
    assert_eq!(a.ended, b.ended, "{what}");
    for (x, y) in a.probs.iter().zip(&b.probs) {
        assert!((x - y).abs() < 1e-4, "{what}: {x} {y}");
    }
}

/// The streaming model's logits after the golden prompt, over the golden audio.
fn prompt_logits(model: &Moonshine, g: &HashMap<String, Tensor>) -> Tensor {
    let cross = model
        .cross(&model.encode(&audio(g)).expect("encode"))
        .expect("cross");
    model
        .decoder
        .step(
            &ids(&g["s_prefix"]),
            &mut SelfCache::default(),
            &cross,
            false,
        )
        .expect("step")
        .logits
}

#[test]
fn the_8_bit_decoder_stays_close_to_the_reference() {
    // What `MoonshineEngine::load` serves on the CPU: the decoder's products in q8_0 where their
    // input width is a multiple of 32 (in this fixture the feed-forward's second product, 96 wide;
    // the 48-wide ones stay f32).
    let g = golden();
    let model = Moonshine::load_dir_with(&fixtures().join("streaming-random"), &Device::Cpu, true)
        .expect("model loads");
    let d = rel_diff(&prompt_logits(&model, &g), &g["s_logits_last"]);
    eprintln!("8-bit logits differ by {d}");
    assert!(d > 0.0 && d < 0.02, "8-bit logits differ by {d}");
}

/// A GGUF copy of the fixture, as `hark models quantize` writes it (every layer matrix whose
/// input width is a multiple of 32 in q8_0, the rest f32, transformers' names), loads in place of
/// its safetensors and stays close to the reference; a directory with both files takes the GGUF.
/// The q8_0 rounding shows: the logits are not the f32 model's.
#[test]
fn a_quantized_gguf_copy_loads_and_stays_close_to_the_reference() {
    let g = golden();
    let src = fixtures().join("streaming-random");
    let dir = std::env::temp_dir().join(format!("hark-moonshine-gguf-{}", std::process::id()));
    let report = hark_asr_whisper::weights::quantize_model(
        &src,
        &dir,
        candle_core::quantized::GgmlDType::Q8_0,
    )
    .expect("quantize");
    assert!(report.quantized_tensors >= 4, "{report:?}");

    let logits = |model: &Moonshine| prompt_logits(model, &g);
    let from_gguf = Moonshine::load_dir(&dir, &Device::Cpu).expect("the GGUF copy loads");
    let d = rel_diff(&logits(&from_gguf), &g["s_logits_last"]);
    eprintln!("q8_0 GGUF logits differ by {d}");
    assert!(d > 1e-5 && d < 0.03, "q8_0 GGUF logits differ by {d}");
    // Beside a safetensors file, the GGUF file is the one read.
    std::fs::copy(src.join("model.safetensors"), dir.join("model.safetensors")).expect("copy");
    let both = Moonshine::load_dir(&dir, &Device::Cpu).expect("loads");
    assert_eq!(rel_diff(&logits(&both), &logits(&from_gguf)), 0.0);
    let _ = std::fs::remove_dir_all(&dir);
}
