//! The canonical token stream (FEATURES.md §1.7): an engine writes words in written form
//! (`$47.`, `3:30`, `john@acme.com`); [`verbalise`] turns each into lower-case spoken tokens
//! (`forty seven dollars`, `three thirty`, `john at acme dot com`), each with its own share of the
//! written word's time, so every feature after it works on spoken words whatever the engine.
//! A token keeps how the engine wrote it (case) and the punctuation around it.

use crate::numbers::{say, say_digits, say_ordinal, say_year};
use hark_asr::WordTiming;

/// One spoken word.
#[derive(Debug, Clone, PartialEq)]
pub struct Tok {
    /// Lower-case spoken form: `forty`, `dot`, `hello`.
    pub text: String,
    /// How to write it when nothing formats it: the engine's own casing (`Hello`, `iPhone`) or,
    /// for a word the verbaliser made, the spoken form (`forty`; a letter of an ID upper-case).
    pub written: String,
    /// Punctuation before the word (`"`, `(`) and after it (`,`, `.`, `?"`).
    pub lead: String,
    pub trail: String,
    pub start_s: f32,
    pub end_s: f32,
    pub confidence: f32,
}

const LEAD: &[char] = &['"', '\'', '(', '[', '{', '¿', '¡', '“', '‘', '«'];
const TRAIL: &[char] = &[
    '.', ',', ';', ':', '!', '?', '"', '\'', ')', ']', '}', '…', '”', '’', '»',
];

/// Top-level domains the verbaliser and the URL formatter know.
pub const TLDS: &[&str] = &[
    "com", "org", "net", "io", "co", "uk", "edu", "gov", "ai", "dev", "app", "us", "me", "tv",
    "info", "biz", "ca", "de", "fr", "au", "in", "ly", "xyz",
];

/// Engine words as they are, only split from the punctuation around them (for languages the
/// verbaliser does not speak).
pub fn as_written(words: &[WordTiming]) -> Vec<Tok> {
    let mut out = Vec::with_capacity(words.len());
    for w in words {
        let (lead, trail, core) = core_of(&w.text);
        if !core.is_empty() && !core.chars().any(char::is_alphanumeric) {
            continue;
        }
        if core.is_empty() {
            if let Some(prev) = out.last_mut() {
                let prev: &mut Tok = prev;
                prev.trail.push_str(w.text.trim());
            }
            continue;
        }
        out.push(Tok {
            text: core.to_lowercase(),
            written: core.to_owned(),
            lead: lead.to_owned(),
            trail: trail.to_owned(),
            start_s: w.start_s,
            end_s: w.end_s,
            confidence: w.confidence,
        });
    }
    out
}

/// Engine words (English; times already on the audio clock) as spoken tokens.
pub fn verbalise(words: &[WordTiming]) -> Vec<Tok> {
    let mut out = Vec::with_capacity(words.len() + 4);
    let mut currency_after: Option<&str> = None;
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).map(|n| core_of(&n.text).2.to_lowercase());
        // A short number beside a group of digits is part of a digit string (`123 45-6789`).
        let beside_digits = [i.checked_sub(1), Some(i + 1)]
            .into_iter()
            .flatten()
            .filter_map(|k| words.get(k))
            .any(|n| is_digit_group(core_of(&n.text).2));
        let core = core_of(&w.text).2;
        if beside_digits && core.len() <= 4 && core.chars().all(|c| c.is_ascii_digit()) {
            let (lead, trail, _) = core_of(&w.text);
            push_pieces(w, lead, trail, plain(say_digits(core)), &mut out);
        } else {
            verbalise_word(w, next.as_deref(), &mut out);
        }
        if let Some(currency) = currency_after.take() {
            // `$2.5 million`: the scale word is followed by the currency word, which shares its time.
            if let Some(scale) = out.pop() {
                let mid = (scale.start_s + scale.end_s) / 2.0;
                let word = Tok {
                    text: currency.to_owned(),
                    written: currency.to_owned(),
                    lead: String::new(),
                    trail: scale.trail.clone(),
                    start_s: mid,
                    end_s: scale.end_s,
                    confidence: scale.confidence,
                };
                out.push(Tok {
                    trail: String::new(),
                    end_s: mid,
                    ..scale
                });
                out.push(word);
            }
        }
        if matches!(
            next.as_deref(),
            Some("thousand" | "million" | "billion" | "trillion")
        ) {
            currency_after = match core.chars().next() {
                Some('$') => Some("dollars"),
                Some('€') => Some("euros"),
                Some('£') => Some("pounds"),
                _ => None,
            }
            .filter(|_| core.chars().nth(1).is_some_and(|c| c.is_ascii_digit()));
        }
    }
    out
}

/// Split a written word into (lead, trail, core).
fn core_of(written: &str) -> (&str, &str, &str) {
    let t = written.trim();
    let core_start = t.len() - t.trim_start_matches(LEAD).len();
    let rest = &t[core_start..];
    let mut core = rest.trim_end_matches(TRAIL);
    // A trailing `.` of an abbreviation (`U.S.`, `p.m.`) stays with it.
    if core.contains('.') && rest[core.len()..].starts_with('.') && core.len() <= 4 {
        core = &rest[..core.len() + 1];
    }
    (&t[..core_start], &rest[core.len()..], core)
}

fn verbalise_word(w: &WordTiming, next: Option<&str>, out: &mut Vec<Tok>) {
    let (lead, trail, core) = core_of(&w.text);
    if !core.is_empty() && core != "&" && !core.chars().any(char::is_alphanumeric) {
        // A dash or other symbol on its own says nothing.
        return;
    }
    if core.is_empty() {
        // Punctuation on its own: it belongs to the word before.
        if let Some(prev) = out.last_mut() {
            prev.trail.push_str(w.text.trim());
        }
        return;
    }
    let bracketed_digits =
        lead.ends_with('(') && trail.starts_with(')') && core.chars().all(|c| c.is_ascii_digit());
    let spoken = if bracketed_digits {
        // An area code, `(555)`: digit by digit.
        Some(plain(say_digits(core)))
    } else {
        spoken_form(core, next)
    };
    let pieces: Vec<(String, String)> = match spoken {
        Some(words) => words,
        None => vec![(core.to_lowercase(), core.to_owned())],
    };
    push_pieces(w, lead, trail, pieces, out);
}

/// Digits, with the hyphens or brackets of a phone number or an ID (`45-6789`, `(555)`).
fn is_digit_group(core: &str) -> bool {
    core.chars().any(|c| c.is_ascii_digit())
        && core
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '(' | ')'))
}

/// Spoken words for one written word, sharing its time in proportion to their length.
fn push_pieces(
    w: &WordTiming,
    lead: &str,
    trail: &str,
    pieces: Vec<(String, String)>,
    out: &mut Vec<Tok>,
) {
    let total_chars: usize = pieces.iter().map(|(t, _)| t.len() + 1).sum();
    let span = (w.end_s - w.start_s).max(0.0);
    let mut at = w.start_s;
    let n = pieces.len();
    for (k, (text, written)) in pieces.into_iter().enumerate() {
        let share = span * (text.len() + 1) as f32 / total_chars as f32;
        let end = if k + 1 == n {
            w.end_s.max(at)
        } else {
            at + share
        };
        out.push(Tok {
            text,
            written,
            lead: if k == 0 {
                lead.to_owned()
            } else {
                String::new()
            },
            trail: if k + 1 == n {
                trail.to_owned()
            } else {
                String::new()
            },
            start_s: at,
            end_s: end,
            confidence: w.confidence,
        });
        at = end;
    }
}

fn plain(words: Vec<String>) -> Vec<(String, String)> {
    words.into_iter().map(|w| (w.clone(), w)).collect()
}

/// The spoken words of a written core, when it is not an ordinary word. `next` is the following
/// word's core (lower case), so `$2.5 million` reads `two point five million dollars`.
fn spoken_form(core: &str, next: Option<&str>) -> Option<Vec<(String, String)>> {
    let lower = core.to_lowercase();
    // (`am` in lower case is the verb.)
    match core {
        "AM" | "a.m." | "a.m" | "A.M." | "A.M" => return Some(vec![("am".into(), "AM".into())]),
        "PM" | "pm" | "p.m." | "p.m" | "P.M." | "P.M" => {
            return Some(vec![("pm".into(), "PM".into())])
        }
        _ => {}
    }
    if lower == "&" {
        return Some(plain(vec!["and".into()]));
    }
    let has_digit = core.chars().any(|c| c.is_ascii_digit());
    if core.contains('@') {
        return Some(address(&lower));
    }
    if !has_digit {
        // `forty-seven` → `forty seven`; other hyphenated words stay whole.
        if lower.contains('-')
            && lower.split('-').all(|p| {
                crate::numbers::is_number_word(p) || crate::numbers::ordinal_value(p).is_some()
            })
        {
            return Some(plain(lower.split('-').map(str::to_owned).collect()));
        }
        if looks_like_url(&lower) {
            return Some(address(&lower));
        }
        return None;
    }
    if let Some(words) = money(core, next) {
        return Some(plain(words));
    }
    if let Some(num) = lower.strip_suffix('%') {
        let mut words = number(num)?;
        words.push("percent".into());
        return Some(plain(words));
    }
    if let Some(words) = ordinal(&lower) {
        return Some(plain(words));
    }
    if let Some(words) = clock(&lower) {
        return Some(plain(words));
    }
    if let Some(words) = number(&lower) {
        return Some(plain(words));
    }
    if let Some(rest) = lower.strip_prefix('+') {
        if rest
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == ' ')
        {
            let mut words = vec!["plus".to_owned()];
            words.extend(say_digits(rest));
            return Some(plain(words));
        }
    }
    // Digit groups (`555-867-5309`, `(555)`): digit by digit.
    if lower
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | '(' | ')' | '.' | '/'))
    {
        return Some(plain(say_digits(&lower)));
    }
    // `10am`, `5pm`.
    for (suffix, word, written) in [("am", "am", "AM"), ("pm", "pm", "PM")] {
        if let Some(n) = lower.strip_suffix(suffix) {
            if let Some(mut words) = clock(n).or_else(|| number(n)) {
                let mut pieces = plain(std::mem::take(&mut words));
                pieces.push((word.into(), written.into()));
                return Some(pieces);
            }
        }
    }
    // Anything else with digits (`1Z57A2B`, `EV1`): character by character.
    let mut pieces = Vec::new();
    for c in core.chars() {
        if let Some(d) = c.to_digit(10) {
            let w = say_digits(&d.to_string()).remove(0);
            pieces.push((w.clone(), w));
        } else if c.is_alphabetic() {
            pieces.push((c.to_lowercase().to_string(), c.to_uppercase().to_string()));
        }
    }
    (!pieces.is_empty()).then_some(pieces)
}

fn looks_like_url(lower: &str) -> bool {
    let host = lower.split('/').next().unwrap_or("");
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() >= 2
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && TLDS.contains(parts.last().unwrap_or(&""))
}

/// `jane.doe@example.com` → `jane dot doe at example dot com`; `acme.com/signup` → `acme dot com
/// slash signup`.
fn address(lower: &str) -> Vec<(String, String)> {
    let mut words = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, words: &mut Vec<String>| {
        if !current.is_empty() {
            if current.chars().all(|c| c.is_ascii_digit()) {
                words.extend(say_digits(current));
            } else {
                words.push(std::mem::take(current));
            }
            current.clear();
        }
    };
    for c in lower.chars() {
        let name = match c {
            '@' => Some("at"),
            '.' => Some("dot"),
            '/' => Some("slash"),
            '_' => Some("underscore"),
            '-' => Some("dash"),
            '+' => Some("plus"),
            ':' => Some("colon"),
            _ => None,
        };
        match name {
            Some(n) => {
                flush(&mut current, &mut words);
                words.push(n.to_owned());
            }
            None => current.push(c),
        }
    }
    flush(&mut current, &mut words);
    plain(words)
}

/// `47`, `1,200`, `2.5`, `1999` (a year), `0042` (digits).
fn number(s: &str) -> Option<Vec<String>> {
    if s.is_empty() || !s.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if let Some((int, frac)) = s.split_once('.') {
        if frac.is_empty() || !frac.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let mut words = number(int)?;
        words.push("point".into());
        words.extend(say_digits(frac));
        return Some(words);
    }
    if s.contains(',') {
        let groups: Vec<&str> = s.split(',').collect();
        let well_formed = groups[0].len() <= 3
            && groups[1..].iter().all(|g| g.len() == 3)
            && groups
                .iter()
                .all(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_digit()));
        if !well_formed {
            return None;
        }
        let n: u64 = s.replace(',', "").parse().ok()?;
        // Past the trillions there are no more scale words: digit by digit.
        return Some(if n < 1_000_000_000_000_000 {
            say(n)
        } else {
            say_digits(s)
        });
    }
    if !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u64 = s.parse().ok()?;
    Some(match s.len() {
        _ if s.len() > 1 && s.starts_with('0') => say_digits(s),
        1..=3 => say(n),
        4 if (1100..2100).contains(&n) => say_year(n),
        4 if n.is_multiple_of(100) => say(n),
        _ => say_digits(s),
    })
}

/// `5th`, `21st`, `100th`.
fn ordinal(s: &str) -> Option<Vec<String>> {
    let digits = s
        .strip_suffix("st")
        .or_else(|| s.strip_suffix("nd"))
        .or_else(|| s.strip_suffix("rd"))
        .or_else(|| s.strip_suffix("th"))?;
    let digits = digits.replace(',', "");
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(say_ordinal(digits.parse().ok()?))
}

/// `3:30` → `three thirty`; `8:05` → `eight oh five`; `10:00` → `ten o'clock`.
fn clock(s: &str) -> Option<Vec<String>> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 24 || m > 59 {
        return None;
    }
    let mut words = say(h);
    match m {
        0 => words.push("o'clock".into()),
        1..=9 => {
            words.push("oh".into());
            words.extend(say(m));
        }
        _ => words.extend(say(m)),
    }
    Some(words)
}

/// `$47` → `forty seven dollars`; `$342.99` → `three hundred forty two dollars and ninety nine
/// cents`; `$2.5` before `million` → `two point five` (the currency word goes after the scale).
fn money(core: &str, next: Option<&str>) -> Option<Vec<String>> {
    let (symbol, amount) = core
        .strip_prefix('$')
        .map(|a| ("dollars", a))
        .or_else(|| core.strip_prefix('€').map(|a| ("euros", a)))
        .or_else(|| core.strip_prefix('£').map(|a| ("pounds", a)))?;
    let scaled = matches!(next, Some("thousand" | "million" | "billion" | "trillion"));
    if scaled {
        // The currency word goes after the scale word (see `verbalise`).
        return number(amount);
    }
    let (int, cents) = match amount.split_once('.') {
        Some((i, c)) if c.len() == 2 && c.chars().all(|d| d.is_ascii_digit()) => (i, Some(c)),
        Some(_) => {
            return number(amount).map(|mut w| {
                w.push(symbol.into());
                w
            })
        }
        None => (amount, None),
    };
    let int_value: u64 = int.replace(',', "").parse().ok()?;
    let cents_value: u64 = cents.map_or(Ok(0), str::parse).ok()?;
    let mut words = Vec::new();
    if int_value > 0 || cents_value == 0 {
        words.extend(number(int)?);
        words.push(
            if int_value == 1 {
                symbol.trim_end_matches('s')
            } else {
                symbol
            }
            .into(),
        );
    }
    if cents_value > 0 {
        if !words.is_empty() {
            words.push("and".into());
        }
        words.extend(say(cents_value));
        words.push(if cents_value == 1 { "cent" } else { "cents" }.into());
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spoken(written: &str) -> String {
        verbalise(&crate::test_words::one_per_second(written))
            .iter()
            .map(|t| format!("{}{}{}", t.lead, t.text, t.trail))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn written_forms_become_spoken_words() {
        assert_eq!(
            spoken("The bill came to $47."),
            "the bill came to forty seven dollars."
        );
        assert_eq!(
            spoken("$342.99"),
            "three hundred forty two dollars and ninety nine cents"
        );
        assert_eq!(spoken("$12.50"), "twelve dollars and fifty cents");
        assert_eq!(spoken("20%"), "twenty percent");
        assert_eq!(spoken("2.5%"), "two point five percent");
        assert_eq!(spoken("1,200"), "one thousand two hundred");
        assert_eq!(spoken("1999,"), "nineteen ninety nine,");
        assert_eq!(spoken("5th"), "fifth");
        assert_eq!(spoken("8:37 PM."), "eight thirty seven pm.");
        assert_eq!(spoken("10am"), "ten am");
        assert_eq!(
            spoken("(555) 867-5309"),
            "(five five five) eight six seven five three zero nine"
        );
        assert_eq!(
            spoken("jane.doe@example.com."),
            "jane dot doe at example dot com."
        );
        assert_eq!(spoken("acme.com/signup"), "acme dot com slash signup");
        assert_eq!(spoken("1Z57A2B"), "one z five seven a two b");
        assert_eq!(spoken("forty-seven"), "forty seven");
        assert_eq!(spoken("well-known"), "well-known");
        assert_eq!(spoken("U.S."), "u.s.");
        assert_eq!(spoken("\"Hello,\""), "\"hello,\"");
        assert_eq!(spoken("$2.5 million."), "two point five million dollars.");
        assert_eq!(
            spoken("is 123 45-6789"),
            "is one two three four five six seven eight nine"
        );
        assert_eq!(
            spoken("is 123 people"),
            "is one hundred twenty three people"
        );
        // Past the trillions: digit by digit, never a wrong scale word.
        assert_eq!(
            spoken("1,000,000,000,000,001"),
            format!("one {}one", "zero ".repeat(14))
        );
    }

    #[test]
    fn a_written_word_time_is_shared_by_its_spoken_words() {
        let w = WordTiming {
            text: "$47".into(),
            start_s: 1.0,
            end_s: 2.0,
            confidence: 0.5,
        };
        let t = verbalise(&[w]);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].start_s, 1.0);
        assert_eq!(t[2].end_s, 2.0);
        for pair in t.windows(2) {
            assert_eq!(pair[0].end_s, pair[1].start_s);
            assert!(pair[0].start_s < pair[0].end_s);
        }
        assert!(t.iter().all(|t| t.confidence == 0.5));
    }
}
