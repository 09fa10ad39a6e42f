//! How the web app is served: embedded, compressed, cacheable, locked to this origin; and
//! its words for every error code of the API.

use crate::helpers::spawn;

/// Every `extensions.code` of API.md's Errors table.
const API_ERROR_CODES: [&str; 19] = [
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "QUERY_TOO_COMPLEX",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "SEAT_UNAVAILABLE",
    "SOLD_OUT",
    "LIMIT_EXCEEDED",
    "QUOTA_EXCEEDED",
    "BOOKING_CLOSED",
    "ALREADY_CHECKED_IN",
    "RATE_LIMITED",
    "BOOKING_SUSPENDED",
    "OFFER_EXPIRED",
    "UNAVAILABLE",
    "INTERNAL",
];

#[test]
fn every_error_code_of_the_api_has_a_sentence_in_chinese_and_in_english() {
    let source = include_str!("../../web/assets/js/i18n.js");
    let (zh, en) = source
        .split_once("\n  en: {")
        .expect("an English table after the Chinese one");
    for code in API_ERROR_CODES {
        for (lang, table) in [("zh-CN", zh), ("en", en)] {
            let line = table
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{code}:")))
                .unwrap_or_else(|| panic!("{code} has no {lang} sentence"));
            let sentence = line.split_once(':').map(|(_, s)| s.trim()).unwrap_or("");
            assert!(sentence.len() > 12, "{code} in {lang}: {sentence}");
        }
    }
}

#[tokio::test]
async fn pages_are_fresh_assets_are_immutable_and_both_are_compressed() {
    let app = spawn().await;
    let client = reqwest::Client::new();
    for path in ["/", "/door", "/staff"] {
        let r = client.get(app.url(path)).send().await.expect("page");
        assert_eq!(r.status(), 200, "{path}");
        let headers = r.headers().clone();
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        let csp = headers["content-security-policy"].to_str().expect("csp");
        assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{path}: {csp}"
        );
        let html = r.text().await.expect("html");
        assert!(
            !html.contains("{{v}}") && !html.contains("http://") && !html.contains("https://"),
            "{path}: {html}"
        );
    }
    let html = client
        .get(app.url("/"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let js = html
        .split("<script type=\"module\" src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the module script")
        .to_owned();
    assert!(js.ends_with("/js/residents.js"), "{js}");

    let plain = client.get(app.url(&js)).send().await.expect("asset");
    assert_eq!(plain.status(), 200, "{js}");
    assert_eq!(
        plain.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        plain.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/javascript")
    );
    let etag = plain.headers()["etag"].clone();
    let size = plain.bytes().await.expect("body").len();

    let gzipped = client
        .get(app.url(&js))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("asset");
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let compressed = gzipped.bytes().await.expect("body").len();
    assert!(
        compressed * 2 < size,
        "gzip halves it at least: {compressed} of {size}"
    );

    let again = client
        .get(app.url(&js))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("asset");
    assert_eq!(again.status(), 304);

    let stale = js.replacen("/assets/", "/assets/0000", 1);
    assert_eq!(
        client
            .get(app.url(&stale))
            .send()
            .await
            .expect("asset")
            .status(),
        404,
        "an old version is gone"
    );
    let escape = js.replace("js/residents.js", "../index.html");
    assert_ne!(
        client
            .get(app.url(&escape))
            .send()
            .await
            .expect("asset")
            .status(),
        200
    );
}
