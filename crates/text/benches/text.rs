//! The text stage's cost per final result (issue goal: under 1 ms for 30 words on a 2-core
//! machine), per flag set, against the reference of no features at all (the plain path every
//! result takes) measured in the same run.
//!
//! `cargo bench -p hark-text --bench text`. Env: `HARK_BENCH_ITERS` (default 20000 per set).

use hark_asr::{Transcript, WordTiming};
use hark_proto::{Redact, Replace};
use hark_text::{render, Counters, TextOptions, WindowTime};
use std::time::Instant;

/// 30 words as Whisper writes them, with numbers, money, a phone number and an address.
const WRITTEN: &str = "Hi, this is Jane Doe. Um, I paid $342.99 on January 5th for 23 tickets, \
    call me at 555-867-5309 or write to jane.doe@example.com, I live at 123 Main Street. Thanks!";

fn transcript() -> Transcript {
    Transcript {
        words: WRITTEN
            .split_whitespace()
            .enumerate()
            .map(|(i, w)| WordTiming {
                text: w.to_owned(),
                start_s: i as f32 * 0.3,
                end_s: i as f32 * 0.3 + 0.25,
                confidence: 0.9,
            })
            .collect(),
        language: Some("en".into()),
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let iters: usize = std::env::var("HARK_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let t = transcript();
    let window = WindowTime {
        start_s: 0.0,
        duration_s: 10.0,
    };
    let base = TextOptions {
        english: true,
        ..TextOptions::default()
    };
    let sets: Vec<(&str, TextOptions)> = vec![
        ("none (reference)", base.clone()),
        (
            "punctuate",
            TextOptions {
                punctuate: true,
                ..base.clone()
            },
        ),
        (
            "numerals",
            TextOptions {
                numerals: true,
                ..base.clone()
            },
        ),
        (
            "smart_format",
            TextOptions {
                smart_format: true,
                punctuate: true,
                ..base.clone()
            },
        ),
        (
            "smart+redact+entities",
            TextOptions {
                smart_format: true,
                punctuate: true,
                detect_entities: true,
                redact: vec![Redact::Pii, Redact::Pci],
                ..base.clone()
            },
        ),
        (
            "everything",
            TextOptions {
                smart_format: true,
                punctuate: true,
                detect_entities: true,
                profanity_filter: true,
                measurements: true,
                dictation: true,
                redact: vec![Redact::Numbers, Redact::Pii],
                replace: vec![
                    Replace::parse("tickets:seats"),
                    Replace::parse("Jane:Janet"),
                ],
                search: vec!["tickets".into(), "main street".into(), "example".into()],
                ..base.clone()
            },
        ),
    ];
    let words = t.words.len();
    println!("text stage, one final of {words} written words, {iters} runs per flag set");
    println!(
        "{:<24} {:>9} {:>9} {:>12}",
        "flags", "p50 µs", "p99 µs", "p50 / ref"
    );
    let mut reference = None;
    for (name, options) in &sets[3..5] {
        let r = render(&t, window, options, Some(&mut Counters::default()));
        println!("{name}: {}", r.alternative.transcript);
    }
    for (name, options) in &sets {
        let mut counters = Counters::default();
        let mut times = Vec::with_capacity(iters);
        for _ in 0..iters {
            let started = Instant::now();
            let r = render(&t, window, options, Some(&mut counters));
            std::hint::black_box(&r);
            times.push(started.elapsed().as_secs_f64() * 1e6);
        }
        times.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        let reference = *reference.get_or_insert(p50);
        println!(
            "{name:<24} {p50:>9.1} {p99:>9.1} {:>11.2}x",
            p50 / reference
        );
    }
}
