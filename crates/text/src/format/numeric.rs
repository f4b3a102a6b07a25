//! Numbers in spoken tokens: money, percentages, cardinals, ordinals, years, times, phone
//! numbers, SSNs, card numbers, CVVs, digit IDs and street addresses (FEATURES.md §3.3).

use super::capitalise;
use super::tag::{as_is, is_word, part, span};
use super::tag::{
    CARDINAL, CREDIT_CARD, CVV, DATE, LOCATION_ADDRESS, MONEY, NUMERICAL_PII, ORDINAL, PERCENT,
    PHONE_NUMBER, SSN, TIME,
};
use super::Span;
use crate::numbers::{digit_value, ordinal_suffix, read_cardinal, with_commas, Cardinal};

const YEAR_CUES: &[&str] = &[
    "in", "since", "from", "until", "by", "of", "year", "circa", "during", "before", "after",
];
const TIME_CUES: &[&str] = &[
    "at", "by", "until", "till", "around", "from", "before", "after",
];
const STREET_SUFFIXES: &[&str] = &[
    "street",
    "avenue",
    "road",
    "boulevard",
    "lane",
    "drive",
    "court",
    "way",
    "place",
    "terrace",
    "parkway",
    "highway",
    "circle",
];

/// A year at `i`: `nineteen ninety nine`, `twenty twenty six`, `nineteen oh five` (and its length).
pub(super) fn year(words: &[&str], i: usize) -> Option<(u64, usize)> {
    let hi = read_cardinal(&words[i..])?;
    if hi.len != 1 || hi.ordinal || !(11..=20).contains(&hi.value) || hi.value == 10 {
        return None;
    }
    let j = i + 1;
    if words.get(j).is_some_and(|w| *w == "oh") {
        let d = words
            .get(j + 1)
            .and_then(|w| digit_value(w))
            .filter(|d| *d > 0)?;
        return Some((hi.value * 100 + u64::from(d), 3));
    }
    let lo = read_cardinal(&words[j.min(words.len())..])?;
    if lo.ordinal || !(10..=99).contains(&lo.value) {
        return None;
    }
    Some((hi.value * 100 + lo.value, 1 + lo.len))
}

/// How many single-digit words start at `i` (`oh` only after the first).
fn digit_run(words: &[&str], i: usize) -> usize {
    let mut n = 0;
    while let Some(w) = words.get(i + n) {
        let digit = digit_value(w).is_some() && *w != "o" && (n > 0 || *w != "oh");
        if !digit {
            break;
        }
        n += 1;
    }
    // The last digit of `five five hundred` belongs to the hundred.
    if n > 0
        && words
            .get(i + n)
            .is_some_and(|w| matches!(*w, "hundred" | "thousand" | "million" | "billion"))
    {
        n -= 1;
    }
    n
}

fn cue_before(words: &[&str], i: usize, cues: &[&str], within: usize) -> bool {
    words[i.saturating_sub(within)..i]
        .iter()
        .any(|w| cues.contains(w))
}

pub(super) fn numeric(words: &[&str], i: usize) -> Option<Span> {
    if words[i] == "plus" {
        let n = digit_run(words, i + 1);
        if n >= 8 {
            let digits: String = digits_of(&words[i + 1..i + 1 + n]);
            return Some(span(
                i,
                PHONE_NUMBER,
                vec![part(format!("+{digits}"), n + 1)],
            ));
        }
        return None;
    }
    let run = digit_run(words, i);
    if run >= 2 {
        return Some(digits_entity(words, i, run));
    }
    if let Some((y, len)) = year(words, i) {
        let next = words.get(i + len).copied().unwrap_or("");
        let money_or_unit = matches!(next, "dollars" | "dollar" | "percent" | "cents" | "euros");
        if !money_or_unit && (y >= 1500 || cue_before(words, i, YEAR_CUES, 2)) {
            return Some(span(i, DATE, vec![part(y.to_string(), len)]));
        }
    }
    let n = number(words, i)?;
    let after = i + n.len;
    let next = words.get(after).copied().unwrap_or("");
    match next {
        "dollars" | "dollar" | "euros" | "euro" => return Some(money(words, i, &n, next)),
        "percent" => {
            return Some(span(
                i,
                PERCENT,
                vec![part(format!("{}%", n.plain()), n.len + 1)],
            ))
        }
        _ => {}
    }
    if let Some(address) = street(words, i, &n.plain(), n.len) {
        return Some(address);
    }
    if n.ordinal {
        let parts = if n.int >= 10 {
            vec![part(format!("{}{}", n.int, ordinal_suffix(n.int)), n.len)]
        } else {
            as_is(words, i, n.len)
        };
        return Some(span(i, ORDINAL, parts));
    }
    let from_thousands = words[i..after].contains(&"thousand");
    if (1000..=2099).contains(&n.int)
        && n.frac.is_none()
        && from_thousands
        && cue_before(words, i, YEAR_CUES, 2)
    {
        return Some(span(i, DATE, vec![part(n.int.to_string(), n.len)]));
    }
    let parts = if n.int < 10 && n.frac.is_none() && n.len == 1 {
        as_is(words, i, 1)
    } else {
        vec![part(n.with_commas(), n.len)]
    };
    Some(span(i, CARDINAL, parts))
}

fn digits_of(words: &[&str]) -> String {
    words
        .iter()
        .filter_map(|w| digit_value(w))
        .map(|d| char::from(b'0' + d))
        .collect()
}

/// A run of digit words: a phone number, SSN, card number, CVV, street address or an ID.
fn digits_entity(words: &[&str], i: usize, run: usize) -> Span {
    let d = digits_of(&words[i..i + run]);
    if let Some(address) = street(words, i, &d, run) {
        return address;
    }
    // (Anywhere before in the result: "my social security number is … and his is …".)
    let ssn_cue = words[..i].windows(2).any(|w| w == ["social", "security"])
        || cue_before(words, i, &["ssn"], i);
    let cvv_cue = cue_before(words, i, &["cvv", "cvc", "cv"], 4)
        || words[i.saturating_sub(4)..i]
            .windows(2)
            .any(|w| w == ["security", "code"]);
    let (label, written) = match d.len() {
        9 if ssn_cue => (SSN, format!("{}-{}-{}", &d[..3], &d[3..5], &d[5..])),
        10 => (
            PHONE_NUMBER,
            format!("({}) {}-{}", &d[..3], &d[3..6], &d[6..]),
        ),
        11 if d.starts_with('1') => (
            PHONE_NUMBER,
            format!("1 ({}) {}-{}", &d[1..4], &d[4..7], &d[7..]),
        ),
        7 => (PHONE_NUMBER, format!("{}-{}", &d[..3], &d[3..])),
        3 | 4 if cvv_cue => (CVV, d),
        13..=19 => (CREDIT_CARD, d),
        _ => (NUMERICAL_PII, d),
    };
    span(i, label, vec![part(written, run)])
}

/// `three hundred main street` → `300 Main Street`.
fn street(words: &[&str], i: usize, number: &str, len: usize) -> Option<Span> {
    let start = i + len;
    for names in 1..=3 {
        let suffix = *words.get(start + names)?;
        let name_words = &words[start..start + names];
        if !name_words
            .iter()
            .all(|w| is_word(w) && !crate::numbers::is_number_word(w))
        {
            return None;
        }
        if STREET_SUFFIXES.contains(&suffix) {
            let mut parts = vec![part(number, len)];
            parts.extend(name_words.iter().map(|w| part(capitalise(w), 1)));
            parts.push(part(capitalise(suffix), 1));
            return Some(span(i, LOCATION_ADDRESS, parts));
        }
    }
    None
}

/// `eight thirty seven pm` → `8:37 PM`; `nine a m` → `9 AM`; at a time cue, `five forty five` → `5:45`.
pub(super) fn time(words: &[&str], i: usize) -> Option<Span> {
    let h = read_cardinal(&words[i..]).filter(|c| !c.ordinal && (1..=12).contains(&c.value))?;
    let meridiem = |j: usize| -> Option<(&'static str, usize)> {
        match (words.get(j).copied(), words.get(j + 1).copied()) {
            (Some("am"), _) => Some(("AM", 1)),
            (Some("pm"), _) => Some(("PM", 1)),
            (Some("a"), Some("m")) => Some(("AM", 2)),
            (Some("p"), Some("m")) => Some(("PM", 2)),
            _ => None,
        }
    };
    let j = i + h.len;
    if let Some((m, len)) = meridiem(j) {
        return Some(span(
            i,
            TIME,
            vec![part(h.value.to_string(), h.len), part(m, len)],
        ));
    }
    if words.get(j) == Some(&"o'clock") {
        return Some(span(
            i,
            TIME,
            vec![part(h.value.to_string(), h.len), part("o'clock", 1)],
        ));
    }
    let (minutes, mlen) = if words.get(j) == Some(&"oh") {
        let d = words
            .get(j + 1)
            .and_then(|w| digit_value(w))
            .filter(|d| *d > 0)?;
        (u64::from(d), 2)
    } else {
        let m = read_cardinal(&words[j.min(words.len())..])
            .filter(|c| !c.ordinal && (10..=59).contains(&c.value))?;
        (m.value, m.len)
    };
    let clock = format!("{}:{minutes:02}", h.value);
    if let Some((m, len)) = meridiem(j + mlen) {
        return Some(span(i, TIME, vec![part(clock, h.len + mlen), part(m, len)]));
    }
    cue_before(words, i, TIME_CUES, 1).then(|| span(i, TIME, vec![part(clock, h.len + mlen)]))
}

/// A number read at `i`: a cardinal, with decimals (`two point five`) and a scale after them
/// (`two point five million`).
pub(crate) struct Number {
    pub int: u64,
    pub frac: Option<String>,
    pub len: usize,
    pub ordinal: bool,
}

impl Number {
    pub fn plain(&self) -> String {
        match &self.frac {
            Some(f) => format!("{}.{f}", self.int),
            None => self.int.to_string(),
        }
    }

    fn with_commas(&self) -> String {
        let int = if self.int >= 1000 {
            with_commas(self.int)
        } else {
            self.int.to_string()
        };
        match &self.frac {
            Some(f) => format!("{int}.{f}"),
            None => int,
        }
    }
}

pub(crate) fn number(words: &[&str], i: usize) -> Option<Number> {
    let c: Cardinal = read_cardinal(&words[i..])?;
    let mut n = Number {
        int: c.value,
        frac: None,
        len: c.len,
        ordinal: c.ordinal,
    };
    if c.ordinal || words.get(i + n.len) != Some(&"point") {
        return Some(n);
    }
    let digits = digit_run_after_point(words, i + n.len + 1);
    if digits.is_empty() {
        return Some(n);
    }
    n.len += 1 + digits.len();
    let scale = match words.get(i + n.len).copied() {
        Some("thousand") => 3,
        Some("million") => 6,
        Some("billion") => 9,
        _ => 0,
    };
    if scale >= digits.len() {
        // `two point five million` → 2,500,000.
        let mut s = format!("{}{digits}", n.int);
        s.extend(std::iter::repeat_n('0', scale - digits.len()));
        n.int = s.parse().ok()?;
        n.len += 1;
    } else {
        n.frac = Some(digits);
    }
    Some(n)
}

fn digit_run_after_point(words: &[&str], j: usize) -> String {
    words[j.min(words.len())..]
        .iter()
        .map_while(|w| digit_value(w))
        .map(|d| char::from(b'0' + d))
        .collect()
}

/// `forty seven dollars` → `$47`; `… dollars and ninety nine cents` → `$342.99`.
fn money(words: &[&str], i: usize, n: &Number, currency: &str) -> Span {
    let symbol = if currency.starts_with("euro") {
        "€"
    } else {
        "$"
    };
    let mut len = n.len + 1;
    let mut cents = n.frac.as_ref().map(|f| format!("{f:0<2}"));
    if cents.is_none() && words.get(i + len) == Some(&"and") {
        if let Some(c) = read_cardinal(&words[(i + len + 1).min(words.len())..]) {
            if c.value < 100
                && !c.ordinal
                && matches!(
                    words.get(i + len + 1 + c.len).copied(),
                    Some("cents" | "cent")
                )
            {
                cents = Some(format!("{:02}", c.value));
                len += 2 + c.len;
            }
        }
    }
    let int = if n.int >= 1000 {
        with_commas(n.int)
    } else {
        n.int.to_string()
    };
    let written = match cents {
        Some(c) => format!("{symbol}{int}.{c}"),
        None => format!("{symbol}{int}"),
    };
    span(i, MONEY, vec![part(written, len)])
}
