use super::*;

#[test]
fn defaults_and_the_listen_params_they_map_to() {
    let p = FluxParams::from_query("model=flux-general-en&encoding=linear16&sample_rate=16000")
        .expect("valid");
    assert_eq!(p.thresholds, FluxThresholds::default());
    assert_eq!(p.encoding, Some(Encoding::Linear16));
    let l = p.listen_params();
    assert!(l.interim_results && l.punctuate);
    assert_eq!(l.endpointing, Endpointing::Disabled);
    assert_eq!((l.language.as_str(), l.channels), ("en", 1));
    let p = FluxParams::from_query(
        "model=flux-general-multi&language_hint=ES&language_hint=en&keyterm=Hark%20server&eager_eot_threshold=0.4&eot_threshold=0.8&eot_timeout_ms=3000&tag=a&tag=b&numerals=true&redact=numbers&encoding=ogg-opus",
    )
    .expect("valid");
    assert_eq!(p.language_hints, vec!["es", "en"]);
    assert_eq!(p.keyterms, vec!["Hark server"]);
    assert_eq!(p.encoding, None, "ogg-opus is sniffed from its header");
    assert_eq!(
        p.thresholds,
        FluxThresholds {
            eot_threshold: 0.8,
            eager_eot_threshold: Some(0.4),
            eot_timeout_ms: 3000
        }
    );
    assert_eq!(p.listen_params().language, "multi");
}

#[test]
fn bad_values_are_refused_before_the_upgrade() {
    let refused = |q: &str| FluxParams::from_query(q).expect_err(q);
    assert_eq!(refused("encoding=linear16&sample_rate=16000").status, 400);
    assert!(refused("model=nova-3").err_msg.contains("/v1/listen"));
    for q in [
        "model=flux-general-en&eot_threshold=0.3",
        "model=flux-general-en&eot_threshold=high",
        "model=flux-general-en&eager_eot_threshold=0.95",
        "model=flux-general-en&eager_eot_threshold=0.8&eot_threshold=0.6",
        "model=flux-general-en&eot_timeout_ms=100",
        "model=flux-general-en&eot_timeout_ms=-5",
        "model=flux-general-en&encoding=flac&sample_rate=16000",
        "model=flux-general-en&encoding=linear16",
        "model=flux-general-en&sample_rate=1000&encoding=mulaw",
        "model=flux-general-en&language_hint=es",
        "model=flux-general-multi&language_hint=",
        "model=flux-general-en&redact=pci",
        "model=flux-general-en&keyterm=",
        "model=flux-general-en&mip_opt_out=maybe",
    ] {
        let e = refused(q);
        assert_eq!(e.status, 400, "{q}");
        assert_eq!(e.err_code, "INVALID_QUERY_PARAMETER", "{q}: {e}");
    }
    let long = format!("model=flux-general-en&keyterm={}", "word+".repeat(501));
    assert_eq!(refused(&long).err_code, "Bad Request");
    let ok =
        FluxParams::from_query("model=flux-general-en&eot_threshold=1.0&surprise=1").expect("ok");
    assert_eq!(ok.unknown, vec!["surprise"]);
}

#[test]
fn configure_updates_keep_what_is_not_given_and_refuse_what_is_invalid() {
    let t = FluxThresholds::default();
    let u = ThresholdsUpdate {
        eager_eot_threshold: Some(0.6),
        ..ThresholdsUpdate::default()
    };
    let next = t.updated(u).expect("valid");
    assert_eq!(
        (next.eot_threshold, next.eager_eot_threshold),
        (0.7, Some(0.6))
    );
    let too_eager = ThresholdsUpdate {
        eot_threshold: Some(0.5),
        ..ThresholdsUpdate::default()
    };
    assert!(
        next.updated(too_eager).is_err(),
        "eager 0.6 would exceed eot 0.5"
    );
    let equal = ThresholdsUpdate {
        eot_threshold: Some(0.6),
        ..ThresholdsUpdate::default()
    };
    assert!(next.updated(equal).is_ok(), "eager may equal eot");
    let c = parse_flux_control(
        r#"{"type":"Configure","thresholds":{"eot_threshold":0.8,"eot_timeout_ms":2000},"keyterms":["a","b"],"numerals":true}"#,
    )
    .expect("parses");
    let FluxControl::Configure(c) = c else {
        panic!("not a Configure: {c:?}");
    };
    assert_eq!(c.thresholds.eot_threshold, Some(0.8));
    assert_eq!(c.thresholds.eot_timeout_ms, Some(2000));
    assert_eq!(c.keyterms, Some(vec!["a".to_owned(), "b".to_owned()]));
    assert_eq!(c.numerals, Some(true));
    for bad in [
        r#"{"type":"Configure","thresholds":7}"#,
        r#"{"type":"Configure","thresholds":{"eot_timeout_ms":1.5}}"#,
        r#"{"type":"Configure","keyterms":[1]}"#,
        r#"{"type":"Hello"}"#,
        r#"not json"#,
        r#"[1]"#,
    ] {
        assert!(parse_flux_control(bad).is_err(), "{bad}");
    }
    assert_eq!(
        parse_flux_control(r#"{"type":"ForceEndTurn"}"#),
        Ok(FluxControl::ForceEndTurn)
    );
    assert_eq!(
        parse_flux_control(r#"{"type":"Finalize"}"#),
        Ok(FluxControl::ForceEndTurn)
    );
    assert_eq!(
        parse_flux_control(r#"{"type":"CloseStream"}"#),
        Ok(FluxControl::CloseStream)
    );
}

#[test]
fn server_messages_have_deepgrams_shapes() {
    let mut m = FluxMessage::Connected {
        request_id: "r".into(),
        sequence_id: 0,
    };
    m.set_sequence_id(0);
    assert_eq!(
        m.to_json(),
        r#"{"type":"Connected","request_id":"r","sequence_id":0}"#
    );
    let mut e = FluxMessage::error("UNPARSABLE_CLIENT_MESSAGE", "bad");
    e.set_sequence_id(7);
    assert_eq!(
        e.to_json(),
        r#"{"type":"Error","sequence_id":7,"code":"UNPARSABLE_CLIENT_MESSAGE","description":"bad"}"#
    );
    let t = FluxMessage::TurnInfo(TurnInfo {
        request_id: "r".into(),
        sequence_id: 3,
        event: "EndOfTurn".into(),
        turn_index: 1,
        audio_window_start: 0.0,
        audio_window_end: 1.5,
        transcript: "Hi.".into(),
        words: vec![FluxWord {
            word: "Hi.".into(),
            confidence: 0.9,
            start: Some(0.2),
            end: Some(0.5),
        }],
        end_of_turn_confidence: 0.8,
        trigger: Some("model".into()),
        languages: None,
        languages_hinted: None,
    });
    let json = t.to_json();
    assert!(
        json.starts_with(
            r#"{"type":"TurnInfo","request_id":"r","sequence_id":3,"event":"EndOfTurn""#
        ),
        "{json}"
    );
    assert!(json.contains(r#""trigger":"model""#));
    assert!(!json.contains("languages"));
    let back: FluxMessage = serde_json::from_str(&json).expect("round trip");
    assert_eq!(back, t);
}
