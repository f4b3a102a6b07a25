use super::*;
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

async fn get(path: &str) -> (StatusCode, String, String) {
    let response = router::<()>()
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn the_page_is_at_the_root_and_every_file_under_playground() {
    let (status, ct, body) = get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(body.contains("<title>hark playground</title>"));
    for name in asset_names() {
        let (status, ct, body) = get(&format!("/playground/{name}")).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(!body.is_empty(), "{name}");
        let want = match name.rsplit('.').next() {
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("html") => "text/html",
            Some("svg") => "image/svg+xml",
            other => panic!("no content type expected for {other:?}"),
        };
        assert!(ct.starts_with(want), "{name}: {ct}");
    }
    let (status, _, _) = get("/playground/nope.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get("/playground/..%2Fsrc%2Flib.rs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Every file the page loads (`/playground/…` in HTML and JS, `./x.js` imports) is embedded:
/// a renamed or forgotten file fails here rather than as a blank page.
#[test]
fn every_reference_resolves_to_an_embedded_file() {
    let names: Vec<&str> = asset_names().collect();
    let mut checked = 0;
    for asset in ASSETS {
        for (marker, end) in [("/playground/", ['"', '\'']), ("from \"./", ['"', '"'])] {
            for piece in asset.body.split(marker).skip(1) {
                let Some(stop) = piece.find(end) else {
                    continue;
                };
                let target = &piece[..stop];
                assert!(
                    names.contains(&target),
                    "{} refers to {target}, which is not embedded",
                    asset.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "found only {checked} references");
}
