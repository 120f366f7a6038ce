//! SAML single sign-on over HTTP against a real server, on both backends:
//! responses signed for real (xmlsec1) by test IdPs of two municipalities,
//! every refusal with its reason in the access log, single logout.

mod common;

use common::{Db, TestServer, tenant_a, tenant_b};
use murakumo_core::TenantCode;
use murakumo_saml::SpConfig;
use murakumo_saml::testing::{ResponseParams, TestIdp, b64};
use murakumo_store::AccessFilter;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn mapping() -> Value {
    json!({
        "login": "uid", "display_name": "cn", "tenant": "lgcode", "roles": "groups",
        "role_values": {"jumin": ["resident.clerk"], "kanri": ["tenant.admin"]}
    })
}

async fn configure(
    s: &TestServer,
    op: &reqwest::Client,
    tenant: &TenantCode,
    idp: &TestIdp,
    jit: bool,
) {
    configure_with(s, op, tenant, idp, jit, false).await
}

async fn configure_with(
    s: &TestServer,
    op: &reqwest::Client,
    tenant: &TenantCode,
    idp: &TestIdp,
    jit: bool,
    allow_idp_initiated: bool,
) {
    let r = op
        .put(s.url(&format!("/api/v1/tenants/{tenant}/sso")))
        .json(
            &json!({"idp_metadata_xml": idp.metadata_xml(), "mapping": mapping(), "jit": jit,
            "allow_idp_initiated": allow_idp_initiated}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

/// Starts a login for `tenant`; returns the AuthnRequest id.
async fn start(s: &TestServer, tenant: &TenantCode, idp: &TestIdp) -> String {
    let r = no_redirects()
        .get(s.url(&format!("/saml/login?tenant={tenant}")))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(loc.starts_with(&idp.sso_url), "{loc}");
    let url = url::Url::parse(&loc).expect("url");
    let req = url
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .expect("SAMLRequest")
        .1
        .to_string();
    let xml = murakumo_saml::logout::inflate_b64(&req).expect("inflate");
    let doc = roxmltree::Document::parse(&xml).expect("AuthnRequest xml");
    assert_eq!(doc.root_element().tag_name().name(), "AuthnRequest");
    doc.root_element().attribute("ID").expect("ID").to_string()
}

/// Posts a SAMLResponse; returns status, body, and the session cookie.
async fn post(s: &TestServer, response_b64: &str) -> (StatusCode, String, Option<String>) {
    let r = no_redirects()
        .post(s.url("/saml/acs"))
        .form(&[("SAMLResponse", response_b64), ("RelayState", "")])
        .send()
        .await
        .expect("send");
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    (r.status(), r.text().await.unwrap_or_default(), cookie)
}

async fn whoami(s: &TestServer, cookie: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .get(s.url("/api/v1/session"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("send");
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

fn user(sp: &SpConfig, req: &str, uid: &str, lg: &TenantCode, groups: &[&str]) -> ResponseParams {
    ResponseParams::for_sp(sp, Some(req), uid)
        .attr("uid", &[uid])
        .attr("cn", &["深川 花子"])
        .attr("lgcode", &[lg.as_str()])
        .attr("groups", groups)
}

/// Builds a SAMLResponse answering a request id.
type MakeResponse<'a> = Box<dyn Fn(&str) -> String + 'a>;

async fn refusals_in_access_log(s: &TestServer, tenant: &TenantCode) -> String {
    s.store
        .tenant(tenant)
        .search_access_log(&AccessFilter {
            action: Some("login".into()),
            limit: 1000,
            ..AccessFilter::default()
        })
        .await
        .expect("access log")
        .into_iter()
        .filter(|r| r.action == "login")
        .map(|r| format!("{} {}\n", r.subject, r.detail))
        .collect()
}

async fn single_sign_on_end_to_end(db: Db) {
    let s = TestServer::start(db).await;
    let sp = SpConfig::from_base_url(&s.base);
    // The SP metadata is served before any IdP is configured.
    let md = reqwest::get(s.url("/saml/metadata"))
        .await
        .expect("metadata");
    assert_eq!(md.status(), StatusCode::OK);
    let md = md.text().await.expect("text");
    assert!(
        md.contains(&format!("entityID=\"{}\"", sp.entity_id)),
        "{md}"
    );
    assert!(md.contains(&sp.acs_url));

    // Without SSO configured: a clear page, nothing started.
    let r = reqwest::get(s.url(&format!("/saml/login?tenant={}", tenant_a())))
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.text()
            .await
            .expect("text")
            .contains("シングルサインオン(IdP)が設定されていません")
    );

    let op = s.login(None, "op").await;
    // IdPs on addresses this machine answers on (the login probes them).
    let mut idp_a = TestIdp::new(&format!("{}/idp-a", s.base));
    idp_a.sso_url = s.url("/idp-a/sso");
    idp_a.slo_url = s.url("/idp-a/slo");
    let mut idp_b = TestIdp::new(&format!("{}/idp-b", s.base));
    idp_b.sso_url = s.url("/idp-b/sso");

    // Bad metadata is refused with the reason and changes nothing.
    let r = op
        .put(s.url(&format!("/api/v1/tenants/{}/sso", tenant_a())))
        .json(
            &json!({"idp_metadata_xml": idp_a.metadata_xml().replace("KeyDescriptor", "Nothing")}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .expect("text")
            .contains("signing certificate")
    );
    configure(&s, &op, &tenant_a(), &idp_a, false).await;
    configure(&s, &op, &tenant_b(), &idp_b, false).await;
    let view: Value = op
        .get(s.url(&format!("/api/v1/tenants/{}/sso", tenant_a())))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(view["idp_entity_id"], idp_a.entity_id.as_str());
    assert_eq!(view["sp_acs_url"], sp.acs_url.as_str());

    // SP-initiated login → the same server-side session a password gives.
    let req = start(&s, &tenant_a(), &idp_a).await;
    let good = idp_a.response_b64(&user(&sp, &req, "clerk", &tenant_a(), &["jumin"]));
    let (status, body, cookie) = post(&s, &good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = cookie.expect("session cookie");
    let (st, who) = whoami(&s, &cookie).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(who["tenant"], tenant_a().as_str());
    assert_eq!(who["login"], "clerk");
    assert_eq!(who["roles"], json!(["resident.clerk"]));
    // Its roles reach the business system.
    let r = reqwest::Client::new()
        .get(s.url("/api/v1/residents/count"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);

    // The very same response again: its request is used up.
    let (status, body, c) = post(&s, &good).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(c.is_none());
    assert!(body.contains("unknown_request"), "{body}");
    // IdP-initiated logins (no request to use up) meet the replay cache.
    let unsolicited = ResponseParams {
        in_response_to: None,
        ..user(&sp, "_", "clerk", &tenant_a(), &["jumin"])
    };
    let unsolicited = idp_a.response_b64(&unsolicited);
    let (status, body, _) = post(&s, &unsolicited).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not allowed yet");
    assert!(body.contains("idp_initiated_not_allowed"), "{body}");
    configure_with(&s, &op, &tenant_a(), &idp_a, false, true).await;
    // The refused attempt did not burn the assertion; this one logs in.
    let (status, body, c) = post(&s, &unsolicited).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(c.is_some());
    let (status, body, c) = post(&s, &unsolicited).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(c.is_none());
    assert!(
        body.contains("すでに使われています") && body.contains("replay"),
        "{body}"
    );
    configure(&s, &op, &tenant_a(), &idp_a, false).await;

    // Each refusal, each with a fresh login started at A.
    let cases: Vec<(&str, MakeResponse)> = vec![
        (
            "unsigned",
            Box::new(|r: &str| {
                idp_a.response_b64(&ResponseParams {
                    sign_assertion: false,
                    ..user(&sp, r, "clerk", &tenant_a(), &["jumin"])
                })
            }),
        ),
        (
            "bad_signature",
            Box::new(|r: &str| {
                TestIdp::new(&idp_a.entity_id).response_b64(&user(
                    &sp,
                    r,
                    "clerk",
                    &tenant_a(),
                    &["jumin"],
                ))
            }),
        ),
        (
            "signature_wrapping",
            Box::new(|r: &str| {
                let xml = idp_a.response_xml(&user(&sp, r, "clerk", &tenant_a(), &["jumin"]));
                let a0 = xml.find("<saml:Assertion").expect("a");
                let a1 = xml.find("</saml:Assertion>").expect("a") + "</saml:Assertion>".len();
                let signed = &xml[a0..a1];
                let s0 = signed.find("<ds:Signature").expect("s");
                let s1 = signed.find("</ds:Signature>").expect("s") + "</ds:Signature>".len();
                let evil = signed
                    .replace(&signed[s0..s1], "")
                    .replacen(" ID=\"_", " ID=\"_evil", 1)
                    .replace(">clerk<", ">admin<");
                b64(&xml.replace(signed, &format!("{evil}{signed}")))
            }),
        ),
        (
            "expired",
            Box::new(|r: &str| {
                let past = chrono::Utc::now() - chrono::Duration::hours(1);
                idp_a.response_b64(&ResponseParams {
                    issue_instant: past,
                    not_on_or_after: past + chrono::Duration::minutes(5),
                    ..user(&sp, r, "clerk", &tenant_a(), &["jumin"])
                })
            }),
        ),
        (
            "wrong_audience",
            Box::new(|r: &str| {
                idp_a.response_b64(&ResponseParams {
                    audience: "https://other.example/saml/metadata".into(),
                    ..user(&sp, r, "clerk", &tenant_a(), &["jumin"])
                })
            }),
        ),
        (
            "wrong_recipient",
            Box::new(|r: &str| {
                idp_a.response_b64(&ResponseParams {
                    recipient: "https://other.example/saml/acs".into(),
                    ..user(&sp, r, "clerk", &tenant_a(), &["jumin"])
                })
            }),
        ),
        // B's IdP answering a login started at A.
        (
            "other_tenant_idp",
            Box::new(|r: &str| idp_b.response_b64(&user(&sp, r, "clerk", &tenant_a(), &["jumin"]))),
        ),
        // A's IdP vouching for a user of B.
        (
            "other_tenant_user",
            Box::new(|r: &str| idp_a.response_b64(&user(&sp, r, "clerk", &tenant_b(), &["jumin"]))),
        ),
        (
            "no_roles",
            Box::new(|r: &str| {
                idp_a.response_b64(&user(&sp, r, "clerk", &tenant_a(), &["elsewhere"]))
            }),
        ),
        (
            "unknown_user",
            Box::new(|r: &str| {
                idp_a.response_b64(&user(&sp, r, "newbie", &tenant_a(), &["jumin"]))
            }),
        ),
    ];
    for (code, make) in &cases {
        let req = start(&s, &tenant_a(), &idp_a).await;
        let (status, body, cookie) = post(&s, &make(&req)).await;
        assert!(status.is_client_error(), "{code}: {status} {body}");
        assert!(cookie.is_none(), "{code}: no session");
        assert!(body.contains(code), "{code}: {body}");
        assert!(body.contains("シングルサインオンでログインできませんでした"));
    }
    // A response to a request never made here.
    let (status, body, _) = post(
        &s,
        &idp_a.response_b64(&user(
            &sp,
            "_00000000000000000000000000000000",
            "clerk",
            &tenant_a(),
            &["jumin"],
        )),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("unknown_request"));

    // Every refusal where the tenant is known is in A's access log, with
    // its reason; none in B's.
    let log = refusals_in_access_log(&s, &tenant_a()).await;
    for code in [
        "replay",
        "unsigned",
        "bad_signature",
        "signature_wrapping",
        "expired",
        "wrong_audience",
        "wrong_recipient",
        "other_tenant_idp",
        "other_tenant_user",
        "no_roles",
        "unknown_user",
    ] {
        assert!(
            log.contains(&format!("refused {code}")),
            "{code} not in the access log:\n{log}"
        );
    }
    assert!(log.contains("ok idp="));
    assert_eq!(refusals_in_access_log(&s, &tenant_b()).await, "");

    // Just-in-time accounts where the municipality allows them; roles follow
    // the IdP's groups.
    configure(&s, &op, &tenant_a(), &idp_a, true).await;
    let req = start(&s, &tenant_a(), &idp_a).await;
    let (status, body, cookie) = post(
        &s,
        &idp_a.response_b64(&user(&sp, &req, "newbie", &tenant_a(), &["jumin", "kanri"])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, who) = whoami(&s, &cookie.expect("cookie")).await;
    assert_eq!(who["login"], "newbie");
    assert_eq!(who["display_name"], "深川 花子");
    assert_eq!(who["roles"], json!(["resident.clerk", "tenant.admin"]));
    // It has no password: a password login is refused.
    assert!(s.token(Some(&tenant_a()), "newbie", "").await.is_err());

    // Single logout started by the IdP ends the session here.
    let req = start(&s, &tenant_a(), &idp_a).await;
    let p = user(&sp, &req, "clerk", &tenant_a(), &["jumin"]);
    let session_index = p.session_index.clone();
    let (_, _, cookie) = post(&s, &idp_a.response_b64(&p)).await;
    let cookie = cookie.expect("cookie");
    assert_eq!(whoami(&s, &cookie).await.0, StatusCode::OK);
    let logout = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lo1" Version="2.0" IssueInstant="{}"><saml:Issuer>{}</saml:Issuer><saml:NameID>clerk</saml:NameID><samlp:SessionIndex>{session_index}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        chrono::Utc::now().to_rfc3339(),
        idp_a.entity_id
    );
    // Unsigned: refused, the session stays.
    let unsigned = idp_a.sign_redirect_query("SAMLRequest", &logout);
    let unsigned = unsigned.split("&SigAlg").next().expect("q");
    let r = no_redirects()
        .get(s.url(&format!("/saml/slo?{unsigned}")))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(whoami(&s, &cookie).await.0, StatusCode::OK);
    let q = idp_a.sign_redirect_query("SAMLRequest", &logout);
    let r = no_redirects()
        .get(s.url(&format!("/saml/slo?{q}")))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .expect("loc")
            .starts_with(&idp_a.slo_url)
    );
    assert_eq!(whoami(&s, &cookie).await.0, StatusCode::UNAUTHORIZED);

    // Single logout started here: the session ends, the browser goes on to
    // the IdP with a LogoutRequest.
    let req = start(&s, &tenant_a(), &idp_a).await;
    let (_, _, cookie) = post(
        &s,
        &idp_a.response_b64(&user(&sp, &req, "clerk", &tenant_a(), &["jumin"])),
    )
    .await;
    let cookie = cookie.expect("cookie");
    let r = no_redirects()
        .post(s.url("/saml/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = r.headers()["location"].to_str().expect("loc").to_string();
    assert!(
        loc.starts_with(&idp_a.slo_url) && loc.contains("SAMLRequest="),
        "{loc}"
    );
    assert_eq!(whoami(&s, &cookie).await.0, StatusCode::UNAUTHORIZED);

    // Password logins keep working for everyone.
    s.token(Some(&tenant_b()), "clerk", common::PASSWORD)
        .await
        .expect("password login");
    s.stop().await;
}

async fn unreachable_or_misconfigured_idp_gets_a_clear_page(db: Db) {
    let s = TestServer::start(db).await;
    let op = s.login(None, "op").await;
    let mut idp = TestIdp::new("https://idp.unreachable.example");
    let closed = murakumo_testkit::free_port();
    idp.sso_url = format!("http://127.0.0.1:{closed}/sso");
    configure(&s, &op, &tenant_a(), &idp, false).await;
    let r = no_redirects()
        .get(s.url(&format!("/saml/login?tenant={}", tenant_a())))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let body = r.text().await.expect("text");
    assert!(body.contains("IdP(認証基盤)に接続できません"), "{body}");
    assert!(body.contains(&format!("127.0.0.1:{closed}")), "{body}");
    assert!(body.contains("force=1"));
    // The operator can still send the browser on.
    let r = no_redirects()
        .get(s.url(&format!("/saml/login?tenant={}&force=1", tenant_a())))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A wrong code gets a page, not an error document.
    let r = reqwest::get(s.url("/saml/login?tenant=99999"))
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.expect("text").contains("団体コード"));
    // Garbage at the ACS: refused with a page, nothing logged against a tenant.
    let (status, body, _) = post(&s, "bm90IHhtbA==").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("malformed"));
    s.stop().await;
}

common::on_both_backends!(
    single_sign_on_end_to_end,
    unreachable_or_misconfigured_idp_gets_a_clear_page,
);
