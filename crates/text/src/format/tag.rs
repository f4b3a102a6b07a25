//! Finding entities in spoken tokens (English), in order and without overlap: e-mail addresses,
//! URLs, dates, times, letter-digit IDs, numbers (`numeric.rs`), names after a cue, and what the
//! word lists know (`gazetteer.rs`). Each [`Span`] says how `smart_format` writes it
//! (FEATURES.md §3.3).

use super::numeric::{numeric, time, year};
use super::{Part, Span};
use crate::numbers::{digit_value, read_cardinal};
use crate::tokens::{Tok, TLDS};

pub const MONEY: &str = "MONEY";
pub const PERCENT: &str = "PERCENT";
pub const CARDINAL: &str = "CARDINAL";
pub const ORDINAL: &str = "ORDINAL";
pub const DATE: &str = "DATE";
pub const TIME: &str = "TIME";
pub const PHONE_NUMBER: &str = "PHONE_NUMBER";
pub const SSN: &str = "SSN";
pub const CREDIT_CARD: &str = "CREDIT_CARD";
pub const CVV: &str = "CVV";
pub const NUMERICAL_PII: &str = "NUMERICAL_PII";
pub const EMAIL_ADDRESS: &str = "EMAIL_ADDRESS";
pub const URL: &str = "URL";
pub const LOCATION_ADDRESS: &str = "LOCATION_ADDRESS";
pub const NAME: &str = "NAME";

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
/// Words that end a sentence's subject before `at` more often than an e-mail's local part does.
const NOT_LOCAL_PARTS: &[&str] = &[
    "look", "looked", "looking", "arrive", "arrived", "be", "is", "was", "are", "were", "stay",
    "meet", "me", "us", "him", "her", "them", "it", "that", "this", "here", "there", "home",
    "work", "and", "or", "but", "the", "a", "an", "i", "you", "we", "they", "he", "she", "get",
    "got", "good", "bad", "great", "best", "laugh", "stare", "point", "shot", "all", "one", "once",
    "least", "most", "last", "first", "aim", "arrives", "whatever", "where",
];

/// Every entity in `toks`, in order, not overlapping.
pub fn tag(toks: &[Tok]) -> Vec<Span> {
    let words: Vec<&str> = toks.iter().map(|t| t.text.as_str()).collect();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let found = email(&words, i)
            .or_else(|| url(&words, i))
            .or_else(|| date(&words, i))
            .or_else(|| time(&words, i))
            .or_else(|| alphanumeric(toks, &words, i))
            .or_else(|| numeric(&words, i))
            .or_else(|| name(toks, &words, i))
            .or_else(|| super::gazetteer::span_for(toks, i));
        match found {
            Some(span) => {
                i = span.range.end.max(i + 1);
                spans.push(span);
            }
            None => i += 1,
        }
    }
    spans
}

pub(super) fn part(written: impl Into<String>, tokens: usize) -> Part {
    Part {
        written: written.into(),
        tokens,
        keep_case: false,
    }
}

pub(super) fn span(start: usize, label: &'static str, parts: Vec<Part>) -> Span {
    let len: usize = parts.iter().map(|p| p.tokens).sum();
    let digits = parts
        .iter()
        .flat_map(|p| p.written.chars())
        .filter(char::is_ascii_digit)
        .count();
    Span {
        range: start..start + len,
        label,
        // A number left in words (`five`, `third`) is one numeral.
        digits: if digits == 0 && matches!(label, CARDINAL | ORDINAL) {
            1
        } else {
            digits
        },
        parts,
    }
}

/// Parts that write the tokens as they are (an entity found but not reformatted).
pub(super) fn as_is(words: &[&str], start: usize, len: usize) -> Vec<Part> {
    (start..start + len).map(|k| part(words[k], 1)).collect()
}

pub(super) fn is_word(w: &str) -> bool {
    !w.is_empty()
        && w.chars()
            .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
}

/// `jane dot doe at example dot com` → `jane.doe@example.com`.
fn email(words: &[&str], i: usize) -> Option<Span> {
    let mut j = i;
    let mut local = String::new();
    loop {
        let w = *words.get(j)?;
        if !is_word(w) && !w.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        local.push_str(w);
        j += 1;
        let sep = match words.get(j).copied() {
            Some("dot") => ".",
            Some("underscore") => "_",
            Some("dash") => "-",
            Some("plus") => "+",
            Some("at") => break,
            _ => return None,
        };
        local.push_str(sep);
        j += 1;
    }
    if j == i + 1 && NOT_LOCAL_PARTS.contains(&words[i]) {
        return None;
    }
    let (domain, end) = domain(words, j + 1)?;
    Some(span(
        i,
        EMAIL_ADDRESS,
        vec![Part {
            written: format!("{local}@{domain}"),
            tokens: end - i,
            keep_case: true,
        }],
    ))
}

/// `example dot com` (at least one `dot`): the domain and the index after it.
fn domain(words: &[&str], mut j: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut labels = 0;
    loop {
        let w = *words.get(j)?;
        if !is_word(w) {
            return None;
        }
        out.push_str(w);
        labels += 1;
        j += 1;
        if words.get(j) == Some(&"dot") && words.get(j + 1).is_some_and(|n| is_word(n)) {
            out.push('.');
            j += 1;
        } else {
            break;
        }
    }
    (labels >= 2).then_some((out, j))
}

/// `www dot example dot org`, `acme dot com slash signup`.
fn url(words: &[&str], i: usize) -> Option<Span> {
    let (mut text, mut j) = domain(words, i)?;
    let tld = text.rsplit('.').next()?;
    if !TLDS.contains(&tld) {
        return None;
    }
    while words.get(j) == Some(&"slash") && words.get(j + 1).is_some_and(|w| is_word(w)) {
        text.push('/');
        text.push_str(words[j + 1]);
        j += 2;
    }
    Some(span(
        i,
        URL,
        vec![Part {
            written: text,
            tokens: j - i,
            keep_case: true,
        }],
    ))
}

/// `january fifth` → `January 5`; with a year, `01/05/2024`; `april twenty twenty four` → `April 2024`.
fn date(words: &[&str], i: usize) -> Option<Span> {
    let month = MONTHS.iter().position(|m| *m == words[i])? + 1;
    let title = super::capitalise(words[i]);
    if let Some((y, len)) = year(words, i + 1) {
        return Some(span(
            i,
            DATE,
            vec![part(title, 1), part(y.to_string(), len)],
        ));
    }
    let day = read_cardinal(&words[i + 1..]).filter(|d| (1..=31).contains(&d.value))?;
    // `may` is a verb more often than a month: only with an ordinal day.
    if words[i] == "may" && !day.ordinal {
        return None;
    }
    let after = i + 1 + day.len;
    if let Some((y, len)) = year(words, after).or_else(|| {
        read_cardinal(&words[after.min(words.len())..])
            .filter(|c| (1000..=2099).contains(&c.value) && !c.ordinal)
            .map(|c| (c.value, c.len))
    }) {
        let written = format!("{month:02}/{:02}/{y}", day.value);
        return Some(span(i, DATE, vec![part(written, 1 + day.len + len)]));
    }
    Some(span(
        i,
        DATE,
        vec![part(title, 1), part(day.value.to_string(), day.len)],
    ))
}

/// `one z five seven a two b` → `1Z57A2B` (letters and digits spelled one by one).
fn alphanumeric(toks: &[Tok], words: &[&str], i: usize) -> Option<Span> {
    let is_letter = |k: usize| {
        words[k].len() == 1 && words[k].chars().all(|c| c.is_ascii_alphabetic())
            // A letter the engine wrote as a word ("I", "a") is not spelling.
            && (toks[k].written.len() == 1)
    };
    if matches!(words[i], "a" | "i") {
        return None;
    }
    let mut end = i;
    let (mut letters, mut digits) = (0usize, 0usize);
    while end < words.len() {
        if is_letter(end) {
            letters += 1;
        } else if digit_value(words[end]).is_some() && words[end] != "o" {
            digits += 1;
        } else {
            break;
        }
        end += 1;
    }
    while end > i && matches!(words[end - 1], "a" | "i") {
        end -= 1;
        letters = letters.saturating_sub(1);
    }
    if letters == 0
        || digits == 0
        || end - i < 3
        || !is_letter(i) && !is_letter(end - 1) && letters < 2
    {
        return None;
    }
    let written: String = words[i..end]
        .iter()
        .map(|w| match digit_value(w) {
            Some(d) if w.len() > 1 => char::from(b'0' + d),
            _ => w.chars().next().unwrap_or('?').to_ascii_uppercase(),
        })
        .collect();
    Some(span(i, NUMERICAL_PII, vec![part(written, end - i)]))
}

/// A name after a cue: `my name is Jane Doe`, `Dr. Smith` (needs the engine's capitals).
fn name(toks: &[Tok], words: &[&str], i: usize) -> Option<Span> {
    let cue = words[..i].ends_with(&["name", "is"])
        || words[..i].ends_with(&["name's"])
        || words[..i].ends_with(&["i'm"]) && i >= 1
        || i >= 1
            && matches!(
                words[i - 1],
                "mr" | "mrs" | "ms" | "dr" | "mr." | "mrs." | "ms." | "dr."
            );
    if !cue {
        return None;
    }
    let capital = |k: usize| {
        toks[k].written.starts_with(|c: char| c.is_uppercase())
            && is_word(words[k])
            && !matches!(words[k], "i" | "i'm")
    };
    let mut end = i;
    while end < words.len() && end - i < 3 && capital(end) {
        let stop = !toks[end].trail.is_empty();
        end += 1;
        if stop {
            break;
        }
    }
    (end > i).then(|| {
        let parts = (i..end).map(|k| part(toks[k].written.clone(), 1)).collect();
        span(i, NAME, parts)
    })
}
