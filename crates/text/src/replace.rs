//! Find and replace (FEATURES.md §12) and the profanity filter (§8), on output words.

use crate::format::Piece;
use hark_proto::Replace;

/// Apply `replace` rules: whole words, a multi-word find matching consecutive words; a find with
/// capitals matches only that casing and is tried before the all-lower-case finds, which match
/// any casing. A replacement of several words shares the matched time about evenly; none
/// deletes the words.
pub fn replace(pieces: Vec<Piece>, rules: &[Replace]) -> Vec<Piece> {
    if rules.is_empty() {
        return pieces;
    }
    let mut ordered: Vec<&Replace> = rules.iter().filter(|r| has_capitals(&r.find)).collect();
    ordered.extend(rules.iter().filter(|r| !has_capitals(&r.find)));
    let finds: Vec<Vec<&str>> = ordered
        .iter()
        .map(|r| r.find.split_whitespace().collect())
        .collect();
    let mut out = Vec::with_capacity(pieces.len());
    let mut k = 0;
    while k < pieces.len() {
        let hit = ordered.iter().zip(&finds).find(|(r, find)| {
            !find.is_empty()
                && pieces.get(k..k + find.len()).is_some_and(|ps| {
                    ps.iter()
                        .zip(find.iter())
                        .all(|(p, f)| matches(p, f, has_capitals(&r.find)))
                })
        });
        let Some((rule, find)) = hit else {
            out.push(pieces[k].clone());
            k += 1;
            continue;
        };
        let matched = &pieces[k..k + find.len()];
        k += find.len();
        let Some(replacement) = rule.replacement.as_deref() else {
            continue;
        };
        let words: Vec<&str> = replacement.split_whitespace().collect();
        let (first, last) = (&matched[0], &matched[matched.len() - 1]);
        let step = (last.end_s - first.start_s) / words.len().max(1) as f32;
        for (n, w) in words.iter().enumerate() {
            out.push(Piece {
                written: (*w).to_owned(),
                lead: if n == 0 {
                    first.lead.clone()
                } else {
                    String::new()
                },
                trail: if n + 1 == words.len() {
                    last.trail.clone()
                } else {
                    String::new()
                },
                start_s: first.start_s + step * n as f32,
                end_s: if n + 1 == words.len() {
                    last.end_s
                } else {
                    first.start_s + step * (n + 1) as f32
                },
                confidence: matched
                    .iter()
                    .map(|p| p.confidence)
                    .fold(f32::INFINITY, f32::min),
                tokens: first.tokens.start..last.tokens.end,
                keep_case: true,
                verbatim_word: true,
                entity: first.entity,
            });
        }
    }
    out
}

fn has_capitals(s: &str) -> bool {
    s.chars().any(char::is_uppercase)
}

fn matches(p: &Piece, find: &str, case_sensitive: bool) -> bool {
    if case_sensitive {
        p.bare_written() == find
    } else {
        p.bare_written().to_lowercase() == find
    }
}

/// English words the profanity filter masks (hark's own list; Deepgram's is unpublished).
const PROFANE: &[&str] = &[
    "fuck",
    "fucking",
    "fucked",
    "fucker",
    "motherfucker",
    "shit",
    "shitty",
    "bullshit",
    "bitch",
    "bitches",
    "asshole",
    "assholes",
    "bastard",
    "cunt",
    "dick",
    "dickhead",
    "piss",
    "pissed",
    "cock",
    "pussy",
    "slut",
    "whore",
    "damn",
    "goddamn",
    "crap",
    "wanker",
    "twat",
];

/// `profanity_filter`: every letter of a profane word becomes `*` (FEATURES.md §8).
pub fn mask_profanity(pieces: &mut [Piece]) {
    for p in pieces.iter_mut() {
        if PROFANE.contains(&p.word().as_str()) {
            p.written = p
                .written
                .chars()
                .map(|c| if c.is_alphabetic() { '*' } else { c })
                .collect();
            p.verbatim_word = true;
        }
    }
}
