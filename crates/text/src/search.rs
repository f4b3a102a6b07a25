//! `search` (FEATURES.md §13): for each query, the spans of words that sound most like it. A
//! hit's confidence is how alike the two are, in letters or in a phonetic key (so a query is
//! found where the transcript misspells it); hits are the best non-overlapping spans of one word
//! fewer to one word more than the query has, up to [`MAX_HITS`], best first.

use hark_proto::{Hit, Search, Word};

pub const MAX_HITS: usize = 10;

/// Search `words` for each query.
pub fn search(words: &[Word], queries: &[String]) -> Vec<Search> {
    let keys: Vec<(String, String)> = words
        .iter()
        .map(|w| {
            let letters = letters(&w.word);
            let key = phonetic(&letters);
            (letters, key)
        })
        .collect();
    queries
        .iter()
        .map(|q| Search {
            query: q.clone(),
            hits: hits(words, &keys, q),
        })
        .collect()
}

fn hits(words: &[Word], keys: &[(String, String)], query: &str) -> Vec<Hit> {
    let q_letters = letters(query);
    if q_letters.is_empty() || words.is_empty() {
        return Vec::new();
    }
    let q_key = phonetic(&q_letters);
    let n = query.split_whitespace().count().max(1);
    let mut candidates: Vec<(f32, usize, usize)> = Vec::new();
    for start in 0..words.len() {
        for len in n.saturating_sub(1).max(1)..=n + 1 {
            let end = start + len;
            if end > words.len() {
                break;
            }
            let l: String = keys[start..end].iter().map(|k| k.0.as_str()).collect();
            let p: String = keys[start..end].iter().map(|k| k.1.as_str()).collect();
            let by_letters = similarity(&q_letters, &l);
            let by_sound = similarity(&q_key, &p) * 0.9;
            candidates.push((by_letters.max(by_sound), start, end));
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut taken: Vec<(usize, usize)> = Vec::new();
    let mut out = Vec::new();
    for (confidence, start, end) in candidates {
        if out.len() == MAX_HITS {
            break;
        }
        if taken.iter().any(|&(s, e)| start < e && s < end) {
            continue;
        }
        taken.push((start, end));
        out.push(Hit {
            confidence,
            start: words[start].start,
            end: words[end - 1].end,
            snippet: words[start..end]
                .iter()
                .map(|w| w.word.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        });
    }
    out
}

fn letters(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A rough phonetic key: consonant classes, vowels and silent letters dropped after the first.
fn phonetic(letters: &str) -> String {
    let chars: Vec<char> = letters.chars().collect();
    let mut out = String::new();
    let mut last = ' ';
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let class = match c {
            'b' | 'p' => 'P',
            'f' | 'v' => 'F',
            'c' if matches!(next, Some('e' | 'i' | 'y')) => 'S',
            'c' | 'k' | 'q' | 'g' => 'K',
            's' | 'z' | 'x' => 'S',
            'd' | 't' => 'T',
            'm' | 'n' => 'N',
            'l' => 'L',
            'r' => 'R',
            'j' => 'J',
            'h' if i > 0 && matches!(chars[i - 1], 'p') => {
                out.pop();
                'F'
            }
            'a' | 'e' | 'i' | 'o' | 'u' | 'y' if i == 0 => 'A',
            c if c.is_ascii_digit() => c,
            _ => {
                last = ' ';
                continue;
            }
        };
        if class != last {
            out.push(class);
        }
        last = class;
    }
    out
}

/// 1 − edit distance / longer length.
fn similarity(a: &str, b: &str) -> f32 {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 0.0;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (diag + usize::from(ca != cb)).min(up + 1).min(row[j] + 1);
            diag = up;
        }
    }
    1.0 - row[b.len()] as f32 / longest as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Word> {
        text.split(' ')
            .enumerate()
            .map(|(i, w)| Word {
                word: w.into(),
                start: i as f32,
                end: i as f32 + 0.5,
                confidence: 1.0,
                language: None,
                speaker: None,
                speaker_confidence: None,
                punctuated_word: None,
            })
            .collect()
    }

    #[test]
    fn the_spoken_term_is_the_best_hit() {
        let w = words("this lecture is about social epistemology and more");
        let s = search(&w, &["epistemology".into(), "social epistemology".into()]);
        assert_eq!(s[0].query, "epistemology");
        let top = &s[0].hits[0];
        assert_eq!(top.confidence, 1.0);
        assert_eq!((top.start, top.end), (5.0, 5.5));
        assert!(top.snippet.contains("epistemology"));
        assert!(s[0]
            .hits
            .windows(2)
            .all(|h| h[0].confidence >= h[1].confidence));
        assert!(s[0].hits.len() <= MAX_HITS);
        assert_eq!(s[1].hits[0].snippet, "social epistemology");
    }

    #[test]
    fn a_misspelt_transcript_still_matches_by_sound() {
        let w = words("we met with the philosofy department");
        let s = search(&w, &["philosophy".into()]);
        assert_eq!(s[0].hits[0].snippet, "philosofy");
        assert!(s[0].hits[0].confidence > 0.8);
        assert!(search(&[], &["x".into()])[0].hits.is_empty());
    }
}
