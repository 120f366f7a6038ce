//! Login through a real IdP (Debian's SimpleSAMLphp, started by the test):
//! an HTTP client follows the redirect, the IdP's login form and the
//! auto-submitted POST back to the ACS, as a browser would.

use crate::common;

use common::{Db, TestServer, tenant_a};
use murakumo_saml::SpConfig;
use murakumo_testkit::{IdpUser, SimpleSamlIdp};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The value of `<input ... name="NAME" ... value="...">` in a page.
fn input(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.find("value=\"")? + "value=\"".len();
    let end = tag[v..].find('"')?;
    Some(
        tag[v..v + end]
            .replace("&quot;", "\"")
            .replace("&#039;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

fn form_action(html: &str) -> Option<String> {
    let at = html.find("<form")?;
    let a = at + html[at..].find("action=\"")? + "action=\"".len();
    let end = html[a..].find('"')?;
    Some(html[a..a + end].replace("&amp;", "&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_through_simplesamlphp() {
    let s = TestServer::start(Db::Sqlite).await;
    let sp = SpConfig::from_base_url(&s.base);
    let idp = SimpleSamlIdp::start(
        &sp.entity_id,
        &sp.acs_url,
        &sp.slo_url,
        &[IdpUser {
            login: "clerk",
            password: "clerk-password-1",
            attributes: &[
                ("uid", &["clerk"]),
                ("cn", &["深川 花子"]),
                ("lgcode", &[tenant_a().as_str()]),
                ("groups", &["jumin"]),
            ],
        }],
    )
    .expect("SimpleSAMLphp starts (scripts/setup-test.sh installs it)");
    let metadata = reqwest::get(idp.metadata_url())
        .await
        .expect("IdP metadata")
        .text()
        .await
        .expect("text");
    let op = s.login(None, "op").await;
    let r = op
        .put(s.url(&format!("/api/v1/tenants/{}/sso", tenant_a())))
        .json(&json!({
            "idp_metadata_xml": metadata,
            "mapping": {"login": "uid", "display_name": "cn", "tenant": "lgcode", "roles": "groups",
                        "role_values": {"jumin": ["resident.clerk"]}}
        }))
        .send()
        .await
        .expect("send");
    // A proposal, approved by the municipality's administrator; `clerk`
    // (a password account) is linked to the IdP explicitly.
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "{}",
        r.text().await.unwrap_or_default()
    );
    for (status, body) in s.approve_pending(&tenant_a(), "admin").await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    s.link_sso(&tenant_a(), "clerk").await;

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    // Murakumo → IdP login form (redirects followed).
    let r = browser
        .get(s.url(&format!("/saml/login?tenant={}", tenant_a())))
        .send()
        .await
        .expect("to the IdP");
    let form_url = r.url().clone();
    assert!(form_url.as_str().starts_with(&idp.base), "{form_url}");
    let page = r.text().await.expect("login form");
    let auth_state =
        input(&page, "AuthState").unwrap_or_else(|| panic!("AuthState in {page}\n{}", idp.log()));
    // The user logs in at the IdP; the IdP answers with a form that posts
    // the signed Response to Murakumo's ACS.
    let action = form_url
        .join(&form_action(&page).unwrap_or_else(|| "?".into()))
        .expect("action");
    let r = browser
        .post(action)
        .form(&[
            ("username", "clerk"),
            ("password", "clerk-password-1"),
            ("AuthState", auth_state.as_str()),
        ])
        .send()
        .await
        .expect("login at the IdP");
    let page = r.text().await.expect("post form");
    let saml_response = input(&page, "SAMLResponse")
        .unwrap_or_else(|| panic!("SAMLResponse in {page}\n{}", idp.log()));
    let relay_state = input(&page, "RelayState").unwrap_or_default();
    assert_eq!(form_action(&page).as_deref(), Some(sp.acs_url.as_str()));
    let r = browser
        .post(&sp.acs_url)
        .form(&[
            ("SAMLResponse", saml_response.as_str()),
            ("RelayState", relay_state.as_str()),
        ])
        .send()
        .await
        .expect("to the ACS");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
    // The same server-side session a password login gives.
    let who: Value = browser
        .get(s.url("/api/v1/session"))
        .send()
        .await
        .expect("whoami")
        .json()
        .await
        .expect("json");
    assert_eq!(who["kind"], "staff");
    assert_eq!(who["tenant"], tenant_a().as_str());
    assert_eq!(who["login"], "clerk");
    assert_eq!(who["roles"], json!(["resident.clerk"]));
    // The overview page greets them.
    let home = browser
        .get(s.url("/"))
        .send()
        .await
        .expect("home")
        .text()
        .await
        .expect("text");
    assert!(home.contains("住民記録 担当"), "{home}");
    // The same Response posted again is refused (its request is used up).
    let r = reqwest::Client::new()
        .post(&sp.acs_url)
        .form(&[("SAMLResponse", saml_response.as_str())])
        .send()
        .await
        .expect("replay");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Single logout: Murakumo → IdP → back to Murakumo's SLO endpoint.
    let r = browser
        .post(s.url("/saml/logout"))
        .send()
        .await
        .expect("logout");
    let end = r.url().clone();
    let body = r.text().await.unwrap_or_default();
    assert!(
        end.as_str().starts_with(&sp.slo_url),
        "ended at {end}: {body}\n{}",
        idp.log()
    );
    assert!(body.contains("ログアウトしました"));
    let r = browser
        .get(s.url("/api/v1/session"))
        .send()
        .await
        .expect("whoami");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    s.stop().await;
}
