#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
use super::*;
use clap::Parser;

fn args(extra: &[&str]) -> ServeArgs {
    let mut argv = vec!["hark", "serve"];
    argv.extend_from_slice(extra);
    match crate::args::Cli::try_parse_from(argv)
        .expect("flags parse")
        .command
    {
        crate::args::Command::Serve(a) => *a,
        _ => unreachable!(),
    }
}

#[test]
fn every_flag_has_a_config_key_and_the_file_sets_it() {
    let text = r#"
        listen = "0.0.0.0:9000"
        model = "whisper-tiny.en"
        model_name = "tiny"
        beam_size = 3
        temperature_fallback = false
        encoder_shortcut = true
        max_streams = 12
        capacity = "auto"
        api_keys = ["k1"]
        idle_timeout_ms = 5000
        drain_timeout_ms = 45000
        playground = false
        interim_ms = 500
        vad = false
    "#;
    let s = parse_file(text, Path::new("/etc/hark")).expect("valid");
    assert_eq!(s.listen, "0.0.0.0:9000".parse().unwrap());
    assert_eq!(s.model.as_deref(), Some(Path::new("whisper-tiny.en")));
    assert_eq!(s.model_name.as_deref(), Some("tiny"));
    assert_eq!((s.beam_size, s.temperature_fallback), (3, false));
    assert!(s.encoder_shortcut);
    assert!(
        !ServeSettings::default().encoder_shortcut,
        "off unless asked"
    );
    assert_eq!((s.max_streams, s.capacity), (12, Capacity::Auto));
    assert_eq!(s.server.api_keys, ["k1"]);
    assert_eq!(
        (s.server.idle_timeout_ms, s.server.drain_timeout_ms),
        (5000, 45000)
    );
    assert!(!s.server.playground && !s.server.vad);
    assert_eq!(s.server.interim_ms, 500);
    // A number of streams, and relative TLS paths taken from the file's directory.
    let s = parse_file(
        "capacity = 6\ntls_cert_file = \"c.pem\"\ntls_key_file = \"/k.pem\"",
        Path::new("/etc/hark"),
    )
    .unwrap();
    assert_eq!(s.capacity, Capacity::Streams(6));
    assert_eq!(
        s.tls_cert_file.as_deref(),
        Some(Path::new("/etc/hark/c.pem"))
    );
    assert_eq!(s.tls_key_file.as_deref(), Some(Path::new("/k.pem")));
}

#[test]
fn unknown_keys_and_bad_values_are_errors_that_name_them() {
    let err = |text: &str| format!("{:#}", parse_file(text, Path::new(".")).unwrap_err());
    assert!(
        err("max_stream = 3").contains("max_stream"),
        "{}",
        err("max_stream = 3")
    );
    assert!(err("idle_timeout = 3").contains("idle_timeout"));
    assert!(err("listen = \"nowhere\"").contains("nowhere"));
    assert!(err("capacity = \"lots\"").contains("lots"));
    assert!(err("capacity = 0").contains("capacity"));
    assert!(err("beam_size = \"two\"").contains("beam_size"));
    let invalid = |text: &str| {
        let s = parse_file(text, Path::new(".")).expect("parses");
        validate(&s).unwrap_err().to_string()
    };
    assert!(invalid("beam_size = 0").contains("beam_size"));
    assert!(invalid("max_streams = 0").contains("max_streams"));
    assert!(invalid("interim_ms = 10").contains("interim_ms"));
    assert!(invalid("tls_cert_file = \"c.pem\"").contains("tls_key_file"));
    assert!(invalid("api_keys = [\" \"]").contains("empty key"));
}

#[test]
fn flags_override_the_file_and_defaults_fill_the_rest() {
    let dir = std::env::temp_dir().join(format!("hark-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hark.toml");
    std::fs::write(
        &file,
        "max_streams = 12\nbeam_size = 2\napi_keys = [\"file\"]\nidle_timeout_ms = 7000\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let s = resolve(&args(&[
        "--config",
        f,
        "--max-streams",
        "3",
        "--api-key",
        "flag",
    ]))
    .unwrap();
    assert_eq!(s.max_streams, 3, "the flag wins");
    assert_eq!(s.beam_size, 2, "the file's value stands");
    assert_eq!(s.server.idle_timeout_ms, 7000);
    assert_eq!(s.server.api_keys, ["file", "flag"], "keys add up");
    assert_eq!(s.listen, ServeSettings::default().listen, "default");
    let s = resolve(&args(&[
        "--config",
        f,
        "--capacity",
        "auto",
        "--no-playground",
    ]))
    .unwrap();
    assert_eq!(s.capacity, Capacity::Auto);
    assert!(!s.server.playground);
    let bad = crate::args::Cli::try_parse_from(["hark", "serve", "--capacity", "many"]);
    assert!(bad.unwrap_err().to_string().contains("many"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn rendering_masks_secrets_and_reads_back_as_the_same_settings() {
    let text = "api_keys = [\"sekrit1\", \"sekrit2\"]\ncallback_secret = \"hush\"\ncapacity = 5\nmax_streams = 9\n";
    let s = parse_file(text, Path::new(".")).unwrap();
    let out = render(&s);
    assert!(!out.contains("sekrit") && !out.contains("hush"), "{out}");
    assert!(out.contains("<secret>"));
    assert!(
        out.contains("capacity = 5") && out.contains("max_streams = 9"),
        "{out}"
    );
    // Everything but the masked secrets survives a round trip through the file format.
    let mut back = parse_file(&out, Path::new(".")).unwrap();
    back.server.api_keys = s.server.api_keys.clone();
    back.server.callback_secret = s.server.callback_secret.clone();
    assert_eq!(back, s);
}
