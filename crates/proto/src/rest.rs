//! The pre-recorded response of `POST /v1/listen` (PROTOCOL.md §6): `{metadata, results}`.

use crate::messages::{Alternative, Channel, Metadata, Word};
use serde::{Deserialize, Serialize};

/// The 200 body of a pre-recorded request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrerecordedResponse {
    /// As a live session's closing Metadata, without `type`.
    pub metadata: Metadata,
    pub results: PrerecordedResults,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrerecordedResults {
    /// One per channel (mixed down to one unless `multichannel=true`).
    pub channels: Vec<Channel>,
    /// With `utterances=true`: the words of every channel in stretches split at pauses of
    /// `utt_split` seconds or more, by start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utterances: Option<Vec<Utterance>>,
}

/// One utterance (`utterances=true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utterance {
    pub start: f32,
    pub end: f32,
    pub confidence: f32,
    pub channel: u16,
    pub transcript: String,
    pub words: Vec<Word>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<u32>,
    /// A UUID.
    pub id: String,
}

/// A `{"url": …}` body (`Content-Type: application/json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UrlSource {
    pub url: String,
}

impl Utterance {
    /// Split one channel's words at gaps of at least `split_s` seconds and where the speaker
    /// changes (diarization); `id` names each.
    pub fn split(
        channel: u16,
        words: &[Word],
        split_s: f32,
        mut id: impl FnMut() -> String,
    ) -> Vec<Utterance> {
        let mut out = Vec::new();
        let mut start = 0;
        for k in 1..=words.len() {
            let gap = words
                .get(k)
                .map_or(f32::INFINITY, |w| w.start - words[k - 1].end);
            let turn = words
                .get(k)
                .is_some_and(|w| w.speaker != words[k - 1].speaker);
            if gap >= split_s || turn {
                let a = Alternative::from_words(words[start..k].to_vec());
                out.push(Utterance {
                    start: words[start].start,
                    end: words[k - 1].end,
                    confidence: a.confidence,
                    channel,
                    transcript: a.transcript,
                    speaker: words[start].speaker,
                    words: a.words,
                    id: id(),
                });
                start = k;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(w: &str, start: f32, end: f32) -> Word {
        Word {
            word: w.into(),
            start,
            end,
            confidence: 0.5,
            language: None,
            speaker: None,
            speaker_confidence: None,
            punctuated_word: Some(format!("{w}.")),
        }
    }

    #[test]
    fn utterances_split_at_long_gaps_and_keep_every_word() {
        let words = [
            word("a", 0.0, 0.5),
            word("b", 0.6, 1.0),
            word("c", 1.9, 2.0),
            word("d", 2.1, 2.4),
        ];
        let mut n = 0;
        let u = Utterance::split(1, &words, 0.8, || {
            n += 1;
            format!("id{n}")
        });
        assert_eq!(u.len(), 2);
        assert_eq!((u[0].start, u[0].end, u[0].id.as_str()), (0.0, 1.0, "id1"));
        assert_eq!(u[1].transcript, "c. d.");
        assert_eq!(u[1].channel, 1);
        assert_eq!(u.iter().map(|u| u.words.len()).sum::<usize>(), 4);
        assert!(Utterance::split(0, &[], 0.8, String::new).is_empty());
        // Without a gap that long, one utterance.
        assert_eq!(Utterance::split(0, &words, 5.0, String::new).len(), 1);
    }
}
