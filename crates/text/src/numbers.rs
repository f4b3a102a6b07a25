//! English number words, both ways: a value spoken as words ([`say`], [`say_ordinal`],
//! [`say_year`], [`say_digits`]) and words read back as a value ([`read_cardinal`],
//! [`digit_value`], [`ordinal_value`]).

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const SCALES: [(&str, u64); 4] = [
    ("trillion", 1_000_000_000_000),
    ("billion", 1_000_000_000),
    ("million", 1_000_000),
    ("thousand", 1_000),
];
const ORDINALS: [(&str, u64); 20] = [
    ("zeroth", 0),
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
    ("eleventh", 11),
    ("twelfth", 12),
    ("thirteenth", 13),
    ("fourteenth", 14),
    ("fifteenth", 15),
    ("sixteenth", 16),
    ("seventeenth", 17),
    ("eighteenth", 18),
    ("nineteenth", 19),
];
const TENS_ORDINALS: [(&str, u64); 8] = [
    ("twentieth", 20),
    ("thirtieth", 30),
    ("fortieth", 40),
    ("fiftieth", 50),
    ("sixtieth", 60),
    ("seventieth", 70),
    ("eightieth", 80),
    ("ninetieth", 90),
];
const SCALE_ORDINALS: [(&str, u64); 4] = [
    ("hundredth", 100),
    ("thousandth", 1_000),
    ("millionth", 1_000_000),
    ("billionth", 1_000_000_000),
];

/// The words of a cardinal: `1200` → `one thousand two hundred`.
pub fn say(n: u64) -> Vec<String> {
    let mut out = Vec::new();
    if n == 0 {
        out.push("zero".to_owned());
        return out;
    }
    let mut rest = n;
    for (name, scale) in SCALES {
        if rest >= scale {
            say_below_thousand(rest / scale, &mut out);
            out.push(name.to_owned());
            rest %= scale;
        }
    }
    if rest > 0 {
        say_below_thousand(rest, &mut out);
    }
    out
}

fn say_below_thousand(n: u64, out: &mut Vec<String>) {
    let n = n % 1000;
    if n >= 100 {
        out.push(ONES[(n / 100) as usize].to_owned());
        out.push("hundred".to_owned());
    }
    let r = n % 100;
    if r >= 20 {
        out.push(TENS[(r / 10) as usize].to_owned());
        if !r.is_multiple_of(10) {
            out.push(ONES[(r % 10) as usize].to_owned());
        }
    } else if r > 0 {
        out.push(ONES[r as usize].to_owned());
    }
}

/// The words of an ordinal: `28` → `twenty eighth`.
pub fn say_ordinal(n: u64) -> Vec<String> {
    let mut words = say(n);
    if let Some(last) = words.last_mut() {
        let ordinal = ORDINALS
            .iter()
            .chain(TENS_ORDINALS.iter())
            .chain(SCALE_ORDINALS.iter())
            .find(|(_, v)| cardinal_word(last) == Some(*v) || scale_word(last) == Some(*v))
            .map(|(o, _)| (*o).to_owned());
        if let Some(o) = ordinal {
            *last = o;
        }
    }
    words
}

/// A year as people say it: `1999` → `nineteen ninety nine`, `2005` → `two thousand five`,
/// `1905` → `nineteen oh five`, `1900` → `nineteen hundred`.
pub fn say_year(n: u64) -> Vec<String> {
    let (hi, lo) = (n / 100, n % 100);
    if !(1100..10_000).contains(&n) || (2000..2010).contains(&n) {
        return say(n);
    }
    let mut out = say(hi);
    match lo {
        0 => out.push("hundred".to_owned()),
        1..=9 => {
            out.push("oh".to_owned());
            out.push(ONES[lo as usize].to_owned());
        }
        _ => out.extend(say(lo)),
    }
    out
}

/// Each digit as a word: `5309` → `five three zero nine`.
pub fn say_digits(digits: &str) -> Vec<String> {
    digits
        .chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| ONES[d as usize].to_owned())
        .collect()
}

/// The value of a single number word below a hundred (`seven`, `nineteen`, `forty`).
pub fn cardinal_word(word: &str) -> Option<u64> {
    if let Some(i) = ONES.iter().position(|w| *w == word) {
        return Some(i as u64);
    }
    TENS.iter()
        .position(|w| !w.is_empty() && *w == word)
        .map(|i| i as u64 * 10)
}

fn scale_word(word: &str) -> Option<u64> {
    match word {
        "hundred" => Some(100),
        _ => SCALES.iter().find(|(w, _)| *w == word).map(|(_, v)| *v),
    }
}

/// A single digit word (`oh` counts as zero).
pub fn digit_value(word: &str) -> Option<u8> {
    match word {
        "oh" | "o" => Some(0),
        _ => ONES[..10].iter().position(|w| *w == word).map(|i| i as u8),
    }
}

/// The value of an ordinal's last word (`fifth` → 5, `twentieth` → 20, `hundredth` → 100).
pub fn ordinal_value(word: &str) -> Option<u64> {
    ORDINALS
        .iter()
        .chain(TENS_ORDINALS.iter())
        .chain(SCALE_ORDINALS.iter())
        .find(|(w, _)| *w == word)
        .map(|(_, v)| *v)
}

/// Whether a word can be part of a spoken number.
pub fn is_number_word(word: &str) -> bool {
    cardinal_word(word).is_some() || scale_word(word).is_some() || word == "oh"
}

/// A cardinal read from the start of `words`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cardinal {
    pub value: u64,
    /// Words used.
    pub len: usize,
    /// Whether it was a single digit word (`five`), so a run of them reads digit by digit.
    pub single_digit: bool,
    /// The ordinal suffix was on the last word (`twenty eighth`).
    pub ordinal: bool,
}

/// Read the longest well-formed cardinal (or ordinal) at the start of `words`: `twenty three`,
/// `twelve hundred`, `three hundred and forty two`, `a thousand`, `two million five hundred
/// thousand`. Two numbers side by side (`five five`, `twenty twenty`) are two cardinals.
pub fn read_cardinal(words: &[&str]) -> Option<Cardinal> {
    let mut total: u64 = 0; // completed scale groups
    let mut group: u64 = 0; // below the next scale word
    let mut last_scale = u64::MAX;
    let mut used = 0;
    let mut ended_ordinal = false;
    // What the group holds: whether it has a tens word, a unit, a hundred.
    let (mut tens, mut unit, mut hundred) = (false, false, false);
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let ord = ordinal_value(w);
        let card = cardinal_word(w).or(ord.filter(|v| *v < 100));
        let scale = scale_word(w).or(ord.filter(|v| *v >= 100));
        if let Some(v) = card {
            // A unit after a unit, a teen after anything, a tens after a tens or unit: a new number.
            let fits = if v >= 10 {
                !tens && !unit
            } else {
                !unit && !(v == 0 && (tens || hundred || total > 0))
            };
            if !fits || (v == 0 && used > 0) {
                break;
            }
            group += v;
            if v >= 20 {
                tens = true;
            } else {
                unit = true;
            }
            used = i + 1;
            if ord.is_some() {
                ended_ordinal = true;
                break;
            }
        } else if let Some(s) = scale {
            if used == 0 && !(i > 0 && words[i - 1] == "a") {
                break;
            }
            let g = if used == 0 { 1 } else { group };
            if s == 100 {
                if hundred || g == 0 || g >= 100 {
                    break;
                }
                group = g * 100;
                hundred = true;
                tens = false;
                unit = false;
            } else {
                if s >= last_scale || g == 0 {
                    break;
                }
                total += g * s;
                group = 0;
                last_scale = s;
                tens = false;
                unit = false;
                hundred = false;
            }
            used = i + 1;
            if ord.is_some() {
                ended_ordinal = true;
                break;
            }
        } else if w == "a" && used == 0 && i == 0 {
            // "a hundred", "a thousand": only when a scale follows.
            if !words.get(1).is_some_and(|n| {
                scale_word(n).is_some() || matches!(ordinal_value(n), Some(v) if v >= 100)
            }) {
                return None;
            }
        } else if w == "and" && used > 0 && (hundred || total > 0) && !tens && !unit {
            // "three hundred and five": only when a number below a hundred follows.
            if words
                .get(i + 1)
                .and_then(|n| cardinal_word(n).or(ordinal_value(n).filter(|v| *v < 100)))
                .is_none_or(|v| v == 0)
            {
                break;
            }
        } else {
            break;
        }
        i += 1;
    }
    if used == 0 {
        return None;
    }
    let value = total + group;
    Some(Cardinal {
        value,
        len: used,
        single_digit: used == 1 && value < 10 && !ended_ordinal,
        ordinal: ended_ordinal,
    })
}

/// The English ordinal suffix for a number: `1st`, `2nd`, `11th`, `23rd`.
pub fn ordinal_suffix(n: u64) -> &'static str {
    match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

/// `1234567` → `1,234,567`.
pub fn with_commas(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> Option<(u64, usize)> {
        let words: Vec<&str> = s.split(' ').collect();
        read_cardinal(&words).map(|c| (c.value, c.len))
    }

    #[test]
    fn cardinals_read_back_what_is_said() {
        for n in [
            0, 7, 13, 20, 47, 100, 342, 1000, 1200, 12_400, 999_999, 2_500_000, 1_000_001,
        ] {
            let words = say(n).join(" ");
            assert_eq!(read(&words), Some((n, words.split(' ').count())), "{words}");
        }
        assert_eq!(say(1200).join(" "), "one thousand two hundred");
        assert_eq!(read("twelve hundred dollars"), Some((1200, 2)));
        assert_eq!(read("three hundred and forty two"), Some((342, 5)));
        assert_eq!(read("a thousand"), Some((1000, 2)));
        assert_eq!(read("a cat"), None);
    }

    #[test]
    fn numbers_side_by_side_stay_apart() {
        assert_eq!(read("five five five"), Some((5, 1)));
        assert_eq!(read("twenty twenty six"), Some((20, 1)));
        assert_eq!(read("nineteen ninety nine"), Some((19, 1)));
        assert_eq!(read("forty seven twelve"), Some((47, 2)));
        assert_eq!(read("five and ten"), Some((5, 1)));
        assert_eq!(read("one hundred and"), Some((100, 2)));
        assert_eq!(read("zero five"), Some((0, 1)));
    }

    #[test]
    fn ordinals_end_a_number() {
        let words = ["twenty", "eighth", "of"];
        let c = read_cardinal(&words).expect("present");
        assert_eq!((c.value, c.len, c.ordinal), (28, 2, true));
        let c = read_cardinal(&["nine", "hundredth"]).expect("present");
        assert_eq!((c.value, c.ordinal), (900, true));
        assert_eq!(say_ordinal(28).join(" "), "twenty eighth");
        assert_eq!(say_ordinal(100).join(" "), "one hundredth");
        assert_eq!(say_ordinal(12).join(" "), "twelfth");
        assert_eq!(ordinal_suffix(23), "rd");
        assert_eq!(ordinal_suffix(112), "th");
    }

    #[test]
    fn years_digits_and_commas() {
        assert_eq!(say_year(1999).join(" "), "nineteen ninety nine");
        assert_eq!(say_year(2026).join(" "), "twenty twenty six");
        assert_eq!(say_year(2005).join(" "), "two thousand five");
        assert_eq!(say_year(1905).join(" "), "nineteen oh five");
        assert_eq!(say_year(1900).join(" "), "nineteen hundred");
        assert_eq!(say_digits("5309").join(" "), "five three zero nine");
        assert_eq!(with_commas(1_234_567), "1,234,567");
        assert_eq!(with_commas(999), "999");
        assert_eq!(digit_value("oh"), Some(0));
    }
}
