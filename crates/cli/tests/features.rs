//! Deepgram's transcript features end to end (FEATURES.md §22): espeak-ng speech, OpenAI's
//! Whisper tiny.en (real weights, from `scripts/real_speech.py`'s pinned cache) through
//! `hark serve`, uploaded whole (`hark transcribe`, POST /v1/listen) and streamed (`hark
//! stream`, /v1/listen over WebSocket), and `numerals` switched by `Configure` mid-stream.
//!
//! The sentences are ones tiny.en hears right from espeak-ng; what is asserted is the text
//! stage's work on them (formatting, redaction, masking, replacing, searching, entities).

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{real_speech_dir, serve_model, stream, transcribe_json};

/// `text` spoken by espeak-ng (US English, 130 words a minute) into `dir/name.wav`.
fn speak(dir: &Path, name: &str, text: &str, rate: u32) -> PathBuf {
    let wav = dir.join(format!("{name}.wav"));
    let ok = Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", &rate.to_string(), "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng (./scripts/test.sh installs it)");
    assert!(ok.success(), "espeak-ng {text}");
    wav
}

/// The pre-recorded response's first alternative and channel, for `wav` with `params`.
fn upload(host: &str, wav: &Path, params: &[&str]) -> (Value, Value) {
    let v = transcribe_json(host, wav, params);
    let channel = v["results"]["channels"][0].clone();
    (channel["alternatives"][0].clone(), channel)
}

/// The finals of streaming `wav` (as fast as the server takes it), their words joined.
fn streamed(host: &str, wav: &Path, params: &[&str]) -> (String, Vec<Value>) {
    let mut args = vec!["--fast"];
    for p in params {
        args.extend(["--param", p]);
    }
    let messages = stream(host, wav, &args);
    let finals: Vec<&Value> = messages
        .iter()
        .filter(|m| m["type"] == "Results" && m["is_final"] == true)
        .collect();
    let text = finals
        .iter()
        .filter_map(|m| m["channel"]["alternatives"][0]["transcript"].as_str())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let words = finals
        .iter()
        .filter_map(|m| m["channel"]["alternatives"][0]["words"].as_array())
        .flatten()
        .cloned()
        .collect();
    (text, words)
}

fn transcript(alt: &Value) -> String {
    alt["transcript"].as_str().unwrap_or_default().to_owned()
}

fn words(alt: &Value) -> Vec<Value> {
    alt["words"].as_array().cloned().unwrap_or_default()
}

fn word_is(w: &Value, s: &str) -> bool {
    w["word"] == s
}

/// No digit and no spelled digit outside a redaction tag.
fn no_digits_left(words: &[Value]) -> bool {
    const DIGITS: [&str; 11] = [
        "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    words.iter().all(|w| {
        let word = w["word"].as_str().unwrap_or_default();
        word.starts_with('[')
            || !(word.chars().any(|c| c.is_ascii_digit()) || DIGITS.contains(&word))
    })
}

#[test]
fn transcript_features_on_real_speech() {
    let cache = real_speech_dir();
    let dir = std::env::temp_dir().join(format!("hark-features-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let money = speak(&dir, "money", "The bill came to forty seven dollars.", 130);
    let phone = speak(
        &dir,
        "phone",
        "Call me at five five five. eight six seven. five three zero nine.",
        130,
    );
    let people = speak(
        &dir,
        "people",
        "There are twenty three people in the room.",
        150,
    );
    let ssn = speak(
        &dir,
        "ssn",
        "My social security number is one two three, four five, six seven eight nine.",
        120,
    );
    let ssn_run = speak(
        &dir,
        "ssn-run",
        "My social security number is one two three four five six seven eight nine.",
        130,
    );
    let rude = speak(&dir, "rude", "This is a shit test.", 130);
    let lecture = speak(
        &dir,
        "lecture",
        "This lecture is about social epistemology.",
        130,
    );
    let (_server, host) = serve_model(&cache.join("models/whisper-tiny.en-ct2"), 600);

    // No formatting flag: spoken words only, no digit or symbol in any word.
    let (alt, _) = upload(&host, &money, &[]);
    assert!(transcript(&alt).contains("forty seven dollars"), "{alt}");
    assert!(words(&alt).iter().all(|w| {
        let s = w["word"].as_str().unwrap_or_default();
        !s.contains('$')
            && !s.chars().any(|c| c.is_ascii_digit())
            && w.get("punctuated_word").is_none()
    }));

    // smart_format: the entity is one word entry, formatted.
    let (alt, channel) = upload(&host, &money, &["smart_format=true"]);
    assert!(transcript(&alt).contains("$47"), "{alt}");
    let w = words(&alt)
        .into_iter()
        .find(|w| word_is(w, "$47"))
        .expect("a word $47");
    assert!(w["punctuated_word"]
        .as_str()
        .unwrap_or_default()
        .starts_with("$47"));
    // Pre-recorded smart_format adds paragraphs covering every word.
    let paragraphs = alt["paragraphs"]["paragraphs"]
        .as_array()
        .expect("paragraphs");
    let counted: u64 = paragraphs
        .iter()
        .filter_map(|p| p["num_words"].as_u64())
        .sum();
    assert_eq!(counted as usize, words(&alt).len(), "{channel}");
    assert!(alt["paragraphs"]["transcript"]
        .as_str()
        .unwrap_or_default()
        .starts_with('\n'));

    let (alt, _) = upload(&host, &phone, &["smart_format=true"]);
    assert!(transcript(&alt).contains("(555) 867-5309"), "{alt}");
    let w = words(&alt)
        .into_iter()
        .find(|w| word_is(w, "(555) 867-5309"))
        .expect("the phone number is one word");
    assert!(w["end"].as_f64() > w["start"].as_f64());

    let (alt, _) = upload(&host, &people, &["smart_format=true"]);
    assert!(transcript(&alt).contains("23 people"), "{alt}");
    assert!(words(&alt).iter().any(|w| word_is(w, "23")));

    // redact=ssn: one tag, and nothing of the number left anywhere.
    let (alt, _) = upload(&host, &ssn, &["redact=ssn", "punctuate=true"]);
    assert!(transcript(&alt).contains("[SSN_1]"), "{alt}");
    assert!(no_digits_left(&words(&alt)), "{alt}");

    let (alt, _) = upload(&host, &rude, &["profanity_filter=true"]);
    assert!(transcript(&alt).contains("****"), "{alt}");
    assert!(!transcript(&alt).to_lowercase().contains("shit"), "{alt}");

    // replace: the new word takes the old one's time.
    let (plain, _) = upload(&host, &lecture, &[]);
    let old = words(&plain)
        .into_iter()
        .find(|w| word_is(w, "lecture"))
        .expect("tiny.en hears 'lecture'");
    let (alt, _) = upload(&host, &lecture, &["replace=lecture:talk"]);
    let new = words(&alt)
        .into_iter()
        .find(|w| word_is(w, "talk"))
        .expect("replaced");
    assert_eq!(
        (new["start"].clone(), new["end"].clone()),
        (old["start"].clone(), old["end"].clone())
    );
    assert!(!transcript(&alt).contains("lecture"));

    // search: the best hit is where the word was said.
    let (_, channel) = upload(&host, &lecture, &["search=epistemology"]);
    let said = words(&plain)
        .into_iter()
        .find(|w| {
            w["word"]
                .as_str()
                .unwrap_or_default()
                .starts_with("epistem")
        })
        .expect("tiny.en hears 'epistemology'");
    let hit = &channel["search"][0]["hits"][0];
    assert_eq!(channel["search"][0]["query"], "epistemology");
    assert!(hit["confidence"].as_f64().unwrap_or(0.0) > 0.8, "{channel}");
    assert!(
        hit["start"].as_f64() <= said["start"].as_f64()
            && hit["end"].as_f64() >= said["end"].as_f64(),
        "{hit} vs {said}"
    );

    // detect_entities: the phone number, indexing the words.
    let (alt, _) = upload(&host, &phone, &["detect_entities=true"]);
    let entities = alt["entities"].as_array().expect("entities");
    let n = words(&alt).len() as u64;
    let e = entities
        .iter()
        .find(|e| e["label"] == "PHONE_NUMBER")
        .unwrap_or_else(|| panic!("a PHONE_NUMBER in {alt}"));
    let (s, end) = (
        e["start_word"].as_u64().unwrap_or(n),
        e["end_word"].as_u64().unwrap_or(0),
    );
    assert!(s < end && end <= n, "{e}");
    assert!(words(&alt)
        .iter()
        .all(|w| w.get("punctuated_word").is_some()));

    // The live socket: the same formatting; the SSN is redacted whole even when the endpointer
    // cuts the number into several finals (the final is held until the entity is complete).
    let (text, _) = streamed(&host, &money, &["smart_format=true"]);
    assert!(text.contains("$47"), "{text}");
    let (text, words) = streamed(&host, &ssn_run, &["redact=ssn", "punctuate=true"]);
    assert!(text.contains("[SSN_1]"), "{text}");
    assert!(no_digits_left(&words), "{text}");

    // keywords: a logit bias in the decoder. tiny.en hears "four queen of clothes" here; the
    // boosted word wins, and a negative intensifier keeps a word out.
    let cards = cache.join("clips/cards-002.wav");
    let (alt, _) = upload(&host, &cards, &["keywords=clubs:2"]);
    assert!(transcript(&alt).ends_with("of clubs"), "{alt}");
    let (alt, _) = upload(
        &host,
        &cards,
        &["keywords=clubs:-10", "keywords=clothes:-10"],
    );
    let t = transcript(&alt);
    assert!(
        !t.contains("clubs") && !t.contains("clothes") && !t.is_empty(),
        "{alt}"
    );

    numerals_switched_mid_stream(&host, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `numerals=false`, a sentence, `Configure {"features":{"numerals":true}}`, the sentence again:
/// one `ConfigureSuccess`; the first final says "twenty three", the second "23".
fn numerals_switched_mid_stream(host: &str, dir: &Path) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let wav = speak(dir, "apples", "I have twenty three apples.", 130);
    let bytes = std::fs::read(&wav).expect("wav");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let messages: Vec<Value> = rt.block_on(async {
        let url = format!("{host}/v1/listen?numerals=false&encoding=linear16&sample_rate=22050");
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("handshake");
        let pcm = &bytes[44..];
        let mut out = Vec::new();
        for round in 0..2 {
            if round == 1 {
                let configure = r#"{"type":"Configure","features":{"numerals":true}}"#;
                ws.send(Message::Text(configure.into()))
                    .await
                    .expect("configure");
            }
            for c in pcm.chunks(8192) {
                ws.send(Message::Binary(c.to_vec().into()))
                    .await
                    .expect("audio");
            }
            ws.send(Message::Text(r#"{"type":"Finalize"}"#.into()))
                .await
                .expect("finalize");
            // Until this round's Finalize is answered.
            while let Ok(Some(Ok(m))) =
                tokio::time::timeout(std::time::Duration::from_secs(60), ws.next()).await
            {
                if let Message::Text(t) = m {
                    let v: Value = serde_json::from_str(t.as_str()).expect("json");
                    let done = v["from_finalize"] == true;
                    out.push(v);
                    if done {
                        break;
                    }
                }
            }
        }
        ws.send(Message::Text(r#"{"type":"CloseStream"}"#.into()))
            .await
            .expect("close stream");
        while let Ok(Some(Ok(m))) =
            tokio::time::timeout(std::time::Duration::from_secs(30), ws.next()).await
        {
            if let Message::Text(t) = m {
                out.push(serde_json::from_str(t.as_str()).expect("json"));
            }
        }
        out
    });
    let successes = messages
        .iter()
        .filter(|m| m["type"] == "ConfigureSuccess")
        .count();
    assert_eq!(successes, 1, "{messages:?}");
    let at = messages
        .iter()
        .position(|m| m["type"] == "ConfigureSuccess")
        .unwrap_or(0);
    let text = |ms: &[Value]| {
        ms.iter()
            .filter(|m| m["type"] == "Results" && m["is_final"] == true)
            .filter_map(|m| m["channel"]["alternatives"][0]["transcript"].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (before, after) = (text(&messages[..at]), text(&messages[at..]));
    assert!(before.contains("twenty three"), "before: {before}");
    assert!(
        after.contains("23") && !after.contains("twenty"),
        "after: {after}"
    );
}

/// Pre-recorded `detect_language` with the multilingual Whisper base: a French sentence is
/// detected and transcribed as French; candidate codes limit the choice.
#[test]
fn detect_language_on_a_multilingual_model() {
    let cache = support::real_speech_dir_with_base();
    let dir = std::env::temp_dir().join(format!("hark-detect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let wav = dir.join("fr.wav");
    let ok = Command::new("espeak-ng")
        .args(["-v", "fr", "-s", "130", "-w"])
        .arg(&wav)
        .arg("Bonjour, je voudrais réserver une table pour deux personnes ce soir.")
        .status()
        .expect("espeak-ng");
    assert!(ok.success());
    let (_server, host) = serve_model(&cache.join("models/whisper-base-ct2"), 300);
    let (alt, channel) = upload(&host, &wav, &["detect_language=true"]);
    assert_eq!(channel["detected_language"], "fr", "{channel}");
    assert!(transcript(&alt).contains("table"), "{alt}");
    assert!(channel.get("language_confidence").is_none());
    let (_, channel) = upload(&host, &wav, &["detect_language=en", "detect_language=de"]);
    let detected = channel["detected_language"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detected == "en" || detected == "de", "{channel}");
    let (_, channel) = upload(&host, &wav, &[]);
    assert!(channel.get("detected_language").is_none(), "{channel}");

    // Live with `language=multi` at real time: the French sentence after a short first segment
    // that the model heard as English is decoded in French, without that English context (it
    // came back empty when the English words were forced before it).
    let finals: Vec<String> = stream(&host, &wav, &["--param", "language=multi"])
        .iter()
        .filter(|m| m["type"] == "Results" && m["is_final"] == true)
        .filter_map(|m| {
            m["channel"]["alternatives"][0]["transcript"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(finals.join(" ").contains("table"), "{finals:?}");

    // Flux's multilingual model: each turn says which language it heard, among the hints. (Its
    // words are checked in English only: live decoding of espeak-ng's French by base is poor on
    // /v1/listen too, and the upload above checks the French words.)
    let flux = |hints: &[&str]| {
        let mut args = vec!["--v2", "--fast", "-m", "flux-general-multi"];
        let hints: Vec<String> = hints.iter().map(|h| format!("language_hint={h}")).collect();
        for h in &hints {
            args.extend(["--param", h.as_str()]);
        }
        let messages = stream(&host, &wav, &args);
        messages
            .into_iter()
            .rev()
            .find(|m| m["type"] == "TurnInfo")
            .expect("a turn")
    };
    let last = flux(&["fr", "en"]);
    assert_eq!(last["languages"], serde_json::json!(["fr"]), "{last}");
    assert_eq!(last["languages_hinted"], serde_json::json!(["fr", "en"]));
    assert!(
        last["transcript"].as_str().is_some_and(|t| !t.is_empty()),
        "{last}"
    );
    let last = flux(&["de"]);
    assert_eq!(last["languages"], serde_json::json!(["de"]), "{last}");
    let _ = std::fs::remove_dir_all(&dir);
}
