//! LocalAgreement between two hypotheses of a growing segment, and trimming a hypothesis to
//! the segment it answers.

use hark_asr::{Transcript, WordTiming};

/// One decoded hypothesis of the open segment: its start, the samples it covered, its words.
pub(crate) type Hypothesis = (u64, usize, Transcript);

/// Whether a hypothesis covering `span` (start, samples) belongs to the segment starting at
/// `start` and reaches `speech_end`.
pub(crate) fn reaches((s, len): (u64, usize), start: u64, speech_end: u64) -> bool {
    s == start && s + len as u64 >= speech_end
}

/// A word as LocalAgreement compares it: letters and digits, lower case.
fn norm(w: &WordTiming) -> String {
    w.text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Where to cut a segment whose two latest hypotheses are `a` and `b` (same start): samples from
/// the segment start, and the words before the cut. `guard` samples at the end of what each
/// hypothesis covered are never committed; the head must hold at least `min_head` samples.
pub(crate) fn agreed_cut(
    a: &Hypothesis,
    b: &Hypothesis,
    rate_hz: f64,
    guard: usize,
    min_head: usize,
) -> Option<(usize, Vec<WordTiming>)> {
    let limit_s = (a.1.min(b.1).saturating_sub(guard)) as f64 / rate_hz;
    let words = &b.2.words;
    let agreed =
        a.2.words
            .iter()
            .zip(words)
            .take_while(|(x, y)| norm(x) == norm(y) && !norm(y).is_empty())
            .count();
    let last = (0..agreed)
        .rev()
        .find(|&k| f64::from(words[k].end_s) <= limit_s)?;
    let end_s = f64::from(words[last].end_s);
    let cut_s = words.get(last + 1).map_or(end_s, |next| {
        (end_s + f64::from(next.start_s).max(end_s)) / 2.0
    });
    let cut = (cut_s * rate_hz).round() as usize;
    (cut >= min_head).then(|| (cut, words[..=last].to_vec()))
}

/// Keep the words of a hypothesis that start within the first `duration_s` of its audio, ending
/// there at the latest: a hypothesis that heard past where its segment was cut (an endpoint cuts
/// in the middle of the pause) must not take words from the next segment.
pub fn keep_within(t: &mut Transcript, duration_s: f32) {
    t.words.retain(|w| w.start_s < duration_s);
    for w in &mut t.words {
        w.end_s = w.end_s.min(duration_s);
    }
}
