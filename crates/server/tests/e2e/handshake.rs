//! Everything decided before the upgrade: auth, parameters, models, capacity (PROTOCOL.md §1, §2, §10).

use crate::support::*;
use hark_server::ServerConfig;
use serde_json::json;

fn with_keys() -> Options {
    Options {
        config: ServerConfig {
            api_keys: vec!["k-one".into(), "k-two".into()],
            vad: false,
            ..ServerConfig::default()
        },
        ..Options::default()
    }
}

fn assert_refusal(r: &Refusal, status: u16, code: &str, msg_part: &str) {
    assert_eq!(r.status, status);
    assert_eq!(r.body["err_code"], code, "{:?}", r.body);
    let msg = r.body["err_msg"].as_str().unwrap_or_default();
    assert!(msg.contains(msg_part), "err_msg `{msg}` lacks `{msg_part}`");
    assert_eq!(
        r.dg_error.as_deref(),
        Some(msg),
        "dg-error header carries the message"
    );
    let rid = r.dg_request_id.clone().unwrap_or_default();
    assert_eq!(r.body["request_id"], rid.as_str());
    assert_eq!(rid.len(), 36, "request id is a uuid");
}

#[tokio::test]
async fn api_key_in_authorization_header_any_scheme_case() {
    let s = start(with_keys()).await;
    for auth in ["Token k-one", "token k-two", "TOKEN k-one"] {
        let (mut ws, resp) = connect(
            &s.url("encoding=linear16&sample_rate=16000"),
            &[("authorization", auth)],
        )
        .await
        .expect(auth);
        let rid = resp
            .headers()
            .get("dg-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(rid.len(), 36, "101 carries dg-request-id");
        send_json(&mut ws, json!({"type": "CloseStream"})).await;
        let t = until_close(&mut ws).await;
        assert_eq!(t.of_type("Metadata")[0]["request_id"], rid.as_str());
    }
}

#[tokio::test]
async fn wrong_missing_or_bearer_credentials_get_401() {
    let s = start(with_keys()).await;
    let url = s.url("encoding=linear16&sample_rate=16000");
    for headers in [
        vec![("authorization", "Token nope")],
        vec![],
        vec![("authorization", "Bearer k-one")],
        vec![("sec-websocket-protocol", "token, wrong")],
    ] {
        let r = refused(&url, &headers).await;
        assert_refusal(&r, 401, "INVALID_AUTH", "Invalid credentials");
    }
}

#[tokio::test]
async fn subprotocol_auth_with_both_separators_is_echoed() {
    let s = start(with_keys()).await;
    for proto in ["token, k-one", "token,k-two"] {
        let (mut ws, resp) = connect(
            &s.url("encoding=mulaw&sample_rate=8000"),
            &[("sec-websocket-protocol", proto)],
        )
        .await
        .expect(proto);
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some("token")
        );
        send_bytes(&mut ws, &[]).await;
        assert_eq!(
            until_close(&mut ws).await.close.as_ref().map(|c| c.0),
            Some(1000)
        );
    }
}

#[tokio::test]
async fn without_keys_auth_is_off_but_the_subprotocol_is_still_echoed() {
    let s = start(Options::default()).await;
    let (_ws, resp) = connect(
        &s.url(""),
        &[("sec-websocket-protocol", "bearer, some.jwt.value")],
    )
    .await
    .expect("open");
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("bearer")
    );
}

#[tokio::test]
async fn invalid_parameters_are_refused_before_the_upgrade() {
    let s = start(Options::default()).await;
    for (q, part) in [
        ("encoding=bogus&sample_rate=16000", "encoding"),
        ("encoding=linear16&sample_rate=abc", "sample_rate"),
        ("encoding=linear16&sample_rate=16000&channels=0", "channels"),
        ("encoding=linear16", "sample_rate"),
        ("utterance_end_ms=1000", "interim_results"),
        ("endpointing=maybe", "endpointing"),
        // Deepgram's v2 diarizer is pre-recorded only.
        ("diarize_model=v2", "diarize_model"),
    ] {
        assert_refusal(
            &refused(&s.url(q), &[]).await,
            400,
            "INVALID_QUERY_PARAMETER",
            part,
        );
    }
    assert_refusal(
        &refused(&s.url("language=english"), &[]).await,
        400,
        "Bad Request",
        "No such model/language/tier",
    );
    assert_refusal(
        &refused(&s.url("model=not-a-model"), &[]).await,
        400,
        "Bad Request",
        "No such model",
    );
    // A rate the codec does not have (in a build without Speex: Speex at all).
    assert_refusal(
        &refused(&s.url("encoding=speex&sample_rate=11025"), &[]).await,
        400,
        "Bad Request",
        "encoding=speex",
    );
    assert_refusal(
        &refused(&s.url("encoding=amr-nb&sample_rate=16000"), &[]).await,
        400,
        "Bad Request",
        "encoding=amr-nb is always 8000 Hz",
    );
}

#[tokio::test]
async fn legacy_and_unknown_parameters_are_tolerated() {
    let s = start(Options::default()).await;
    for q in [
        "model=None&tier=nova&version=latest",
        "model=general&encoding=linear16&sample_rate=16000&channels=1",
        "model=nova-3&keyterm=hark+server&keyterm=deepgram%20api&my_custom=1&extra[team]=blue",
        "model=test-engine&endpointing=false&interim_results=true&utterance_end_ms=1000&vad_events=true",
    ] {
        let (mut ws, _) = connect(&s.url(q), &[]).await.unwrap_or_else(|e| panic!("{q}: {e}"));
        send_json(&mut ws, json!({"type": "CloseStream"})).await;
        assert_eq!(until_close(&mut ws).await.close.as_ref().map(|c| c.0), Some(1000), "{q}");
    }
}

#[tokio::test]
async fn a_stream_beyond_capacity_is_refused_with_429() {
    let s = start(Options {
        max_streams: 2,
        ..Options::default()
    })
    .await;
    let mut stereo =
        open(&s.url("encoding=linear16&sample_rate=16000&channels=2&multichannel=true")).await;
    assert_refusal(
        &refused(&s.url("encoding=linear16&sample_rate=16000"), &[]).await,
        429,
        "TOO_MANY_REQUESTS",
        "slots",
    );
    send_json(&mut stereo, json!({"type": "CloseStream"})).await;
    until_close(&mut stereo).await;
    // The slots come back when the session ends.
    let mut again = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    send_json(&mut again, json!({"type": "CloseStream"})).await;
    assert_eq!(
        until_close(&mut again).await.close.as_ref().map(|c| c.0),
        Some(1000)
    );
}

#[tokio::test]
async fn plain_http_get_is_told_to_upgrade() {
    let s = start(Options::default()).await;
    let out = http_get(s.addr, "/v1/listen?encoding=linear16&sample_rate=16000").await;
    assert!(out.starts_with("HTTP/1.1 426"), "{out}");
    assert!(out.contains("\"err_code\":\"UPGRADE_REQUIRED\""), "{out}");
    assert!(out.to_ascii_lowercase().contains("dg-request-id:"), "{out}");
}

#[tokio::test]
async fn metrics_and_health_endpoints() {
    let s = start(Options::default()).await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000")).await;
    send_bytes(&mut ws, &pcm16(vec![0; 1600])).await;
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    until_close(&mut ws).await;
    let metrics = http_get(s.addr, "/metrics").await;
    assert!(metrics.contains("hark_sessions_total"), "{metrics}");
    assert!(
        metrics.contains("hark_model_windows_total{model=\"test-engine\"}"),
        "{metrics}"
    );
    assert!(http_get(s.addr, "/readyz")
        .await
        .starts_with("HTTP/1.1 200"));
    assert!(http_get(s.addr, "/healthz")
        .await
        .starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn models_list_needs_a_key_and_names_the_loaded_model() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = start(with_keys()).await;
    let refused = http_get(s.addr, "/v1/models").await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(refused.contains("INVALID_AUTH"), "{refused}");
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.expect("tcp");
    let req = "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: token k-two\r\nConnection: close\r\n\r\n";
    tcp.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let body: serde_json::Value =
        serde_json::from_str(out.split("\r\n\r\n").nth(1).unwrap_or_default()).expect("JSON");
    let stt = body["stt"].as_array().expect("stt list");
    assert_eq!(stt.len(), 1, "{body}");
    assert_eq!(stt[0]["name"], "test-engine");
    assert_eq!(stt[0]["streaming"], true);
    assert_eq!(stt[0]["default"], true);
    assert_eq!(body["tts"], json!([]));
}

/// The request-head limits README's Limits names: a URI over 64 KiB gets 414, more than 100
/// headers get 431 (hyper's limits; a change there shows here), headers over 64 KiB in all get
/// hark's own 431.
#[tokio::test]
async fn oversized_request_heads_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = start(Options::default()).await;
    let ask = |head: String| async move {
        let mut tcp = tokio::net::TcpStream::connect(s.addr).await.expect("tcp");
        // The server may answer and close before reading all of a huge head.
        let _ = tcp.write_all(head.as_bytes()).await;
        let mut out = Vec::new();
        let _ = tcp.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    };
    let fine = format!("keyterm={}", "a".repeat(1000));
    let long = format!("keyterm={}", "a".repeat(70_000));
    let get = |q: &str, extra: &str| {
        format!("GET /v1/listen?encoding=linear16&sample_rate=16000&{q} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n")
    };
    assert!(
        ask(get(&fine, "")).await.starts_with("HTTP/1.1 426"),
        "a 1 KiB query is fine"
    );
    assert!(ask(get(&long, "")).await.starts_with("HTTP/1.1 414"));
    let many: String = (0..120).map(|i| format!("X-H{i}: 1\r\n")).collect();
    assert!(ask(get("", &many)).await.starts_with("HTTP/1.1 431"));
    // One header of 100 KB: hyper takes it, hark refuses it (Deepgram-shaped).
    let big = format!("X-Big: {}\r\n", "a".repeat(100_000));
    let answer = ask(get("", &big)).await;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    assert!(
        answer.contains("REQUEST_HEADER_FIELDS_TOO_LARGE"),
        "{answer}"
    );
    let under = format!("X-Big: {}\r\n", "a".repeat(60_000));
    assert!(ask(get("", &under)).await.starts_with("HTTP/1.1 426"));
}

/// A browser app on another origin: its preflight is answered, and the answer to its request
/// names its origin (REST endpoints; the 101 already did).
#[tokio::test]
async fn other_origins_get_cors_on_the_rest_endpoints() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = start(Options::default()).await;
    let ask = |head: &'static str| async move {
        let mut tcp = tokio::net::TcpStream::connect(s.addr).await.expect("tcp");
        tcp.write_all(head.as_bytes()).await.expect("write");
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.expect("read");
        out.to_ascii_lowercase()
    };
    let pre = ask("OPTIONS /v1/listen HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\n\
        Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\n\
        Connection: close\r\n\r\n")
    .await;
    assert!(pre.starts_with("http/1.1 204"), "{pre}");
    assert!(
        pre.contains("access-control-allow-origin: https://app.example"),
        "{pre}"
    );
    assert!(
        pre.contains("access-control-allow-methods: get, post, put, options"),
        "{pre}"
    );
    assert!(
        pre.contains("access-control-allow-headers: authorization, content-type"),
        "{pre}"
    );
    let get = ask("GET /v1/models HTTP/1.1\r\nHost: x\r\nOrigin: https://app.example\r\nConnection: close\r\n\r\n").await;
    assert!(get.starts_with("http/1.1 200"), "{get}");
    assert!(
        get.contains("access-control-allow-origin: https://app.example"),
        "{get}"
    );
    assert!(
        get.contains("access-control-expose-headers: dg-model-name"),
        "{get}"
    );
    // Without an Origin, no CORS headers.
    let plain = ask("GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(!plain.contains("access-control-allow-origin"), "{plain}");
}
