//! The live policy, driven by a scripted VAD (1.0-valued audio is speech, 0.0 silence) and
//! scripted hypotheses standing in for the engine.
use super::*;
use hark_asr::{Transcript, WordTiming};
use hark_vad::{EnergyGate, Vad, VadConfig};

fn config() -> LiveConfig {
    LiveConfig {
        rate_hz: 16_000,
        max_window_samples: 16_000 * 30,
        vad: true,
        endpointing_ms: Some(300),
        interim_samples: Some(4_000),
        vad_events: true,
        utterance_end_ms: None,
        early_pause_ms: None,
        ahead_samples: None,
    }
}

fn scripted_vad() -> Vad {
    let cfg = VadConfig {
        smoothing_frames: 1,
        min_speech_ms: 0,
        ..VadConfig::default()
    };
    let gate = EnergyGate {
        frame_samples: 160,
        threshold_rms: 0.5,
    };
    Vad::new(Box::new(gate), cfg)
}

fn stream_with(config: LiveConfig) -> LiveStream {
    LiveStream::with_vad(config, scripted_vad)
}

fn stream() -> LiveStream {
    stream_with(config())
}

/// Push `n` samples of `value` on one channel, 100 ms at a time.
fn feed(live: &mut LiveStream, value: f32, n: usize) -> Vec<Decision> {
    let mut out = Vec::new();
    for c in vec![value; n].chunks(1_600) {
        out.extend(live.push(&[c.to_vec()], false));
    }
    out
}

fn transcript(word: &str) -> Transcript {
    Transcript {
        words: vec![WordTiming {
            text: word.into(),
            start_s: 0.0,
            end_s: 0.5,
            confidence: 0.9,
        }],
        ..Transcript::default()
    }
}

/// The interims (sent or silent) decided: the request and whether it is silent.
fn interims(ds: &[Decision]) -> Vec<(&DecodeRequest, bool)> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::Decode { request, result } if result.is_none_or(|r| !r.is_final) => {
                Some((request, result.is_none()))
            }
            _ => None,
        })
        .collect()
}

/// How a final gets its transcript.
#[derive(Debug, PartialEq)]
enum Source<'a> {
    Known(&'a Transcript),
    Decode(&'a DecodeRequest),
    Await(Ticket, Ticket),
}

fn finals(ds: &[Decision]) -> Vec<(ResultSpan, Source<'_>)> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::Known { result, transcript } => Some((*result, Source::Known(transcript))),
            Decision::Decode {
                request,
                result: Some(r),
            } if r.is_final => Some((*r, Source::Decode(request))),
            Decision::Await {
                ticket,
                from,
                result,
            } => Some((*result, Source::Await(*ticket, *from))),
            _ => None,
        })
        .collect()
}

/// The transcript an endpoint's final reuses (`Some(None)`: it decodes or awaits).
fn endpoint_final(ds: &[Decision]) -> Option<Option<&Transcript>> {
    finals(ds)
        .into_iter()
        .find(|(r, _)| r.speech_final)
        .map(|(_, s)| match s {
            Source::Known(t) => Some(t),
            _ => None,
        })
}

/// Answer every interim in `ds` with `hypothesis`, as the engine would.
fn answer(
    live: &mut LiveStream,
    ds: &[Decision],
    hypothesis: impl Fn(&DecodeRequest) -> Transcript,
) {
    for (request, _) in interims(ds) {
        let t = hypothesis(request);
        live.on_transcript(request.ticket, Some(&t));
    }
}

fn upto(request: &DecodeRequest) -> Transcript {
    transcript(&format!("upto{}", request.samples.len()))
}

/// A steady talker: word k spans k·0.5 s to k·0.5 + 0.4 s of the segment, for the audio given.
fn steady(request: &DecodeRequest) -> Transcript {
    let n = request.samples.len() / 8_000;
    Transcript {
        words: (0..n)
            .map(|k| WordTiming {
                text: format!("w{}", request.start_sample / 8_000 + k as u64),
                start_s: k as f32 * 0.5,
                end_s: k as f32 * 0.5 + 0.4,
                confidence: 0.9,
            })
            .collect(),
        ..Transcript::default()
    }
}

/// Feeds `n` samples of speech, answering every interim with `hypothesis` at once.
fn talk(
    live: &mut LiveStream,
    n: usize,
    hypothesis: impl Fn(&DecodeRequest) -> Transcript,
) -> Vec<Decision> {
    let mut all = Vec::new();
    for c in vec![1.0f32; n].chunks(1_600) {
        let out = live.push(&[c.to_vec()], false);
        answer(live, &out, &hypothesis);
        all.extend(out);
    }
    all
}

#[test]
fn long_speech_is_committed_at_a_word_boundary_where_hypotheses_agree() {
    let mut live = stream();
    // 25 s of speech without a pause; the window is 30 s, commits start at 20 s.
    let ds = talk(&mut live, 16_000 * 25, steady);
    let f = finals(&ds);
    let (span, source) = f.first().expect("a commit before the window filled");
    assert!(!span.speech_final);
    assert_eq!(span.start_sample, 0);
    let Source::Known(t) = source else {
        panic!("the agreed words, not a new decode: {source:?}");
    };
    // Cut in the gap after the last committed word, at least a second before the audio
    // the hypotheses covered ended.
    let cut_s = span.samples as f32 / 16_000.0;
    let last = t.words.last().expect("words");
    assert!(
        last.end_s < cut_s && cut_s - last.end_s <= 0.1,
        "{} / {cut_s}",
        last.end_s
    );
    assert!((18.0..=19.0).contains(&cut_s), "{cut_s}");
    assert_eq!(t.words.len(), (cut_s / 0.5).round() as usize);
    // The next segment starts at the cut, and its interims say so.
    assert_eq!(
        live.channel_mut(0).seg.snapshot_start(),
        span.samples as u64
    );
    let later = talk(&mut live, 16_000, steady);
    assert!(interims(&later)
        .iter()
        .any(|(r, silent)| !silent && r.start_sample == span.samples as u64));
}

#[test]
fn hypotheses_that_disagree_are_cut_at_the_full_window() {
    let mut live = stream();
    let ds = talk(&mut live, 16_000 * 31, upto);
    let f = finals(&ds);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0.samples, 16_000 * 30);
    assert!(
        matches!(f[0].1, Source::Decode(_)),
        "decoded, not committed"
    );
}

#[test]
fn without_interims_silent_probes_start_two_seconds_before_commits() {
    let mut live = stream_with(LiveConfig {
        interim_samples: None,
        ..config()
    });
    let ds = talk(&mut live, 16_000 * 21, steady);
    let probes: Vec<usize> = interims(&ds)
        .into_iter()
        .map(|(r, silent)| {
            assert!(silent);
            r.samples.len()
        })
        .collect();
    assert!(probes.len() >= 2, "{probes:?}");
    assert!(probes[0] >= 16_000 * 18, "{probes:?}");
    assert!(
        !finals(&ds).is_empty(),
        "the probes' agreement commits words"
    );
}

#[test]
fn an_endpoint_reuses_an_interim_that_covered_the_speech() {
    let mut live = stream();
    // 1 s of speech (interims every 4000 samples), then 0.25 s of silence: one more interim.
    let ds = feed(&mut live, 1.0, 16_000);
    answer(&mut live, &ds, upto);
    let ds = feed(&mut live, 0.0, 4_000);
    answer(&mut live, &ds, upto);
    assert!(endpoint_final(&ds).is_none(), "no endpoint yet");
    let ds = feed(&mut live, 0.0, 3_200);
    let reuse = endpoint_final(&ds).expect("an endpoint");
    // The reused interim is one taken after the speech ended (at 16000 samples).
    let covered: usize = reuse
        .and_then(|t| t.words[0].text.strip_prefix("upto")?.parse().ok())
        .expect("an interim reused");
    assert!(covered >= 16_000, "{covered}");
}

#[test]
fn an_interim_that_stopped_before_the_speech_ended_is_not_reused() {
    let mut live = stream();
    let ds = feed(&mut live, 1.0, 12_000);
    answer(&mut live, &ds, upto);
    // More speech that no interim has covered, then silence up to the endpoint.
    live.channel_mut(0).hold_interims(); // an interim is in flight
    feed(&mut live, 1.0, 3_000);
    let ds = feed(&mut live, 0.0, 6_400);
    assert_eq!(endpoint_final(&ds), Some(None));
}

#[test]
fn a_pause_is_decoded_at_once_and_only_once() {
    for interim_results in [true, false] {
        let mut live = stream_with(LiveConfig {
            interim_samples: interim_results.then_some(4_000),
            endpointing_ms: Some(2_000),
            ..config()
        });
        // 0.9 s of speech: with interims, one at the cadence (at most one is in flight).
        let ds = feed(&mut live, 1.0, 14_400);
        answer(&mut live, &ds, upto);
        assert_eq!(interims(&ds).len(), usize::from(interim_results));
        // The first 100 ms of silence: the speech is decoded now, not at the next tick.
        let ds = feed(&mut live, 0.0, 1_600);
        let pause = interims(&ds);
        assert_eq!(pause.len(), 1, "{ds:?}");
        assert_eq!(
            pause[0].1, !interim_results,
            "silent exactly without interim_results"
        );
        assert!(pause[0].0.samples.len() >= 14_400);
        assert_eq!(pause[0].0.priority, Priority::Due, "a final may await it");
        answer(&mut live, &ds, upto);
        // The rest of the pause repeats nothing: the speech is covered.
        let ds = feed(&mut live, 0.0, 16_000);
        assert!(interims(&ds).is_empty(), "{ds:?}");
        // Speech again: interims resume.
        if interim_results {
            let ds = feed(&mut live, 1.0, 8_000);
            assert!(!interims(&ds).is_empty());
        }
    }
}

#[test]
fn an_endpoint_awaits_the_interim_in_flight_that_covers_the_speech() {
    let mut live = stream();
    let ds = feed(&mut live, 1.0, 16_000);
    answer(&mut live, &ds, upto);
    // The pause's interim is decided and still in flight when the endpoint comes.
    let ds = feed(&mut live, 0.0, 1_600);
    let pause = interims(&ds)[0].0.ticket;
    let ds = feed(&mut live, 0.0, 4_800);
    let f = finals(&ds);
    let Some((span, Source::Await(ticket, from))) = f.first() else {
        panic!("an endpoint awaiting the interim: {ds:?}");
    };
    assert!(span.speech_final);
    assert_eq!(*from, pause);
    assert!(
        !ds.iter().any(|d| matches!(d, Decision::Withdraw(_))),
        "the awaited interim is not withdrawn"
    );
    // Its answer answers the final too, trimmed to the final's audio.
    let mut heard = transcript("pause");
    heard.words.push(WordTiming {
        text: "next".into(),
        start_s: 5.0,
        end_s: 5.5,
        confidence: 0.9,
    });
    let answered = live.on_transcript(pause, Some(&heard));
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0].0, *ticket);
    let t = answered[0].1.as_ref().expect("a transcript");
    assert_eq!(t.words.len(), 1, "{t:?}");
    assert_eq!(t.words[0].text, "pause");
    // Asked again, nothing awaits it any more; a failure answers its awaiting finals with none.
    assert!(live.on_transcript(pause, Some(&heard)).is_empty());
}

#[test]
fn a_final_that_decodes_anew_withdraws_the_deferrable_interim() {
    let mut live = stream();
    // An interim at the cadence, left in flight, then Finalize in speech.
    let ds = feed(&mut live, 1.0, 8_000);
    let (interim, _) = interims(&ds)[0];
    assert_eq!(interim.priority, Priority::Deferrable);
    let stale = interim.ticket;
    let ds = live.finalize(Some(0), true);
    assert!(
        matches!(ds.first(), Some(Decision::Withdraw(t)) if *t == stale),
        "{ds:?}"
    );
    let f = finals(&ds);
    assert!(matches!(f[0].1, Source::Decode(_)));
    assert!(f[0].0.from_finalize);
    // The withdrawn interim's (missing) answer frees the channel for the next interim.
    assert!(live.on_transcript(stale, None).is_empty());
    let ds = feed(&mut live, 1.0, 8_000);
    assert_eq!(interims(&ds).len(), 1);
}

#[test]
fn finalize_in_a_pause_reuses_the_hypothesis_that_covered_the_speech() {
    let mut live = stream_with(LiveConfig {
        endpointing_ms: None,
        ..config()
    });
    let ds = feed(&mut live, 1.0, 16_000);
    answer(&mut live, &ds, upto);
    let ds = feed(&mut live, 0.0, 3_200);
    answer(&mut live, &ds, upto);
    let ds = live.finalize(None, true);
    assert!(
        matches!(finals(&ds)[..], [(_, Source::Known(t))] if !t.words.is_empty()),
        "no second decode: {ds:?}"
    );
    // In speech, Finalize decodes.
    let ds = feed(&mut live, 1.0, 16_000);
    answer(&mut live, &ds, upto);
    let ds = live.finalize(None, true);
    assert!(
        matches!(finals(&ds)[..], [(_, Source::Decode(_))]),
        "{ds:?}"
    );
}

#[test]
fn finalize_without_audio_answers_empty_only_for_a_client_finalize() {
    let mut live = stream();
    live.ensure_channels(2);
    assert!(
        live.finalize(None, false).is_empty(),
        "end of stream: nothing"
    );
    let ds = live.finalize(Some(1), true);
    let f = finals(&ds);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0.channel, 1);
    assert!(matches!(f[0].1, Source::Known(t) if t.words.is_empty()));
}

#[test]
fn without_endpoints_or_interims_a_pause_costs_nothing() {
    let mut live = stream_with(LiveConfig {
        interim_samples: None,
        endpointing_ms: None,
        ..config()
    });
    let mut ds = feed(&mut live, 1.0, 16_000);
    ds.extend(feed(&mut live, 0.0, 16_000));
    assert!(interims(&ds).is_empty(), "{ds:?}");
}

#[test]
fn later_decodes_of_a_segment_take_the_agreed_words_as_given() {
    let mut live = stream();
    // 4 s of speech, two words a second; every interim is answered at once.
    let ds = talk(&mut live, 16_000 * 4, steady);
    let prefixes: Vec<&str> = interims(&ds)
        .iter()
        .map(|(r, _)| r.known_start.as_str())
        .collect();
    assert_eq!(
        prefixes.first(),
        Some(&""),
        "the first interim knows nothing"
    );
    // Before the last interim, hypotheses covered about 3.3 s: agreed are the words ending a
    // second before that (w3 ends at 1.9 s, w4 at 2.4 s).
    let last = prefixes.last().expect("interims");
    assert!(last.starts_with("w0 w1 w2 w3"), "{last}");
    assert!(!last.contains("w5") && !last.contains("w6"), "{last}");
    // A Finalize in speech decodes the segment again, from the agreed words on.
    let ds = live.finalize(None, true);
    let [(_, Source::Decode(request))] = finals(&ds)[..] else {
        panic!("a decoded final: {ds:?}");
    };
    assert!(
        request.known_start.starts_with("w0 w1 w2 w3"),
        "{}",
        request.known_start
    );
    // The next segment starts with nothing known.
    let ds = talk(&mut live, 16_000, steady);
    assert!(interims(&ds).iter().any(|(r, _)| r.known_start.is_empty()));
}

#[test]
fn a_decoded_finals_words_become_the_next_segments_context() {
    let mut live = stream_with(LiveConfig {
        endpointing_ms: None,
        ..config()
    });
    let ds = feed(&mut live, 1.0, 16_000);
    answer(&mut live, &ds, upto);
    let ds = live.finalize(None, true);
    let [(_, Source::Decode(request))] = finals(&ds)[..] else {
        panic!("a decoded final: {ds:?}");
    };
    let ticket = request.ticket;
    // Not answered yet: the next segment's decodes hear nothing before them.
    let ds = feed(&mut live, 1.0, 8_000);
    assert!(!interims(&ds).is_empty());
    assert!(interims(&ds).iter().all(|(r, _)| r.context.is_empty()));
    answer(&mut live, &ds, upto);
    live.on_transcript(ticket, Some(&transcript("hello")));
    let ds = feed(&mut live, 1.0, 4_800);
    let (r, _) = interims(&ds)[0];
    assert_eq!(r.context.text, "hello");
    assert!(!r.context.samples.is_empty());
}

#[test]
fn speech_events_only_with_vad_events() {
    for vad_events in [true, false] {
        let mut live = stream_with(LiveConfig {
            vad_events,
            ..config()
        });
        let ds = feed(&mut live, 1.0, 3_200);
        let started = ds
            .iter()
            .filter(|d| matches!(d, Decision::SpeechStarted { channel: 0, .. }))
            .count();
        assert_eq!(started, usize::from(vad_events));
    }
}

#[test]
fn a_segment_without_speech_is_answered_without_the_model() {
    let mut live = stream();
    let ds = feed(&mut live, 0.0, 16_000 * 31);
    let f = finals(&ds);
    assert_eq!(f.len(), 1, "a full window of silence");
    assert!(matches!(f[0].1, Source::Known(t) if t.words.is_empty()));
    assert!(interims(&ds).is_empty());
    assert_eq!(live.decodes_in_flight(), 0);
}

#[test]
fn a_final_decided_on_one_channel_holds_back_the_next_channels_interims() {
    let mut live = stream_with(LiveConfig {
        vad: false,
        ..config()
    });
    let speech = vec![1.0f32; 4_000];
    // Channel 0 fills its window exactly now; channel 1 reaches its interim cadence.
    let mut first = vec![vec![1.0f32; 16_000 * 30 - 4_000], vec![]];
    live.push(&first, false);
    first[0] = speech.clone();
    first[1] = speech;
    let ds = live.push(&first, false);
    assert!(ds.iter().any(|d| matches!(d,
        Decision::Decode { request, result: Some(r) } if r.is_final && request.channel == 0)));
    assert!(
        !ds.iter()
            .any(|d| matches!(d, Decision::Decode { request, .. } if request.channel == 1)),
        "{ds:?}"
    );
}

#[test]
fn utterance_end_follows_the_last_word_once_silence_covers_the_gap() {
    let mut live = stream_with(LiveConfig {
        utterance_end_ms: Some(1_000),
        ..config()
    });
    feed(&mut live, 1.0, 16_000);
    live.on_sent(0, 1.0, Some(0.9));
    assert_eq!(live.utterance_end(), None, "speech goes on");
    feed(&mut live, 0.0, 8_000);
    // The VAD hears silence, but the speech up to 1 s has not all been decoded: results say
    // 1.0 s, the clock 1.5 s — too early either way.
    assert_eq!(live.utterance_end(), None);
    feed(&mut live, 0.0, 16_000);
    assert_eq!(live.utterance_end(), Some((0, 0.9)));
    assert_eq!(live.utterance_end(), None, "once per utterance");
    // Without words sent, none.
    let mut quiet = stream_with(LiveConfig {
        utterance_end_ms: Some(1_000),
        ..config()
    });
    feed(&mut quiet, 0.0, 48_000);
    assert_eq!(quiet.utterance_end(), None);
}

#[test]
fn a_hypothesis_keeps_only_the_words_before_its_segments_end() {
    let w = |text: &str, start_s: f32, end_s: f32| WordTiming {
        text: text.into(),
        start_s,
        end_s,
        confidence: 0.9,
    };
    let mut t = Transcript {
        words: vec![w("ask", 0.2, 0.6), w("not", 0.8, 1.3), w("what", 1.5, 1.7)],
        ..Transcript::default()
    };
    keep_within(&mut t, 1.0);
    assert_eq!(t.words, vec![w("ask", 0.2, 0.6), w("not", 0.8, 1.0)]);
}

/// The windows sent ahead in `ds`.
fn sent_ahead(ds: &[Decision]) -> Vec<&DecodeRequest> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::Decode { request, result } if request.ahead => {
                assert!(result.is_none(), "nothing is sent for a window sent ahead");
                assert_eq!(request.priority, Priority::Deferrable);
                Some(request)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn audio_is_sent_ahead_between_decodes_and_withdrawn_by_the_final() {
    let mut live = stream_with(LiveConfig {
        interim_samples: None,
        ahead_samples: Some(4_000),
        ..config()
    });
    // Silence: nothing to send ahead.
    assert!(sent_ahead(&feed(&mut live, 0.0, 8_000)).is_empty());
    // Speech: once 4 000 samples are new, the segment so far; no second one until it is taken.
    let ds = feed(&mut live, 1.0, 8_000);
    let first = sent_ahead(&ds);
    assert_eq!(first.len(), 1, "{ds:?}");
    let (ticket, len) = (first[0].ticket, first[0].samples.len());
    assert!(len >= 4_000, "{len}");
    assert!(sent_ahead(&feed(&mut live, 1.0, 8_000)).is_empty());
    live.on_transcript(ticket, Some(&Transcript::default()));
    let ds = feed(&mut live, 1.0, 4_800);
    let second = sent_ahead(&ds);
    assert_eq!(second.len(), 1, "{ds:?}");
    assert!(second[0].samples.len() > len);
    let stale = second[0].ticket;
    // Finalize: the window sent ahead is stale; the final decodes.
    let ds = live.finalize(None, true);
    assert!(ds
        .iter()
        .any(|d| matches!(d, Decision::Withdraw(t) if *t == stale)));
    let fin = finals(&ds);
    let Some((_, Source::Decode(request))) = fin.first() else {
        panic!("the final decodes: {ds:?}");
    };
    let final_ticket = request.ticket;
    live.on_transcript(stale, None);
    // Until the final's words are in, nothing is sent ahead (its context would lack them).
    assert!(sent_ahead(&feed(&mut live, 1.0, 8_000)).is_empty());
    live.on_transcript(final_ticket, Some(&transcript("done")));
    let ds = feed(&mut live, 1.0, 4_800);
    let next = sent_ahead(&ds);
    assert_eq!(next.len(), 1, "{ds:?}");
    assert_eq!(next[0].context.text, "done");
}

#[test]
fn nothing_is_sent_ahead_unless_the_engine_takes_it() {
    let mut live = stream_with(LiveConfig {
        interim_samples: None,
        ..config()
    });
    assert!(sent_ahead(&feed(&mut live, 1.0, 32_000)).is_empty());
}
