//! The `hark` binary itself: documented flags, honest refusal without an engine, the mock server.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

fn hark() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hark"))
}

#[test]
fn serve_help_documents_every_option_and_variable() {
    let out = hark().args(["serve", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--listen",
        "HARK_LISTEN",
        "127.0.0.1:8080",
        "--model",
        "--api-key",
        "HARK_API_KEYS",
        "--config",
        "--idle-timeout-ms",
        "--drain-timeout-ms",
    ] {
        assert!(
            help.contains(needle),
            "`hark serve --help` lacks {needle}:\n{help}"
        );
    }
    let mock = hark().args(["mock", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&mock.stdout);
    assert!(
        help.contains("127.0.0.1:5000") && help.contains("--dir"),
        "{help}"
    );
}

#[test]
fn serve_refuses_to_pretend_without_an_engine() {
    let out = hark()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no speech engine"), "{err}");
    let out = hark()
        .args(["serve", "--model", "/nonexistent/model"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/model"));
}

#[test]
fn mock_listens_and_answers_http() {
    let dir = std::env::temp_dir().join(format!("hark-cli-mock-{}", std::process::id()));
    let mut child = hark()
        .args(["mock", "--listen", "127.0.0.1:0", "--dir"])
        .arg(&dir)
        .env("HARK_LOG", "info")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Watchdog: however the test goes, the child is gone within 30 s (reading its stdout then ends).
    let pid = child.id().to_string();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(30));
        let _ = Command::new("kill").args(["-9", &pid]).status();
    });
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split("addr=")
                .nth(1)
                .map(|a| a.split_whitespace().next().unwrap_or_default().to_owned())
        })
        .expect("listening line with addr=");
    let mut tcp = std::net::TcpStream::connect(&addr).expect("connect");
    tcp.write_all(b"GET /anything HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut reply = String::new();
    tcp.read_to_string(&mut reply).expect("read");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        reply.starts_with("HTTP/1.1 4"),
        "a plain GET is not a WebSocket upgrade: {reply}"
    );
}
