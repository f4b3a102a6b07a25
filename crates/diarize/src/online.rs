//! Speakers of a live stream, labelled as its finals arrive.

use crate::cluster::{cost, delta_bic, mean_ll, Gaussian, Segments, Stats, D, MIN_FRAMES};

/// Speakers one stream may have: beyond it (noise heard as ever new voices), a segment joins
/// the closest speaker, so the work per final stays bounded.
const MAX_SPEAKERS: usize = 64;

/// One channel's speakers so far (each a Gaussian of every frame given to it), for live
/// results: each final's segments join the speaker whose model takes them by ΔBIC, or become a
/// new speaker. Ids never change once given and are never reused (FEATURES.md §16's hark rule);
/// an interim's labels are a guess that learns nothing.
#[derive(Default)]
pub struct Online {
    speakers: Vec<Stats>,
}

impl Online {
    pub fn new() -> Self {
        Self::default()
    }

    /// Speakers heard so far.
    pub fn speakers(&self) -> usize {
        self.speakers.len()
    }

    /// The speaker of each word of a final (`(start_s, end_s)`; `frames` start at frame
    /// `first`); the speakers learn from them, segment by segment.
    pub fn label_final(
        &mut self,
        frames: &[[f32; D]],
        first: usize,
        words: &[(f32, f32)],
    ) -> Vec<u32> {
        label(frames, first, words, |seg, seg_frames| {
            match self.choose(seg, seg_frames) {
                Choice::Guess(k) => k,
                Choice::Join(k) => {
                    self.speakers[k] = self.speakers[k].merged(seg);
                    k
                }
                Choice::New => {
                    self.speakers.push(seg.clone());
                    self.speakers.len() - 1
                }
            }
        })
    }

    /// As [`Online::label_final`] for an interim: nothing is learned, and speech unlike every
    /// speaker gets the id the next new speaker would get.
    pub fn label_interim(
        &self,
        frames: &[[f32; D]],
        first: usize,
        words: &[(f32, f32)],
    ) -> Vec<u32> {
        label(frames, first, words, |seg, seg_frames| {
            match self.choose(seg, seg_frames) {
                Choice::Guess(k) | Choice::Join(k) => k,
                Choice::New => self.speakers.len(),
            }
        })
    }

    /// Where one segment belongs.
    fn choose(&self, seg: &Stats, frames: &[&[f32; D]]) -> Choice {
        if self.speakers.is_empty() {
            return match frames.is_empty() {
                true => Choice::Guess(0),
                false => Choice::New,
            };
        }
        if frames.len() < MIN_FRAMES {
            // Too short to test: the speaker that explains it best, learning nothing.
            let models: Vec<Gaussian> = self.speakers.iter().filter_map(Stats::gaussian).collect();
            if models.len() != self.speakers.len() || frames.is_empty() {
                return Choice::Guess(self.speakers.len() - 1);
            }
            let ll = mean_ll(frames, &models);
            let best = (0..ll.len())
                .max_by(|a, b| ll[*a].total_cmp(&ll[*b]))
                .unwrap_or(0);
            return Choice::Guess(best);
        }
        let own = cost(seg);
        let best = self
            .speakers
            .iter()
            .enumerate()
            .map(|(k, sp)| (delta_bic((seg, own), (sp, cost(sp))), k))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let full = self.speakers.len() >= MAX_SPEAKERS;
        match best {
            Some((d, k)) if d < 0.0 || full => Choice::Join(k),
            _ => Choice::New,
        }
    }
}

/// Where a segment belongs: a speaker it only resembles (too short to test, learns nothing),
/// a speaker ΔBIC accepts, or a new speaker.
enum Choice {
    Guess(usize),
    Join(usize),
    New,
}

/// Each word's speaker, `place` deciding segment by segment in time order.
fn label(
    frames: &[[f32; D]],
    first: usize,
    words: &[(f32, f32)],
    mut place: impl FnMut(&Stats, &[&[f32; D]]) -> usize,
) -> Vec<u32> {
    let segments = Segments::new(frames, first, words);
    let stats = segments.stats();
    let mut out = vec![0u32; words.len()];
    for (s, run) in segments.runs.iter().enumerate() {
        let speaker = place(&stats[s], &segments.frames[s]);
        for &w in &segments.order[run.clone()] {
            out[w] = speaker as u32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::tests::{frames, words};

    #[test]
    fn finals_keep_their_speakers_and_a_voice_comes_back_with_its_id() {
        let f = frames(&[(1, 6.0), (0, 6.0), (1, 6.0)], 11);
        let mut online = Online::new();
        let a = online.label_final(&f, 0, &words(0.0, 5.5));
        let b = online.label_final(&f, 0, &words(6.0, 11.5));
        // An interim of the third voice guesses from what is known and learns nothing.
        let guess = online.label_interim(&f, 0, &words(12.0, 15.0));
        assert_eq!(online.speakers(), 2);
        let c = online.label_final(&f, 0, &words(12.0, 17.5));
        assert!(a.iter().all(|s| *s == 0), "{a:?}");
        assert!(b.iter().all(|s| *s == 1), "{b:?}");
        assert!(guess.iter().all(|s| *s == 0), "{guess:?}");
        assert!(c.iter().all(|s| *s == 0), "{c:?}");
        assert_eq!(online.speakers(), 2);
    }

    #[test]
    fn frames_may_start_late_and_words_may_lie_outside_them() {
        let f = frames(&[(0, 4.0)], 2);
        let mut online = Online::new();
        // The kept frames start at 10 s (frame 1000); words before, inside and after them.
        let labels = online.label_final(&f, 1000, &[(9.0, 9.5), (10.5, 12.0), (20.0, 21.0)]);
        assert_eq!(labels.len(), 3);
        assert!(online.label_final(&[], 0, &[]).is_empty());
    }
}
