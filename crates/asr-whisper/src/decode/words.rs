//! Word times after alignment: DTW over cross-attention gives a word every frame up to the next
//! one, so a word before a pause is stretched over the pause (a 2 s pause after "late." gave
//! "late." 4.2–7.06 s) and a first word is stretched back over the silence before it. These
//! rules are OpenAI's and faster-whisper's: a word may last at most twice the median word
//! (itself capped at 0.7 s). A word that ends a sentence is cut at its end, a word after a
//! sentence end and the first word at their start.

use hark_asr::WordTiming;

const SENTENCE_END: [char; 6] = ['.', '!', '?', '。', '！', '？'];
const MEDIAN_CAP_S: f32 = 0.7;

fn median(mut xs: Vec<f32>) -> Option<f32> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f32::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

/// Shorten the words alignment stretched over pauses (see the module docs).
pub(crate) fn truncate_long_words(words: &mut [WordTiming]) {
    let durations = words
        .iter()
        .map(|w| w.end_s - w.start_s)
        .filter(|d| *d > 0.0)
        .collect();
    let Some(median) = median(durations) else {
        return;
    };
    let longest = 2.0 * median.min(MEDIAN_CAP_S);
    let ends_sentence = |w: &WordTiming| w.text.ends_with(SENTENCE_END);
    if let Some(first) = words.first_mut() {
        if first.end_s - first.start_s > longest {
            first.start_s = (first.end_s - longest).max(0.0);
        }
    }
    for i in 1..words.len() {
        if words[i].end_s - words[i].start_s <= longest {
            continue;
        }
        if ends_sentence(&words[i]) {
            words[i].end_s = words[i].start_s + longest;
        } else if ends_sentence(&words[i - 1]) {
            words[i].start_s = words[i].end_s - longest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(text: &str, start_s: f32, end_s: f32) -> WordTiming {
        WordTiming {
            text: text.into(),
            start_s,
            end_s,
            confidence: 0.9,
        }
    }

    fn times(words: &[WordTiming]) -> Vec<(f32, f32)> {
        words
            .iter()
            .map(|w| {
                (
                    (w.start_s * 100.0).round() / 100.0,
                    (w.end_s * 100.0).round() / 100.0,
                )
            })
            .collect()
    }

    #[test]
    fn words_stretched_over_pauses_are_cut_back() {
        // "Please" stretched back over a leading silence, "late." over the pause after it,
        // "Thank" back over the same pause.
        let mut words = vec![
            w("Please", 0.0, 1.5),
            w("call", 1.5, 1.9),
            w("my", 1.9, 2.2),
            w("brother.", 2.2, 2.6),
            w("Tell", 2.6, 2.9),
            w("him", 2.9, 3.1),
            w("late.", 3.1, 6.0),
            w("Thank", 6.0, 7.4),
            w("you.", 7.4, 7.7),
        ];
        truncate_long_words(&mut words);
        // Median duration 0.4 s: at most 0.8 s a word.
        assert_eq!(
            times(&words),
            vec![
                (0.7, 1.5),
                (1.5, 1.9),
                (1.9, 2.2),
                (2.2, 2.6),
                (2.6, 2.9),
                (2.9, 3.1),
                (3.1, 3.9),
                (6.6, 7.4),
                (7.4, 7.7),
            ]
        );
    }

    #[test]
    fn a_long_word_inside_a_sentence_is_left_alone() {
        let mut words = vec![
            w("a", 0.0, 0.2),
            w("very", 0.2, 0.4),
            w("looooong", 0.4, 2.0),
            w("word", 2.0, 2.2),
        ];
        let before = times(&words);
        truncate_long_words(&mut words);
        assert_eq!(times(&words), before);
        truncate_long_words(&mut []);
    }
}
