//! What an operator relies on: `hark config check`, TLS on `hark serve` itself, and capacity that
//! admission and `/metrics` agree on (configured, or measured at start-up).

mod support;

use futures_util::SinkExt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use support::{get, hark, spawn_listening, spawn_listening_with_log, KillOnDrop};
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::Message;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hark-deploy-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn config_check_validates_and_prints_the_effective_settings() {
    let dir = temp_dir("check");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "listen = \"0.0.0.0:9001\"\nmodel = \"hark-demo-en\"\nmax_streams = 6\ncapacity = \"auto\"\n\
         api_keys = [\"very-secret-key\"]\ndrain_timeout_ms = 45000\n",
    )
    .expect("write");
    let out = hark()
        .args(["config", "check"])
        .arg(&good)
        .env_remove("HARK_MAX_STREAMS")
        .env("HARK_IDLE_TIMEOUT_MS", "4000")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table: toml::Table = toml::from_str(&stdout).expect("the output is TOML");
    assert_eq!(table["listen"].as_str(), Some("0.0.0.0:9001"));
    assert_eq!(table["max_streams"].as_integer(), Some(6));
    assert_eq!(table["capacity"].as_str(), Some("auto"));
    assert_eq!(table["drain_timeout_ms"].as_integer(), Some(45_000));
    assert_eq!(
        table["idle_timeout_ms"].as_integer(),
        Some(4000),
        "the environment applies"
    );
    assert_eq!(
        table["interim_ms"].as_integer(),
        Some(1000),
        "defaults are shown"
    );
    assert!(!stdout.contains("very-secret-key"), "{stdout}");

    // Invalid files: exit code 2 and a message that names the problem (and the file).
    let bad = dir.join("bad.toml");
    for (text, names) in [
        ("max_stream = 6\n", ["max_stream", "bad.toml"]),
        (
            "tls_cert_file = \"nope.pem\"\ntls_key_file = \"k.pem\"\n",
            ["nope.pem", "TLS"],
        ),
    ] {
        std::fs::write(&bad, text).expect("write");
        let out = hark()
            .args(["config", "check"])
            .arg(&bad)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(names.iter().all(|n| err.contains(n)), "{text}: {err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A self-signed certificate for 127.0.0.1 (openssl from apt; `./scripts/test.sh` installs it).
fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=hark-test"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        // An end-entity certificate (openssl makes a CA by default, which rustls refuses to serve).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success());
    (cert, key)
}

fn client_config(cert: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).expect("pem") {
        roots.add(c.expect("cert")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[test]
fn serve_speaks_https_and_wss_with_a_certificate() {
    let dir = temp_dir("tls");
    let (cert, _key) = self_signed(&dir);
    let config = dir.join("hark.toml");
    // Relative paths in a config file are taken from its directory.
    std::fs::write(
        &config,
        "tls_cert_file = \"cert.pem\"\ntls_key_file = \"key.pem\"\n",
    )
    .expect("write");
    let (child, addr) = spawn_listening(
        hark()
            .args([
                "serve",
                "--model",
                "hark-demo-en",
                "--listen",
                "127.0.0.1:0",
                "--config",
            ])
            .arg(&config),
    );
    let _server = KillOnDrop(child);
    let tls = client_config(&cert);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (health, messages) = rt.block_on(async {
        // HTTPS: a plain request over TLS.
        let tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
        let mut s = tokio_rustls::TlsConnector::from(Arc::clone(&tls))
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: hark\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut health = String::new();
        let _ = s.read_to_string(&mut health).await;
        // WSS: one second of silence, then CloseStream.
        let url = format!("wss://{addr}/v1/listen?encoding=linear16&sample_rate=16000");
        let connector = tokio_tungstenite::Connector::Rustls(Arc::clone(&tls));
        let (mut ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(connector))
                .await
                .expect("wss handshake");
        ws.send(Message::Binary(vec![0u8; 32_000].into()))
            .await
            .expect("audio");
        ws.send(Message::Text(r#"{"type":"CloseStream"}"#.into()))
            .await
            .expect("close");
        let out = support::read_until_close(&mut ws, 20).await;
        (health, out)
    });
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let meta: Vec<&serde_json::Value> = messages
        .iter()
        .filter(|m| m["type"] == "Metadata")
        .collect();
    assert_eq!(meta.len(), 1, "{messages:?}");
    assert_eq!(meta[0]["duration"], 1.0);
    assert_eq!(messages.last(), Some(&serde_json::json!({"close": 1000})));
    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut plain = std::net::TcpStream::connect(&addr).expect("connect");
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok();
    let _ = plain.write_all(b"GET /healthz HTTP/1.1\r\nHost: hark\r\n\r\n");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    std::fs::remove_dir_all(&dir).ok();
}

/// The value of a gauge in a Prometheus text page.
fn gauge(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

type Socket = tokio_tungstenite::tungstenite::WebSocket<
    tokio_tungstenite::tungstenite::stream::MaybeTlsStream<std::net::TcpStream>,
>;

fn open_stream(addr: &str) -> Result<Socket, u16> {
    let url = format!("ws://{addr}/v1/listen?encoding=linear16&sample_rate=16000");
    match tokio_tungstenite::tungstenite::connect(url) {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_configured_capacity_is_what_admission_and_metrics_use() {
    let (child, addr) = spawn_listening(hark().args([
        "serve",
        "--model",
        "hark-demo-en",
        "--listen",
        "127.0.0.1:0",
        "--max-streams",
        "8",
        "--capacity",
        "2",
    ]));
    let _server = KillOnDrop(child);
    let a = open_stream(&addr).expect("first");
    let b = open_stream(&addr).expect("second");
    assert_eq!(open_stream(&addr).err(), Some(429), "the third is refused");
    let page = get(&addr, "/metrics");
    assert_eq!(
        gauge(&page, "hark_model_capacity_streams"),
        Some(2.0),
        "{page}"
    );
    assert_eq!(
        gauge(&page, "hark_model_utilization_ratio"),
        Some(1.0),
        "{page}"
    );
    drop((a, b));
}

#[test]
fn capacity_auto_measures_this_machine_and_exposes_it() {
    let (child, addr, log) = spawn_listening_with_log(hark().args([
        "serve",
        "--model",
        "hark-demo-en",
        "--listen",
        "127.0.0.1:0",
        "--max-streams",
        "64",
        "--capacity",
        "auto",
    ]));
    let _server = KillOnDrop(child);
    let line = log
        .iter()
        .find(|l| l.contains("capacity measured"))
        .unwrap_or_else(|| panic!("no measurement in the log: {log:?}"));
    let measured: f64 = line
        .split("streams=")
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!((1.0..=64.0).contains(&measured), "{line}");
    assert!(line.contains("batches=") && line.contains("1×"), "{line}");
    let page = get(&addr, "/metrics");
    assert_eq!(
        gauge(&page, "hark_model_capacity_streams"),
        Some(measured),
        "{page}"
    );
}
