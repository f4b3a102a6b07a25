//! From spoken tokens to output words ("pieces"): as spoken, with `numerals` (number words as
//! digits, nothing else), or with `smart_format` (entities written as FEATURES.md §3.3 says). A
//! piece remembers which tokens it covers, so entities, redaction and search keep their times.

mod gazetteer;
mod numeric;
mod tag;
mod word_lists;

pub use gazetteer::{BLOOD_TYPE, CONDITION, DRUG, LOCATION_CITY, LOCATION_COUNTRY, LOCATION_STATE};
pub use tag::tag;
pub use tag::{
    CARDINAL, CREDIT_CARD, CVV, DATE, EMAIL_ADDRESS, LOCATION_ADDRESS, MONEY, NAME, NUMERICAL_PII,
    ORDINAL, PERCENT, PHONE_NUMBER, SSN, TIME, URL,
};

use crate::numbers::{digit_value, ordinal_suffix};
use crate::tokens::Tok;
use std::ops::Range;

/// An entity found in the tokens, and how `smart_format` writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub range: Range<usize>,
    pub label: &'static str,
    /// How many numerals it holds (for `redact=numbers`: runs of three or more).
    pub digits: usize,
    /// Output words; their token counts add up to the range's length.
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub written: String,
    pub tokens: usize,
    /// Written exactly so (an e-mail address is never capitalised at a sentence start).
    pub keep_case: bool,
}

/// One output word.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// Cased, without the punctuation around it.
    pub written: String,
    pub lead: String,
    pub trail: String,
    pub start_s: f32,
    pub end_s: f32,
    pub confidence: f32,
    /// The tokens it covers.
    pub tokens: Range<usize>,
    pub keep_case: bool,
    /// A redaction tag (`word` keeps its case) or a replacement (FEATURES.md §9.2, §12).
    pub verbatim_word: bool,
    /// The entity (index into the tagger's spans) it belongs to.
    pub entity: Option<usize>,
}

impl Piece {
    fn of(toks: &[Tok], tokens: Range<usize>, written: String, keep_case: bool) -> Self {
        let first = &toks[tokens.start];
        let last = &toks[tokens.end - 1];
        Piece {
            written,
            lead: first.lead.clone(),
            trail: last.trail.clone(),
            start_s: first.start_s,
            end_s: last.end_s,
            confidence: toks[tokens.clone()]
                .iter()
                .map(|t| t.confidence)
                .fold(f32::INFINITY, f32::min),
            tokens,
            keep_case,
            verbatim_word: false,
            entity: None,
        }
    }

    /// The written form without the sentence punctuation around it (case kept).
    pub fn bare_written(&self) -> &str {
        self.written.trim_matches(|c: char| {
            matches!(c, ',' | '.' | '?' | '!' | ';' | ':' | '"' | '\n') || c.is_whitespace()
        })
    }

    /// Deepgram's `word`: [`Piece::bare_written`] in lower case; a redaction tag or a
    /// replacement as written.
    pub fn word(&self) -> String {
        if self.verbatim_word {
            self.bare_written().to_owned()
        } else {
            self.bare_written().to_lowercase()
        }
    }

    /// `punctuated_word`: the written form with its punctuation.
    pub fn punctuated(&self) -> String {
        format!("{}{}{}", self.lead, self.written, self.trail)
    }
}

/// Mark each piece with the span (entity) whose tokens it overlaps.
pub fn mark_entities(pieces: &mut [Piece], spans: &[Span]) {
    let mut s = 0;
    for p in pieces.iter_mut() {
        while s < spans.len() && spans[s].range.end <= p.tokens.start {
            s += 1;
        }
        if s < spans.len() && spans[s].range.start < p.tokens.end {
            p.entity = Some(s);
        }
    }
}

/// Each token as it is.
pub fn spoken(toks: &[Tok]) -> Vec<Piece> {
    (0..toks.len())
        .map(|k| Piece::of(toks, k..k + 1, toks[k].written.clone(), false))
        .collect()
}

/// `smart_format`: every span written its way, the other tokens as they are.
pub fn smart(toks: &[Tok], spans: &[Span]) -> Vec<Piece> {
    let mut out = Vec::with_capacity(toks.len());
    let mut k = 0;
    let mut spans = spans.iter().peekable();
    while k < toks.len() {
        match spans.next_if(|s| s.range.start == k) {
            Some(span) => {
                let mut at = k;
                for p in &span.parts {
                    let range = at..(at + p.tokens).min(toks.len());
                    if !range.is_empty() {
                        out.push(Piece::of(toks, range, p.written.clone(), p.keep_case));
                    }
                    at += p.tokens;
                }
                k = span.range.end.max(k + 1);
            }
            None => {
                out.push(Piece::of(toks, k..k + 1, toks[k].written.clone(), false));
                k += 1;
            }
        }
    }
    out
}

/// `numerals`: number words become digits (`twenty three` → `23`, `nine two` → `9 2`, `twenty
/// eighth` → `28th`, `two point five` → `2.5`); no separators, no symbols (FEATURES.md §4).
pub fn numerals(toks: &[Tok]) -> Vec<Piece> {
    let words: Vec<&str> = toks.iter().map(|t| t.text.as_str()).collect();
    let mut out = Vec::with_capacity(toks.len());
    let mut k = 0;
    while k < toks.len() {
        if words[k] == "oh" || words[k] == "o" {
            out.push(Piece::of(toks, k..k + 1, toks[k].written.clone(), false));
            k += 1;
            continue;
        }
        if let Some(n) = numeric::number(&words, k) {
            let written = if n.ordinal {
                format!("{}{}", n.int, ordinal_suffix(n.int))
            } else {
                n.plain()
            };
            out.push(Piece::of(toks, k..k + n.len, written, false));
            k += n.len;
        } else if let Some(d) = digit_value(words[k]) {
            out.push(Piece::of(toks, k..k + 1, d.to_string(), false));
            k += 1;
        } else {
            out.push(Piece::of(toks, k..k + 1, toks[k].written.clone(), false));
            k += 1;
        }
    }
    out
}

const UNITS: &[(&str, &str)] = &[
    ("milligram", "mg"),
    ("centigram", "cg"),
    ("gram", "g"),
    ("kilogram", "kg"),
    ("milliliter", "ml"),
    ("millilitre", "ml"),
    ("centiliter", "cl"),
    ("liter", "l"),
    ("litre", "l"),
    ("kiloliter", "kl"),
    ("millimeter", "mm"),
    ("centimeter", "cm"),
    ("meter", "m"),
    ("metre", "m"),
    ("kilometer", "km"),
    ("kilometre", "km"),
];

/// `measurements`: a unit word right after a number written in digits becomes its abbreviation
/// (`33 grams` → `33 g`; FEATURES.md §5).
pub fn measurements(pieces: &mut [Piece]) {
    for k in 1..pieces.len() {
        let after_digits = pieces[k - 1]
            .written
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_digit());
        if !after_digits {
            continue;
        }
        let w = pieces[k].written.to_lowercase();
        let singular = w.strip_suffix('s').unwrap_or(&w);
        if let Some((_, abbr)) = UNITS.iter().find(|(u, _)| *u == singular) {
            pieces[k].written = (*abbr).to_owned();
        }
    }
}

/// `w` with its first letter upper-cased (`new` → `New`).
pub(crate) fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Sentence case for punctuated output: the first word, and each word after `.`, `?` or `!`,
/// starts with a capital (the engine's own capitals elsewhere are kept).
pub fn sentence_case(pieces: &mut [Piece]) {
    let mut start = true;
    for p in pieces.iter_mut() {
        if start && !p.keep_case && !p.verbatim_word && p.written.starts_with(char::is_lowercase) {
            p.written = capitalise(&p.written);
        }
        let t = p.trail.trim_end_matches(['"', '\'', ')', '”', '’']);
        start =
            t.ends_with(['.', '?', '!']) || p.written.ends_with('\n') || p.trail.ends_with('\n');
    }
}

#[cfg(test)]
mod tests;
