//! Parity with the reference implementations (PyTorch `transformers`, `openai-whisper`), through
//! the fixtures written by `fixtures/make_fixtures.py`. Tolerances: mel ≤ 2e-4 absolute (f32 FFTs
//! differ in rounding), network outputs ≤ 1e-4 relative to the largest magnitude.

use candle_core::{Device, Tensor};
use hark_asr::{AudioWindow, DecodeOptions, Engine};
use hark_asr_whisper::mel::{log_mel_spectrogram, MelStream};
use hark_asr_whisper::{greedy, DecodeConfig, WhisperEngine, WhisperTokenizer};

mod support;
use support::{engine, fixtures, golden, ids, max_abs_diff, rel_err, vec_f32};

#[test]
fn mel_matches_openai_whisper_for_80_and_128_bins() {
    let g = golden();
    let audio = vec_f32(&g["audio_16k"]);
    for (key, n_mels) in [("mel80", 80), ("mel128", 128)] {
        let reference = vec_f32(&g[key]);
        let ours = log_mel_spectrogram(&audio, n_mels);
        let d = max_abs_diff(&ours, &reference);
        assert!(d <= 2e-4, "{key}: max abs diff {d}");
        // The incremental frontend gives the same frames.
        let mut s = MelStream::new(n_mels);
        for c in audio.chunks(1000) {
            s.push(c);
        }
        s.finish();
        let streamed = s.window(0, audio.len() / 160).expect("frames");
        assert!(
            max_abs_diff(&streamed, &reference) <= 2e-4,
            "{key} streamed"
        );
    }
}

#[test]
fn encoder_decoder_and_greedy_match_transformers() {
    let g = golden();
    let e = engine();
    let model = e.model();
    let mel = vec_f32(&g["mel80"]);
    let frames = mel.len() / 80;
    let first200: Vec<f32> = (0..80)
        .flat_map(|m| mel[m * frames..m * frames + 200].to_vec())
        .collect();
    let enc = model.encode(&[first200], 200).expect("encode");
    let err = rel_err(&vec_f32(&enc), &vec_f32(&g["encoder_out"]));
    assert!(err <= 1e-4, "encoder relative error {err}");

    let prefix = ids(&g["prefix"]);
    let mut state = model.decoder.start(&enc).expect("start");
    let tokens = Tensor::from_vec(prefix.clone(), (1, prefix.len()), &Device::Cpu).expect("tokens");
    let (logits, _) = model
        .decoder
        .step(&tokens, &mut state, false)
        .expect("step");
    let last = logits.narrow(1, prefix.len() - 1, 1).expect("last");
    let err = rel_err(&vec_f32(&last), &vec_f32(&g["logits_last"]));
    assert!(err <= 1e-4, "decoder logits relative error {err}");

    let spec = &e.tokenizer().specials;
    let cfg = DecodeConfig {
        prompt: prefix,
        forced: vec![],
        sot_index: 0,
        eot: spec.eot,
        no_speech: None,
        suppress: vec![],
        begin_suppress: vec![],
        max_tokens: 10,
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
    let out = greedy(model, &enc, &cfg).expect("greedy");
    assert_eq!(out[0].tokens, ids(&g["greedy"]));
}

#[test]
fn tokenizer_matches_openai_whisper() {
    let t =
        WhisperTokenizer::load(&fixtures().join("tiny-random/tokenizer.json")).expect("tokenizer");
    let text = " We the People of the United States, in Order to form a more perfect Union, 1787.";
    assert_eq!(t.encode(text), ids(&golden()["sample_ids"]));
    assert_eq!(t.decode(&t.encode(text)), text);
    let s = &t.specials;
    assert_eq!(
        (s.eot, s.sot, s.no_timestamps, s.timestamp_begin),
        (50256, 50257, 50362, Some(50363))
    );
}

#[test]
fn the_engine_transcribes_a_batch_of_uneven_windows() {
    let g = golden();
    let audio = vec_f32(&g["audio_16k"]);
    let mut e = engine();
    assert_eq!(
        e.max_window_samples(),
        32_000,
        "the window comes from max_source_positions"
    );
    let windows = vec![
        AudioWindow {
            samples: audio[..32_000].to_vec(),
            options: DecodeOptions::default(),
            withdrawn: None,
        },
        AudioWindow {
            samples: audio[..7_000].to_vec(),
            options: DecodeOptions::default(),
            withdrawn: None,
        },
        AudioWindow {
            samples: vec![],
            options: DecodeOptions::default(),
            withdrawn: None,
        },
    ];
    let out = e.transcribe_batch(&windows).expect("batch");
    assert_eq!(out.len(), 3);
    assert!(out[2].words.is_empty());
    for (t, len_s) in out.iter().zip([2.0f32, 7_000.0 / 16_000.0]) {
        let mut prev = 0.0;
        for w in &t.words {
            assert!(
                w.start_s >= prev - 1e-6 && w.end_s >= w.start_s && w.end_s <= len_s + 0.02,
                "{w:?} in a {len_s} s window"
            );
            assert!((0.0..=1.0).contains(&w.confidence));
            prev = w.start_s;
        }
    }
    // A window's transcript does not depend on what it was batched with: the short one attends
    // only to its own audio, not to the padding up to the long one. (Greedy only: random weights
    // fall back to sampling, whose draws depend on the batch.)
    e.set_temperature_fallback(false);
    let out = e.transcribe_batch(&windows).expect("batch");
    for (i, w) in windows.iter().enumerate() {
        let alone = e.transcribe_batch(std::slice::from_ref(w)).expect("alone");
        let text =
            |t: &hark_asr::Transcript| t.words.iter().map(|w| w.text.clone()).collect::<Vec<_>>();
        assert_eq!(text(&alone[0]), text(&out[i]), "window {i}");
        for (a, b) in alone[0].words.iter().zip(&out[i].words) {
            assert!((a.start_s - b.start_s).abs() < 1e-3 && (a.end_s - b.end_s).abs() < 1e-3);
            assert!((a.confidence - b.confidence).abs() < 1e-3, "{a:?} vs {b:?}");
        }
    }
}

#[test]
fn loading_errors_name_the_problem() {
    let missing = WhisperEngine::load(&fixtures().join("nope"), "x", Device::Cpu)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(missing.contains("config.json"), "{missing}");
    let dir = std::env::temp_dir().join(format!("hark-whisper-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for f in [
        "generation_config.json",
        "tokenizer.json",
        "model.safetensors",
    ] {
        std::fs::copy(fixtures().join("tiny-random").join(f), dir.join(f)).expect("copy");
    }
    let cfg = std::fs::read_to_string(fixtures().join("tiny-random/config.json")).expect("config");
    std::fs::write(
        dir.join("config.json"),
        cfg.replace("\"d_model\": 32", "\"d_model\": 64"),
    )
    .expect("write");
    let err = WhisperEngine::load(&dir, "x", Device::Cpu)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("do not match"), "{err}");
}

#[test]
fn key_terms_become_a_prompt_and_languages_group_the_batch() {
    let g = golden();
    let audio = vec_f32(&g["audio_16k"]);
    let mut e = engine();
    let with_terms = DecodeOptions {
        language: None,
        keyterms: vec!["Constitution".into(), "We the People".into()],
        ..DecodeOptions::default()
    };
    let windows = vec![
        AudioWindow {
            samples: audio[..16_000].to_vec(),
            options: with_terms,
            withdrawn: None,
        },
        AudioWindow {
            samples: audio[16_000..32_000].to_vec(),
            options: DecodeOptions::default(),
            withdrawn: None,
        },
    ];
    let out = e
        .transcribe_batch(&windows)
        .expect("batch with two prompts");
    assert_eq!(out.len(), 2);
    for t in &out {
        assert!(t
            .words
            .iter()
            .all(|w| w.end_s <= 1.0 + 0.02 && w.start_s >= 0.0));
    }
    assert!(
        e.tokenizer().specials.sot_prev.is_some(),
        "the English vocabulary has <|startofprev|>"
    );
}
