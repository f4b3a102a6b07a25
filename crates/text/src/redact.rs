//! `redact` (FEATURES.md §9): entities and numbers replaced by tags. A final writes
//! `[LABEL_N]`, with a counter per label that lives as long as the [`Counters`] (a live channel
//! or a pre-recorded transcript); an interim writes `[REDACTED]` and counts nothing. A run of
//! numerals caught only by the numbers rule is `[REDACTED]` in finals too.

use crate::format::{
    Piece, Span, BLOOD_TYPE, CARDINAL, CONDITION, CREDIT_CARD, CVV, DATE, DRUG, EMAIL_ADDRESS,
    LOCATION_ADDRESS, LOCATION_CITY, LOCATION_COUNTRY, LOCATION_STATE, MONEY, NAME, NUMERICAL_PII,
    ORDINAL, PERCENT, PHONE_NUMBER, SSN, TIME, URL,
};
use hark_proto::Redact;
use std::collections::HashMap;

/// Tag counters, per label.
#[derive(Debug, Clone, Default)]
pub struct Counters(HashMap<&'static str, u32>);

impl Counters {
    fn next(&mut self, label: &'static str) -> u32 {
        let n = self.0.entry(label).or_insert(0);
        *n += 1;
        *n
    }
}

const NUMBERS_GROUP: &[&str] = &[
    MONEY,
    DATE,
    TIME,
    PHONE_NUMBER,
    SSN,
    CREDIT_CARD,
    CVV,
    NUMERICAL_PII,
    LOCATION_ADDRESS,
];
const PCI_GROUP: &[&str] = &[CREDIT_CARD, CVV, "CREDIT_CARD_EXPIRATION"];
const PII_GROUP: &[&str] = &[
    MONEY,
    DATE,
    TIME,
    PHONE_NUMBER,
    SSN,
    EMAIL_ADDRESS,
    URL,
    NUMERICAL_PII,
    LOCATION_ADDRESS,
    LOCATION_CITY,
    LOCATION_COUNTRY,
    LOCATION_STATE,
    NAME,
];
const PHI_GROUP: &[&str] = &[CONDITION, DRUG, BLOOD_TYPE];

/// How one span is redacted, if at all: `Some(true)` with its typed tag, `Some(false)` as
/// `[REDACTED]`.
fn decide(span: &Span, redact: &[Redact]) -> Option<bool> {
    let numeric = matches!(span.label, CARDINAL | ORDINAL | PERCENT);
    let mut generic = false;
    for r in redact {
        let typed = match r {
            Redact::Numbers | Redact::AggressiveNumbers => {
                let threshold = if *r == Redact::Numbers { 3 } else { 1 };
                generic |= numeric && span.digits >= threshold;
                NUMBERS_GROUP.contains(&span.label)
            }
            Redact::Pci => PCI_GROUP.contains(&span.label),
            Redact::Pii => PII_GROUP.contains(&span.label),
            Redact::Phi => PHI_GROUP.contains(&span.label),
            // A type names its subtypes too: `location` takes `LOCATION_CITY`.
            Redact::Entity(e) => {
                let e = e.to_ascii_uppercase();
                span.label == e
                    || span
                        .label
                        .strip_prefix(e.as_str())
                        .is_some_and(|r| r.starts_with('_'))
            }
        };
        if typed && !numeric {
            return Some(true);
        }
    }
    generic.then_some(false)
}

/// Replace each redacted entity's pieces by one tag piece. `counters` is `None` for an interim.
pub fn redact(
    pieces: Vec<Piece>,
    spans: &[Span],
    redact: &[Redact],
    mut counters: Option<&mut Counters>,
) -> Vec<Piece> {
    if redact.is_empty() {
        return pieces;
    }
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for p in pieces {
        let Some(e) = p.entity else {
            out.push(p);
            continue;
        };
        let Some(typed) = decide(&spans[e], redact) else {
            out.push(p);
            continue;
        };
        // A later piece of an entity already tagged joins its tag.
        if let Some(last) = out.last_mut() {
            if last.entity == Some(e) && last.verbatim_word {
                last.trail = p.trail;
                last.end_s = p.end_s;
                last.tokens.end = p.tokens.end;
                last.confidence = last.confidence.min(p.confidence);
                continue;
            }
        }
        let label = spans[e].label;
        let tag = match (typed, counters.as_deref_mut()) {
            (true, Some(c)) => format!("[{label}_{}]", c.next(label)),
            _ => "[REDACTED]".to_owned(),
        };
        out.push(Piece {
            written: tag,
            verbatim_word: true,
            keep_case: true,
            ..p
        });
    }
    out
}
