//! Single sign-on in a real browser (Debian's chromium over WebDriver)
//! through a real IdP (Debian's SimpleSAMLphp), as a clerk does it: the
//! login page's SSO form, the IdP's login form, back to the overview; and
//! the page a clerk of another municipality gets. The IdP is on
//! `localhost`, the platform on `127.0.0.1`: different sites, as in
//! production, so the SameSite session cookie is tested for real.
//! Screenshots of each screen go to `target/screenshots/`.

use crate::common;

use common::{Db, TestServer, tenant_a, tenant_b};
use murakumo_saml::SpConfig;
use murakumo_testkit::browser::{Browser, Key, Locator};
use murakumo_testkit::{IdpUser, SimpleSamlIdp};
use serde_json::json;

async fn main_text(b: &Browser) -> String {
    b.client()
        .find(Locator::Css("main"))
        .await
        .expect("main")
        .text()
        .await
        .expect("text")
}

async fn fill(b: &Browser, css: &str, text: &str) {
    let e = b.client().find(Locator::Css(css)).await.expect(css);
    e.clear().await.expect("clear");
    e.send_keys(text).await.expect("type");
}

/// From the login page through the IdP; returns when back at Murakumo.
async fn sso_login(
    b: &Browser,
    s: &TestServer,
    idp: &SimpleSamlIdp,
    tenant: &str,
    user: &str,
    shot: &str,
) {
    b.open(&s.url("/"), "#sso-tenant")
        .await
        .expect("login page");
    fill(b, "#sso-tenant", tenant).await;
    b.screenshot(&format!("{shot}-1-login"))
        .await
        .expect("screenshot");
    b.client()
        .find(Locator::Css("#sso-tenant"))
        .await
        .expect("field")
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("enter");
    b.wait_for("input[name=username]")
        .await
        .expect("the IdP's login form");
    let url = b.client().current_url().await.expect("url");
    assert!(url.as_str().starts_with(&idp.base), "at the IdP: {url}");
    fill(b, "input[name=username]", user).await;
    fill(b, "input[name=password]", "idp-password-1").await;
    b.screenshot(&format!("{shot}-2-idp"))
        .await
        .expect("screenshot");
    b.client()
        .find(Locator::Css("input[name=password]"))
        .await
        .expect("password")
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("enter");
    // The IdP's page posts the Response to the ACS by itself; the ACS page
    // moves on to the overview (or shows why it refused).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let url = b.client().current_url().await.expect("url");
        if url.as_str().starts_with(&s.base) {
            if !url.path().starts_with("/saml/acs") {
                break;
            }
            if let Ok(main) = b.client().find(Locator::Css("main")).await
                && main
                    .text()
                    .await
                    .unwrap_or_default()
                    .contains("ログインできませんでした")
            {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stuck at {url}: {}",
            idp.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_logs_in_once_through_the_municipalitys_idp() {
    let s = TestServer::start(Db::Sqlite).await;
    let sp = SpConfig::from_base_url(&s.base);
    let a = tenant_a().to_string();
    let b_code = tenant_b().to_string();
    let idp = SimpleSamlIdp::start_at(
        "localhost",
        &sp.entity_id,
        &sp.acs_url,
        &sp.slo_url,
        &[
            IdpUser {
                login: "clerk",
                password: "idp-password-1",
                attributes: &[
                    ("uid", &["clerk"]),
                    ("cn", &["深川 花子"]),
                    ("lgcode", &[a.as_str()]),
                    ("groups", &["jumin"]),
                ],
            },
            IdpUser {
                login: "outsider",
                password: "idp-password-1",
                attributes: &[
                    ("uid", &["outsider"]),
                    ("cn", &["北竜 太郎"]),
                    ("lgcode", &[b_code.as_str()]),
                    ("groups", &["jumin"]),
                ],
            },
        ],
    )
    .expect("SimpleSAMLphp starts");
    let metadata = reqwest::get(idp.metadata_url())
        .await
        .expect("IdP metadata")
        .text()
        .await
        .expect("text");
    let op = s.login(None, "op").await;
    let r = op
        .put(s.url(&format!("/api/v1/tenants/{a}/sso")))
        .json(&json!({
            "idp_metadata_xml": metadata,
            "jit": true,
            "mapping": {"login": "uid", "display_name": "cn", "tenant": "lgcode", "roles": "groups",
                        "role_values": {"jumin": ["resident.clerk"]}}
        }))
        .send()
        .await
        .expect("send");
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
    // The proposal takes effect when A's administrator approves it; the
    // existing password account `clerk` is linked to the IdP explicitly.
    for (status, body) in s.approve_pending(&tenant_a(), "admin").await {
        assert!(status.is_success(), "{body}");
    }
    s.link_sso(&tenant_a(), "clerk").await;

    let b = Browser::start().await.expect("browser");
    sso_login(&b, &s, &idp, &a, "clerk", "sso").await;
    b.wait_for("#kana")
        .await
        .expect("the overview with resident search");
    let text = main_text(&b).await;
    assert!(text.contains("深川市"), "{text}");
    // The existing account `clerk` of 深川市, with the role the IdP group gives.
    assert!(text.contains("深川 職員 さん(住民記録 担当)"), "{text}");
    b.screenshot("sso-3-overview").await.expect("screenshot");
    // The same session reaches the business system the role allows.
    fill(&b, "#kana", "ヤマダ").await;
    b.client()
        .find(Locator::Css("#kana"))
        .await
        .expect("kana")
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("enter");
    b.wait_for("table").await.expect("search results");
    assert!(main_text(&b).await.contains("山田"));
    // Logging out ends the IdP session too, and comes back here.
    b.client()
        .find(Locator::Css("header form button"))
        .await
        .expect("the logout button")
        .click()
        .await
        .expect("logout");
    // The search results page has cards too: wait for the address first.
    let url = b
        .wait_for_url(&sp.slo_url)
        .await
        .expect("single logout came back");
    assert!(
        url.starts_with(&sp.slo_url),
        "single logout came back: {url}"
    );
    b.wait_for("main .card").await.expect("logged out");
    assert!(main_text(&b).await.contains("ログアウトしました"));
    b.screenshot("sso-4-logged-out").await.expect("screenshot");

    // A clerk of 北竜町 who tries 深川市: refused, with the reason.
    sso_login(&b, &s, &idp, &a, "outsider", "sso-refused").await;
    let text = main_text(&b).await;
    assert!(
        text.contains("シングルサインオンでログインできませんでした"),
        "{text}"
    );
    assert!(text.contains("別の団体に所属しています"), "{text}");
    b.screenshot("sso-5-refused-other-municipality")
        .await
        .expect("screenshot");
    b.close().await;
    s.stop().await;
}
