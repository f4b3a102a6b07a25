use super::*;
use proptest::prelude::*;

fn ok(q: &str) -> ListenParams {
    match ListenParams::from_query(q) {
        Ok(p) => p,
        Err(e) => panic!("{q}: {e}"),
    }
}

fn err(q: &str) -> ApiError {
    match ListenParams::from_query(q) {
        Ok(p) => panic!("{q} should fail, got {p:?}"),
        Err(e) => e,
    }
}

#[test]
fn defaults_match_deepgram() {
    let p = ok("");
    assert_eq!(p.language, "en");
    assert_eq!(p.channels, 1);
    assert_eq!(p.endpointing, Endpointing::SilenceMs(10));
    assert!(!p.interim_results && !p.multichannel && !p.punctuate);
    assert_eq!(p.model, None);
}

#[test]
fn form_urlencoding_plus_and_percent_are_spaces() {
    let p = ok("keyterm=customer+service&keyterm=customer%20care&search=a%2Bb");
    assert_eq!(p.keyterm, vec!["customer service", "customer care"]);
    assert_eq!(p.search, vec!["a+b"]);
}

#[test]
fn repeated_keys_build_lists_and_booleans_parse() {
    let p = ok("tag=a&tag=b&redact=pci&redact=ssn&interim_results=true&punctuate=FALSE&multichannel=true&channels=2");
    assert_eq!(p.tag, vec!["a", "b"]);
    assert_eq!(p.redact, vec![Redact::Pci, Redact::Entity("ssn".into())]);
    assert!(p.interim_results && !p.punctuate && p.multichannel);
    assert_eq!(p.result_channels(), 2);
}

#[test]
fn legacy_sdk_values_are_tolerated() {
    let p = ok("model=None&tier=enhanced&version=latest&numbers=true&log_data=false&alternatives=1&diarize_version=2021");
    assert_eq!(p.model, None);
    assert_eq!(p.tier.as_deref(), Some("enhanced"));
    assert!(p.numerals);
    assert!(p.mip_opt_out);
    assert_eq!(ok("model=general").model.as_deref(), Some("general"));
}

#[test]
fn extra_both_forms_and_unknown_keys() {
    let p = ok("extra=a:1&extra%5Bb%5D=2&extra[a]=3&my_custom=x&endpointing=false");
    assert_eq!(
        p.extra,
        vec![("a".into(), "3".into()), ("b".into(), "2".into())]
    );
    assert_eq!(p.unknown, vec![("my_custom".into(), "x".into())]);
    assert_eq!(p.endpointing, Endpointing::Disabled);
    assert_eq!(ok("extra=url:http://x/y").extra[0].1, "http://x/y");
}

#[test]
fn invalid_values_are_refused_with_the_parameter_named() {
    for (q, param) in [
        ("encoding=bogus&sample_rate=16000", "encoding"),
        ("encoding=linear16&sample_rate=abc", "sample_rate"),
        ("encoding=linear16&sample_rate=16000&channels=0", "channels"),
        ("encoding=linear16", "sample_rate"),
        ("encoding=mulaw", "sample_rate"),
        ("utterance_end_ms=1000", "utterance_end_ms"),
        ("interim_results=yes", "interim_results"),
        ("endpointing=soon", "endpointing"),
        ("redact=cardinal", "redact"),
        ("diarize_model=v3", "diarize_model"),
        ("extra=novalue", "extra"),
        ("vad_turnoff=300&endpointing=200", "vad_turnoff"),
        ("model=nova-3&keywords=hark", "keywords"),
        ("callback_method=PATCH", "callback_method"),
    ] {
        let e = err(q);
        assert_eq!(e.status, 400, "{q}");
        assert!(e.err_msg.contains(param), "{q}: {}", e.err_msg);
    }
}

#[test]
fn diarize_model_v2_is_for_pre_recorded_only() {
    let p = ok("diarize_model=v2");
    assert!(p.diarizing());
    let e = p.check_streaming().expect_err("refused on the live socket");
    assert_eq!(e.status, 400);
    assert!(e.err_msg.contains("diarize_model"), "{}", e.err_msg);
    assert!(ok("diarize_model=latest").check_streaming().is_ok());
    assert!(!ok("").diarizing());
}

#[test]
fn language_must_be_a_tag() {
    assert_eq!(ok("language=en-US").language, "en-US");
    assert_eq!(ok("language=multi").language, "multi");
    let e = err("language=english");
    assert_eq!(e.err_code, "Bad Request");
}

#[test]
fn headered_encodings_do_not_need_a_rate() {
    assert_eq!(ok("encoding=flac").encoding, Some(Encoding::Flac));
    assert_eq!(ok("encoding=ogg-opus").encoding, Some(Encoding::OggOpus));
    assert!(ok("interim_results=true&utterance_end_ms=1000").utterance_end_ms == Some(1000));
}

#[test]
fn keyterm_limit() {
    let many = (0..501)
        .map(|i| format!("keyterm=w{i}"))
        .collect::<Vec<_>>()
        .join("&");
    assert!(err(&many).err_msg.contains("Keyterm limit exceeded"));
}

#[test]
fn detect_language_is_a_switch_or_candidate_codes() {
    assert_eq!(ok("detect_language=true").detect_language, Some(Vec::new()));
    assert_eq!(ok("detect_language=false").detect_language, None);
    assert_eq!(
        ok("detect_language=en&detect_language=ES").detect_language,
        Some(vec!["en".to_owned(), "es".to_owned()])
    );
    assert_eq!(err("detect_language=yes!").status, 400);
}

#[test]
fn a_callback_must_be_an_http_url() {
    for bad in [
        "not-a-url",
        "ftp://x.example",
        "https://",
        "http:///path",
        "https://a b",
    ] {
        let e = err(&format!("callback={}", bad.replace(' ', "%20")));
        assert_eq!(
            (e.status, e.err_code),
            (400, "INVALID_QUERY_PARAMETER"),
            "{bad}"
        );
    }
    let p = ok("callback=https%3A%2F%2Fhooks.example.com%3A8443%2Fdg%3Fk%3D1");
    assert_eq!(
        p.callback.as_deref(),
        Some("https://hooks.example.com:8443/dg?k=1")
    );
}

#[test]
fn more_than_a_hundred_keywords_are_refused() {
    let q: Vec<String> = (0..101).map(|i| format!("keywords=w{i}")).collect();
    let e = err(&q.join("&"));
    assert_eq!((e.status, e.err_code), (400, "KEYWORD_LIMIT_EXCEEDED"));
    assert_eq!(ok(&q[..100].join("&")).keywords.len(), 100);
}

proptest! {
    #[test]
    fn arbitrary_queries_never_panic(q in ".{0,300}") {
        let _ = ListenParams::from_query(&q);
    }

    #[test]
    fn arbitrary_pairs_never_panic(pairs in proptest::collection::vec(("[a-z_\\[\\]]{1,16}", ".{0,40}"), 0..12)) {
        let q: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        let _ = ListenParams::from_query(&q);
    }
}
