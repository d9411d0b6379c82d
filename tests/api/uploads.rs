//! Image uploads: processing, dedupe, serving, references and the
//! collector, against the real server, redb and file store.

use std::io::Cursor;
use std::path::PathBuf;

use chrono::{Duration, Utc};
use image::{DynamicImage, ImageDecoder, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use redb::ReadableTableMetadata;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, get_ok, send, spawn_app};

const MARKER: &[u8] = b"UPHILL-GPS-MARKER";

// --- Building requests and images ---

/// One part: name, file name, Content-Type, content.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A multipart body by hand, so tests can send what no polite client would.
fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = "uphill-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, filename, ctype, bytes) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disp = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some(f) = filename {
            disp.push_str(&format!("; filename=\"{f}\""));
        }
        body.extend_from_slice(disp.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(c) = ctype {
            body.extend_from_slice(format!("Content-Type: {c}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn send_parts(app: &TestApp, token: Option<&str>, parts: &[Part<'_>]) -> Response {
    let (ctype, body) = multipart(parts);
    let mut req = app
        .client()
        .post(app.url("/api/v1/uploads"))
        .header("content-type", ctype)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn upload(app: &TestApp, token: &str, bytes: &[u8], name: &str) -> Response {
    send_parts(
        app,
        Some(token),
        &[("file", Some(name), Some("image/png"), bytes)],
    )
    .await
}

async fn uploaded(app: &TestApp, token: &str, bytes: &[u8]) -> Value {
    let r = upload(app, token, bytes, "photo.jpg").await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn encoded(img: DynamicImage, f: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, f).unwrap();
    out.into_inner()
}

fn photo(w: u32, h: u32, seed: u8) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x as u8).wrapping_mul(3).wrapping_add(seed),
            (y as u8).wrapping_mul(5),
            ((x + y) as u8) ^ seed,
        ])
    }))
}

/// An EXIF block (little-endian TIFF): Orientation = 6 (rotate 90°) and a
/// GPS IFD with a latitude and a datum string we can search for.
fn exif_app1() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(b"II\x2a\x00");
    t.extend_from_slice(&8u32.to_le_bytes());
    // IFD0 at 8: two entries.
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
    t.extend_from_slice(&3u16.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&6u16.to_le_bytes());
    t.extend_from_slice(&0u16.to_le_bytes());
    t.extend_from_slice(&0x8825u16.to_le_bytes()); // GPS IFD pointer
    t.extend_from_slice(&4u16.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&38u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 38);
    // GPS IFD at 38: three entries.
    t.extend_from_slice(&3u16.to_le_bytes());
    t.extend_from_slice(&0x0001u16.to_le_bytes()); // GPSLatitudeRef
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&2u32.to_le_bytes());
    t.extend_from_slice(b"N\0\0\0");
    t.extend_from_slice(&0x0002u16.to_le_bytes()); // GPSLatitude
    t.extend_from_slice(&5u16.to_le_bytes());
    t.extend_from_slice(&3u32.to_le_bytes());
    t.extend_from_slice(&80u32.to_le_bytes());
    t.extend_from_slice(&0x0012u16.to_le_bytes()); // GPSMapDatum
    t.extend_from_slice(&2u16.to_le_bytes());
    t.extend_from_slice(&((MARKER.len() + 1) as u32).to_le_bytes());
    t.extend_from_slice(&104u32.to_le_bytes());
    t.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(t.len(), 80);
    for (n, d) in [(12u32, 1u32), (58, 1), (3000, 100)] {
        t.extend_from_slice(&n.to_le_bytes());
        t.extend_from_slice(&d.to_le_bytes());
    }
    t.extend_from_slice(MARKER);
    t.push(0);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend_from_slice(&((2 + 6 + t.len()) as u16).to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(&t);
    seg
}

/// A 64 × 32 JPEG carrying the EXIF block right after SOI.
fn jpeg_with_gps() -> Vec<u8> {
    let plain = encoded(photo(64, 32, 7), ImageFormat::Jpeg);
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&exif_app1());
    out.extend_from_slice(&plain[2..]);
    out
}

/// 20,000 × 20,000 one-bit grey, all zero: ~50 MB of pixels in kilobytes,
/// written row by row so the test never holds it either.
fn png_bomb() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 20_000, 20_000);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        enc.set_compression(png::Compression::High);
        let mut w = enc.write_header().unwrap();
        let mut stream = w.stream_writer().unwrap();
        let row = vec![0u8; 20_000 / 8];
        for _ in 0..20_000 {
            std::io::Write::write_all(&mut stream, &row).unwrap();
        }
        stream.finish().unwrap();
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

// --- Looking at the store and the disk ---

fn files_dir(app: &TestApp) -> PathBuf {
    app.state.config.storage.data_dir.join("files")
}

/// Every regular file under `files/`, the temporary area included.
fn stored_files(app: &TestApp) -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&files_dir(app), &mut out);
    out
}

async fn upload_count(app: &TestApp) -> u64 {
    app.state
        .store
        .read(|txn| {
            Ok::<_, uphill::store::StoreError>(
                txn.open_table(uphill::store::tables::UPLOADS)?.len()?,
            )
        })
        .await
        .unwrap()
}

async fn assert_nothing_stored(app: &TestApp) {
    assert_eq!(upload_count(app).await, 0, "upload records");
    assert_eq!(stored_files(app), Vec::<PathBuf>::new(), "files on disk");
}

// --- Accounts ---

async fn post_json(app: &TestApp, path: &str, token: &str, body: Value) -> Response {
    send(app, Method::POST, path, Some(token), Some(body)).await
}

async fn patch_json(app: &TestApp, path: &str, token: &str, body: Value) -> Response {
    send(app, Method::PATCH, path, Some(token), Some(body)).await
}

/// A user who owns a shop: the one kind of user (with admins) who uploads.
async fn vendor(app: &TestApp, email: &str) -> (String, String) {
    let token = app.bearer(email).await;
    let r = post_json(
        app,
        "/shops",
        &token,
        json!({"name": "Foot Hill Canteen", "shop_type": "CANTEEN", "opens_at": 480, "closes_at": 1320, "upi_id": "canteen@okaxis"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let shop: Value = r.json().await.unwrap();
    (token, shop["id"].as_str().unwrap().to_string())
}

async fn fetch(app: &TestApp, url: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let r = app.client().get(app.url(url)).send().await.unwrap();
    let (s, h) = (r.status(), r.headers().clone());
    (s, h, r.bytes().await.unwrap().to_vec())
}

/// The URL of one rendition, named as in every `ImageView`.
fn variant<'a>(upload: &'a Value, name: &str) -> &'a str {
    upload[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {upload}"))
}

/// The pixel size of a served rendition.
async fn served_dims(app: &TestApp, url: &str) -> (u32, u32) {
    let (_, _, bytes) = fetch(app, url).await;
    let img = image::load_from_memory(&bytes).unwrap();
    (img.width(), img.height())
}

// --- Tests ---

#[tokio::test]
async fn a_jpeg_loses_its_exif_and_gps_and_keeps_its_rotation() {
    let app = spawn_app().await;
    let (token, _) = vendor(&app, "vendor@uphill.test").await;
    let input = jpeg_with_gps();
    // The input really carries the metadata we expect to be gone.
    assert!(contains(&input, MARKER) && contains(&input, b"Exif\0\0"));
    let mut dec = image::codecs::jpeg::JpegDecoder::new(Cursor::new(&input)).unwrap();
    assert!(dec.exif_metadata().unwrap().is_some());

    let up = uploaded(&app, &token, &input).await;
    assert_eq!(up["content_type"], "image/jpeg");
    // Orientation 6 was applied before the EXIF went: 64 × 32 stands up.
    assert_eq!(
        (up["width"].as_u64(), up["height"].as_u64()),
        (Some(32), Some(64))
    );
    let id = up["id"].as_str().unwrap();
    assert_eq!(id.len(), 64);

    for (name, ctype) in [
        ("original", "image/jpeg"),
        ("medium", "image/webp"),
        ("thumb", "image/webp"),
    ] {
        let url = variant(&up, name);
        assert_eq!(url, format!("/files/{id}/{name}"));
        let (status, headers, bytes) = fetch(&app, url).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(headers["content-type"], ctype);
        assert_eq!(headers["content-length"], bytes.len().to_string().as_str());
        assert!(!contains(&bytes, MARKER), "{name} still has the GPS block");
        assert!(!contains(&bytes, b"Exif"), "{name} still has EXIF");
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (32, 64), "{name}");
    }
    // What is on disk is what was served: nothing else kept the metadata.
    for f in stored_files(&app) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, MARKER), "{}", f.display());
    }
    let (_, _, original) = fetch(&app, &format!("/files/{id}/original")).await;
    let mut dec = image::codecs::jpeg::JpegDecoder::new(Cursor::new(&original)).unwrap();
    assert!(dec.exif_metadata().unwrap().is_none());
}

#[tokio::test]
async fn png_and_webp_uploads_make_webp_variants_that_fit() {
    let app = spawn_app().await;
    let (token, _) = vendor(&app, "vendor@uphill.test").await;
    let png = encoded(
        DynamicImage::ImageRgba8(RgbaImage::from_fn(1000, 500, |x, y| {
            Rgba([x as u8, y as u8, 9, if x < 500 { 255 } else { 80 }])
        })),
        ImageFormat::Png,
    );
    let up = uploaded(&app, &token, &png).await;
    assert_eq!(up["content_type"], "image/png");
    assert_eq!(
        (up["width"].as_u64(), up["height"].as_u64()),
        (Some(1000), Some(500))
    );
    assert_eq!(
        served_dims(&app, variant(&up, "original")).await,
        (1000, 500)
    );
    assert_eq!(served_dims(&app, variant(&up, "medium")).await, (800, 400));
    assert_eq!(served_dims(&app, variant(&up, "thumb")).await, (160, 80));
    let (_, h, thumb) = fetch(&app, variant(&up, "thumb")).await;
    assert_eq!(h["content-type"], "image/webp");
    let thumb = image::load_from_memory_with_format(&thumb, ImageFormat::WebP).unwrap();
    assert!(thumb.color().has_alpha(), "transparency survives");

    let webp = encoded(photo(300, 200, 1), ImageFormat::WebP);
    let up = uploaded(&app, &token, &webp).await;
    assert_eq!(up["content_type"], "image/webp");
    assert_eq!(
        served_dims(&app, variant(&up, "medium")).await,
        (300, 200),
        "never enlarged"
    );
    let (_, h, _) = fetch(&app, variant(&up, "original")).await;
    assert_eq!(h["content-type"], "image/webp");
    assert_eq!(upload_count(&app).await, 2);
}

#[tokio::test]
async fn the_same_picture_twice_is_one_record_and_one_set_of_files() {
    let app = spawn_app().await;
    let (token, _) = vendor(&app, "vendor@uphill.test").await;
    let admin = app.admin_bearer("admin@uphill.test").await;
    let png = encoded(photo(120, 90, 3), ImageFormat::Png);
    let first = uploaded(&app, &token, &png).await;
    let files_after_first = stored_files(&app);
    assert_eq!(files_after_first.len(), 3, "{files_after_first:?}");
    let r = upload(&app, &token, &png, "again.png").await;
    assert_eq!(r.status(), StatusCode::OK, "an existing picture is 200");
    let second: Value = r.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    // Another uploader, another name: still the same content.
    let r = upload(&app, &admin, &png, "other.webp").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], first["id"]);
    assert_eq!(upload_count(&app).await, 1);
    assert_eq!(stored_files(&app), files_after_first);
}

#[tokio::test]
async fn files_are_served_immutable_with_an_etag_and_304() {
    let app = spawn_app().await;
    let (token, _) = vendor(&app, "vendor@uphill.test").await;
    let up = uploaded(&app, &token, &encoded(photo(50, 50, 2), ImageFormat::Jpeg)).await;
    let url = variant(&up, "thumb").to_string();
    let r = app.client().get(app.url(&url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let body = r.bytes().await.unwrap();
    assert_eq!(
        etag,
        format!("\"{}\"", uphill::files::image::sha256_hex(&body)),
        "the ETag is the file's SHA-256"
    );
    for inm in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
        let r = app
            .client()
            .get(app.url(&url))
            .header("if-none-match", inm)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers()["etag"], etag.as_str());
        assert!(r.bytes().await.unwrap().is_empty());
    }
    let r = app
        .client()
        .get(app.url(&url))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let id = up["id"].as_str().unwrap();
    let unknown = "0".repeat(64);
    for bad in [
        format!("/files/{unknown}/original"),
        format!("/files/{id}/huge"),
        format!("/files/{id}/original.jpg"),
        format!("/files/{}/thumb", id.to_uppercase()),
        "/files/..%2F..%2Fuphill.redb/original".to_string(),
        format!("/files/{id}/..%2F..%2F..%2Fuphill.redb"),
        // (A bare `%2E%2E` segment is resolved by the client's URL parser
        // before sending, so the dots travel with an encoded slash.)
        "/files/%2E%2E%2F%2E%2E/original".to_string(),
    ] {
        let r = app.client().get(app.url(&bad)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
    }
}

#[tokio::test]
async fn bad_uploads_are_4xx_problems_and_store_nothing() {
    let app = spawn_app().await;
    let (token, _) = vendor(&app, "vendor@uphill.test").await;
    let t = Some(token.as_str());
    let png = encoded(photo(64, 64, 5), ImageFormat::Png);

    // A text file named .png, sent as image/png.
    let r = send_parts(
        &app,
        t,
        &[(
            "file",
            Some("cat.png"),
            Some("image/png"),
            b"just some text, honest",
        )],
    )
    .await;
    let p = assert_problem(r, 422).await;
    assert_eq!(p["errors"][0]["field"], "file");
    // An SVG (script-capable) is refused whatever it is called.
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#;
    assert_problem(
        send_parts(&app, t, &[("file", Some("x.png"), Some("image/png"), svg)]).await,
        422,
    )
    .await;
    // A truncated PNG.
    assert_problem(
        upload(&app, &token, &png[..png.len() / 2], "half.png").await,
        422,
    )
    .await;
    // 20,000 × 20,000 in kilobytes: refused from its header.
    let bomb = png_bomb();
    assert!(bomb.len() < 200_000, "the bomb is {} bytes", bomb.len());
    let p = assert_problem(upload(&app, &token, &bomb, "bomb.png").await, 422).await;
    assert!(
        p["detail"].as_str().unwrap().contains("20000 x 20000"),
        "{p}"
    );
    // An empty file.
    assert_problem(upload(&app, &token, b"", "empty.png").await, 422).await;
    // 50 MB, announced by Content-Length: refused before it is read.
    let big = vec![0u8; 50 * 1024 * 1024];
    let started = std::time::Instant::now();
    let r = upload(&app, &token, &big, "big.jpg").await;
    assert_problem(r, 413).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    // Just over the file limit, inside the request limit: the part's cap.
    let over = vec![0xFFu8; app.state.config.files.max_upload_bytes + 1];
    assert_problem(upload(&app, &token, &over, "over.jpg").await, 413).await;
    // Too many parts, and the extra part before the file.
    let many: Vec<Part> =
        std::iter::once(("file", Some("a.png"), Some("image/png"), png.as_slice()))
            .chain((0..9).map(|_| ("note", None, None, b"hi".as_slice())))
            .collect();
    assert_problem(send_parts(&app, t, &many).await, 400).await;
    assert_problem(
        send_parts(
            &app,
            t,
            &[
                ("file", Some("a.png"), None, &png),
                ("file", Some("b.png"), None, &png),
            ],
        )
        .await,
        400,
    )
    .await;
    // No file part at all.
    let p = assert_problem(
        send_parts(&app, t, &[("name", None, None, b"logo")]).await,
        400,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("file"), "{p}");
    assert_problem(send_parts(&app, t, &[]).await, 400).await;
    // Not multipart at all.
    let r = app
        .client()
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&token)
        .json(&json!({"file": "aGVsbG8="}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert!((400..500).contains(&status), "{status}");
    assert_problem(r, status).await;
    // Broken multipart framing (no closing boundary).
    let (ctype, body) = multipart(&[("file", Some("a.png"), None, &png)]);
    let r = app
        .client()
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&token)
        .header("content-type", ctype)
        .body(body[..body.len() - 30].to_vec())
        .send()
        .await
        .unwrap();
    assert_problem(r, 400).await;

    assert_nothing_stored(&app).await;
    // And the server still works.
    uploaded(&app, &token, &png).await;
}

#[tokio::test]
async fn a_chunked_body_without_length_is_cut_off_at_the_limit() {
    let app = spawn_app_small().await;
    let (token, _) = vendor(&app, "vendor@uphill.test").await;
    let (ctype, mut body) = multipart(&[("file", Some("a.jpg"), None, &[])]);
    // Put ~5 MB inside the file part, streamed in chunks without a length.
    let head_len = body.len() - "\r\n--uphill-test-boundary-7MA4YWxkTrZu0gW--\r\n".len();
    let tail = body.split_off(head_len);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = std::iter::once(Ok(body))
        .chain((0..80).map(|_| Ok(vec![0xAB; 64 * 1024])))
        .chain(std::iter::once(Ok(tail)))
        .collect();
    let r = app
        .client()
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&token)
        .header("content-type", ctype)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_problem(r, 413).await;
    assert_nothing_stored(&app).await;
}

/// A server with a 1 MiB upload limit.
async fn spawn_app_small() -> TestApp {
    crate::helpers::spawn_app_with(|c| c.files.max_upload_bytes = 1024 * 1024).await
}

#[tokio::test]
async fn only_shop_owners_and_admins_upload() {
    let app = spawn_app().await;
    let png = encoded(photo(20, 20, 4), ImageFormat::Png);
    let r = send_parts(&app, None, &[("file", Some("a.png"), None, &png)]).await;
    assert_problem(r, 401).await;
    let student = app.bearer("student@uphill.test").await;
    assert_problem(upload(&app, &student, &png, "a.png").await, 403).await;
    assert_nothing_stored(&app).await;
    // A vendor signed in with a cookie needs the CSRF token, like any change.
    let (browser, csrf) = app.signed_in_browser("cookie@uphill.test").await;
    let r = browser
        .post(app.url("/api/v1/shops"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "Cookie Shop", "shop_type": "OTHER", "opens_at": 0, "closes_at": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (ctype, body) = multipart(&[("file", Some("a.png"), None, &png)]);
    let r = browser
        .post(app.url("/api/v1/uploads"))
        .header("content-type", &ctype)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_problem(r, 403).await;
    assert_nothing_stored(&app).await;
    let r = browser
        .post(app.url("/api/v1/uploads"))
        .header("content-type", &ctype)
        .header("x-csrf-token", &csrf)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let admin = app.admin_bearer("admin@uphill.test").await;
    uploaded(&app, &admin, &encoded(photo(22, 20, 4), ImageFormat::Png)).await;
    let (vendor, _) = vendor(&app, "vendor@uphill.test").await;
    let r = upload(
        &app,
        &vendor,
        &encoded(photo(21, 20, 4), ImageFormat::Png),
        "b.png",
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn product_count(app: &TestApp) -> u64 {
    app.state
        .store
        .read(|txn| {
            Ok::<_, uphill::store::StoreError>(
                txn.open_table(uphill::store::tables::PRODUCTS)?.len()?,
            )
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn shops_and_products_point_at_uploads_that_exist() {
    let app = spawn_app().await;
    let (token, shop) = vendor(&app, "vendor@uphill.test").await;
    let logo = uploaded(&app, &token, &encoded(photo(40, 40, 1), ImageFormat::Png)).await;
    let qr = uploaded(&app, &token, &encoded(photo(41, 41, 2), ImageFormat::Png)).await;
    let tea = uploaded(&app, &token, &encoded(photo(42, 42, 3), ImageFormat::Jpeg)).await;
    let (logo, qr, tea) = (
        logo["id"].as_str().unwrap(),
        qr["id"].as_str().unwrap(),
        tea["id"].as_str().unwrap(),
    );

    // Unknown (well-formed) and malformed ids are 422 and change nothing.
    let unknown = "ab".repeat(32);
    let body = json!({"name": "Tea", "price": 1000, "stock": 5, "image": unknown});
    let p = assert_problem(
        post_json(&app, &format!("/shops/{shop}/products"), &token, body).await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "image");
    let body = json!({"name": "Tea", "price": 1000, "stock": 5, "image": "../../etc/passwd"});
    assert_problem(
        post_json(&app, &format!("/shops/{shop}/products"), &token, body).await,
        422,
    )
    .await;
    assert_eq!(product_count(&app).await, 0);
    let p = assert_problem(
        patch_json(
            &app,
            &format!("/shops/{shop}"),
            &token,
            json!({"name": "Renamed", "upi_qr_image": unknown}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "upi_qr_image");

    let r = post_json(
        &app,
        &format!("/shops/{shop}/products"),
        &token,
        json!({"name": "Tea", "price": 1000, "stock": 5, "image": tea}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let product: Value = r.json().await.unwrap();
    assert_eq!(product["image"]["id"], tea);
    assert_eq!(product["image"]["thumb"], format!("/files/{tea}/thumb"));
    assert_eq!(product["image"]["medium"], format!("/files/{tea}/medium"));
    assert_eq!(
        product["image"]["original"],
        format!("/files/{tea}/original")
    );

    let r = patch_json(
        &app,
        &format!("/shops/{shop}"),
        &token,
        json!({"image": logo, "upi_qr_image": qr}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let s: Value = r.json().await.unwrap();
    assert_eq!(
        s["name"], "Foot Hill Canteen",
        "the refused rename did not happen"
    );
    assert_eq!(s["image"]["id"], logo);
    assert_eq!(s["upi_qr_image"]["medium"], format!("/files/{qr}/medium"));
    // Read back, then cleared with null.
    let s: Value = get_ok(&app, &token, &format!("/api/v1/shops/{shop}")).await;
    assert_eq!(s["upi_qr_image"]["id"], qr);
    let pid = product["id"].as_str().unwrap();
    let r = patch_json(
        &app,
        &format!("/products/{pid}"),
        &token,
        json!({"image": null}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<Value>().await.unwrap()["image"].is_null());
    // Referenced uploads are no longer counted as unreferenced.
    let u = uphill::files::get(&app.state.store, logo.to_string())
        .await
        .unwrap()
        .unwrap();
    assert!(u.unreferenced_since.is_none() && u.referenced_at.is_some());
}

#[tokio::test]
async fn the_collector_removes_only_uploads_unreferenced_past_the_grace_period() {
    let app = spawn_app().await;
    let (token, shop) = vendor(&app, "vendor@uphill.test").await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let in_product =
        id(&uploaded(&app, &token, &encoded(photo(30, 30, 1), ImageFormat::Png)).await);
    let replaced = id(&uploaded(&app, &token, &encoded(photo(31, 30, 2), ImageFormat::Png)).await);
    let current = id(&uploaded(&app, &token, &encoded(photo(32, 30, 3), ImageFormat::Png)).await);
    let never_used =
        id(&uploaded(&app, &token, &encoded(photo(33, 30, 4), ImageFormat::Png)).await);
    let r = post_json(
        &app,
        &format!("/shops/{shop}/products"),
        &token,
        json!({"name": "Tea", "price": 1000, "stock": 5, "image": in_product}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let product = id(&r.json::<Value>().await.unwrap());
    for img in [&replaced, &current] {
        let r = patch_json(
            &app,
            &format!("/shops/{shop}"),
            &token,
            json!({"image": img}),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Files left by a crash before their record was written.
    let orphan = "ab".repeat(32);
    let orphan_dir = files_dir(&app).join("ab").join(&orphan);
    std::fs::create_dir_all(&orphan_dir).unwrap();
    std::fs::write(orphan_dir.join("original.png"), b"x").unwrap();

    let (store, files) = (&app.state.store, &app.state.files);
    let gc = uphill::files::gc::run;
    let now = Utc::now();

    // Within the grace period (6 h by default) nothing goes.
    let r = gc(store, files, now + Duration::hours(5), false)
        .await
        .unwrap();
    assert!(r.removed.is_empty() && r.orphans.is_empty(), "{r:?}");
    assert_eq!(
        r.marked, 1,
        "the replaced shop image starts its grace period"
    );

    // A dry run past it lists and keeps.
    let later = now + Duration::hours(7);
    let r = gc(store, files, later, true).await.unwrap();
    let listed: Vec<&str> = r.removed.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(listed, vec![never_used.as_str()]);
    assert_eq!(r.orphans, vec![orphan.clone()]);
    assert!(r.removed[0].bytes > 0);
    assert_eq!(upload_count(&app).await, 4);
    assert!(orphan_dir.exists());
    let (status, _, _) = fetch(&app, &format!("/files/{never_used}/thumb")).await;
    assert_eq!(status, StatusCode::OK);

    // The real pass removes the same, records and files.
    let r = gc(store, files, later, false).await.unwrap();
    let removed: Vec<&str> = r.removed.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(removed, vec![never_used.as_str()]);
    assert_eq!(upload_count(&app).await, 3);
    assert!(!orphan_dir.exists());
    let (status, _, _) = fetch(&app, &format!("/files/{never_used}/thumb")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        !files_dir(&app)
            .join(&never_used[..2])
            .join(&never_used)
            .exists()
    );

    // The replaced image goes 6 h after it was found unreferenced.
    let r = gc(store, files, now + Duration::hours(11), false)
        .await
        .unwrap();
    let removed: Vec<&str> = r.removed.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(removed, vec![replaced.as_str()]);
    // What is referenced stays, on disk and in the store.
    for kept in [&in_product, &current] {
        let (status, _, _) = fetch(&app, &format!("/files/{kept}/original")).await;
        assert_eq!(status, StatusCode::OK, "{kept}");
    }
    let r = gc(store, files, now + Duration::hours(24 * 30), false)
        .await
        .unwrap();
    assert!(r.removed.is_empty(), "{r:?}");
    assert_eq!(upload_count(&app).await, 2);
    assert_eq!(stored_files(&app).len(), 6);

    // A deleted product refers to nothing: its image goes a grace period
    // after the next pass notices.
    let r = app
        .client()
        .delete(app.url(&format!("/api/v1/products/{product}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let month = now + Duration::hours(24 * 31);
    let r = gc(store, files, month, false).await.unwrap();
    assert!(r.removed.is_empty() && r.marked == 1, "{r:?}");
    let r = gc(store, files, month + Duration::hours(6), false)
        .await
        .unwrap();
    let removed: Vec<&str> = r.removed.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(removed, vec![in_product.as_str()]);
    assert_eq!(stored_files(&app).len(), 3);
}

// --- Resource limits (issue 18, part 4) ---

/// The `uphill` binary and a served process of it, shared with tests/cli.rs.
#[path = "../common/mod.rs"]
mod common;

/// Bytes the ICC profile of `png_with_iccp_bomb` inflates to.
const ICC_INFLATED: u64 = 1 << 30;

/// A zlib stream of `ICC_INFLATED` zero bytes in about 1 MiB: one MiB of
/// zeros deflated once and ended by a sync flush (so it ends on a byte
/// boundary and refers to nothing before it), repeated, then a final empty
/// block and the Adler-32 of the whole.
fn zlib_of_zeros() -> Vec<u8> {
    const SEGMENT: usize = 1 << 20;
    let mut c = flate2::Compress::new(flate2::Compression::best(), false);
    let mut seg = Vec::with_capacity(64 * 1024);
    c.compress_vec(&vec![0u8; SEGMENT], &mut seg, flate2::FlushCompress::Sync)
        .unwrap();
    assert_eq!(c.total_in(), SEGMENT as u64);
    let copies = (ICC_INFLATED / SEGMENT as u64) as usize;
    let mut out = vec![0x78, 0xDA];
    for _ in 0..copies {
        out.extend_from_slice(&seg);
    }
    out.extend_from_slice(&[0x03, 0x00]); // final, fixed Huffman, end of block
    // Adler-32 of n zeros: a = 1, b = n (mod 65521).
    let b = (ICC_INFLATED % 65_521) as u32;
    out.extend_from_slice(&((b << 16) | 1).to_be_bytes());
    out
}

/// A valid 16 × 16 PNG with an iCCP chunk (the colour profile, which PNG
/// always stores zlib-compressed) that inflates to 1 GiB.
fn png_with_iccp_bomb() -> Vec<u8> {
    let mut iccp = b"bomb\0\0".to_vec(); // profile name, compression method 0
    iccp.extend_from_slice(&zlib_of_zeros());
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 16, 16);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        w.write_chunk(png::chunk::iCCP, &iccp).unwrap();
        let pixels: Vec<u8> = (0..16 * 16 * 3).map(|i| (i * 7 % 256) as u8).collect();
        w.write_image_data(&pixels).unwrap();
        w.finish().unwrap();
    }
    out
}

/// Peak resident memory of a process, from `VmHWM` in /proc/<pid>/status.
fn peak_rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/<pid>/status");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kb * 1024
}

/// The reproduction of issue 18 part 4: one ~1 MiB PNG whose ICC profile
/// inflates to 1 GiB took the server from ~113 MB to 2.1 GB of memory. Now
/// the decoders never see the profile (ancillary PNG chunks are dropped
/// before decoding, and the re-encode would drop the profile anyway): the
/// upload is stored, without the profile, and the server's peak memory
/// stays well under 300 MB.
///
/// The server runs as its own process (the real binary, as in
/// tests/cli.rs), because the peak RSS of this test binary is shared by
/// every test running in it at the same time; the child's `VmHWM` is the
/// server's alone.
#[tokio::test]
async fn a_png_whose_icc_profile_inflates_to_a_gibibyte_is_stored_in_bounded_memory() {
    let bomb = png_with_iccp_bomb();
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    // The input is what it claims: its profile inflates to 1 GiB.
    let at = bomb.windows(4).position(|w| w == b"iCCP").unwrap();
    let len = u32::from_be_bytes(bomb[at - 4..at].try_into().unwrap()) as usize;
    let zlib = &bomb[at + 4 + 6..at + 4 + len];
    let mut inflater = flate2::read::ZlibDecoder::new(zlib);
    assert_eq!(
        std::io::copy(&mut inflater, &mut std::io::sink()).unwrap(),
        ICC_INFLATED
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut create = common::uphill(&[
        "--data-dir",
        data.to_str().unwrap(),
        "user",
        "create",
        "--admin",
        "--email",
        "root@uni.edu",
        "--name",
        "Root",
        "--password-stdin",
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    std::io::Write::write_all(
        &mut create.stdin.take().unwrap(),
        b"correct horse battery\n",
    )
    .unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", common::text(&out.stderr));

    let server = common::Server::start(&data, &[]);
    let pid = server.child.id();
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = c
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"email": "root@uni.edu", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csrf = r.json::<Value>().await.unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let before = peak_rss_bytes(pid);

    let (ctype, body) = multipart(&[("file", Some("bomb.png"), Some("image/png"), &bomb)]);
    let r = c
        .post(server.url("/api/v1/uploads"))
        .header("content-type", ctype)
        .header("x-csrf-token", &csrf)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let up: Value = r.json().await.unwrap();
    let peak = peak_rss_bytes(pid);
    eprintln!(
        "server peak RSS: {} MB before the upload, {} MB after",
        before >> 20,
        peak >> 20
    );
    assert_eq!(status, StatusCode::CREATED, "{up}");
    assert_eq!(
        (up["width"].as_u64(), up["height"].as_u64()),
        (Some(16), Some(16))
    );
    assert!(peak < 300 << 20, "peak RSS {} MB", peak >> 20);
    // Stored without the profile.
    let url = variant(&up, "original").to_string();
    let original = c
        .get(server.url(&url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(image::load_from_memory(&original).is_ok());
    assert!(!contains(&original, b"iCCP"));
}

/// Random-looking pixels compress badly: a PNG of about `w * h * 3` bytes.
fn noise_png(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    let img = RgbImage::from_fn(w, h, |_, _| {
        let mut px = [0u8; 3];
        for p in &mut px {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *p = x as u8;
        }
        Rgb(px)
    });
    encoded(DynamicImage::ImageRgb8(img), ImageFormat::Png)
}

fn mtimes(app: &TestApp, id: &str) -> Vec<std::time::SystemTime> {
    let dir = files_dir(app).join(&id[..2]).join(id);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect()
}

#[tokio::test]
async fn the_same_bytes_again_are_answered_from_their_hash_without_decoding() {
    let app = spawn_app().await;
    let (token, _) = vendor(&app, "vendor@uphill.test").await;
    let files = &app.state.files;
    let jpg = encoded(photo(120, 90, 5), ImageFormat::Jpeg);
    assert_eq!(files.decoded(), 0);
    let first = uploaded(&app, &token, &jpg).await;
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(files.decoded(), 1);
    let written = mtimes(&app, &id);
    assert_eq!(written.len(), 3);

    let r = upload(&app, &token, &jpg, "again.jpg").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], first["id"]);
    assert_eq!(files.decoded(), 1, "the same bytes were decoded again");
    assert!(mtimes(&app, &id) == written, "renditions rewritten");

    // The stored original (re-encoded, so other bytes), downloaded and
    // sent back: its hash is the id.
    let (_, _, original) = fetch(&app, &format!("/files/{id}/original")).await;
    assert!(original != jpg);
    let r = upload(&app, &token, &original, "downloaded.jpg").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], first["id"]);
    assert_eq!(files.decoded(), 1);
    assert!(mtimes(&app, &id) == written, "renditions rewritten");
    assert_eq!(upload_count(&app).await, 1);

    // Other bytes are decoded.
    uploaded(&app, &token, &encoded(photo(121, 90, 5), ImageFormat::Png)).await;
    assert_eq!(files.decoded(), 2);
}

#[tokio::test]
async fn uploads_over_the_hourly_quota_are_429_with_retry_after_and_store_nothing() {
    let app = crate::helpers::spawn_app_with(|c| c.uploads.per_user_per_hour = 2).await;
    let (token, _) = vendor(&app, "vendor@uphill.test").await;
    for seed in 0..2 {
        uploaded(
            &app,
            &token,
            &encoded(photo(40, 30, seed), ImageFormat::Png),
        )
        .await;
    }
    let files_before = stored_files(&app);
    let r = upload(
        &app,
        &token,
        &encoded(photo(40, 30, 9), ImageFormat::Png),
        "c.png",
    )
    .await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&retry), "Retry-After: {retry}");
    assert_problem(r, 429).await;
    assert_eq!(upload_count(&app).await, 2);
    assert_eq!(stored_files(&app), files_before);
    assert_eq!(app.state.files.decoded(), 2);
    // The quota is per user.
    let admin = app.admin_bearer("admin@uphill.test").await;
    uploaded(&app, &admin, &encoded(photo(40, 30, 9), ImageFormat::Png)).await;
}

#[tokio::test]
async fn uploads_over_the_daily_byte_quota_are_429_with_retry_after_and_store_nothing() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.files.max_upload_bytes = 64 * 1024;
        c.uploads.per_user_bytes_per_day = 100 * 1024;
    })
    .await;
    let (token, _) = vendor(&app, "vendor@uphill.test").await;
    let pngs: Vec<Vec<u8>> = (1..=3).map(|s| noise_png(120, 120, s)).collect();
    for p in &pngs {
        assert!((40_000..=50_000).contains(&p.len()), "{}", p.len());
    }
    uploaded(&app, &token, &pngs[0]).await;
    uploaded(&app, &token, &pngs[1]).await;
    let files_before = stored_files(&app);
    let r = upload(&app, &token, &pngs[2], "c.png").await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((86_000..=86_400).contains(&retry), "Retry-After: {retry}");
    assert_problem(r, 429).await;
    assert_eq!(upload_count(&app).await, 2);
    assert_eq!(stored_files(&app), files_before);
    assert_eq!(app.state.files.decoded(), 2);
    // The refused bytes were not counted: a small image still fits.
    uploaded(&app, &token, &encoded(photo(4, 4, 1), ImageFormat::Png)).await;
}

#[tokio::test]
async fn an_unverified_shop_uploads_a_few_images_and_a_verified_one_more() {
    let app = crate::helpers::spawn_app_with(|c| c.uploads.unverified_shop_max_images = 2).await;
    let (token, shop) = vendor(&app, "vendor@uphill.test").await;
    for seed in 0..2 {
        uploaded(
            &app,
            &token,
            &encoded(photo(40, 30, seed), ImageFormat::Png),
        )
        .await;
    }
    let third = encoded(photo(40, 30, 7), ImageFormat::Png);
    let files_before = stored_files(&app);
    let body = assert_problem(upload(&app, &token, &third, "c.png").await, 403).await;
    assert!(
        body["detail"].as_str().unwrap().contains("verified"),
        "{body}"
    );
    assert_eq!(upload_count(&app).await, 2);
    assert_eq!(stored_files(&app), files_before);
    assert_eq!(app.state.files.decoded(), 2);

    let admin = app.admin_bearer("admin@uphill.test").await;
    crate::fixtures::submit_for_verification(&app, &token, &shop).await;
    let r = post_json(
        &app,
        &format!("/admin/shops/{shop}/decision"),
        &admin,
        json!({"verification": "VERIFIED"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    uploaded(&app, &token, &third).await;
}

#[tokio::test]
async fn a_backup_holds_only_the_files_records_point_at() {
    let app = spawn_app().await;
    let (token, shop) = vendor(&app, "vendor@uphill.test").await;
    let used = uploaded(&app, &token, &encoded(photo(30, 30, 1), ImageFormat::Png)).await;
    let unused = uploaded(&app, &token, &encoded(photo(31, 30, 2), ImageFormat::Png)).await;
    let (used, unused) = (used["id"].as_str().unwrap(), unused["id"].as_str().unwrap());
    let r = patch_json(
        &app,
        &format!("/shops/{shop}"),
        &token,
        json!({"image": used}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    // And a stray file that belongs to no upload.
    std::fs::write(files_dir(&app).join("stray.bin"), b"not an upload").unwrap();

    let admin = app.admin_bearer("admin@uphill.test").await;
    let r = app
        .client()
        .post(app.url("/api/v1/admin/backups"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let name = r.json::<Value>().await.unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    let archive = app.state.config.storage.data_dir.join("backups").join(name);
    let (manifest, _) = uphill::backup::verify(&archive).unwrap();
    let mut in_files: Vec<&str> = manifest
        .members
        .iter()
        .map(|m| m.path.as_str())
        .filter(|p| p.starts_with("files/"))
        .collect();
    in_files.sort();
    let prefix = format!("files/{}/{used}/", &used[..2]);
    assert_eq!(
        in_files,
        vec![
            format!("{prefix}medium.webp"),
            format!("{prefix}original.png"),
            format!("{prefix}thumb.webp"),
        ],
        "{unused} must not be in the backup"
    );
}

/// A backup leaves out the files of unreferenced uploads but keeps their
/// records, so after a restore a record can be without its files. Sending
/// the picture again must put them back, not answer from the record.
#[tokio::test]
async fn the_same_bytes_again_restore_files_a_record_has_lost() {
    let app = spawn_app().await;
    let (token, _) = vendor(&app, "vendor@uphill.test").await;
    let png = encoded(photo(50, 40, 6), ImageFormat::Png);
    let up = uploaded(&app, &token, &png).await;
    let id = up["id"].as_str().unwrap();
    let dir = files_dir(&app).join(&id[..2]).join(id);
    std::fs::remove_dir_all(&dir).unwrap();
    let (status, _, _) = fetch(&app, &format!("/files/{id}/thumb")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let r = upload(&app, &token, &png, "again.png").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], up["id"]);
    assert_eq!(
        app.state.files.decoded(),
        2,
        "decoded again to rebuild the files"
    );
    for v in ["original", "medium", "thumb"] {
        let (status, _, _) = fetch(&app, &format!("/files/{id}/{v}")).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
}

#[tokio::test]
async fn an_image_has_one_shape_in_every_answer() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let schemas = &doc["components"]["schemas"];
    let image = schemas["ImageView"]["properties"].as_object().unwrap();
    let mut keys: Vec<&str> = image.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "medium", "original", "thumb"]);
    // Everywhere an image is shown, it is an ImageView.
    for (schema, field) in [
        ("ShopView", "image"),
        ("ShopView", "upi_qr_image"),
        ("ProductView", "image"),
        ("ProductHit", "image"),
        ("ShopHit", "image"),
    ] {
        let p = &schemas[schema]["properties"][field];
        assert_eq!(
            p["allOf"][0]["$ref"], "#/components/schemas/ImageView",
            "{schema}.{field}: {p}"
        );
    }
    // The upload answer has the same fields, with the same values.
    let upload_props = schemas["UploadView"]["properties"].as_object().unwrap();
    assert!(keys.iter().all(|k| upload_props.contains_key(*k)));
    assert!(!upload_props.contains_key("variants"));

    let (token, shop) = vendor(&app, "vendor@uphill.test").await;
    let up = uploaded(&app, &token, &encoded(photo(40, 30, 9), ImageFormat::Png)).await;
    let id = up["id"].as_str().unwrap().to_string();
    let same = |v: &Value| {
        for k in &keys {
            assert_eq!(v[*k], up[*k], "{k}: {v} vs {up}");
        }
    };
    let r = post_json(
        &app,
        &format!("/shops/{shop}/products"),
        &token,
        json!({"name": "Tea", "price": 1000, "stock": 5, "image": id}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    same(&r.json::<Value>().await.unwrap()["image"]);
    let r = patch_json(
        &app,
        &format!("/shops/{shop}"),
        &token,
        json!({"image": id, "upi_qr_image": id}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let s: Value = r.json().await.unwrap();
    same(&s["image"]);
    same(&s["upi_qr_image"]);
    for k in ["original", "medium", "thumb"] {
        let (status, _, _) = fetch(&app, up[k].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{k}");
    }
}
