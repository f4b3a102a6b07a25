//! Transcript features on the live socket, with an engine that says scripted words: the hold of
//! a final whose entity is unfinished (FEATURES.md §3.2), `numerals` switched by `Configure`,
//! and where `entities` and `search` appear.

use crate::support::*;
use serde_json::{json, Value};

fn saying(says: Vec<&'static str>) -> Options {
    Options {
        says,
        ..Options::default()
    }
}

/// One second of audio per line: a square wave at the level that makes the engine say `says[line]`.
async fn send_lines(ws: &mut Ws, lines: &[usize]) {
    for &line in lines {
        let amplitude = (32768.0 * 0.1 * (line + 1) as f32) as i16;
        let second =
            pcm16((0..RATE_HZ as usize).map(|i| if i % 2 == 0 { amplitude } else { -amplitude }));
        for c in second.chunks(RATE_HZ as usize / 2) {
            send_bytes(ws, c).await;
        }
    }
}

fn finals(t: &SessionLog) -> Vec<&Value> {
    t.of_type("Results")
        .into_iter()
        .filter(|r| r["is_final"] == true)
        .collect()
}

fn text(r: &Value) -> &str {
    r["channel"]["alternatives"][0]["transcript"]
        .as_str()
        .unwrap_or_default()
}

const SSN_IN_TWO: [&str; 2] = ["My social security number is 123", "45-6789. Thanks."];

#[tokio::test]
async fn a_number_cut_by_the_window_is_redacted_whole() {
    let s = start(saying(SSN_IN_TWO.to_vec())).await;
    let mut ws =
        open(&s.url("encoding=linear16&sample_rate=16000&redact=ssn&punctuate=true")).await;
    send_lines(&mut ws, &[0, 1]).await;
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    let f = finals(&t);
    let said: Vec<&Value> = f.iter().copied().filter(|r| !text(r).is_empty()).collect();
    assert_eq!(said.len(), 1, "{:?}", t.messages);
    assert_eq!(
        text(said[0]),
        "My social security number is [SSN_1]. Thanks."
    );
    assert_eq!(
        (said[0]["start"].as_f64(), said[0]["duration"].as_f64()),
        (Some(0.0), Some(2.0))
    );
    let tag = &said[0]["channel"]["alternatives"][0]["words"][5];
    assert_eq!(tag["word"], "[SSN_1]");
    assert!(
        tag["start"].as_f64() < Some(1.0) && tag["end"].as_f64() > Some(1.0),
        "{tag}"
    );
    assert_eq!(t.of_type("Metadata")[0]["duration"], 2.0);
}

#[tokio::test]
async fn no_delay_sends_each_final_as_it_comes() {
    let s = start(saying(SSN_IN_TWO.to_vec())).await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000&redact=ssn&no_delay=true")).await;
    send_lines(&mut ws, &[0, 1]).await;
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    let f = finals(&t);
    // Not held, so the number is split and not recognised: what no_delay trades away.
    assert_eq!(
        text(f[0]),
        "my social security number is one hundred twenty three",
        "{:?}",
        t.messages
    );
    assert_eq!(text(f[1]), "four five six seven eight nine thanks");
}

#[tokio::test]
async fn finalize_releases_a_held_final() {
    let s = start(saying(vec!["My card is 4444"])).await;
    let mut ws =
        open(&s.url("encoding=linear16&sample_rate=16000&smart_format=true&endpointing=false"))
            .await;
    send_lines(&mut ws, &[0]).await;
    send_json(&mut ws, json!({"type": "Finalize"})).await;
    let first = loop {
        let m = next_message(&mut ws).await.expect("read").expect("open");
        if m["type"] == "Results" {
            break m;
        }
    };
    assert_eq!(first["from_finalize"], true, "{first}");
    assert_eq!(text(&first), "My card is 4444");
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    until_close(&mut ws).await;
}

#[tokio::test]
async fn configure_switches_numerals_from_the_next_result() {
    let s = start(saying(vec!["I have 23 apples."])).await;
    let mut ws = open(&s.url("encoding=linear16&sample_rate=16000&endpointing=false")).await;
    let mut texts = Vec::new();
    for round in 0..2 {
        if round == 1 {
            send_json(
                &mut ws,
                json!({"type": "Configure", "features": {"numerals": true}}),
            )
            .await;
            let ok = next_message(&mut ws).await.expect("read").expect("open");
            assert_eq!(ok["type"], "ConfigureSuccess", "{ok}");
        }
        send_lines(&mut ws, &[0]).await;
        send_json(&mut ws, json!({"type": "Finalize"})).await;
        let mut said = Vec::new();
        loop {
            let m = next_message(&mut ws).await.expect("read").expect("open");
            if m["is_final"] == true && !text(&m).is_empty() {
                said.push(text(&m).to_owned());
            }
            if m["from_finalize"] == true {
                break;
            }
        }
        texts.push(said.join(" "));
    }
    assert_eq!(texts, ["i have twenty three apples", "i have 23 apples"]);
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    until_close(&mut ws).await;
}

#[tokio::test]
async fn entities_only_on_finals_and_search_on_every_result() {
    let s = start(Options {
        window_samples: RATE_HZ as usize * 4,
        ..saying(vec!["Call 555-123-4567 now."])
    })
    .await;
    let mut ws = open(&s.url(
        "encoding=linear16&sample_rate=16000&detect_entities=true&interim_results=true&search=call",
    ))
    .await;
    send_lines(&mut ws, &[0, 0, 0]).await;
    send_json(&mut ws, json!({"type": "CloseStream"})).await;
    let t = until_close(&mut ws).await;
    let results = t.of_type("Results");
    let (fin, interim): (Vec<&Value>, Vec<&Value>) =
        results.iter().partition(|r| r["is_final"] == true);
    assert!(!interim.is_empty() && !fin.is_empty(), "{:?}", t.messages);
    assert!(interim.iter().all(|r| r.get("entities").is_none()));
    for r in &fin {
        let entities = r["entities"].as_array().expect("entities on a final");
        if text(r).is_empty() {
            assert!(entities.is_empty());
            continue;
        }
        assert_eq!(entities[0]["label"], "PHONE_NUMBER", "{r}");
        // Without smart_format the number stays ten spoken words, all of them the entity's.
        assert_eq!(
            (
                entities[0]["start_word"].clone(),
                entities[0]["end_word"].clone()
            ),
            (json!(1), json!(11))
        );
        assert_eq!(
            entities[0]["raw_value"],
            "five five five one two three four five six seven"
        );
    }
    for r in &results {
        if !text(r).is_empty() {
            assert_eq!(r["channel"]["search"][0]["query"], "call", "{r}");
            assert_eq!(r["channel"]["search"][0]["hits"][0]["snippet"], "call");
        }
    }
}
