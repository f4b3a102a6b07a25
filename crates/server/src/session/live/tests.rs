//! The live policy, driven by a scripted VAD and scripted hypotheses.
use super::*;
use hark_asr::WordTiming;
use hark_vad::{EnergyGate, VadConfig};

fn channel() -> (LiveChannel, LivePolicy) {
    let policy = LivePolicy {
        max_window_samples: 16_000 * 30,
        vad: true,
        endpointing_ms: Some(300),
        interim_samples: Some(4_000),
        rate_hz: 16_000,
    };
    let cfg = VadConfig {
        smoothing_frames: 1,
        min_speech_ms: 0,
        ..VadConfig::default()
    };
    // Scripted input: 1.0-valued audio is speech, 0.0 is silence.
    let gate = EnergyGate {
        frame_samples: 160,
        threshold_rms: 0.5,
    };
    let vad = Vad::new(Box::new(gate), cfg);
    (LiveChannel::with_vad(&policy, Some(vad)), policy)
}

fn feed(live: &mut LiveChannel, policy: &LivePolicy, value: f32, n: usize) -> Vec<Cut> {
    let mut out = Vec::new();
    for c in vec![value; n].chunks(1_600) {
        live.push(c, policy, false, &mut out);
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

/// Answer every interim in `cuts` as the session would when its result arrives.
fn answer_interims(live: &LiveChannel, cuts: &[Cut]) {
    for c in cuts {
        if let Cut::Interim { segment: seg, .. } = c {
            let t = transcript(&format!("upto{}", seg.samples.len()));
            live.interim()
                .finished(seg.start_sample, seg.samples.len(), Some(&t));
        }
    }
}

fn endpoint_final(cuts: &[Cut]) -> Option<&Option<Transcript>> {
    cuts.iter().find_map(|c| match c {
        Cut::Final {
            speech_final: true,
            reuse,
            ..
        } => Some(reuse),
        _ => None,
    })
}

/// A steady talker: word k spans k·0.5 s to k·0.5 + 0.4 s of the segment, for the audio given.
fn steady(seg: &Segment) -> Transcript {
    let n = seg.samples.len() / 8_000;
    Transcript {
        words: (0..n)
            .map(|k| WordTiming {
                text: format!("w{}", seg.start_sample / 8_000 + k as u64),
                start_s: k as f32 * 0.5,
                end_s: k as f32 * 0.5 + 0.4,
                confidence: 0.9,
            })
            .collect(),
        ..Transcript::default()
    }
}

/// Feeds `n` samples of speech, answering every interim with `hypothesis`; returns the cuts.
fn talk(
    live: &mut LiveChannel,
    policy: &LivePolicy,
    n: usize,
    hypothesis: impl Fn(&Segment) -> Transcript,
) -> Vec<Cut> {
    let mut all = Vec::new();
    for c in vec![1.0f32; n].chunks(1_600) {
        let mut out = Vec::new();
        live.push(c, policy, false, &mut out);
        for cut in &out {
            if let Cut::Interim { segment, .. } = cut {
                let t = hypothesis(segment);
                live.interim()
                    .finished(segment.start_sample, segment.samples.len(), Some(&t));
            }
        }
        all.extend(out);
    }
    all
}

fn finals(cuts: &[Cut]) -> Vec<(&Segment, bool, Option<&Transcript>)> {
    cuts.iter()
        .filter_map(|c| match c {
            Cut::Final {
                segment,
                speech_final,
                reuse,
                ..
            } => Some((segment, *speech_final, reuse.as_ref())),
            _ => None,
        })
        .collect()
}

#[test]
fn long_speech_is_committed_at_a_word_boundary_where_hypotheses_agree() {
    let (mut live, policy) = channel();
    // 25 s of speech without a pause; the window is 30 s, commits start at 20 s.
    let cuts = talk(&mut live, &policy, 16_000 * 25, steady);
    let f = finals(&cuts);
    let (seg, speech_final, words) = f
        .first()
        .copied()
        .expect("a commit before the window filled");
    assert!(!speech_final);
    assert_eq!(seg.start_sample, 0);
    let words = &words.expect("the agreed words, not a new decode").words;
    // Cut in the gap after the last committed word, at least a second before the audio
    // the hypotheses covered ended.
    let cut_s = seg.samples.len() as f32 / 16_000.0;
    let last = words.last().expect("words");
    assert!(
        last.end_s < cut_s && cut_s - last.end_s <= 0.1,
        "{} / {cut_s}",
        last.end_s
    );
    assert!((18.0..=19.0).contains(&cut_s), "{cut_s}");
    assert_eq!(words.len(), (cut_s / 0.5).round() as usize);
    // The next segment starts at the cut, and its interims say so.
    assert_eq!(live.seg.snapshot_start(), seg.samples.len() as u64);
    let later = talk(&mut live, &policy, 16_000, steady);
    assert!(later.iter().any(|c| matches!(c,
        Cut::Interim { segment, silent: false, .. } if segment.start_sample == seg.samples.len() as u64)));
}

#[test]
fn hypotheses_that_disagree_are_cut_at_the_full_window() {
    let (mut live, policy) = channel();
    let cuts = talk(&mut live, &policy, 16_000 * 31, |seg| {
        transcript(&format!("upto{}", seg.samples.len()))
    });
    let f = finals(&cuts);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0.samples.len(), 16_000 * 30);
    assert!(f[0].2.is_none(), "decoded, not committed");
}

#[test]
fn without_interims_silent_probes_start_two_seconds_before_commits() {
    let (mut live, mut policy) = channel();
    policy.interim_samples = None;
    let cuts = talk(&mut live, &policy, 16_000 * 21, steady);
    let probes: Vec<usize> = cuts
        .iter()
        .filter_map(|c| match c {
            Cut::Interim {
                segment, silent, ..
            } => {
                assert!(silent);
                Some(segment.samples.len())
            }
            _ => None,
        })
        .collect();
    assert!(probes.len() >= 2, "{probes:?}");
    assert!(probes[0] >= 16_000 * 18, "{probes:?}");
    assert!(
        !finals(&cuts).is_empty(),
        "the probes' agreement commits words"
    );
}

#[test]
fn an_endpoint_reuses_an_interim_that_covered_the_speech() {
    let (mut live, policy) = channel();
    // 1 s of speech (interims every 4000 samples), then 0.25 s of silence: one more interim.
    let cuts = feed(&mut live, &policy, 1.0, 16_000);
    answer_interims(&live, &cuts);
    let cuts = feed(&mut live, &policy, 0.0, 4_000);
    answer_interims(&live, &cuts);
    assert!(endpoint_final(&cuts).is_none(), "no endpoint yet");
    let cuts = feed(&mut live, &policy, 0.0, 3_200);
    let reuse = endpoint_final(&cuts).expect("an endpoint");
    // The reused interim is one taken after the speech ended (at 16000 samples).
    let covered: usize = reuse
        .as_ref()
        .and_then(|t| t.words[0].text.strip_prefix("upto")?.parse().ok())
        .expect("an interim reused");
    assert!(covered >= 16_000, "{covered}");
}

#[test]
fn an_interim_that_stopped_before_the_speech_ended_is_not_reused() {
    let (mut live, policy) = channel();
    let cuts = feed(&mut live, &policy, 1.0, 12_000);
    answer_interims(&live, &cuts);
    // More speech that no interim has covered, then silence up to the endpoint.
    live.interim.in_flight.store(true, Ordering::SeqCst); // an interim is in flight
    feed(&mut live, &policy, 1.0, 3_000);
    let cuts = feed(&mut live, &policy, 0.0, 6_400);
    assert_eq!(endpoint_final(&cuts), Some(&None));
}

fn interims(cuts: &[Cut]) -> Vec<(&Segment, bool)> {
    cuts.iter()
        .filter_map(|c| match c {
            Cut::Interim {
                segment, silent, ..
            } => Some((segment, *silent)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_pause_is_decoded_at_once_and_only_once() {
    for interim_results in [true, false] {
        let (mut live, mut policy) = channel();
        if !interim_results {
            policy.interim_samples = None;
        }
        policy.endpointing_ms = Some(2_000);
        // 0.9 s of speech: with interims, one at the cadence (at most one is in flight).
        let cuts = feed(&mut live, &policy, 1.0, 14_400);
        answer_interims(&live, &cuts);
        assert_eq!(interims(&cuts).len(), usize::from(interim_results));
        // The first 100 ms of silence: the speech is decoded now, not at the next tick.
        let cuts = feed(&mut live, &policy, 0.0, 1_600);
        let pause = interims(&cuts);
        assert_eq!(pause.len(), 1, "{cuts:?}");
        assert_eq!(
            pause[0].1, !interim_results,
            "silent exactly without interim_results"
        );
        assert!(pause[0].0.samples.len() >= 14_400);
        answer_interims(&live, &cuts);
        // The rest of the pause repeats nothing: the speech is covered.
        let cuts = feed(&mut live, &policy, 0.0, 16_000);
        assert!(interims(&cuts).is_empty(), "{cuts:?}");
        // Speech again: interims resume.
        if interim_results {
            let cuts = feed(&mut live, &policy, 1.0, 8_000);
            assert!(!interims(&cuts).is_empty());
        }
    }
}

#[test]
fn an_endpoint_awaits_the_interim_in_flight_that_covers_the_speech() {
    use futures_util::future::FutureExt;
    let (mut live, policy) = channel();
    let cuts = feed(&mut live, &policy, 1.0, 16_000);
    answer_interims(&live, &cuts);
    // The pause's interim is submitted and still in flight when the endpoint comes.
    let cuts = feed(&mut live, &policy, 0.0, 1_600);
    let (seg, _) = interims(&cuts)[0];
    let result: InterimResult = futures_util::future::ready(Ok(transcript("pause")))
        .boxed()
        .shared();
    live.interim()
        .started(seg.start_sample, seg.samples.len(), result);
    let cuts = feed(&mut live, &policy, 0.0, 4_800);
    let awaited = cuts.iter().find_map(|c| match c {
        Cut::Final {
            speech_final: true,
            reuse: None,
            awaited,
            ..
        } => Some(awaited.clone()),
        _ => None,
    });
    let awaited = awaited.expect("an endpoint").expect("awaiting the interim");
    let t = futures_util::FutureExt::now_or_never(awaited.0)
        .expect("ready")
        .expect("a transcript");
    assert_eq!(t.words[0].text, "pause");
}

#[test]
fn finalize_in_a_pause_reuses_the_hypothesis_that_covered_the_speech() {
    let (mut live, mut policy) = channel();
    policy.endpointing_ms = None;
    let cuts = feed(&mut live, &policy, 1.0, 16_000);
    answer_interims(&live, &cuts);
    let cuts = feed(&mut live, &policy, 0.0, 3_200);
    answer_interims(&live, &cuts);
    let Cut::Final { reuse, .. } = live.finalize() else {
        panic!("a final");
    };
    assert!(reuse.is_some(), "no second decode");
    // In speech, Finalize decodes.
    let cuts = feed(&mut live, &policy, 1.0, 16_000);
    answer_interims(&live, &cuts);
    let Cut::Final { reuse, .. } = live.finalize() else {
        panic!("a final");
    };
    assert!(reuse.is_none());
}

#[test]
fn without_endpoints_or_interims_a_pause_costs_nothing() {
    let (mut live, mut policy) = channel();
    policy.interim_samples = None;
    policy.endpointing_ms = None;
    let mut cuts = feed(&mut live, &policy, 1.0, 16_000);
    cuts.extend(feed(&mut live, &policy, 0.0, 16_000));
    assert!(interims(&cuts).is_empty(), "{cuts:?}");
}

#[test]
fn later_decodes_of_a_segment_take_the_agreed_words_as_given() {
    let (mut live, policy) = channel();
    // 4 s of speech, two words a second; every interim is answered at once.
    let cuts = talk(&mut live, &policy, 16_000 * 4, steady);
    let prefixes: Vec<&str> = cuts
        .iter()
        .filter_map(|c| match c {
            Cut::Interim { prefix, .. } => Some(prefix.as_str()),
            _ => None,
        })
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
    let Cut::Final {
        prefix,
        reuse: None,
        decode: true,
        ..
    } = live.finalize()
    else {
        panic!("a decoded final");
    };
    assert!(prefix.starts_with("w0 w1 w2 w3"), "{prefix}");
    // The next segment starts with nothing known.
    let cuts = talk(&mut live, &policy, 16_000, steady);
    assert!(cuts
        .iter()
        .any(|c| matches!(c, Cut::Interim { prefix, .. } if prefix.is_empty())));
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
