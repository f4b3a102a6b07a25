//! Properties of the text stage on arbitrary engine output and flags (FEATURES.md §22's
//! requirement): it never panics, never reorders words, and every spoken token's time lands in
//! exactly one output word (nothing covered by time is dropped or doubled).

use super::*;
use proptest::prelude::*;

/// Written words an engine might produce, ordinary and awkward.
const VOCABULARY: &[&str] = &[
    "Hello,",
    "world.",
    "the",
    "I",
    "am",
    "a",
    "at",
    "dot",
    "point",
    "and",
    "$47",
    "$342.99",
    "$2.5",
    "million",
    "20%",
    "1,200",
    "1999",
    "5th",
    "3:30",
    "PM.",
    "555-867-5309",
    "(555)",
    "jane.doe@example.com",
    "acme.com/signup",
    "1Z57A2B",
    "forty-seven",
    "twenty",
    "three",
    "hundred",
    "oh",
    "five",
    "nine",
    "January",
    "may",
    "fifth",
    "um,",
    "uh",
    "shit",
    "comma",
    "period",
    "new",
    "line",
    "social",
    "security",
    "number",
    "is",
    "—",
    "...",
    "\"quoted\"",
    "U.S.",
    "don't",
    "0",
    "007",
    "12345678901234567",
    "+44",
    "street",
    "Main",
    "one",
    "two",
    "plus",
    "é",
    "ß",
    "10am",
    "mg",
    "grams",
    "%",
    "$",
    "@",
    "",
    " ",
    "\u{200b}",
];

fn transcript(picks: &[(usize, u8)]) -> Transcript {
    let mut at = 0.0f32;
    let words = picks
        .iter()
        .map(|&(k, len)| {
            let start = at;
            at += 0.05 + f32::from(len) / 100.0;
            WordTiming {
                text: VOCABULARY[k % VOCABULARY.len()].to_owned(),
                start_s: start,
                end_s: at,
                confidence: f32::from(len) / 255.0,
            }
        })
        .collect();
    Transcript {
        words,
        language: Some("en".into()),
    }
}

fn options(flags: u16) -> TextOptions {
    let on = |bit: u16| flags & (1 << bit) != 0;
    let mut redact = Vec::new();
    if on(8) {
        redact.push(Redact::Numbers);
    }
    if on(9) {
        redact.push(Redact::Pii);
    }
    if on(10) {
        redact.push(Redact::AggressiveNumbers);
    }
    TextOptions {
        punctuate: on(0),
        english: !on(13),
        smart_format: on(1),
        numerals: on(2),
        measurements: on(3),
        dictation: on(4),
        // Fillers kept, so every token is expected in the output.
        filler_words: true,
        profanity_filter: on(5),
        detect_entities: on(6),
        multi_language: on(7),
        redact,
        replace: if on(11) {
            vec![
                Replace::parse("hello:good morning"),
                Replace::parse("main street:High Street"),
            ]
        } else {
            Vec::new()
        },
        search: if on(12) {
            vec!["security".into()]
        } else {
            Vec::new()
        },
        written_form: false,
    }
}

proptest! {
    #[test]
    fn every_token_lands_in_exactly_one_word_in_order(
        picks in proptest::collection::vec((0usize..1000, 1u8..=255), 0..40),
        flags in 0u16..(1 << 14),
        interim in any::<bool>(),
    ) {
        let t = transcript(&picks);
        let o = options(flags);
        let window = WindowTime { start_s: 0.0, duration_s: 100.0 };
        let mut counters = Counters::default();
        let r = render(&t, window, &o, (!interim).then_some(&mut counters));
        let words = &r.alternative.words;
        prop_assert!(words.windows(2).all(|w| w[0].start <= w[1].start && w[0].end <= w[1].start + 1e-4));
        prop_assert!(words.iter().all(|w| w.start <= w.end && !w.word.is_empty()));
        // Dictation commands leave the words on purpose; otherwise every token with a length
        // has its middle inside exactly one word.
        if !(o.dictation && o.punctuate) {
            let toks = if o.english { tokens::verbalise(&t.words) } else { tokens::as_written(&t.words) };
            for tok in toks {
                if tok.end_s - tok.start_s < 1e-3 {
                    continue;
                }
                let mid = (tok.start_s + tok.end_s) / 2.0;
                let holders = words.iter().filter(|w| w.start <= mid && mid <= w.end).count();
                // (A replacement of several words shares one word's time, so may meet its middle twice.)
                if o.replace.is_empty() {
                    prop_assert_eq!(holders, 1, "{:?} in {:?}", tok, words);
                } else {
                    prop_assert!(holders >= 1, "{:?} in {:?}", tok, words);
                }
            }
        }
        if let Some(entities) = &r.entities {
            prop_assert!(entities.iter().all(|e| e.start_word < e.end_word && e.end_word <= words.len()));
        }
    }
}
