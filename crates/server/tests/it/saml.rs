//! SAML single sign-on over HTTP against a real server, on both backends:
//! responses signed for real (xmlsec1) by test IdPs of two municipalities,
//! every refusal with its reason (in metrics; refusals of verified
//! assertions also in the access log), single logout, and the attacks of
//! issue 15: IdP changes wait for a second person, an IdP does not take
//! over password accounts, one IdP per municipality, no outbound
//! connections from `/saml/login`, no access-log growth from anonymous
//! posts.

use crate::common;

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
    // A proposal: it takes effect when the municipality's administrator
    // approves it.
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "{}",
        r.text().await.unwrap_or_default()
    );
    for (status, body) in s.approve_pending(tenant, "admin").await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
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
    // `clerk` was made for password login: linked explicitly (issue 15).
    s.link_sso(&tenant_a(), "clerk").await;
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

    // Refusals of what A's IdP did not verifiably sign (or a replay) leave
    // A's access log alone — anyone can post those — and are counted in
    // the metrics; refusals of verified assertions are in A's access log
    // with their reason; none in B's.
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
    ] {
        assert!(
            !log.contains(&format!("refused {code}")),
            "{code} in the access log:\n{log}"
        );
        assert!(
            s.metric(&format!(
                "murakumo_saml_rejected_total{{reason=\"{code}\"}}"
            ))
            .await
                >= 1.0,
            "{code} counted"
        );
    }
    for code in ["other_tenant_user", "no_roles", "unknown_user"] {
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

/// `/saml/login` only redirects from stored data: an SSO URL an
/// administrator typed (an open or a closed local port) is never connected
/// to, so the endpoint cannot serve as a port scanner.
async fn saml_login_makes_no_outbound_connection(db: Db) {
    let s = TestServer::start(db).await;
    let op = s.login(None, "op").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let open = listener.local_addr().expect("addr").port();
    let closed = murakumo_testkit::free_port();
    let mut idp_a = TestIdp::new("https://idp-a.example");
    idp_a.sso_url = format!("http://127.0.0.1:{open}/sso");
    let mut idp_b = TestIdp::new("https://idp-b.example");
    idp_b.sso_url = format!("http://127.0.0.1:{closed}/sso");
    configure(&s, &op, &tenant_a(), &idp_a, false).await;
    configure(&s, &op, &tenant_b(), &idp_b, false).await;
    for (tenant, idp) in [(tenant_a(), &idp_a), (tenant_b(), &idp_b)] {
        let r = no_redirects()
            .get(s.url(&format!("/saml/login?tenant={tenant}")))
            .send()
            .await
            .expect("send");
        // The same answer whether the port is open or closed: a redirect.
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{tenant}");
        let loc = r.headers()["location"].to_str().expect("location");
        assert!(loc.starts_with(&idp.sso_url), "{loc}");
    }
    // Had the server connected, the connection would be queued by now.
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the server connected to the IdP's address: {other:?}"),
    }
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

/// Anonymous posts to the ACS that fail verification — answering a login
/// really started for A, so the tenant is known — leave A's access chain
/// exactly as it was and are counted in the metrics instead.
async fn failed_acs_posts_leave_the_access_chain_alone(db: Db) {
    let s = TestServer::start(db).await;
    let sp = SpConfig::from_base_url(&s.base);
    let op = s.login(None, "op").await;
    let mut idp = TestIdp::new(&format!("{}/idp-a", s.base));
    idp.sso_url = s.url("/idp-a/sso");
    configure(&s, &op, &tenant_a(), &idp, false).await;
    s.link_sso(&tenant_a(), "clerk").await;
    let head = s
        .store
        .tenant(&tenant_a())
        .head(murakumo_store::Chain::Access)
        .await
        .expect("head");
    let series = "murakumo_saml_rejected_total{reason=\"bad_signature\"}";
    let before = s.metric(series).await;
    let stranger = TestIdp::new(&idp.entity_id);
    for _ in 0..3 {
        let req = start(&s, &tenant_a(), &idp).await;
        let forged = stranger.response_b64(&user(&sp, &req, "clerk", &tenant_a(), &["jumin"]));
        let (status, body, cookie) = post(&s, &forged).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(cookie.is_none());
        let unsigned = idp.response_b64(&ResponseParams {
            sign_assertion: false,
            ..user(
                &sp,
                &start(&s, &tenant_a(), &idp).await,
                "clerk",
                &tenant_a(),
                &["jumin"],
            )
        });
        assert_eq!(post(&s, &unsigned).await.0, StatusCode::FORBIDDEN);
    }
    let after = s
        .store
        .tenant(&tenant_a())
        .head(murakumo_store::Chain::Access)
        .await
        .expect("head");
    assert_eq!(after, head, "the access chain did not grow");
    assert_eq!(s.metric(series).await, before + 3.0);
    s.stop().await;
}

/// Issue 15: an IdP change proposed by the operator or by an administrator
/// waits for a (different) administrator; an IdP login never takes over a
/// password account unless linked; an IdP belongs to one municipality;
/// single logout ends only its municipality's sessions.
async fn sso_changes_need_a_second_person(db: Db) {
    let s = TestServer::start(db).await;
    let sp = SpConfig::from_base_url(&s.base);
    let op = s.login(None, "op").await;
    let admin = s.login(Some(&tenant_a()), "admin").await;
    // The attacker's IdP, under the operator's control, with JIT accounts.
    let mut evil = TestIdp::new(&format!("{}/evil", s.base));
    evil.sso_url = s.url("/evil/sso");
    let r = op
        .put(s.url(&format!("/api/v1/tenants/{}/sso", tenant_a())))
        .json(&json!({"idp_metadata_xml": evil.metadata_xml(), "mapping": mapping(), "jit": true}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let change: Value = r.json().await.expect("json");
    assert_eq!(change["status"], "pending");
    assert_eq!(change["kind"], "configure_sso");
    assert_eq!(change["proposed_by"], "operator:op-1");
    // Not in effect: SSO is still off for A.
    let r = no_redirects()
        .get(s.url(&format!("/saml/login?tenant={}", tenant_a())))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The operator cannot approve its own proposal (staff endpoint).
    let id = change["change_id"].as_str().expect("id");
    let r = op
        .post(s.url(&format!("/api/v1/changes/{id}/approve")))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The administrator rejects it; it never takes effect.
    let r = admin
        .post(s.url(&format!("/api/v1/changes/{id}/reject")))
        .json(&json!({"reason": "知らないIdP"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(s.approve_pending(&tenant_a(), "all").await.is_empty());
    let r = admin.get(s.url("/api/v1/sso")).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // An administrator's own IdP change: the same administrator cannot
    // approve it; a second one can.
    let mut idp_a = TestIdp::new(&format!("{}/idp-a", s.base));
    idp_a.sso_url = s.url("/idp-a/sso");
    idp_a.slo_url = s.url("/idp-a/slo");
    let r = admin
        .put(s.url("/api/v1/sso"))
        .json(&json!({"idp_metadata_xml": idp_a.metadata_xml(), "mapping": mapping()}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let approved = s.approve_pending(&tenant_a(), "admin").await;
    let [(status, body)] = approved.as_slice() else {
        panic!("one pending change");
    };
    assert_eq!(*status, StatusCode::FORBIDDEN, "{body}");
    let approved = s.approve_pending(&tenant_a(), "all").await;
    let [(status, body)] = approved.as_slice() else {
        panic!("one pending change");
    };
    assert_eq!(*status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "approved");
    assert_eq!(body["decided_by"], format!("staff:s-all-{}", tenant_a()));

    // The IdP names an existing password account: refused until linked.
    let req = start(&s, &tenant_a(), &idp_a).await;
    let (status, body, cookie) = post(
        &s,
        &idp_a.response_b64(&user(&sp, &req, "all", &tenant_a(), &["jumin"])),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("not_linked"), "{body}");
    assert!(cookie.is_none());
    s.link_sso(&tenant_a(), "clerk").await;
    let req = start(&s, &tenant_a(), &idp_a).await;
    let (status, body, cookie_a) = post(
        &s,
        &idp_a.response_b64(&user(&sp, &req, "clerk", &tenant_a(), &["jumin"])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie_a = cookie_a.expect("cookie");

    // B may not use A's IdP (same entity id): refused with the reason.
    let r = op
        .put(s.url(&format!("/api/v1/tenants/{}/sso", tenant_b())))
        .json(&json!({"idp_metadata_xml": idp_a.metadata_xml(), "mapping": mapping()}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let body: Value = r.json().await.expect("json");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("別の団体"), "{message}");
    assert_eq!(body["error"]["field"], "idp_metadata_xml");

    // Single logout from A's IdP ends A's session of `clerk`, not B's.
    let mut idp_b = TestIdp::new(&format!("{}/idp-b", s.base));
    idp_b.sso_url = s.url("/idp-b/sso");
    configure(&s, &op, &tenant_b(), &idp_b, false).await;
    s.link_sso(&tenant_b(), "clerk").await;
    let req = start(&s, &tenant_b(), &idp_b).await;
    let (status, body, cookie_b) = post(
        &s,
        &idp_b.response_b64(&user(&sp, &req, "clerk", &tenant_b(), &["jumin"])),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie_b = cookie_b.expect("cookie");
    let logout = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lo9" Version="2.0" IssueInstant="{}"><saml:Issuer>{}</saml:Issuer><saml:NameID>clerk</saml:NameID></samlp:LogoutRequest>"#,
        chrono::Utc::now().to_rfc3339(),
        idp_a.entity_id
    );
    let q = idp_a.sign_redirect_query("SAMLRequest", &logout);
    let r = no_redirects()
        .get(s.url(&format!("/saml/slo?{q}")))
        .send()
        .await
        .expect("send");
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(whoami(&s, &cookie_a).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(&s, &cookie_b).await.0, StatusCode::OK);
    s.stop().await;
}

common::on_both_backends!(
    single_sign_on_end_to_end,
    saml_login_makes_no_outbound_connection,
    failed_acs_posts_leave_the_access_chain_alone,
    sso_changes_need_a_second_person,
);
