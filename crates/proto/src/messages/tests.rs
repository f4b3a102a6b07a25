use super::*;
use std::time::Duration;

fn info() -> ModelInfo {
    ModelInfo {
        name: "general".into(),
        version: "1".into(),
        arch: "whisper".into(),
    }
}

fn results() -> ServerMessage {
    ServerMessage::Results(Results {
        channel_index: [0, 1],
        duration: 1.0799375,
        start: 12.08,
        is_final: true,
        speech_final: false,
        channel: Channel {
            search: None,
            alternatives: vec![Alternative::from_words(vec![Word {
                word: "this".into(),
                start: 14.08,
                end: 14.4,
                confidence: 0.95703125,
                language: None,
                speaker: None,
                speaker_confidence: None,
                punctuated_word: Some("This".into()),
            }])],
            detected_language: None,
        },
        metadata: ResultsMetadata {
            request_id: "r".into(),
            model_info: info(),
            model_uuid: "u".into(),
            extra: BTreeMap::new(),
            diarize_info: None,
        },
        from_finalize: false,
        entities: Some(Vec::new()),
    })
}

#[test]
fn results_keys_are_in_deepgram_order_with_float32_numbers() {
    let json = results().to_json();
    let order = [
        "\"type\":\"Results\"",
        "\"channel_index\":[0,1]",
        "\"duration\":1.0799375",
        "\"start\":12.08",
        "\"is_final\":true",
        "\"speech_final\":false",
        "\"channel\":",
        "\"metadata\":",
        "\"from_finalize\":false",
        "\"entities\":[]",
    ];
    let mut at = 0;
    for key in order {
        let pos = json[at..].find(key).map(|p| p + at);
        assert!(pos.is_some(), "{key} missing or out of order in {json}");
        at = pos.unwrap_or(0);
    }
    assert!(json.contains("\"confidence\":0.95703125"));
    assert!(json.contains("\"transcript\":\"This\""));
    assert!(json.contains(r#""metadata":{"request_id":"r","model_info":{"name":"general","version":"1","arch":"whisper"},"model_uuid":"u"}"#));
}

#[test]
fn messages_round_trip() {
    let m = results();
    let back: ServerMessage = serde_json::from_str(&m.to_json()).expect("parse");
    assert_eq!(back, m);
}

#[test]
fn metadata_omits_models_without_audio() {
    let m = ServerMessage::Metadata(Metadata {
        transaction_key: "deprecated".into(),
        request_id: "r".into(),
        sha256: "incomplete".into(),
        created: "2026-01-01T00:00:00.000Z".into(),
        duration: 0.0,
        channels: 1,
        models: None,
        model_info: None,
        extra: BTreeMap::new(),
        warnings: Vec::new(),
        diarize_info: None,
    });
    assert_eq!(
        m.to_json(),
        r#"{"type":"Metadata","transaction_key":"deprecated","request_id":"r","sha256":"incomplete","created":"2026-01-01T00:00:00.000Z","duration":0.0,"channels":1}"#
    );
}

#[test]
fn empty_alternative_has_zero_confidence() {
    let a = Alternative::from_words(vec![]);
    assert_eq!(a.transcript, "");
    assert_eq!(a.confidence, 0.0);
}

#[test]
fn iso_dates() {
    assert_eq!(iso8601_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    let t = UNIX_EPOCH + Duration::from_millis(1_756_156_291_685);
    assert_eq!(iso8601_millis(t), "2025-08-25T21:11:31.685Z");
    let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
    assert_eq!(iso8601_millis(leap), "2000-02-29T00:00:00.000Z");
}
