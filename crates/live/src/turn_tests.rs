//! The turn state machine with a scripted VAD and engine: every event-order rule of Flux.

use crate::turn::{SpeechState, Step, Thresholds, Trigger, TurnEventKind as K, TurnTracker};
use hark_asr::WordTiming;

const RATE: u32 = 16_000;

fn ms(ms: u64) -> u64 {
    ms * u64::from(RATE) / 1000
}

fn words(text: &str, start_s: f32) -> Vec<WordTiming> {
    text.split_whitespace()
        .enumerate()
        .map(|(i, w)| WordTiming {
            text: w.to_owned(),
            start_s: start_s + i as f32 * 0.3,
            end_s: start_s + i as f32 * 0.3 + 0.25,
            confidence: 0.9,
        })
        .collect()
}

fn thresholds(eager: Option<f32>) -> Thresholds {
    Thresholds {
        eot: 0.7,
        eager,
        timeout_ms: 5000,
    }
}

/// A stream: speech from `speech_start` to `speech_end` (ms), heard up to `heard` (ms).
fn speech(heard_ms: u64, in_speech: bool, end_ms: Option<u64>) -> SpeechState {
    SpeechState {
        in_speech,
        last_voiced_end: end_ms.map(ms),
        heard: ms(heard_ms),
    }
}

fn kinds(step: &Step) -> Vec<K> {
    step.events.iter().map(|e| e.kind).collect()
}

/// Runs silence after speech that ended at `end_ms`, 20 ms at a time from `from_ms` to `to_ms`;
/// returns the events with the time (ms) each came, and whether a finalize was asked.
fn silence(
    t: &mut TurnTracker,
    end_ms: u64,
    from_ms: u64,
    to_ms: u64,
) -> (Vec<(u64, K)>, Option<u64>) {
    let mut out = Vec::new();
    let mut cut = None;
    let mut now = from_ms;
    while now <= to_ms {
        let step = t.on_audio(speech(now, false, Some(end_ms)));
        out.extend(step.events.iter().map(|e| (now, e.kind)));
        if step.finalize && cut.is_none() {
            cut = Some(now);
        }
        now += 20;
    }
    (out, cut)
}

/// A turn that says `text` from 0.2 s to `end_ms`, its interim covering all of it.
fn spoken(t: &mut TurnTracker, text: &str, end_ms: u64) -> Step {
    t.on_audio(speech(end_ms, true, Some(end_ms)));
    t.on_result(0, ms(end_ms) as usize, false, words(text, 0.2))
}

#[test]
fn a_finished_sentence_ends_its_turn_after_about_225_ms_and_never_inside_200() {
    let mut t = TurnTracker::new(RATE, 250, thresholds(None));
    let step = spoken(&mut t, "I would like a pizza.", 1600);
    assert_eq!(kinds(&step), vec![K::StartOfTurn]);
    assert_eq!(step.events[0].words.len(), 5);
    let (events, cut) = silence(&mut t, 1600, 1620, 2400);
    let cut = cut.expect("the turn ends");
    assert!(
        (1800..=1860).contains(&cut),
        "ended {} ms after speech",
        cut - 1600
    );
    assert!(events.iter().all(|(_, k)| *k == K::Update), "{events:?}");
    // The EndOfTurn goes out with the segment's final: the same words, trigger model.
    let step = t.on_result(
        0,
        ms(cut) as usize,
        true,
        words("I would like a pizza.", 0.2),
    );
    assert_eq!(kinds(&step), vec![K::EndOfTurn(Trigger::Model)]);
    let end = &step.events[0];
    assert_eq!((end.turn_index, end.words.len()), (0, 5));
    assert!(end.confidence >= 0.7);
    assert!((end.end_s - cut as f64 / 1000.0).abs() < 1e-6);
    assert_eq!(t.turn_index(), 1, "turn_index increments after EndOfTurn");
}

#[test]
fn a_short_pause_mid_sentence_does_not_end_the_turn() {
    let mut t = TurnTracker::new(RATE, 250, thresholds(None));
    spoken(&mut t, "I would like,", 1000);
    // A trailing comma: 0.45 at most, below eot 0.7 however long the pause (until the timeout).
    let (_, cut) = silence(&mut t, 1000, 1020, 1000 + 4900);
    assert_eq!(cut, None);
    let (_, cut) = silence(&mut t, 1000, 6000, 6100);
    assert_eq!(cut, Some(6000), "eot_timeout_ms ends it");
    let step = t.on_result(0, ms(6000) as usize, true, words("I would like,", 0.2));
    assert_eq!(kinds(&step), vec![K::EndOfTurn(Trigger::Timeout)]);
}

#[test]
fn no_turn_end_inside_a_pause_shorter_than_200_ms_even_for_a_sentence() {
    let mut t = TurnTracker::new(RATE, 250, thresholds(None));
    spoken(&mut t, "Hello there.", 1000);
    let (_, cut) = silence(&mut t, 1000, 1020, 1190);
    assert_eq!(cut, None);
    // Speech resumes: confidence is 0 while speaking.
    let step = t.on_audio(speech(1300, true, Some(1300)));
    assert!(!step.finalize);
    assert_eq!(t.confidence(), 0.0);
}

#[test]
fn eager_then_resumed_then_eager_then_end_with_the_same_words() {
    let mut t = TurnTracker::new(RATE, 250, thresholds(Some(0.4)));
    spoken(&mut t, "Book a table.", 1000);
    let (events, cut) = silence(&mut t, 1000, 1020, 1160);
    assert_eq!(cut, None);
    let eager: Vec<_> = events
        .iter()
        .filter(|(_, k)| *k == K::EagerEndOfTurn)
        .collect();
    assert_eq!(eager.len(), 1, "{events:?}");
    assert!(
        eager[0].0 - 1000 <= 160,
        "eager after {} ms",
        eager[0].0 - 1000
    );
    // Speech comes back: TurnResumed at once.
    let step = t.on_audio(speech(1200, true, Some(1200)));
    assert_eq!(kinds(&step), vec![K::TurnResumed]);
    let step = t.on_result(
        0,
        ms(1800) as usize,
        false,
        words("Book a table for two.", 0.2),
    );
    assert!(kinds(&step).is_empty(), "{:?}", kinds(&step));
    let (events, cut) = silence(&mut t, 1800, 1820, 2200);
    let kinds_seen: Vec<_> = events
        .iter()
        .map(|(_, k)| *k)
        .filter(|k| *k != K::Update)
        .collect();
    assert_eq!(kinds_seen, vec![K::EagerEndOfTurn]);
    let cut = cut.expect("ends");
    let eager_words = &t.on_audio(speech(cut, false, Some(1800))).events;
    assert!(eager_words.is_empty(), "nothing while the turn ends");
    let step = t.on_result(
        0,
        ms(cut) as usize,
        true,
        words("Book a table for two.", 0.2),
    );
    assert_eq!(kinds(&step), vec![K::EndOfTurn(Trigger::Model)]);
    assert_eq!(step.events[0].words.len(), 5);
}

#[test]
fn words_that_change_after_an_eager_end_resume_the_turn() {
    let mut t = TurnTracker::new(RATE, 250, thresholds(Some(0.3)));
    spoken(&mut t, "Call Bob.", 800);
    let (events, _) = silence(&mut t, 800, 820, 950);
    assert!(events.iter().any(|(_, k)| *k == K::EagerEndOfTurn));
    // A later hypothesis of the same audio says something else.
    let step = t.on_result(0, ms(960) as usize, false, words("Call Rob.", 0.2));
    assert_eq!(kinds(&step)[0], K::TurnResumed);
    // And a final that differs from what the eager end said is preceded by TurnResumed.
    let mut t = TurnTracker::new(RATE, 250, thresholds(Some(0.3)));
    spoken(&mut t, "Call Bob.", 800);
    let (_, cut) = silence(&mut t, 800, 820, 1200);
    let cut = cut.expect("ends");
    let step = t.on_result(0, ms(cut) as usize, true, words("Call Rob.", 0.2));
    assert_eq!(
        kinds(&step),
        vec![K::TurnResumed, K::EndOfTurn(Trigger::Model)]
    );
}

#[test]
fn force_end_turn_ends_with_trigger_manual_mid_speech_and_when_silent() {
    let mut t = TurnTracker::new(RATE, 250, thresholds(None));
    spoken(&mut t, "And then we", 900);
    let step = t.force_end();
    assert!(step.finalize);
    assert!(!t.force_end().finalize, "one end at a time");
    let step = t.on_result(0, ms(900) as usize, true, words("And then we went", 0.2));
    assert_eq!(kinds(&step), vec![K::EndOfTurn(Trigger::Manual)]);
    assert_eq!(step.events[0].words.len(), 4, "the final's words");
    // Nothing said: an empty EndOfTurn, and the index still moves on.
    let step = t.force_end();
    assert!(step.finalize);
    let step = t.on_result(ms(900), 0, true, Vec::new());
    assert_eq!(kinds(&step), vec![K::EndOfTurn(Trigger::Manual)]);
    assert!(step.events[0].words.is_empty());
    assert_eq!(t.turn_index(), 2);
}

#[test]
fn thresholds_changed_mid_turn_apply_at_once() {
    let mut t = TurnTracker::new(RATE, 250, thresholds(None));
    spoken(&mut t, "Yes.", 500);
    let (_, cut) = silence(&mut t, 500, 520, 700);
    assert_eq!(cut, None);
    t.set_thresholds(Thresholds {
        eot: 0.9,
        eager: None,
        timeout_ms: 5000,
    });
    let (_, cut) = silence(&mut t, 500, 720, 840);
    assert_eq!(cut, None, "0.9 needs ~360 ms");
    let (_, cut) = silence(&mut t, 500, 860, 1000);
    let cut = cut.expect("ends under 0.9");
    assert!(cut >= 500 + 340, "{cut}");
    // eot 1.0: only the timeout or a request ends a turn.
    let mut t = TurnTracker::new(RATE, 250, thresholds(None));
    t.set_thresholds(Thresholds {
        eot: 1.0,
        eager: None,
        timeout_ms: 1500,
    });
    spoken(&mut t, "Yes.", 500);
    let (_, cut) = silence(&mut t, 500, 520, 3000);
    assert_eq!(cut, Some(2000));
}

#[test]
fn updates_come_about_every_quarter_second_and_results_of_an_ended_turn_are_dropped() {
    let mut t = TurnTracker::new(RATE, 250, thresholds(None));
    t.on_audio(speech(300, true, Some(300)));
    let step = t.on_result(0, ms(300) as usize, false, words("So", 0.1));
    assert_eq!(kinds(&step), vec![K::StartOfTurn]);
    let mut updates = 0;
    for now in (320..=2300).step_by(20) {
        let step = t.on_audio(speech(now, true, Some(now)));
        updates += kinds(&step).iter().filter(|k| **k == K::Update).count();
    }
    assert!((7..=8).contains(&updates), "{updates} updates in 2 s");
    let step = t.force_end();
    assert!(step.finalize);
    let step = t.on_result(0, ms(2300) as usize, true, words("So what now.", 0.1));
    assert_eq!(kinds(&step), vec![K::EndOfTurn(Trigger::Manual)]);
    // A late interim of the ended turn's audio is not part of the next turn.
    let step = t.on_result(ms(1000), ms(500) as usize, false, words("now.", 1.0));
    assert!(step.events.is_empty());
    let step = t.on_result(ms(2300), ms(400) as usize, false, words("Next.", 2.4));
    assert_eq!(kinds(&step), vec![K::StartOfTurn]);
    assert_eq!(step.events[0].turn_index, 1);
    assert!((step.events[0].start_s - 2.3).abs() < 1e-9);
}

#[test]
fn silence_before_any_words_is_cut_away_and_close_sends_a_last_update() {
    let mut t = TurnTracker::new(RATE, 250, thresholds(None));
    let (events, cut) = silence(&mut t, 0, 20, 2500);
    assert!(events.is_empty());
    let cut = cut.expect("idle cut");
    let step = t.on_result(0, ms(cut) as usize, true, Vec::new());
    assert!(step.events.is_empty(), "an idle cut says nothing");
    assert_eq!(t.turn_index(), 0);
    let step = t.on_result(ms(cut), ms(500) as usize, false, words("Hi", 2.1));
    assert_eq!(kinds(&step), vec![K::StartOfTurn]);
    let step = t.close();
    assert_eq!(kinds(&step), vec![K::Update]);
    assert!(!step.finalize);
}

#[test]
fn evidence_of_the_last_word() {
    use crate::turn::word_evidence;
    let e = |t: &str| word_evidence(&words(t, 0.0));
    assert_eq!(e("Book it."), 1.0);
    assert_eq!(e("Is it?"), 1.0);
    assert_eq!(e("Book it"), 0.8);
    assert_eq!(
        e("Book a table for."),
        0.45,
        "Whisper's full stop after `for` ends nothing"
    );
    assert_eq!(e("I want to, um"), 0.45);
    assert_eq!(e("Well,"), 0.45);
    assert_eq!(e("So..."), 0.45);
    assert_eq!(e(""), 0.0);
}

#[test]
fn a_word_in_the_silence_after_the_speech_is_not_evidence() {
    let mut t = TurnTracker::new(RATE, 250, thresholds(None));
    t.on_audio(speech(2700, true, Some(2700)));
    // Whisper heard "... a table for" and added "it." in the pause that followed.
    let mut w = words("book a table for", 1.5);
    w.push(WordTiming {
        text: "it.".into(),
        start_s: 2.88,
        end_s: 3.2,
        confidence: 0.7,
    });
    t.on_result(0, ms(3000) as usize, false, w);
    let (_, cut) = silence(&mut t, 2700, 2720, 4000);
    assert_eq!(cut, None, "`for` trails off: no end by the model");
}

#[test]
fn when_the_words_come_late_the_segment_is_cut_in_the_pause_and_its_final_decides() {
    // The engine is behind: no hypothesis covers the speech when its pause is long enough.
    let mut t = TurnTracker::new(RATE, 250, thresholds(None));
    t.on_audio(speech(1000, true, Some(1000)));
    let (events, cut) = silence(&mut t, 1000, 1020, 1400);
    assert!(events.is_empty());
    let cut = cut.expect("a cut in the pause");
    assert!((1220..=1260).contains(&cut), "cut at {cut}");
    // The next speech starts before the words arrive; they end a sentence: the turn ended at
    // the cut, and the new speech is the next turn's.
    t.on_audio(speech(1700, true, Some(1700)));
    let step = t.on_result(0, ms(cut) as usize, true, words("Hello there.", 0.3));
    assert_eq!(
        kinds(&step),
        vec![K::StartOfTurn, K::EndOfTurn(Trigger::Model)]
    );
    assert!((step.events[1].end_s - cut as f64 / 1000.0).abs() < 1e-9);
    let step = t.on_result(ms(cut), ms(500) as usize, false, words("Next", 1.5));
    assert_eq!(kinds(&step), vec![K::StartOfTurn]);
    assert_eq!(step.events[0].turn_index, 1);

    // The same, but the words trail off: the turn goes on with them.
    let mut t = TurnTracker::new(RATE, 250, thresholds(None));
    t.on_audio(speech(1000, true, Some(1000)));
    let (_, cut) = silence(&mut t, 1000, 1020, 1400);
    let cut = cut.expect("a cut in the pause");
    t.on_audio(speech(1700, true, Some(1700)));
    let step = t.on_result(0, ms(cut) as usize, true, words("I want to", 0.3));
    assert_eq!(kinds(&step), vec![K::StartOfTurn]);
    let step = t.on_result(
        ms(cut),
        ms(1700 - cut) as usize,
        false,
        words("go home.", 1.3),
    );
    assert!(kinds(&step).is_empty());
    assert_eq!(t.turn_index(), 0);
    let (_, cut2) = silence(&mut t, 1700, 1720, 2100);
    let cut2 = cut2.expect("the turn ends after its second part");
    let step = t.on_result(
        ms(cut),
        ms(cut2 - cut) as usize,
        true,
        words("go home.", 1.3),
    );
    assert_eq!(kinds(&step), vec![K::EndOfTurn(Trigger::Model)]);
    assert_eq!(step.events[0].words.len(), 5);
}
