//! `diarize` on the live socket: each channel's voice features come from the audio stage
//! ([`super::audio::Voices`]); when a Results is made its words get the `speaker` of
//! [`hark_diarize::Online`] (finals teach it, interims only guess), and the Results metadata says
//! which diarizer ran. Features older than [`KEEP_S`] before the latest final are forgotten, so
//! a stream of any length holds a bounded amount.

use super::audio::Voices;
use hark_diarize::{Mfcc, Online};
use hark_proto::{DiarizeInfo, Results};
use std::sync::{Arc, Mutex};

/// Seconds of features kept behind the latest final (results arrive within seconds of their
/// audio; a held final waits at most a few).
const KEEP_S: f32 = 60.0;

pub struct Speakers {
    voices: Voices,
    online: Vec<Online>,
    info: DiarizeInfo,
}

impl Speakers {
    /// The shared features (for the audio stage) and the labeller.
    pub fn new(info: DiarizeInfo) -> (Self, Voices) {
        let voices: Voices = Arc::new(Mutex::new(Vec::<Mfcc>::new()));
        let me = Self {
            voices: voices.clone(),
            online: Vec::new(),
            info,
        };
        (me, voices)
    }

    /// Label the words of `results` (channel `results.channel_index[0]`).
    pub fn label(&mut self, results: &mut Results) {
        let ch = usize::from(results.channel_index[0]);
        if self.online.len() <= ch {
            self.online.resize_with(ch + 1, Online::new);
        }
        let mut voices = self
            .voices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(alt) = results.channel.alternatives.first_mut() else {
            return;
        };
        let spans: Vec<(f32, f32)> = alt.words.iter().map(|w| (w.start, w.end)).collect();
        let (frames, first) = voices
            .get(ch)
            .map_or((&[][..], 0), |m| (m.frames(), m.first_frame()));
        let labels = match results.is_final {
            true => self.online[ch].label_final(frames, first, &spans),
            false => self.online[ch].label_interim(frames, first, &spans),
        };
        for (w, s) in alt.words.iter_mut().zip(labels) {
            w.speaker = Some(s);
        }
        if results.is_final {
            if let Some(m) = voices.get_mut(ch) {
                m.forget_before_s(results.start + results.duration - KEEP_S);
            }
        }
        results.metadata.diarize_info = Some(Box::new(self.info.clone()));
    }
}
