//! The staff UI in a real browser (Debian's chromium over WebDriver) at a
//! counter terminal's 1366×768: keyboard only where a clerk would use it,
//! with a screenshot of each main screen in `target/screenshots/`.

mod common;

use common::{Db, PASSWORD, TestServer, tenant_a};
use murakumo_testkit::browser::{Browser, Key, Locator, WINDOW};

/// Types into the focused element.
async fn type_keys(b: &Browser, text: &str) {
    b.client()
        .active_element()
        .await
        .expect("focus")
        .send_keys(text)
        .await
        .expect("type");
}

async fn text(b: &Browser) -> String {
    b.client()
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text")
}

/// Sets a date field (its typed form depends on the browser's locale), or
/// chooses an option of a select.
async fn set_date(b: &Browser, id: &str, date: &str) {
    b.client()
        .execute(
            "document.getElementById(arguments[0]).value = arguments[1];",
            vec![id.into(), date.into()],
        )
        .await
        .expect("set date");
}

/// Presses Enter on an element, as a keyboard user does on a button.
async fn press_enter(b: &Browser, css: &str) {
    b.client()
        .find(Locator::Css(css))
        .await
        .expect(css)
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("enter");
}

/// Every screen fits the width and loads nothing from another origin.
async fn check_screen(b: &Browser, name: &str) {
    let v = b
        .client()
        .execute(
            "return [document.documentElement.scrollWidth,
                     Array.from(document.querySelectorAll('[src],link[href]'))
                          .map(e => e.getAttribute('src') || e.getAttribute('href'))
                          .filter(u => /^[a-z]+:|^\\/\\//i.test(u))];",
            vec![],
        )
        .await
        .expect("script");
    let width = v[0].as_u64().expect("width");
    assert!(
        width <= u64::from(WINDOW.0),
        "{name}: {width}px wide scrolls sideways"
    );
    assert_eq!(v[1], serde_json::json!([]), "{name} loads remote assets");
    b.screenshot(name).await.expect("screenshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_works_the_counter_with_the_keyboard() {
    let s = TestServer::start(Db::Sqlite).await;
    let b = Browser::start().await.expect("browser");

    // Login: the first field has focus; Tab moves on; Enter submits.
    b.open(&s.url("/"), "form[action='/login']")
        .await
        .expect("login page");
    check_screen(&b, "01-login").await;
    type_keys(&b, tenant_a().as_str()).await;
    type_keys(
        &b,
        &format!("{}all{}{PASSWORD}{}", Key::Tab, Key::Tab, Key::Enter),
    )
    .await;
    b.wait_for("a[href='/residents/new']").await.expect("home");
    assert!(text(&b).await.contains("深川市"));
    check_screen(&b, "02-home").await;

    // Search by kana from the home screen's focused field.
    type_keys(&b, &format!("ヤマダ{}", Key::Enter)).await;
    b.wait_for("table.results").await.expect("results");
    let t = text(&b).await;
    assert!(t.contains("5 件"), "{t}");
    // 性別 and 続柄 are shown; the household's head stands out.
    assert!(t.contains("性別") && t.contains("女"), "{t}");
    assert_eq!(
        t.matches("世帯主").count(),
        2,
        "the column heading and the one head among the five: {t}"
    );
    check_screen(&b, "03-search").await;
    // A search that finds no one says so, and how to search otherwise.
    b.open(&s.url("/residents?kana=%E3%83%B2%E3%83%B2"), "main")
        .await
        .expect("empty search");
    let t = text(&b).await;
    assert!(t.contains("該当する住民はいません"), "{t}");

    // Detail: record, household, 異動履歴.
    let code = common::resident_code(1_000_000_001);
    b.open(&s.url(&format!("/residents/{code}")), "h1")
        .await
        .expect("detail");
    let t = text(&b).await;
    assert!(
        t.contains("異動履歴") && t.contains("転入") && t.contains("世帯"),
        "{t}"
    );
    check_screen(&b, "04-resident").await;

    // 転居 with a future date: refused, with the field named in Japanese.
    b.open(
        &s.url(&format!("/residents/{code}/change?kind=relocate")),
        "form[action$='/change']",
    )
    .await
    .expect("change form");
    type_keys(&b, "北海道深川市3条1番1号").await;
    set_date(&b, "effective_date", "2099-01-01").await;
    press_enter(&b, "form[action$='/change'] button").await;
    b.wait_for("#form-error").await.expect("error shown");
    let t = text(&b).await;
    assert!(t.contains("【異動日】"), "{t}");
    check_screen(&b, "05-change-error").await;
    // Today (in Japan): the 世帯主 moving alone would leave his household
    // at the old address: refused, naming the field and the way out.
    let today = murakumo_core::today_in_japan().to_string();
    set_date(&b, "effective_date", &today).await;
    press_enter(&b, "form[action$='/change'] button").await;
    b.wait_for("#form-error").await.expect("error shown");
    let t = text(&b).await;
    assert!(
        t.contains("【世帯の扱い】")
            && t.contains("元の住所に残ります")
            && t.contains("世帯全員で転居"),
        "{t}"
    );
    check_screen(&b, "05b-change-household-error").await;
    let unchanged = s
        .store
        .tenant(&tenant_a())
        .resident(&code)
        .await
        .expect("read")
        .expect("resident");
    assert_eq!(
        unchanged.address.text, "北海道1条1番",
        "nothing was recorded"
    );
    // Corrected: the whole household moves. The 異動日 is typed as clerks write it, in the
    // era-digit form of 和暦 (元号コード-YYMMDD, e.g. 5-081203 for 令和8年12月3日).
    set_date(&b, "household_move", "all").await;
    let w = murakumo_core::WarekiDate::from_gregorian(murakumo_core::today_in_japan())
        .expect("today has an era");
    let era_digit = format!(
        "{}-{:02}{:02}{:02}",
        w.era().code(),
        w.year(),
        w.month(),
        w.day()
    );
    let field = b
        .client()
        .find(Locator::Id("effective_date"))
        .await
        .expect("異動日");
    field.clear().await.expect("clear");
    field.send_keys(&era_digit).await.expect("type");
    press_enter(&b, "form[action$='/change'] button").await;
    b.wait_for("a.button[href^='/residents/']")
        .await
        .expect("done");
    let t = text(&b).await;
    assert!(t.contains("転居を記録しました"), "{t}");
    check_screen(&b, "06-change-done").await;
    let record = s
        .store
        .tenant(&tenant_a())
        .resident(&code)
        .await
        .expect("read")
        .expect("resident");
    assert_eq!(record.address.text, "北海道深川市3条1番1号");

    // Certificate form: members of the household and the items to print.
    b.open(
        &s.url(&format!("/residents/{code}/certificate")),
        "form[action$='/certificate']",
    )
    .await
    .expect("certificate form");
    let t = text(&b).await;
    assert!(t.contains("住民票の写し") && t.contains("世帯全員"), "{t}");
    check_screen(&b, "07-certificate").await;

    // 印鑑登録 with a scanned 印影 file.
    let dir = tempfile::tempdir().expect("tempdir");
    let png = dir.path().join("inei.png");
    std::fs::write(&png, murakumo_seal::sample_impression(11)).expect("png");
    b.open(
        &s.url(&format!("/seals/new?resident_code={code}")),
        "form[action='/seals/new']",
    )
    .await
    .expect("seal form");
    type_keys(&b, "FK-0001").await;
    b.client()
        .find(Locator::Id("impression"))
        .await
        .expect("file input")
        .send_keys(&png.display().to_string())
        .await
        .expect("attach");
    press_enter(&b, "form[action='/seals/new'] button").await;
    b.wait_for(".ok-box").await.expect("registered");
    let t = text(&b).await;
    assert!(t.contains("FK-0001") && t.contains("登録中"), "{t}");
    let loaded = b
        .client()
        .execute(
            "return document.querySelector('img.impression').naturalWidth;",
            vec![],
        )
        .await
        .expect("script");
    assert!(loaded.as_u64().unwrap_or(0) > 0, "the 印影 image is shown");
    check_screen(&b, "08-seal").await;

    // 転入 form: a wrong 住民票コード is refused with the field named.
    b.open(&s.url("/residents/new"), "form[action='/residents/new']")
        .await
        .expect("entry form");
    for (id, value) in [
        ("resident_code", "12345678901"),
        ("family_name", "鈴木"),
        ("family_kana", "スズキ"),
        ("address", "北海道深川市1条1番1号"),
        ("relationship", "世帯主"),
    ] {
        b.client()
            .find(Locator::Id(id))
            .await
            .expect(id)
            .send_keys(value)
            .await
            .expect("type");
    }
    set_date(&b, "birth_date", "1980-05-05").await;
    press_enter(&b, "form[action='/residents/new'] button").await;
    b.wait_for("#form-error").await.expect("error");
    let t = text(&b).await;
    assert!(t.contains("【住民票コード】"), "{t}");
    let kept: String = b
        .client()
        .find(Locator::Id("family_name"))
        .await
        .expect("field")
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert_eq!(kept, "鈴木", "what was typed is kept");
    check_screen(&b, "09-entry-error").await;

    b.close().await;
    s.stop().await;
}
