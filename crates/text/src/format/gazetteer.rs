//! Named entities from word lists (English): US states, countries, large cities, common given
//! names (with the capitalised words after them as the family name), medical conditions, drugs
//! and blood types. A list finds what it holds and nothing else: this is what `pii` and `phi`
//! redaction and `detect_entities` see beyond the tagger's number rules, until a statistical
//! entity model replaces it.

use super::word_lists::{CITIES, CONDITIONS, COUNTRIES, DRUGS, GIVEN_NAMES, STATES};
use super::{Part, Span};
use crate::tokens::Tok;

pub const LOCATION_STATE: &str = "LOCATION_STATE";
pub const LOCATION_COUNTRY: &str = "LOCATION_COUNTRY";
pub const LOCATION_CITY: &str = "LOCATION_CITY";
pub const NAME_LABEL: &str = "NAME";
pub const CONDITION: &str = "CONDITION";
pub const DRUG: &str = "DRUG";
pub const BLOOD_TYPE: &str = "BLOOD_TYPE";

/// Whether `list` (lower case, spaces between words) holds the tokens at `i`: the number of
/// tokens of its longest entry there.
fn listed(toks: &[Tok], i: usize, list: &[&str]) -> Option<usize> {
    let first = toks.get(i)?.text.as_str();
    list.iter()
        .filter(|entry| entry.starts_with(first))
        .filter_map(|entry| {
            let mut n = 0;
            for part in entry.split(' ') {
                (toks.get(i + n)?.text == part).then_some(())?;
                n += 1;
            }
            Some(n)
        })
        .max()
}

fn as_written(toks: &[Tok], i: usize, n: usize, label: &'static str) -> Span {
    Span {
        range: i..i + n,
        label,
        digits: 0,
        parts: toks[i..i + n]
            .iter()
            .map(|t| Part {
                written: t.written.clone(),
                tokens: 1,
                keep_case: false,
            })
            .collect(),
    }
}

/// An entity from the lists at token `i`.
pub fn find(toks: &[Tok], i: usize) -> Option<Span> {
    // A city's name before a country's or a state's ("new york", "mexico city").
    for (list, label) in [
        (CITIES, LOCATION_CITY),
        (STATES, LOCATION_STATE),
        (COUNTRIES, LOCATION_COUNTRY),
        (CONDITIONS, CONDITION),
        (DRUGS, DRUG),
    ] {
        if let Some(n) = listed(toks, i, list) {
            return Some(as_written(toks, i, n, label));
        }
    }
    if let Some(n) = blood_type(toks, i) {
        return Some(as_written(toks, i, n, BLOOD_TYPE));
    }
    given_name(toks, i).map(|n| as_written(toks, i, n, NAME_LABEL))
}

/// `blood type o negative`, `type a b positive` (after `type`).
fn blood_type(toks: &[Tok], i: usize) -> Option<usize> {
    if i == 0 || toks[i - 1].text != "type" {
        return None;
    }
    let group = ["ab", "a", "b", "o"].iter().find_map(|g| {
        if toks.get(i)?.text == *g {
            Some(1)
        } else if *g == "ab" && toks.get(i)?.text == "a" && toks.get(i + 1)?.text == "b" {
            Some(2)
        } else {
            None
        }
    })?;
    matches!(
        toks.get(i + group).map(|t| t.text.as_str()),
        Some("positive" | "negative")
    )
    .then_some(group + 1)
}

/// A common given name the engine capitalised, with up to two capitalised words after it.
fn given_name(toks: &[Tok], i: usize) -> Option<usize> {
    let capital = |k: usize| {
        toks.get(k)
            .is_some_and(|t| t.written.starts_with(|c: char| c.is_uppercase()) && t.text != "i")
    };
    if !capital(i) || !GIVEN_NAMES.contains(&toks[i].text.as_str()) {
        return None;
    }
    let mut n = 1;
    while n < 3 && toks[i + n - 1].trail.is_empty() && capital(i + n) {
        n += 1;
    }
    // At a sentence's start every word has a capital ("Mark the date"): only with a family name.
    let sentence_start = i == 0
        || toks[i - 1]
            .trail
            .trim_end_matches(['"', '\''])
            .ends_with(['.', '?', '!']);
    (!sentence_start || n > 1).then_some(n)
}

/// The label's span for `find`, written as the engine wrote it.
pub fn span_for(toks: &[Tok], i: usize) -> Option<Span> {
    find(toks, i).map(|mut s| {
        if s.label == NAME_LABEL || s.label.starts_with("LOCATION") {
            for p in &mut s.parts {
                p.written = super::capitalise(&p.written);
            }
        }
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_words::one_per_second;
    use crate::tokens::verbalise;

    fn labels(text: &str) -> Vec<(&'static str, usize)> {
        let toks = verbalise(&one_per_second(text));
        (0..toks.len())
            .filter_map(|i| find(&toks, i).map(|s| (s.label, s.range.start)))
            .collect()
    }

    #[test]
    fn lists_find_places_names_and_medical_terms() {
        assert_eq!(
            labels("I flew from New York to Texas via Mexico City."),
            [(LOCATION_CITY, 3), (LOCATION_STATE, 6), (LOCATION_CITY, 8)]
        );
        assert_eq!(labels("Yesterday Sarah Connor called."), [(NAME_LABEL, 1)]);
        assert_eq!(
            labels("Mark the date. Mark Twain wrote."),
            [(NAME_LABEL, 3)]
        );
        assert_eq!(
            labels("He has diabetes and takes metformin, blood type O negative."),
            [(CONDITION, 2), (DRUG, 5), (BLOOD_TYPE, 8)]
        );
        assert!(labels("we went home early").is_empty());
    }
}
