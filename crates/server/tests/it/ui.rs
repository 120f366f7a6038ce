//! The staff UI in a real browser (Debian's chromium over WebDriver) at a
//! counter terminal's 1366×768: keyboard only where a clerk would use it,
//! with a screenshot of each main screen in `target/screenshots/`.

use crate::common;
use murakumo_resident_store::ResidentReads;

use common::{Db, PASSWORD, TestServer, tenant_a};
use murakumo_testkit::browser::{Browser, Key, Locator, WINDOW, fantoccini};

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

/// The text of the page's `main`. Found again when the document was replaced between finding
/// it and reading it (a redirect after a form still landing): the reference went stale.
async fn text(b: &Browser) -> String {
    for _ in 0..3 {
        let main = b.client().find(Locator::Css("main")).await.expect("main");
        match main.text().await {
            Ok(t) => return t,
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("text: {e:?}"),
        }
    }
    panic!("main was replaced three times while being read")
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

/// Logs in to 深川市 as `login` through the login form.
async fn log_in(b: &Browser, s: &TestServer, login: &str) {
    b.open(&s.url("/"), "form[action='/login']")
        .await
        .expect("login page");
    type_keys(b, tenant_a().as_str()).await;
    type_keys(
        b,
        &format!("{}{login}{}{PASSWORD}{}", Key::Tab, Key::Tab, Key::Enter),
    )
    .await;
    b.wait_for("form[action='/logout']")
        .await
        .expect("logged in");
}

/// The id of the focused element and its `aria-invalid`, as JSON.
async fn focused_and_marked(b: &Browser) -> serde_json::Value {
    b.client()
        .execute(
            "return [document.activeElement.id, document.activeElement.getAttribute('aria-invalid')];",
            vec![],
        )
        .await
        .expect("script")
}

/// A 住民票の写し of the 山田 household, issued by a clerk through the API (the issuer set
/// first): the answer, checked to be 200.
async fn issue_household_copy(s: &TestServer, requester: &str, purpose: &str) -> reqwest::Response {
    s.set_issuer(&tenant_a()).await;
    let clerk = s.login(Some(&tenant_a()), "clerk").await;
    let r = clerk
        .post(s.url("/api/v1/certificates"))
        .json(
            &serde_json::json!({"kind": "resident_copy", "household_id": "H-山田",
            "requester": requester, "purpose": purpose}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    r
}

/// Types `value` into the field with id `id`.
async fn fill(b: &Browser, id: &str, value: &str) {
    b.client()
        .find(Locator::Id(id))
        .await
        .expect(id)
        .send_keys(value)
        .await
        .expect("type");
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
    // Arrow keys: from the search field down into the list, row to row; Enter opens the row.
    let focused = |b: &Browser| {
        let c = b.client().clone();
        async move {
            c.execute(
                "return document.activeElement.getAttribute('href') || document.activeElement.id;",
                vec![],
            )
            .await
            .expect("script")
            .as_str()
            .unwrap_or_default()
            .to_string()
        }
    };
    let rows: Vec<String> = b
        .client()
        .execute(
            "return Array.from(document.querySelectorAll('table.results tbody tr a')).map(a => a.getAttribute('href'));",
            vec![],
        )
        .await
        .expect("script")
        .as_array()
        .expect("links")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert!(rows.len() >= 2, "{rows:?}");
    type_keys(&b, &Key::Down.to_string()).await;
    assert_eq!(focused(&b).await, rows[0]);
    type_keys(&b, &Key::Down.to_string()).await;
    assert_eq!(focused(&b).await, rows[1]);
    type_keys(&b, &Key::Up.to_string()).await;
    type_keys(&b, &Key::Up.to_string()).await;
    assert_eq!(
        focused(&b).await,
        "kana",
        "up from the first row: back to the field"
    );
    type_keys(&b, &format!("{}{}{}", Key::Down, Key::Down, Key::Enter)).await;
    b.wait_for_url(&s.url(&rows[1]))
        .await
        .expect("Enter opens the row");
    // A part of an address (町字 and 番地, without the 都道府県) is found anywhere in it.
    b.open(
        &s.url("/residents?address=1%E6%9D%A11%E7%95%AA"),
        "table.results",
    )
    .await
    .expect("partial address");
    let t = text(&b).await;
    assert!(t.contains("5 件"), "{t}");
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
    // 印鑑登録証明書: the card alone is not enough; the 申請書's 生年月日 (typed in 和暦) must
    // be the registrant's, and a mismatch is refused without showing the registered one.
    let name = format!("{}{}", record.person.family_name, record.person.given_name);
    for (id, value) in [
        ("card_number", "FK-0001"),
        ("applicant_name", name.as_str()),
        ("applicant_birth_date", "S50.1.1"),
        ("purpose", "不動産登記"),
    ] {
        b.client()
            .find(Locator::Id(id))
            .await
            .expect(id)
            .send_keys(value)
            .await
            .expect("type");
    }
    press_enter(&b, "form[action='/seals/certificate'] button").await;
    b.wait_for(".error-box").await.expect("refused");
    let t = text(&b).await;
    assert!(
        t.contains("生年月日が、この印鑑登録証の登録者と一致しません"),
        "{t}"
    );

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
    let marked = focused_and_marked(&b).await;
    assert_eq!(
        marked,
        serde_json::json!(["resident_code", "true"]),
        "the field at fault is marked and has the cursor"
    );
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

/// A third party (a bank, a landlord) checks a paper certificate by its QR code: the phone
/// opens the link the code holds, and the page says, in Japanese, who issued what on which
/// 和暦 date and what was and was not checked; a changed code is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_checks_the_paper_by_its_qr_link() {
    let s = TestServer::start(Db::Sqlite).await;
    let r = issue_household_copy(&s, "本人", "勤務先提出").await;
    let pdf = r.bytes().await.expect("pdf");
    let code = murakumo_documents::CertificatePdf::read(&pdf, murakumo_documents::Limits::DEFAULT)
        .expect("reads")
        .payload()
        .to_string();

    let b = Browser::start().await.expect("browser");
    b.open(&s.url(&format!("/verify#{code}")), "#result dl")
        .await
        .expect("the link checks itself on opening");
    let t = text(&b).await;
    for expected in [
        "深川市",
        "住民票の写し",
        "令和",
        "台帳にこの交付が同じ内容で記録",
    ] {
        assert!(t.contains(expected), "{expected} in {t}");
    }
    assert!(!t.contains("山田"), "no personal data: {t}");
    check_screen(&b, "20-verify-qr").await;

    // A code changed by hand (another 発行番号 under the same signature) is refused.
    let forged = code.replacen("-0000001", "-0000002", 1);
    assert_ne!(forged, code, "the first 発行番号 of the series: {code}");
    b.client()
        .find(Locator::Id("code"))
        .await
        .expect("field")
        .clear()
        .await
        .expect("clear");
    b.client()
        .find(Locator::Id("code"))
        .await
        .expect("field")
        .send_keys(&forged)
        .await
        .expect("type");
    press_enter(&b, "#check-code").await;
    b.wait_for("#result.error-box").await.expect("refused");
    let t = text(&b).await;
    assert!(t.contains("偽造の疑い"), "{t}");
    s.stop().await;
}

/// The auditor's screen: the menu offers what the role may use; the access log is searched by
/// person and action, and shows who issued what, with the 利用目的 and 請求者 of the request
/// and the time in Japan; a date the form cannot read is refused with the field named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_finds_who_issued_whose_certificate_and_why() {
    let s = TestServer::start(Db::Sqlite).await;
    let r = issue_household_copy(&s, "代理人", "年金の手続き").await;
    let number = r.headers()["x-issue-number"]
        .to_str()
        .expect("number")
        .to_string();

    let b = Browser::start().await.expect("browser");
    log_in(&b, &s, "auditor").await;
    b.wait_for("header a[href='/access-log']")
        .await
        .expect("the auditor's menu");
    let menu = b
        .client()
        .find(Locator::Css("header nav"))
        .await
        .expect("menu")
        .text()
        .await
        .expect("text");
    assert!(
        !menu.contains("転入・出生") && !menu.contains("公印"),
        "the menu offers only what an auditor may use: {menu}"
    );

    let head = common::resident_code(1_000_000_001);
    b.open(
        &s.url(&format!("/access-log?resident_code={head}&action=issue")),
        "table.results",
    )
    .await
    .expect("results");
    let t = text(&b).await;
    for expected in [
        "証明書の交付",
        "年金の手続き",
        "請求者: 代理人",
        number.as_str(),
        "深川 職員(clerk)",
    ] {
        assert!(t.contains(expected), "{expected} in {t}");
    }
    check_screen(&b, "21-access-log").await;

    b.open(
        &s.url("/access-log?from=%E3%81%82%E3%81%97%E3%81%9F"),
        ".error-box",
    )
    .await
    .expect("a date the form cannot read");
    let t = text(&b).await;
    assert!(t.contains("【期間(から)】"), "{t}");
    s.stop().await;
}

/// 統計: from the menu, a clerk asks for the population as of a 基準日 typed in 和暦 and the
/// 異動集計 of a month; the tables show the register as it stood then, with links to the CSV.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_counts_the_population_as_of_a_date_typed_in_wareki() {
    let s = TestServer::start(Db::Sqlite).await;
    let b = Browser::start().await.expect("browser");
    log_in(&b, &s, "clerk").await;
    b.client()
        .find(Locator::Css("header a[href='/statistics']"))
        .await
        .expect("統計 in the menu")
        .click()
        .await
        .expect("click");
    b.wait_for("#population").await.expect("today's population");
    // The five test residents of 深川市 entered on 2026-04-01 (令和8年4月1日), one
    // household of women born in 1980, at an address outside the city's name.
    fill(&b, "on", "R8.3.31").await;
    fill(&b, "month", "R8.4").await;
    press_enter(&b, "#month").await;
    b.wait_for("#population h2").await.expect("population");
    let t = text(&b).await;
    assert!(t.contains("令和8年3月31日現在の人口・世帯数"), "{t}");
    assert!(t.contains("世帯数 0、人口 0(男 0、女 0)"), "{t}");
    b.client()
        .find(Locator::Id("on"))
        .await
        .expect("on")
        .clear()
        .await
        .expect("clear");
    fill(&b, "on", "令和8年4月1日").await;
    press_enter(&b, "#on").await;
    b.wait_for("#movements").await.expect("movements");
    let t = text(&b).await;
    assert!(t.contains("令和8年4月1日現在の人口・世帯数"), "{t}");
    assert!(t.contains("世帯数 1、人口 5(男 0、女 5)"), "{t}");
    let rows = b
        .client()
        .execute(
            "return Array.from(document.querySelectorAll('table.stats tbody tr'))
                 .map(r => Array.from(r.cells).map(c => c.textContent).join('|'));",
            vec![],
        )
        .await
        .expect("rows");
    let rows: Vec<String> = serde_json::from_value(rows).expect("strings");
    for want in [
        "(その他)|1|0|5|5|0",
        "45〜49歳|0|5|5",
        "転入|0|5|5",
        "死亡|0|0|0",
    ] {
        assert!(rows.iter().any(|r| r == want), "{want} in {rows:?}");
    }
    let csv = b
        .client()
        .find(Locator::Css("#population a[href*='table=town']"))
        .await
        .expect("CSV link")
        .attr("href")
        .await
        .expect("href");
    assert_eq!(
        csv.as_deref(),
        Some("/api/v1/statistics/population?on=2026-04-01&format=csv&table=town")
    );
    check_screen(&b, "26-statistics").await;
    s.stop().await;
}

/// 世帯での転入: a family is entered on one screen — address and dates once, then each
/// person — and recorded together with one 世帯番号 from the system; a person's date the form
/// cannot read is refused naming that person, with everything typed kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_family_moves_in_on_one_screen() {
    let s = TestServer::start(Db::Sqlite).await;
    let b = Browser::start().await.expect("browser");
    log_in(&b, &s, "clerk").await;
    b.open(
        &s.url("/residents/new-household"),
        "form[action='/residents/new-household']",
    )
    .await
    .expect("household form");
    let head = common::resident_code(6_000_000_001);
    let wife = common::resident_code(6_000_000_002);
    for (id, value) in [
        ("address", "北海道深川市8条8番8号"),
        ("previous_address", "旭川市"),
        ("m0.resident_code", head.as_str()),
        ("m0.family_name", "高田"),
        ("m0.given_name", "一郎"),
        ("m0.family_kana", "タカダ"),
        ("m0.given_kana", "イチロウ"),
        ("m0.birth_date", "S55.1.1"),
        ("m0.honseki", "北海道旭川市"),
        ("m0.hittosha", "高田一郎"),
        ("m1.resident_code", wife.as_str()),
        ("m1.relationship", "妻"),
        ("m1.family_name", "高田"),
        ("m1.given_name", "花子"),
        ("m1.family_kana", "タカダ"),
        ("m1.given_kana", "ハナコ"),
        ("m1.birth_date", "きのう"),
        ("m1.honseki", "北海道旭川市"),
        ("m1.hittosha", "高田一郎"),
    ] {
        fill(&b, id, value).await;
    }
    set_date(&b, "m1.sex_code", "2").await;
    press_enter(&b, "form[action='/residents/new-household'] button").await;
    b.wait_for("#form-error").await.expect("refused");
    let t = text(&b).await;
    assert!(t.contains("【2人目の生年月日】"), "{t}");
    // The field at fault is marked and has the cursor.
    let marked = focused_and_marked(&b).await;
    assert_eq!(marked, serde_json::json!(["m1.birth_date", "true"]));
    let kept: String = b
        .client()
        .find(Locator::Id("m1.given_name"))
        .await
        .expect("field")
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert_eq!(kept, "花子", "what was typed is kept");
    b.client()
        .find(Locator::Id("m1.birth_date"))
        .await
        .expect("field")
        .clear()
        .await
        .expect("clear");
    fill(&b, "m1.birth_date", "S57.2.2").await;
    check_screen(&b, "22-household-entry").await;
    press_enter(&b, "form[action='/residents/new-household'] button").await;
    b.wait_for("#household-id").await.expect("recorded");
    let t = text(&b).await;
    assert!(
        t.contains("2 人") && t.contains("高田　一郎") && t.contains("高田　花子"),
        "{t}"
    );
    let household = b
        .client()
        .find(Locator::Id("household-id"))
        .await
        .expect("number")
        .text()
        .await
        .expect("text");
    let recorded = s
        .store
        .tenant(&tenant_a())
        .household(&household)
        .await
        .expect("household");
    assert_eq!(
        recorded.len(),
        2,
        "both in the system's new 世帯 {household}"
    );
    s.stop().await;
}

/// The 団体管理者's screens: a setting is changed with a reason and shows its tier and history;
/// a new clerk's role that opens personal data waits for a second administrator, who approves
/// it on the same screen (the proposer cannot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_manages_settings_and_a_second_one_approves_a_role() {
    let s = TestServer::start(Db::Sqlite).await;
    let b = Browser::start().await.expect("browser");
    log_in(&b, &s, "admin").await;
    let menu = b
        .client()
        .find(Locator::Css("header nav"))
        .await
        .expect("menu")
        .text()
        .await
        .expect("text");
    assert!(
        menu.contains("設定") && menu.contains("職員と役割") && !menu.contains("住民検索"),
        "an administrator's menu: {menu}"
    );

    b.open(&s.url("/settings"), "form[action='/settings']")
        .await
        .expect("settings");
    set_date(&b, "key", "certificate.fee_yen.resident_copy").await;
    fill(&b, "value", "200").await;
    fill(&b, "reason", "手数料条例の改正").await;
    press_enter(&b, "form[action='/settings'] button").await;
    b.wait_for(".ok-box").await.expect("changed");
    let t = text(&b).await;
    assert!(t.contains("個別") && t.contains("手数料条例の改正"), "{t}");
    check_screen(&b, "23-settings").await;
    let (status, body) = s
        .put_setting(
            &s.login(Some(&tenant_a()), "admin").await,
            "certificate.fee_yen.resident_copy",
            "99999",
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");

    b.open(&s.url("/staff"), "form[action='/staff']")
        .await
        .expect("staff");
    fill(&b, "display_name", "新人 窓口").await;
    fill(&b, "login", "newclerk").await;
    fill(&b, "password", "kawa-no-nagare 2026 shinjin").await;
    b.client()
        .find(Locator::Id("new-resident-clerk"))
        .await
        .expect("role box")
        .click()
        .await
        .expect("check");
    press_enter(&b, "form[action='/staff'] button").await;
    b.wait_for(".ok-box").await.expect("created");
    let t = text(&b).await;
    assert!(
        t.contains("承認すると付きます")
            && t.contains("新人 窓口 さんの役割を「住民記録 担当」にする"),
        "{t}"
    );
    check_screen(&b, "24-staff").await;
    // The proposer cannot approve it.
    press_enter(&b, "form[action$='/approve'] button").await;
    b.wait_for("#form-error").await.expect("refused");
    assert!(
        text(&b)
            .await
            .contains("自分が申請した変更は承認できません")
    );

    // A second administrator approves it.
    b.client().delete_all_cookies().await.expect("log out");
    log_in(&b, &s, "all").await;
    b.open(&s.url("/staff"), "form[action$='/approve']")
        .await
        .expect("pending");
    press_enter(&b, "form[action$='/approve'] button").await;
    b.wait_for("form[action='/staff']").await.expect("staff");
    let t = text(&b).await;
    assert!(t.contains("承認を待っている変更はありません"), "{t}");
    let created = s
        .store
        .tenant(&tenant_a())
        .staff_for_login("newclerk")
        .await
        .expect("read")
        .expect("created")
        .0;
    assert_eq!(
        created.roles,
        vec![murakumo_tenancy::Role::ResidentClerk],
        "approved by a second administrator"
    );
    s.stop().await;
}

/// The screens at a phone's 390 px: nothing scrolls sideways (result tables become cards), and
/// each opens with the cursor on its first action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_fits_a_phone_and_starts_at_its_first_action() {
    let s = TestServer::start(Db::Sqlite).await;
    let b = Browser::start().await.expect("browser");
    b.client()
        .set_window_size(390, 844)
        .await
        .expect("narrow window");
    let code = common::resident_code(1_000_000_001);
    for (path, ready) in [("/verify", "#code"), ("/", "#tenant")] {
        check_phone_screen(&b, &s, path, ready).await;
    }
    log_in(&b, &s, "all").await;
    let screens = [
        ("/".to_string(), "main"),
        (
            "/residents?kana=%E3%83%A4%E3%83%9E%E3%83%80".to_string(),
            "table.results",
        ),
        (format!("/residents/{code}"), "h1"),
        (format!("/residents/{code}/change?kind=relocate"), "form"),
        (format!("/residents/{code}/certificate"), "form"),
        (format!("/residents/{code}/change"), "main"),
        ("/residents/new".to_string(), "form"),
        ("/residents/new-household".to_string(), "form"),
        ("/seals".to_string(), "form"),
        (format!("/seals/new?resident_code={code}"), "form"),
        ("/official-seal".to_string(), "form"),
        ("/access-log?action=read".to_string(), "main"),
        ("/statistics".to_string(), "#population"),
        ("/staff".to_string(), "form[action='/staff']"),
        ("/settings".to_string(), "form[action='/settings']"),
        ("/sso".to_string(), "form[action='/sso']"),
    ];
    for (path, ready) in &screens {
        check_phone_screen(&b, &s, path, ready).await;
        if path.starts_with("/residents?") {
            b.screenshot("25-phone-search").await.expect("screenshot");
        }
    }
    s.stop().await;
}

/// Opens `path` in a phone-sized window: it must not scroll sideways, and the cursor must
/// start on the screen's first action (a field, a button or a link in the main content), so
/// that one can type or press Enter at once.
async fn check_phone_screen(b: &Browser, s: &TestServer, path: &str, ready: &str) {
    b.open(&s.url(path), ready).await.expect(path);
    let v = b
        .client()
        .execute(
            "const a = document.activeElement;
             return [window.innerWidth, document.documentElement.scrollWidth,
                     a.tagName + '#' + a.id,
                     !!a.closest('main') && a.matches('input,select,textarea,button,a[href]')];",
            vec![],
        )
        .await
        .expect("script");
    let (viewport, width) = (v[0].as_u64().expect("w"), v[1].as_u64().expect("sw"));
    assert!(viewport <= 400, "the window is a phone's: {viewport}");
    assert!(
        width <= viewport,
        "{path}: {width} px wide in {viewport} px"
    );
    assert_eq!(
        v[3], true,
        "{path}: the cursor is not on an action: {}",
        v[2]
    );
}

/// Single sign-on on the 団体管理者's screen: the IdP's metadata is pasted with the role
/// mapping, the change waits for a second administrator, and once approved the screen shows
/// the IdP and what to register at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_proposes_the_idp_and_a_second_one_approves_it() {
    let s = TestServer::start(Db::Sqlite).await;
    let idp = murakumo_saml::testing::TestIdp::new(&format!("{}/idp-a", s.base));
    let b = Browser::start().await.expect("browser");
    log_in(&b, &s, "admin").await;
    b.open(&s.url("/sso"), "form[action='/sso']")
        .await
        .expect("sso");
    assert!(text(&b).await.contains("まだ設定されていません"));
    set_date(&b, "idp_metadata_xml", &idp.metadata_xml()).await;
    set_date(&b, "roles", "groups").await;
    set_date(
        &b,
        "role_values",
        "jumin=resident.clerk\nkanri=tenant.admin",
    )
    .await;
    press_enter(&b, "form[action='/sso'] button").await;
    b.wait_for(".ok-box").await.expect("proposed");
    assert!(text(&b).await.contains("別の団体管理者"));
    check_screen(&b, "26-sso").await;
    // Nothing changed yet; a second administrator approves it.
    assert!(
        s.store
            .tenant(&tenant_a())
            .sso_config()
            .await
            .expect("read")
            .is_none(),
        "waits for the second person"
    );
    for (status, body) in s.approve_pending(&tenant_a(), "all").await {
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    }
    b.open(&s.url("/sso"), "table.facts")
        .await
        .expect("configured");
    let t = text(&b).await;
    assert!(
        t.contains(&idp.entity_id)
            && t.contains("jumin → 住民記録 担当")
            && t.contains("/saml/acs"),
        "{t}"
    );
    s.stop().await;
}
