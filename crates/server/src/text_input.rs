//! One gate for the characters of every text a request brings in: JSON bodies, form posts and
//! query strings, whichever API handler or screen they are meant for.
//!
//! Refused, with the field named: control characters (C0 but tab and line breaks, DEL, C1),
//! bidirectional overrides and isolates (they make a printed name read differently from what
//! was stored: "Trojan Source"), private-use characters (vendor 外字 codes mean nothing
//! outside the system that made them: a 外字 must be identified as an MJ character or
//! Unicode + IVS first), unpaired surrogates and noncharacters. Variation selectors (IVS)
//! pass: they are how MJ glyphs are written. Domain rules (lengths, which characters a
//! certificate font has) are checked by the domain on top of this.
//!
//! Multipart bodies (images) are not text and are not looked at here.

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Bodies are limited to 4 MiB by the router's `RequestBodyLimitLayer`; this is the same.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The longest text any one field of a staff or public request may hold (the domain sets
/// tighter limits per item): nothing a person types is longer, and a megabyte 利用目的 would
/// otherwise go into the access log.
pub const MAX_TEXT_CHARS: usize = 2000;

/// Fields that carry a document or data, not text a person typed: base64 images
/// (`impression_png`), an IdP's metadata (`idp_metadata_xml`). Their own parsers bound them.
fn is_binary_field(path: &str) -> bool {
    path.ends_with("_png") || path.ends_with("_xml")
}

/// Machine-to-machine routes carry encoded data with limits of their own (replication
/// frames, backup objects, an IdP's signed SAML messages).
fn is_machine_route(path: &str) -> bool {
    ["/api/v1/replication/", "/api/v1/backup-target/", "/saml/"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// Refuses a text longer than [`MAX_TEXT_CHARS`], naming the field.
fn check_length(field: &str, text: &str) -> Result<(), ApiError> {
    let n = text.chars().count();
    if n > MAX_TEXT_CHARS && !is_binary_field(field) {
        return Err(ApiError::invalid(
            field,
            format!(
                "【{field}】が長すぎます({n} 文字)。{MAX_TEXT_CHARS} 文字以内で入力してください"
            ),
        ));
    }
    Ok(())
}

/// Why a character cannot be entered, or `None` when it can.
pub fn refused_character(c: char) -> Option<&'static str> {
    let u = c as u32;
    match u {
        0x09 | 0x0A | 0x0D => None,
        0x00..=0x1F | 0x7F..=0x9F => Some("制御文字"),
        0x202A..=0x202E | 0x2066..=0x2069 | 0x200E | 0x200F | 0x061C => {
            Some("文字の向きを変える制御文字")
        }
        0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD => {
            Some("私用領域の文字 (外字は文字情報基盤の文字に同定してから入力してください)")
        }
        0xFDD0..=0xFDEF => Some("非文字"),
        _ if u & 0xFFFE == 0xFFFE => Some("非文字"),
        _ => None,
    }
}

/// The first refused character of `text`: (its description, the character's code point).
fn first_refused(text: &str) -> Option<(&'static str, u32)> {
    text.chars()
        .find_map(|c| refused_character(c).map(|why| (why, c as u32)))
}

fn refusal(field: &str, why: &str, code_point: u32) -> ApiError {
    ApiError::invalid(
        field,
        format!(
            "【{field}】に入力できない文字があります: {why} (U+{code_point:04X})。その文字を除いて入力し直してください"
        ),
    )
}

/// Checks every string in a JSON value; the field is named by its path (`person.family_name`,
/// `members[2]`).
fn check_json(value: &serde_json::Value, path: &str, limited: bool) -> Result<(), ApiError> {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            let field = if path.is_empty() { "body" } else { path };
            if limited {
                check_length(field, s)?;
            }
            match first_refused(s) {
                Some((why, cp)) => Err(refusal(field, why, cp)),
                None => Ok(()),
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_json(v, &format!("{path}[{i}]"), limited)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if let Some((why, cp)) = first_refused(k) {
                return Err(refusal("body", why, cp));
            }
            check_json(
                v,
                &if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                },
                limited,
            )
        }),
        _ => Ok(()),
    }
}

/// Checks the pairs of a query string or a form body.
fn check_form(encoded: &[u8], limited: bool) -> Result<(), ApiError> {
    for (k, v) in url::form_urlencoded::parse(encoded) {
        if limited {
            check_length(&k, &v)?;
        }
        if let Some((why, cp)) = first_refused(&k).or_else(|| first_refused(&v)) {
            return Err(refusal(&k, why, cp));
        }
    }
    Ok(())
}

/// The middleware: refuses a request whose text has a refused character, before any handler
/// runs (so nothing is changed), as JSON under `/api/` and as a page elsewhere.
pub async fn check_text_input(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let limited = !is_machine_route(req.uri().path());
    if let Err(e) = check_request(req.uri().query(), None, limited) {
        return answer(e, api);
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let json = content_type.starts_with("application/json");
    let form = content_type.starts_with("application/x-www-form-urlencoded");
    if !json && !form {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "送信された内容が大きすぎます(上限 4 MiB)",
        )
        .into_response();
    };
    let checked = if json {
        // Not valid JSON: the handler's extractor says so, with its own message.
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(v) => check_json(&v, "", limited),
            Err(_) => Ok(()),
        }
    } else {
        check_request(None, Some(&bytes), limited)
    };
    if let Err(e) = checked {
        return answer(e, api);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn check_request(query: Option<&str>, form: Option<&Bytes>, limited: bool) -> Result<(), ApiError> {
    if let Some(q) = query {
        check_form(q.as_bytes(), limited)?;
    }
    if let Some(f) = form {
        check_form(f, limited)?;
    }
    Ok(())
}

fn answer(e: ApiError, api: bool) -> Response {
    if api {
        return e.into_response();
    }
    let body = format!(
        "<div class=\"card medium\" role=\"alert\"><h1>入力できない文字があります</h1>\
         <p class=\"error\">{}</p><p>ブラウザの「戻る」で入力画面に戻り、その文字を除いてください。</p></div>",
        crate::ui::esc(&e.message)
    );
    (e.status, crate::ui::page("入力エラー", None, &body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_mj_variants_pass_and_controls_do_not() {
        // 葛 + IVS (an MJ variant), a long vowel mark, full-width space.
        assert_eq!(first_refused("葛\u{E0100}飾 ユーザー\u{3000}"), None);
        assert_eq!(first_refused("一行目\n二行目\tタブ"), None);
        assert_eq!(first_refused("山田\u{0007}"), Some(("制御文字", 0x07)));
        assert_eq!(first_refused("\u{0085}"), Some(("制御文字", 0x85)));
        assert!(first_refused("abc\u{202E}cba").is_some());
        assert!(first_refused("abc\u{2067}").is_some());
        assert!(
            first_refused("\u{E000}").is_some(),
            "private use (vendor 外字)"
        );
        assert!(first_refused("\u{10FFFD}").is_some());
        assert!(first_refused("\u{FFFF}").is_some());
        assert!(first_refused("\u{1FFFE}").is_some());
    }

    #[test]
    fn the_json_path_names_the_field() {
        let v =
            serde_json::json!({"person": {"family_name": "山田", "given_name": "花\u{202E}子"}});
        let e = check_json(&v, "", true).expect_err("refused");
        assert_eq!(e.field.as_deref(), Some("person.given_name"));
        assert!(e.message.contains("U+202E"), "{}", e.message);
        let v = serde_json::json!({"members": ["ok", "bad\u{0001}"]});
        assert_eq!(
            check_json(&v, "", true)
                .expect_err("refused")
                .field
                .as_deref(),
            Some("members[1]")
        );
        assert!(check_json(&serde_json::json!({"n": 1, "s": "fine"}), "", true).is_ok());
    }

    #[test]
    fn texts_longer_than_any_field_are_refused_but_images_pass() {
        let long = "あ".repeat(MAX_TEXT_CHARS + 1);
        let e = check_json(&serde_json::json!({"purpose": long}), "", true).expect_err("refused");
        assert_eq!(e.field.as_deref(), Some("purpose"));
        let image = "A".repeat(MAX_TEXT_CHARS * 10);
        assert!(check_json(&serde_json::json!({"impression_png": image}), "", true).is_ok());
        assert!(check_json(&serde_json::json!({"payload": long}), "", false).is_ok());
        let form = format!("purpose={}", "a".repeat(MAX_TEXT_CHARS + 1));
        assert!(check_form(form.as_bytes(), true).is_err());
    }

    #[test]
    fn form_fields_are_named_by_their_key() {
        let e = check_form(b"family_name=%E5%B1%B1%07&x=1", true).expect_err("refused");
        assert_eq!(e.field.as_deref(), Some("family_name"));
        assert!(check_form(b"kana=%E3%83%A4%E3%83%9E", true).is_ok());
    }
}
