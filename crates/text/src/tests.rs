//! The text stage end to end: engine words in, Deepgram words out, flag by flag
//! (FEATURES.md §22's checklist, on the text alone).

use super::*;
use hark_asr::WordTiming;

fn word(text: &str, start_s: f32, end_s: f32, confidence: f32) -> WordTiming {
    WordTiming {
        text: text.into(),
        start_s,
        end_s,
        confidence,
    }
}

/// A transcript as Whisper writes it, one second per word.
fn written(text: &str) -> Transcript {
    Transcript {
        words: crate::test_words::one_per_second(text),
        language: Some("en".into()),
    }
}

const WHOLE: WindowTime = WindowTime {
    start_s: 0.0,
    duration_s: 1000.0,
};

fn english() -> TextOptions {
    TextOptions {
        english: true,
        ..TextOptions::default()
    }
}

fn run(text: &str, options: &TextOptions) -> Rendered {
    render(
        &written(text),
        WHOLE,
        options,
        Some(&mut Counters::default()),
    )
}

fn transcript(text: &str, options: &TextOptions) -> String {
    run(text, options).alternative.transcript
}

fn words(r: &Rendered) -> Vec<&str> {
    r.alternative
        .words
        .iter()
        .map(|w| w.word.as_str())
        .collect()
}

#[test]
fn words_are_bare_lower_case_and_timed_on_the_audio_clock() {
    let t = Transcript {
        words: vec![
            word(" Hello,", 0.0, 0.4, 0.9),
            word("—", 0.4, 0.5, 0.9),
            word("don't", 0.5, 0.2, 1.5),
            word("$5", 2.0, 9.0, 0.5),
        ],
        language: Some("en".into()),
    };
    let window = WindowTime {
        start_s: 10.0,
        duration_s: 3.0,
    };
    let a = alternative(&t, window, &english());
    let words: Vec<_> = a.words.iter().map(|w| w.word.as_str()).collect();
    // Without smart_format or numerals no digit or symbol reaches `word`.
    assert_eq!(words, ["hello", "don't", "five", "dollars"]);
    assert_eq!(a.transcript, "hello don't five dollars");
    // An end before its start is the start; times past the window are clamped to it.
    assert_eq!((a.words[1].start, a.words[1].end), (10.5, 10.5));
    assert_eq!((a.words[2].start, a.words[3].end), (12.0, 13.0));
    assert_eq!(a.words[1].confidence, 1.0);
    assert!(a
        .words
        .iter()
        .all(|w| w.punctuated_word.is_none() && w.language.is_none()));
    assert!(a.languages.is_none());
}

#[test]
fn subtitle_times_round_to_the_millisecond() {
    assert_eq!(subtitle_time(0.0, ','), "00:00:00,000");
    assert_eq!(subtitle_time(3661.0015, '.'), "01:01:01.002");
    assert_eq!(subtitle_time(59.9996, ','), "00:01:00,000");
    assert_eq!(subtitle_time(-1.0, ','), "00:00:00,000");
}

#[test]
fn punctuation_and_languages_only_when_asked() {
    let t = Transcript {
        words: vec![word("Yes.", 0.0, 0.3, 0.8), word("No!", 0.4, 0.6, 0.6)],
        language: Some("de".into()),
    };
    let window = WindowTime {
        start_s: 0.0,
        duration_s: 1.0,
    };
    let options = TextOptions {
        punctuate: true,
        multi_language: true,
        english: true,
        ..TextOptions::default()
    };
    let a = alternative(&t, window, &options);
    assert_eq!(a.transcript, "Yes. No!");
    assert_eq!(a.words[0].punctuated_word.as_deref(), Some("Yes."));
    assert_eq!(a.words[1].language.as_deref(), Some("de"));
    assert_eq!(a.languages, Some(vec!["de".to_owned()]));
    assert!((a.confidence - 0.7).abs() < 1e-6);
}

#[test]
fn other_languages_keep_the_engine_words() {
    let options = TextOptions {
        smart_format: true,
        punctuate: true,
        ..TextOptions::default()
    };
    let r = run("Es kostet 47 Euro, äh.", &options);
    assert_eq!(r.alternative.transcript, "Es kostet 47 Euro, äh.");
    assert_eq!(words(&r), ["es", "kostet", "47", "euro", "äh"]);
}

#[test]
fn plain_punctuated_and_smart_words_follow_the_rules_of_section_1_2() {
    let text = "Hello, and thank you for calling Premier Services. The bill came to $47.";
    let plain = run(text, &english());
    assert_eq!(
        plain.alternative.transcript,
        "hello and thank you for calling premier services the bill came to forty seven dollars"
    );
    let punct = TextOptions {
        punctuate: true,
        ..english()
    };
    let p = run(text, &punct);
    assert_eq!(
        p.alternative.transcript,
        "Hello, and thank you for calling Premier Services. The bill came to forty seven dollars."
    );
    let smart = TextOptions {
        smart_format: true,
        punctuate: true,
        ..english()
    };
    let s = run(text, &smart);
    assert!(s.alternative.transcript.ends_with("The bill came to $47."));
    let last = s.alternative.words.last().expect("present");
    assert_eq!(
        (last.word.as_str(), last.punctuated_word.as_deref()),
        ("$47", Some("$47."))
    );
    for r in [&plain, &p, &s] {
        let a = &r.alternative;
        let joined: Vec<&str> = a
            .words
            .iter()
            .map(|w| w.punctuated_word.as_deref().unwrap_or(&w.word))
            .collect();
        assert_eq!(a.transcript, joined.join(" "));
        assert!(a.words.iter().all(|w| w.word == w.word.to_lowercase()));
        assert!(a.words.windows(2).all(|w| w[0].start <= w[1].start));
    }
}

#[test]
fn numerals_and_fillers() {
    let numerals = TextOptions {
        numerals: true,
        ..english()
    };
    assert_eq!(
        transcript("I have 23 apples, um, and uh 9284", &numerals),
        "i have 23 apples and 9 2 8 4"
    );
    let keep = TextOptions {
        filler_words: true,
        ..english()
    };
    assert_eq!(
        transcript("so um I think uh we go", &keep),
        "so um i think uh we go"
    );
}

#[test]
fn dictation_needs_punctuation() {
    let text = "patient has a headache comma nausea comma and vomiting period";
    let on = TextOptions {
        dictation: true,
        punctuate: true,
        ..english()
    };
    let r = run(text, &on);
    assert_eq!(
        r.alternative.transcript,
        "Patient has a headache, nausea, and vomiting."
    );
    assert!(!words(&r).contains(&"comma"));
    let off = TextOptions {
        dictation: true,
        ..english()
    };
    assert!(words(&run(text, &off)).contains(&"comma"));
}

#[test]
fn profanity_is_masked_letter_for_letter() {
    let options = TextOptions {
        profanity_filter: true,
        punctuate: true,
        ..english()
    };
    let r = run("This is a shit test, shit.", &options);
    assert_eq!(r.alternative.transcript, "This is a **** test, ****.");
    assert!(words(&r).contains(&"****"));
    assert!(!r.alternative.transcript.contains("shit"));
}

fn redacting(values: &[Redact]) -> TextOptions {
    TextOptions {
        redact: values.to_vec(),
        ..english()
    }
}

#[test]
fn redaction_tags_count_per_label_across_finals() {
    let options = redacting(&[Redact::Entity("ssn".into())]);
    let mut counters = Counters::default();
    let text = "My social security number is 555-22-1111 and his is 666-22-1333";
    let r = render(&written(text), WHOLE, &options, Some(&mut counters));
    assert_eq!(
        r.alternative.transcript,
        "my social security number is [SSN_1] and his is [SSN_2]"
    );
    let tag = r
        .alternative
        .words
        .iter()
        .find(|w| w.word == "[SSN_1]")
        .expect("present");
    assert_eq!((tag.start, tag.end), (5.0, 6.0));
    let again = render(
        &written("social security 123-45-6789"),
        WHOLE,
        &options,
        Some(&mut counters),
    );
    assert_eq!(again.alternative.transcript, "social security [SSN_3]");
    // An interim shows the placeholder and counts nothing.
    let interim = render(
        &written("social security 123-45-6789"),
        WHOLE,
        &options,
        None,
    );
    assert_eq!(interim.alternative.transcript, "social security [REDACTED]");
    let next = render(
        &written("social security 123-45-6789"),
        WHOLE,
        &options,
        Some(&mut counters),
    );
    assert_eq!(next.alternative.transcript, "social security [SSN_4]");
    for r in [&r, &again, &interim] {
        let untagged = r
            .alternative
            .words
            .iter()
            .filter(|w| !w.word.starts_with('['));
        assert!(untagged
            .clone()
            .all(|w| !w.word.chars().any(|c| c.is_ascii_digit())));
        assert!(untagged
            .clone()
            .all(|w| crate::numbers::digit_value(&w.word).is_none()));
    }
}

#[test]
fn redaction_of_cards_and_numbers() {
    let pci = redacting(&[Redact::Pci]);
    let r = run(
        "my credit card number is four four four four nine nine nine nine three three three three two two two two",
        &TextOptions { punctuate: true, ..pci },
    );
    assert_eq!(
        r.alternative.transcript,
        "My credit card number is [CREDIT_CARD_1]"
    );
    assert_eq!(r.alternative.words.len(), 6);
    let numbers = redacting(&[Redact::Numbers]);
    let r = run("i have two cats and the code is seven three nine", &numbers);
    assert!(words(&r).contains(&"two"));
    assert!(!words(&r).contains(&"seven"));
    assert!(r.alternative.transcript.ends_with("[NUMERICAL_PII_1]"));
    let r = run("the population is twelve thousand four hundred", &numbers);
    assert_eq!(r.alternative.transcript, "the population is [REDACTED]");
    let aggressive = redacting(&[Redact::AggressiveNumbers]);
    assert_eq!(
        transcript("i have two cats", &aggressive),
        "i have [REDACTED] cats"
    );
}

#[test]
fn replace_rules() {
    let rule = |s: &str| TextOptions {
        replace: vec![Replace::parse(s)],
        ..english()
    };
    let r = run("i ate an apple today", &rule("apple:banana"));
    assert_eq!(r.alternative.transcript, "i ate an banana today");
    assert_eq!(
        (r.alternative.words[3].start, r.alternative.words[3].end),
        (3.0, 4.0)
    );
    assert_eq!(transcript("hello world", &rule("hello")), "world");
    let r = run("and then big bird said hello", &rule("big bird:Elmo"));
    assert_eq!(r.alternative.transcript, "and then Elmo said hello");
    assert_eq!(
        (r.alternative.words[2].start, r.alternative.words[2].end),
        (2.0, 4.0)
    );
    let r = run("we track kpis", &rule("kpis:Key Performance Indicators"));
    assert_eq!(words(&r)[2..], ["Key", "Performance", "Indicators"]);
    assert_eq!(r.alternative.words[2].start, 2.0);
    assert_eq!(r.alternative.words[4].end, 3.0);
    // A find with capitals matches only that casing.
    let cased = TextOptions {
        punctuate: true,
        replace: vec![Replace::parse("It:That"), Replace::parse("it:this")],
        ..english()
    };
    assert_eq!(transcript("It is it.", &cased), "That is this.");
}

#[test]
fn entities_index_the_words_they_cover() {
    let options = TextOptions {
        detect_entities: true,
        punctuate: true,
        ..english()
    };
    let r = run(
        "My name is Jane Doe and my phone number is five five five one two three four five six seven",
        &options,
    );
    let entities = r.entities.as_ref().expect("present");
    let labels: Vec<&str> = entities.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(labels, ["NAME", "PHONE_NUMBER"]);
    let n = r.alternative.words.len();
    for e in entities {
        assert!(e.start_word < e.end_word && e.end_word <= n);
    }
    assert_eq!(entities[0].value, "Jane Doe");
    assert_eq!(
        entities[1].raw_value,
        "five five five one two three four five six seven"
    );
    assert!(r
        .alternative
        .words
        .iter()
        .all(|w| w.punctuated_word.is_some()));
    // Redacted: the entity is still listed, as its tag.
    let both = TextOptions {
        redact: vec![Redact::Pii],
        smart_format: true,
        ..options.clone()
    };
    let r = run("Call me at 555-123-4567.", &both);
    let e = &r.entities.as_ref().expect("present")[0];
    assert_eq!(
        (e.value.as_str(), e.raw_value.as_str()),
        ("[PHONE_NUMBER_1]", "[PHONE_NUMBER_1]")
    );
    assert_eq!(
        r.alternative.words[e.start_word].punctuated_word.as_deref(),
        Some("[PHONE_NUMBER_1].")
    );
    assert_eq!(run("Nothing here.", &options).entities, Some(Vec::new()));
}

#[test]
fn search_finds_the_spoken_term() {
    let options = TextOptions {
        search: vec!["epistemology".into()],
        ..english()
    };
    let r = run("This lecture is about social epistemology.", &options);
    let s = &r.search.as_ref().expect("present")[0];
    assert_eq!(s.query, "epistemology");
    assert_eq!((s.hits[0].start, s.hits[0].end), (5.0, 6.0));
    assert_eq!(s.hits[0].snippet, "epistemology");
}

#[test]
fn english_only_features_in_another_language_are_named_in_warnings() {
    let p =
        ListenParams::from_query("language=de&detect_entities=true&numerals=true&punctuate=true")
            .expect("valid");
    let w = unsupported_language_warnings(&p);
    let names: Vec<&str> = w.iter().map(|w| w.parameter.as_str()).collect();
    assert_eq!(names, ["numerals", "detect_entities"]);
    assert_eq!(w[1].kind, "unsupported_language");
    assert_eq!(
        w[1].message,
        "Entity detection is only supported for English."
    );
    let en = ListenParams::from_query("language=en-GB&detect_entities=true").expect("valid");
    assert!(unsupported_language_warnings(&en).is_empty());
}

#[test]
fn pii_and_phi_redaction_reach_listed_names_places_and_medical_terms() {
    let text = "Sarah Connor lives in Boston and takes ibuprofen for her migraines.";
    let both = TextOptions {
        punctuate: true,
        redact: vec![Redact::Pii, Redact::Phi],
        ..english()
    };
    assert_eq!(
        transcript(text, &both),
        "[NAME_1] lives in [LOCATION_CITY_1] and takes [DRUG_1] for her [CONDITION_1]."
    );
    // A type names its subtypes.
    let location = TextOptions {
        redact: vec![Redact::Entity("location".into())],
        ..english()
    };
    assert_eq!(
        transcript(text, &location),
        "sarah connor lives in [LOCATION_CITY_1] and takes ibuprofen for her migraines"
    );
    let detect = TextOptions {
        detect_entities: true,
        ..english()
    };
    let labels: Vec<String> = run(text, &detect)
        .entities
        .expect("entities")
        .into_iter()
        .map(|e| e.label)
        .collect();
    assert_eq!(labels, ["NAME", "LOCATION_CITY", "DRUG", "CONDITION"]);
}
