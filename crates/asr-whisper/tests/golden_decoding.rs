//! Decoding parity with openai-whisper, through `fixtures/make_fixtures.py`: timestamp rules,
//! beam search, word timings from `find_alignment`, and the multilingual 128-mel model (tokenizer,
//! language detection, language-token prompts).

use candle_core::{Device, Tensor};
use hark_asr::{AudioWindow, DecodeOptions, Engine};
use hark_asr_whisper::{
    beam_search, greedy, segments, token_times, DecodeConfig, TimestampRules, WhisperEngine,
};

mod support;
use support::{engine, fixtures, golden, ids, rel_err, vec_f32};

/// The encoder output for the first 200 frames of a golden mel (`key`, `n_mels` rows).
fn encode_first_200(e: &WhisperEngine, key: &str, n_mels: usize) -> Tensor {
    let mel = vec_f32(&golden()[key]);
    let frames = mel.len() / n_mels;
    let first: Vec<f32> = (0..n_mels)
        .flat_map(|m| mel[m * frames..m * frames + 200].to_vec())
        .collect();
    e.model().encode(&[first], 200).expect("encode")
}

fn config(e: &WhisperEngine, prompt: Vec<u32>, max_tokens: usize) -> DecodeConfig {
    DecodeConfig {
        prompt,
        forced: vec![],
        sot_index: 0,
        eot: e.tokenizer().specials.eot,
        no_speech: None,
        suppress: vec![],
        begin_suppress: vec![],
        max_tokens,
        row_max_tokens: vec![],
        audio_positions: vec![],
        padded: false,
        temperature: 0.0,
        seed: 0,
        timestamps: None,
        alignment_heads: vec![],
        withdrawn: vec![],
        keywords: vec![],
    }
}

#[test]
fn timestamp_rules_match_openai() {
    let e = engine();
    let enc = encode_first_200(&e, "mel80", 80);
    let s = &e.tokenizer().specials;
    let begin = s.timestamp_begin.expect("timestamps");
    let mut cfg = config(&e, vec![s.sot], 16);
    cfg.timestamps = Some(TimestampRules {
        begin,
        no_timestamps: s.no_timestamps,
        max_initial_index: Some(50),
    });
    let out = greedy(e.model(), &enc, &cfg).expect("greedy");
    let want: Vec<u32> = ids(&golden()["ts_greedy"])
        .into_iter()
        .filter(|t| *t != s.eot)
        .collect();
    assert_eq!(out[0].tokens, want);
    // The reference sequence pairs its timestamps; segments read them back as seconds.
    let segs = segments(&out[0].tokens, begin);
    assert!(!segs.is_empty());
    assert!((segs[0].0 - (want[0] - begin) as f32 * 0.02).abs() < 1e-6);
    for w in segs.windows(2) {
        assert!(w[0].0 <= w[0].1 && w[0].1 <= w[1].0, "{segs:?}");
    }
    assert_eq!(
        segments(&[begin + 5, 100, 200, begin + 10, begin + 10, 300], begin),
        vec![
            (5.0 * 0.02, 10.0 * 0.02, vec![100, 200]),
            (10.0 * 0.02, 10.0 * 0.02, vec![300])
        ]
    );
}

#[test]
fn beam_search_matches_openai() {
    let e = engine();
    let enc = encode_first_200(&e, "mel80", 80);
    let s = &e.tokenizer().specials;
    let special = |t: &str| {
        e.tokenizer()
            .encode(t)
            .first()
            .copied()
            .expect("special token")
    };
    // openai-whisper always suppresses these (suppress_tokens=[] adds nothing else).
    let mut fixed = vec![
        special("<|transcribe|>"),
        special("<|translate|>"),
        s.sot,
        special("<|startofprev|>"),
        special("<|startoflm|>"),
    ];
    fixed.extend(s.no_speech);
    let mut cfg = config(&e, vec![s.sot, s.no_timestamps], 20);
    cfg.suppress = fixed.clone();
    cfg.begin_suppress = fixed;
    let out = beam_search(e.model(), &enc, &cfg, 3, 1.0).expect("beam");
    let g = golden();
    assert_eq!(out[0].tokens, ids(&g["beam_tokens"]));
    let want = vec_f32(&g["beam_avg_logprob"])[0];
    assert!(
        (out[0].avg_logprob - want).abs() < 1e-3,
        "{} vs {want}",
        out[0].avg_logprob
    );
    // One beam is greedy decoding.
    let one = beam_search(e.model(), &enc, &cfg, 1, 1.0).expect("beam 1");
    let greedy_out = greedy(e.model(), &enc, &cfg).expect("greedy");
    assert_eq!(one[0].tokens, greedy_out[0].tokens);
}

#[test]
fn word_timings_match_openai_find_alignment() {
    let e = engine();
    let enc = encode_first_200(&e, "mel80", 80);
    let g = golden();
    let s = &e.tokenizer().specials;
    let tokens = ids(&g["align_tokens"]);
    let frames = ids(&g["align_frames"])[0] as usize;
    let times = token_times(
        e.model(),
        &enc,
        &[s.sot, s.no_timestamps],
        0,
        &tokens,
        s.eot,
        &e.generation().alignment_heads,
        frames / 2,
    )
    .expect("alignment");
    let (starts, ends) = (vec_f32(&g["align_start"]), vec_f32(&g["align_end"]));
    let mut at = 0;
    for (k, len) in ids(&g["align_word_len"]).into_iter().enumerate() {
        let (a, b) = (times[at], times[at + len as usize]);
        assert!(
            (a - starts[k]).abs() < 1e-4 && (b - ends[k]).abs() < 1e-4,
            "word {k}: ours {a}-{b}, openai {}-{}",
            starts[k],
            ends[k]
        );
        at += len as usize;
    }
    assert_eq!(at, tokens.len());
}

#[test]
fn greedy_times_its_tokens_as_the_alignment_pass_does() {
    let e = engine();
    let enc = encode_first_200(&e, "mel80", 80);
    let s = &e.tokenizer().specials;
    let heads = e.generation().alignment_heads.clone();
    let prompt = vec![s.sot, s.no_timestamps];
    let free = greedy(e.model(), &enc, &config(&e, prompt.clone(), 3)).expect("free");
    // Two rows of uneven audio (100 and 60 positions), the second with forced text and a lower
    // limit: it stops first and is fed end-of-text while the other goes on; the other stops at
    // the budget, with its last token not yet fed.
    let short = enc.narrow(1, 0, 60).expect("narrow");
    let short = short.pad_with_zeros(1, 0, 40).expect("pad");
    let batch = Tensor::cat(&[&enc, &short], 0).expect("batch");
    let mut cfg = config(&e, prompt.clone(), 10);
    cfg.alignment_heads = heads.clone();
    cfg.audio_positions = vec![100, 60];
    cfg.row_max_tokens = vec![10, 6];
    cfg.forced = vec![vec![], free[0].tokens[..2].to_vec()];
    let out = greedy(e.model(), &batch, &cfg).expect("greedy");
    for (row, (d, positions)) in out.iter().zip([100, 60]).enumerate() {
        let audio = batch.narrow(0, row, 1).expect("row");
        let audio = audio.narrow(1, 0, positions).expect("positions");
        let want = token_times(
            e.model(),
            &audio,
            &prompt,
            0,
            &d.tokens,
            s.eot,
            &heads,
            positions,
        )
        .expect("alignment pass");
        assert_eq!(d.times.len(), want.len(), "row {row}");
        assert!(
            d.times.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6),
            "row {row}: {:?} vs {want:?}",
            d.times
        );
    }
    assert_eq!((out[0].tokens.len(), out[1].tokens.len()), (10, 6));
}

fn ml_engine() -> WhisperEngine {
    WhisperEngine::load(
        &fixtures().join("tiny-random-ml"),
        "tiny-random-ml",
        Device::Cpu,
    )
    .expect("load multilingual fixture")
}

#[test]
fn multilingual_128_mel_model_matches_the_references() {
    let e = ml_engine();
    let g = golden();
    assert!(e.is_multilingual());
    assert_eq!(e.config().num_mel_bins, 128);
    // Tokenizer: ids identical to openai-whisper's multilingual tiktoken, and back to the text.
    let text = " Wir, das Volk der Vereinigten Staaten — nous, le peuple — 我们人民, 1787.";
    assert_eq!(e.tokenizer().encode(text), ids(&g["ml_sample_ids"]));
    assert_eq!(e.tokenizer().decode(&e.tokenizer().encode(text)), text);
    let langs = &e.tokenizer().specials.languages;
    let mut want_ids = ids(&g["ml_lang_ids"]);
    want_ids.sort_unstable();
    assert_eq!(langs.iter().map(|(t, _)| *t).collect::<Vec<_>>(), want_ids);
    assert_eq!((langs[0].1.as_str(), langs[99].1.as_str()), ("en", "yue"));
    // Network on 128 mel bins with a language prompt.
    let enc = encode_first_200(&e, "mel128", 128);
    let prefix = ids(&g["ml_prefix"]);
    assert_eq!(e.tokenizer().language("de-DE"), Some(prefix[1]));
    let mut state = e.model().decoder.start(&enc).expect("start");
    let t = Tensor::from_vec(prefix.clone(), (1, prefix.len()), &Device::Cpu).expect("t");
    let (logits, _) = e.model().decoder.step(&t, &mut state, false).expect("step");
    let last = logits.narrow(1, prefix.len() - 1, 1).expect("last");
    let err = rel_err(&vec_f32(&last), &vec_f32(&g["ml_logits_last"]));
    assert!(err <= 1e-4, "decoder logits relative error {err}");
    // Language detection: the softmax of the reference's language logits (given in openai's
    // order of language ids).
    let ref_ids = ids(&g["ml_lang_ids"]);
    let lang_logits = vec_f32(&g["ml_lang_logits"]);
    let max = lang_logits.iter().copied().fold(f32::MIN, f32::max);
    let z: f32 = lang_logits.iter().map(|v| (v - max).exp()).sum();
    let detected = e.detect_language(&enc, &[]).expect("detect").remove(0);
    assert_eq!(detected.len(), 100);
    for (code, p) in &detected {
        let id = langs.iter().find(|(_, c)| c == code).expect("code").0;
        let k = ref_ids.iter().position(|t| *t == id).expect("id");
        let want = (lang_logits[k] - max).exp() / z;
        assert!((p - want).abs() < 1e-5, "{code}: {p} vs {want}");
    }
    assert!(detected.windows(2).all(|w| w[0].1 >= w[1].1));
}

#[test]
fn multilingual_engine_detects_or_follows_the_language() {
    let mut e = ml_engine();
    let audio = vec_f32(&golden()["audio_16k"]);
    let window = |language: Option<&str>| AudioWindow {
        samples: audio[..32_000].to_vec(),
        options: DecodeOptions {
            language: language.map(str::to_owned),
            keyterms: vec![],
            ..DecodeOptions::default()
        },
        withdrawn: None,
    };
    let out = e
        .transcribe_batch(&[window(None), window(Some("fr"))])
        .expect("batch");
    // The engine's own view of the window: its log-mel of the same 2 s.
    let mel = hark_asr_whisper::mel::log_mel_spectrogram(&audio[..32_000], 128);
    let frames = mel.len() / 128;
    let enc = e.model().encode(&[mel], frames).expect("encode");
    let top = e.detect_language(&enc, &[]).expect("detect")[0][0]
        .0
        .clone();
    assert_eq!(out[0].language.as_deref(), Some(top.as_str()));
    assert_eq!(out[1].language.as_deref(), Some("fr"));
    // English-only models report no language.
    let mut en = engine();
    let out = en.transcribe_batch(&[window(None)]).expect("en");
    assert_eq!(out[0].language, None);
}

#[test]
fn per_row_token_limits_stop_each_window_on_its_own() {
    let e = engine();
    let enc = encode_first_200(&e, "mel80", 80);
    let both = Tensor::cat(&[&enc, &enc], 0).expect("batch");
    let s = &e.tokenizer().specials;
    let mut cfg = config(&e, vec![s.sot, s.no_timestamps], 10);
    cfg.row_max_tokens = vec![3, 5];
    let out = greedy(e.model(), &both, &cfg).expect("greedy");
    // The random model never ends on its own (10 greedy tokens in the golden), so the limits bind.
    assert_eq!((out[0].tokens.len(), out[1].tokens.len()), (3, 5));
    assert_eq!(out[0].tokens[..], out[1].tokens[..3]);
}

#[test]
fn forced_tokens_start_the_result_with_the_probabilities_the_model_gives_them() {
    let e = engine();
    let enc = encode_first_200(&e, "mel80", 80);
    let s = &e.tokenizer().specials;
    let base = vec![s.sot, s.no_timestamps];
    let free = greedy(e.model(), &enc, &config(&e, base.clone(), 8)).expect("greedy");
    let free = &free[0];
    assert_eq!(free.tokens.len(), 8);
    // Force the first three tokens greedy chose: the same result, from one prompt step.
    let mut cfg = config(&e, base.clone(), 8);
    cfg.forced = vec![free.tokens[..3].to_vec()];
    let forced = &greedy(e.model(), &enc, &cfg).expect("forced")[0];
    assert_eq!(forced.tokens[..3], free.tokens[..3]);
    for (a, b) in forced.probs.iter().zip(&free.probs).take(3) {
        assert!((a - b).abs() < 1e-3, "forced prob {a} vs sampled {b}");
    }
    assert_eq!(
        forced.tokens[3], free.tokens[3],
        "greedy continues from the forced tokens"
    );
    // The budget counts the forced tokens: 8 in all.
    assert_eq!(forced.tokens.len(), 8);

    // Rows with different forced text (none, one token, three that greedy would not choose)
    // decode in one batch, each exactly as it does alone.
    let t = &free.tokens;
    let prefixes = vec![vec![], vec![t[0]], vec![t[2], t[0], t[1]]];
    let batch = Tensor::cat(&[&enc, &enc, &enc], 0).expect("batch");
    let mut cfg = config(&e, base.clone(), 8);
    cfg.forced = prefixes.clone();
    let together = greedy(e.model(), &batch, &cfg).expect("together");
    for (row, prefix) in prefixes.into_iter().enumerate() {
        let mut cfg = config(&e, base.clone(), 8);
        cfg.forced = vec![prefix];
        let alone = &greedy(e.model(), &enc, &cfg).expect("alone")[0];
        assert_eq!(together[row].tokens, alone.tokens, "row {row}");
        for (a, b) in together[row].probs.iter().zip(&alone.probs) {
            assert!((a - b).abs() < 1e-4, "row {row}: prob {a} vs {b}");
        }
    }

    // Through the engine: a prefix is text the transcript begins with, timed like the rest.
    let mut e = engine();
    e.set_temperature_fallback(false);
    let audio = vec_f32(&golden()["audio_16k"]);
    let window = |prefix: &str| AudioWindow {
        samples: audio[..32_000].to_vec(),
        options: DecodeOptions {
            known_start: prefix.into(),
            ..DecodeOptions::default()
        },
        withdrawn: None,
    };
    let out = e
        .transcribe_batch(&[window(""), window("We the People")])
        .expect("batch");
    let words: Vec<&str> = out[1].words.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(words[..3], ["We", "the", "People"], "{words:?}");
    assert_ne!(
        out[0].words[0].text, "We",
        "a random model does not say it unforced"
    );
    let mut prev = 0.0;
    for w in &out[1].words {
        assert!(w.start_s >= prev - 1e-6 && w.end_s >= w.start_s && w.end_s <= 2.02);
        assert!(w.confidence > 0.0 && w.confidence <= 1.0, "{w:?}");
        prev = w.start_s;
    }
}

#[test]
fn a_withdrawn_row_stops_and_the_others_decode_as_if_alone() {
    let e = engine();
    let enc = encode_first_200(&e, "mel80", 80);
    let both = Tensor::cat(&[&enc, &enc], 0).expect("batch");
    let s = &e.tokenizer().specials;
    let cfg = config(&e, vec![s.sot, s.no_timestamps], 8);
    let alone = greedy(e.model(), &enc, &cfg).expect("greedy");
    let stale = hark_asr::Cancel::default();
    stale.cancel();
    let mut with_stale = cfg.clone();
    with_stale.withdrawn = vec![None, Some(stale.clone())];
    let out = greedy(e.model(), &both, &with_stale).expect("greedy");
    assert_eq!(out[0].tokens, alone[0].tokens);
    assert_eq!(
        alone[0].tokens.len(),
        8,
        "the random model runs to the limit"
    );
    assert!(out[1].tokens.is_empty(), "{:?}", out[1].tokens);

    // Through the engine: a withdrawn window comes back empty, the other as usual.
    let mut e = engine();
    e.set_temperature_fallback(false);
    let audio = vec_f32(&golden()["audio_16k"]);
    let window = |withdrawn: Option<hark_asr::Cancel>| AudioWindow {
        samples: audio[..32_000].to_vec(),
        options: DecodeOptions::default(),
        withdrawn,
    };
    let out = e
        .transcribe_batch(&[window(None), window(Some(stale))])
        .expect("batch");
    assert!(!out[0].words.is_empty());
    assert!(out[1].words.is_empty(), "{:?}", out[1].words);
}

#[test]
fn a_window_heard_in_context_keeps_only_its_own_words_timed_from_its_start() {
    let mut e = engine();
    e.set_temperature_fallback(false);
    let audio = vec_f32(&golden()["audio_16k"]);
    let (split, text) = (12_000, "We the People");
    // The whole audio with the context's words as its known beginning…
    let whole = AudioWindow {
        samples: audio[..32_000].to_vec(),
        options: DecodeOptions {
            known_start: text.into(),
            ..DecodeOptions::default()
        },
        withdrawn: None,
    };
    // …is what the window after `split` hears with that audio and text as context.
    let in_context = AudioWindow {
        samples: audio[split..32_000].to_vec(),
        options: DecodeOptions {
            context: hark_asr::WindowContext {
                samples: audio[..split].to_vec(),
                text: text.into(),
                languages: Vec::new(),
            },
            ..DecodeOptions::default()
        },
        withdrawn: None,
    };
    // A context that does not fit before the window (2 s here) is not used.
    let too_long = AudioWindow {
        samples: audio[..32_000].to_vec(),
        options: in_context.options.clone(),
        withdrawn: None,
    };
    let out = e
        .transcribe_batch(&[whole, in_context, too_long])
        .expect("batch");
    let (whole, own) = (&out[0].words, &out[1].words);
    assert_eq!(whole.len(), own.len() + 3, "{whole:?}\n{own:?}");
    let shift = split as f32 / 16_000.0;
    for (a, b) in whole[3..].iter().zip(own) {
        assert_eq!(a.text, b.text);
        assert!(
            (a.start_s - shift).max(0.0) - b.start_s < 1e-5,
            "{a:?} {b:?}"
        );
        assert!(
            (a.end_s - shift).max(b.start_s) - b.end_s < 1e-5,
            "{a:?} {b:?}"
        );
        assert!((a.confidence - b.confidence).abs() < 1e-4);
    }
    assert!(own
        .iter()
        .all(|w| w.end_s <= (32_000 - split) as f32 / 16_000.0 + 0.02));
    assert_ne!(out[2].words.first().map(|w| w.text.as_str()), Some("We"));
}

#[test]
fn an_encoder_pass_nobody_wants_stops_at_the_next_layer() {
    let e = engine();
    let mel = vec_f32(&golden()["mel80"]);
    let frames = mel.len() / 80;
    let first: Vec<f32> = (0..80)
        .flat_map(|m| mel[m * frames..m * frames + 200].to_vec())
        .collect();
    let mels = [first];
    // Asked before each of the two layers: wanted before the first, withdrawn before the second.
    let asked = std::cell::Cell::new(0);
    let stop = || {
        asked.set(asked.get() + 1);
        asked.get() > 1
    };
    let stopped = e.model().encode_unless(&mels, 200, &stop).expect("encode");
    assert!(stopped.is_none());
    assert_eq!(asked.get(), 2);
    let whole = e
        .model()
        .encode_unless(&mels, 200, &|| false)
        .expect("encode");
    let whole = whole.expect("not stopped");
    assert_eq!(vec_f32(&whole), vec_f32(&encode_first_200(&e, "mel80", 80)));

    // Through the engine: a call whose only window is withdrawn comes back empty.
    let mut e = engine();
    let stale = hark_asr::Cancel::default();
    stale.cancel();
    let out = e
        .transcribe_batch(&[AudioWindow {
            samples: vec_f32(&golden()["audio_16k"])[..32_000].to_vec(),
            options: DecodeOptions::default(),
            withdrawn: Some(stale),
        }])
        .expect("batch");
    assert!(out[0].words.is_empty());
}
