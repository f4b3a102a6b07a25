//! # hark-text — engine words become Deepgram words, with Deepgram's transcript features
//!
//! What this crate does (FEATURES.md is the spec): turns an engine's [`Transcript`] of one window
//! (words as the model wrote them, timed from the window's start) into the `alternatives[0]` of a
//! Deepgram result, plus its `entities` and `search` hits, in the order of FEATURES.md §1.6:
//! 1. [`tokens::verbalise`]: written form (`$47.`, `3:30`, `jane@acme.com`) becomes lower-case
//!    spoken tokens (`forty seven dollars.`), each with its share of the word's time; the
//!    engine's casing and punctuation ride along;
//! 2. `uh`/`um` dropped unless `filler_words`; dictation commands become marks (`dictation`
//!    with punctuation on);
//! 3. the tagger ([`format::tag`]) finds entities; `smart_format` writes them (`$47`,
//!    `(555) 867-5309`, `January 5`), `numerals` writes number words as digits, otherwise words
//!    stay spoken, so with neither flag no digit or symbol reaches `word`; `measurements`;
//! 4. sentence case (punctuation on), `redact`, `replace`, `profanity_filter`;
//! 5. `word` (lower case, bare), `punctuated_word` (exactly when punctuation is on),
//!    `transcript`, confidences (FEATURES.md §1.2–1.4), then `entities` and `search`.
//!
//! Times are put on the audio clock (window start added) and clamped to the window. With
//! `language=multi` each word carries the window's language. English-only features (fillers,
//! dictation, entity formatting and detection, redaction of entities, measurements, the
//! profanity list) leave other languages' words as spoken.
//!
//! What it does not do: hold a live final while an entity is unfinished (the server's session
//! does that, with [`ends_inside_entity`]), statistical named-entity detection (entities come
//! from rules and word lists: see `format`), diarization, and `keyterm`/`keywords` (the
//! engine's prompt and logit bias).

pub mod edit;
pub mod format;
pub mod numbers;
pub mod paragraphs;
pub mod redact;
pub mod replace;
pub mod search;
pub mod tokens;

pub use paragraphs::paragraphs;
pub use redact::Counters;

use hark_asr::{Transcript, WordTiming};
use hark_proto::{Alternative, Entity, ListenParams, Redact, Replace, Search, Warning, Word};

/// What the client asked of the text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextOptions {
    /// `punctuated_word` on every word, and a punctuated `transcript`.
    pub punctuate: bool,
    /// `language=multi`: report the window's language on each word and in `languages`.
    pub multi_language: bool,
    /// The request's language is English (or `multi`), so English-only features apply.
    pub english: bool,
    /// Keep the engine's written form (`$47`, `3:30`) as it is, with no English feature: what
    /// OpenAI's clients expect.
    pub written_form: bool,
    pub smart_format: bool,
    pub numerals: bool,
    pub measurements: bool,
    pub dictation: bool,
    pub filler_words: bool,
    pub profanity_filter: bool,
    pub detect_entities: bool,
    pub redact: Vec<Redact>,
    pub replace: Vec<Replace>,
    pub search: Vec<String>,
}

impl TextOptions {
    /// The text features a `/v1/listen` request asks for.
    pub fn from_params(p: &ListenParams) -> Self {
        let language = p.language.to_ascii_lowercase();
        Self {
            punctuate: p.punctuation_on(),
            multi_language: language == "multi",
            english: language == "multi" || language.starts_with("en"),
            smart_format: p.smart_format,
            numerals: p.numerals,
            measurements: p.measurements,
            dictation: p.dictation,
            filler_words: p.filler_words,
            profanity_filter: p.profanity_filter,
            detect_entities: p.detect_entities,
            redact: p.redact.clone(),
            replace: p.replace.clone(),
            search: p.search.clone(),
            written_form: false,
        }
    }

    /// The engine's words exactly as written, punctuated.
    pub fn written_form() -> Self {
        Self {
            punctuate: true,
            written_form: true,
            ..Self::default()
        }
    }
}

/// The English-only features a request asked for in another language: each is left out of the
/// result and named here (FEATURES.md §1.5; pre-recorded `metadata.warnings`).
pub fn unsupported_language_warnings(p: &ListenParams) -> Vec<Warning> {
    let options = TextOptions::from_params(p);
    if options.english {
        return Vec::new();
    }
    let asked = [
        ("numerals", p.numerals, "Numerals"),
        ("measurements", p.measurements, "Measurements"),
        ("dictation", p.dictation, "Dictation"),
        ("filler_words", p.filler_words, "Filler words"),
        (
            "profanity_filter",
            p.profanity_filter,
            "Profanity filtering",
        ),
        ("redact", !p.redact.is_empty(), "Redaction"),
        ("detect_entities", p.detect_entities, "Entity detection"),
    ];
    asked
        .into_iter()
        .filter(|(_, on, _)| *on)
        .map(|(parameter, _, what)| Warning {
            parameter: parameter.to_owned(),
            kind: "unsupported_language".to_owned(),
            message: format!("{what} is only supported for English."),
        })
        .collect()
}

/// Where the window sits on the audio clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowTime {
    pub start_s: f64,
    pub duration_s: f64,
}

/// One result's text.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub alternative: Alternative,
    /// With `detect_entities`: what was found, indexing `alternative.words`.
    pub entities: Option<Vec<Entity>>,
    /// With `search`: one entry per query.
    pub search: Option<Vec<Search>>,
}

/// The text of one window's transcript. `counters` numbers redaction tags: `Some` for a final
/// (tags are `[LABEL_N]`), `None` for an interim (`[REDACTED]`, nothing counted).
pub fn render(
    transcript: &Transcript,
    window: WindowTime,
    options: &TextOptions,
    counters: Option<&mut Counters>,
) -> Rendered {
    let language = options
        .multi_language
        .then(|| transcript.language.clone())
        .flatten();
    let english = options.english
        && !options.written_form
        && (!options.multi_language
            || transcript
                .language
                .as_deref()
                .is_none_or(|l| l.starts_with("en")));
    let clamp = |s: f32| (f64::from(s).clamp(0.0, window.duration_s) + window.start_s) as f32;
    let timed: Vec<WordTiming> = transcript
        .words
        .iter()
        .map(|w| WordTiming {
            text: w.text.clone(),
            start_s: clamp(w.start_s),
            end_s: clamp(w.end_s.max(w.start_s)),
            confidence: w.confidence.clamp(0.0, 1.0),
        })
        .collect();
    let mut toks = if english {
        tokens::verbalise(&timed)
    } else {
        tokens::as_written(&timed)
    };
    if english && !options.filler_words {
        edit::drop_fillers(&mut toks);
    }
    if english && options.dictation && options.punctuate {
        edit::dictation(&mut toks);
    }
    let want_spans =
        english && (options.smart_format || options.detect_entities || !options.redact.is_empty());
    let spans = if want_spans {
        format::tag(&toks)
    } else {
        Vec::new()
    };
    let mut pieces = if english && options.smart_format {
        format::smart(&toks, &spans)
    } else if english && options.numerals {
        format::numerals(&toks)
    } else {
        format::spoken(&toks)
    };
    format::mark_entities(&mut pieces, &spans);
    if english && options.measurements {
        format::measurements(&mut pieces);
    }
    if options.punctuate {
        format::sentence_case(&mut pieces);
    }
    let mut pieces = redact::redact(pieces, &spans, &options.redact, counters);
    pieces = replace::replace(pieces, &options.replace);
    if english && options.profanity_filter {
        replace::mask_profanity(&mut pieces);
    }
    pieces.retain(|p| !p.word().is_empty());
    let words: Vec<Word> = pieces
        .iter()
        .map(|p| Word {
            word: p.word(),
            start: p.start_s,
            end: p.end_s.max(p.start_s),
            confidence: p.confidence,
            language: language.clone(),
            speaker: None,
            speaker_confidence: None,
            punctuated_word: options.punctuate.then(|| p.punctuated()),
        })
        .collect();
    let entities = options.detect_entities.then(|| {
        if english {
            entities(&pieces, &spans, &toks)
        } else {
            Vec::new()
        }
    });
    let search = (!options.search.is_empty()).then(|| search::search(&words, &options.search));
    let mut alternative = Alternative::from_words(words);
    // A dictated line break is not followed by a space.
    if alternative.transcript.contains('\n') {
        alternative.transcript = alternative.transcript.replace("\n ", "\n");
    }
    alternative.languages = options
        .multi_language
        .then(|| transcript.language.clone().into_iter().collect());
    Rendered {
        alternative,
        entities,
        search,
    }
}

/// Whether an English transcript's last spoken word leaves an entity unfinished: a number word
/// or digit (`… four four`), `point`, `dot` or `plus` (FEATURES.md §3.2's hold).
pub fn ends_inside_entity(transcript: &Transcript) -> bool {
    let toks = tokens::verbalise(
        transcript
            .words
            .last()
            .map_or(&[][..], std::slice::from_ref),
    );
    toks.last().is_some_and(|t| {
        numbers::is_number_word(&t.text) || matches!(t.text.as_str(), "point" | "dot" | "plus")
    })
}

/// Each entity's words (FEATURES.md §11): `value` as written, `raw_value` as spoken (the tag
/// for both when redacted), `confidence` its lowest word's.
fn entities(pieces: &[format::Piece], spans: &[format::Span], toks: &[tokens::Tok]) -> Vec<Entity> {
    let mut out: Vec<Entity> = Vec::new();
    let mut k = 0;
    while k < pieces.len() {
        let Some(e) = pieces[k].entity else {
            k += 1;
            continue;
        };
        let start = k;
        while k < pieces.len() && pieces[k].entity == Some(e) {
            k += 1;
        }
        let these = &pieces[start..k];
        let value = these
            .iter()
            .map(|p| p.written.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let redacted = these
            .iter()
            .all(|p| p.verbatim_word && p.written.starts_with('['));
        let raw_value = if redacted {
            value.clone()
        } else {
            toks.get(spans[e].range.clone())
                .unwrap_or_default()
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        out.push(Entity {
            label: spans[e].label.to_owned(),
            value,
            raw_value,
            confidence: these
                .iter()
                .map(|p| p.confidence)
                .fold(f32::INFINITY, f32::min),
            start_word: start,
            end_word: k,
        });
    }
    out
}

/// The alternative for one window's transcript, for options without redaction counters.
pub fn alternative(
    transcript: &Transcript,
    window: WindowTime,
    options: &TextOptions,
) -> Alternative {
    render(transcript, window, options, None).alternative
}

/// A subtitle timestamp, `HH:MM:SS<sep>mmm` (SRT: `,`; WebVTT: `.`), rounded to the millisecond.
pub fn subtitle_time(seconds: f64, sep: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod test_words;
#[cfg(test)]
mod tests;
