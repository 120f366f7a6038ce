//! Why a SAML message was refused, and what is wrong with a configuration.

/// Why a SAML response (or logout message) was refused. Every variant has a
/// stable [`code`](Rejection::code) for logs and metrics, an English message
/// for operators ([`Display`](std::fmt::Display)) and a Japanese one for the
/// staff member at the browser ([`Rejection::message_ja`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the SAMLResponse is not readable: {0}")]
    Malformed(String),
    #[error("the SAML message contains {0}, which no IdP sends; refused")]
    UnsafeXml(&'static str),
    #[error("the SAML message has a shape used for signature wrapping: {0}")]
    Wrapping(String),
    #[error("the SAML response is not signed by the IdP")]
    Unsigned,
    #[error(
        "the signature does not verify with the IdP certificate of this municipality (wrong key, or the content was altered)"
    )]
    BadSignature,
    #[error("encrypted assertions are not supported; configure the IdP to sign, not encrypt")]
    Encrypted,
    #[error("the response comes from IdP {issuer:?}, but this municipality's IdP is {expected:?}")]
    WrongIssuer { issuer: String, expected: String },
    #[error("the IdP {issuer:?} belongs to another municipality, not to {tenant}")]
    OtherTenantIdp { issuer: String, tenant: String },
    #[error("the assertion has expired or is not yet valid: {0}")]
    Expired(String),
    #[error("the assertion is meant for another service (audience): {0}")]
    WrongAudience(String),
    #[error("the response was sent to another address (recipient/destination): {0}")]
    WrongRecipient(String),
    #[error(
        "the response does not answer a login started here (InResponseTo {0:?} unknown, used or expired)"
    )]
    UnknownRequest(String),
    #[error("IdP-initiated login is not allowed for this municipality")]
    IdpInitiatedNotAllowed,
    #[error("the IdP reports that login did not succeed: {0}")]
    IdpStatus(String),
    #[error("the assertion {0} was already used (replay)")]
    Replay(String),
    #[error("the assertion names no user (no NameID)")]
    NoSubject,
    #[error("the assertion lacks the attribute {0:?} that the mapping requires")]
    MissingAttribute(String),
    #[error("the user belongs to municipality {claimed}, not to {tenant}")]
    OtherTenantUser { claimed: String, tenant: String },
    #[error("the login id {0:?} from the IdP is not a valid login id")]
    BadLogin(String),
    #[error("no role of this municipality is granted by the IdP's values {0:?}")]
    NoRoles(Vec<String>),
    #[error("no staff account {0:?} exists and just-in-time creation is off for this municipality")]
    UnknownUser(String),
    #[error("the staff account {0:?} is disabled")]
    DisabledUser(String),
    #[error("no IdP is configured for this municipality")]
    NotConfigured,
    #[error("verification failed inside xmlsec: {0}")]
    Internal(String),
    #[error(
        "the staff account {0:?} was made for password login and is not linked to the IdP; an administrator links it (POST /api/v1/staff/{{staff_id}}/sso-link, approved by a second administrator)"
    )]
    NotLinked(String),
}

impl Rejection {
    /// A stable, short code (logs, metrics, tests).
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::UnsafeXml(_) => "unsafe_xml",
            Rejection::Wrapping(_) => "signature_wrapping",
            Rejection::Unsigned => "unsigned",
            Rejection::BadSignature => "bad_signature",
            Rejection::Encrypted => "encrypted",
            Rejection::WrongIssuer { .. } => "wrong_issuer",
            Rejection::OtherTenantIdp { .. } => "other_tenant_idp",
            Rejection::Expired(_) => "expired",
            Rejection::WrongAudience(_) => "wrong_audience",
            Rejection::WrongRecipient(_) => "wrong_recipient",
            Rejection::UnknownRequest(_) => "unknown_request",
            Rejection::IdpInitiatedNotAllowed => "idp_initiated_not_allowed",
            Rejection::IdpStatus(_) => "idp_status",
            Rejection::Replay(_) => "replay",
            Rejection::NoSubject => "no_subject",
            Rejection::MissingAttribute(_) => "missing_attribute",
            Rejection::OtherTenantUser { .. } => "other_tenant_user",
            Rejection::BadLogin(_) => "bad_login",
            Rejection::NoRoles(_) => "no_roles",
            Rejection::UnknownUser(_) => "unknown_user",
            Rejection::DisabledUser(_) => "disabled_user",
            Rejection::NotConfigured => "not_configured",
            Rejection::Internal(_) => "internal",
            Rejection::NotLinked(_) => "not_linked",
        }
    }

    /// What failed and what to check, in Japanese, for the page shown to
    /// the staff member.
    pub fn message_ja(&self) -> String {
        match self {
            Rejection::Malformed(_) | Rejection::UnsafeXml(_) => {
                "IdPからの応答を読み取れませんでした。IdPの設定(SAML 2.0、HTTP-POSTバインディング)を確認してください。".into()
            }
            Rejection::Wrapping(_) | Rejection::Unsigned | Rejection::BadSignature => {
                "IdPからの応答の署名を確認できませんでした。IdPの署名証明書が更新されていないか、団体のIdPメタデータが最新かを運用者に確認してください。".into()
            }
            Rejection::Encrypted => {
                "IdPが暗号化したアサーションを送っています。IdP側でアサーションの暗号化を無効にし、署名を有効にしてください。".into()
            }
            Rejection::WrongIssuer { .. } | Rejection::OtherTenantIdp { .. } => {
                "この団体に登録されていないIdPからの応答です。ログインする団体コードと、利用しているIdPが正しいかを確認してください。".into()
            }
            Rejection::Expired(_) => {
                "IdPからの応答の有効期限が切れています。もう一度ログインしてください。繰り返す場合はIdPとこのサーバーの時刻のずれを確認してください。".into()
            }
            Rejection::WrongAudience(_) | Rejection::WrongRecipient(_) => {
                "IdPからの応答が別のサービス宛てです。IdPに登録されたSPメタデータ(エンティティIDとACSのURL)がこのサーバーのものかを確認してください。".into()
            }
            Rejection::UnknownRequest(_) => {
                "このログインはこのサーバーで開始されたものではないか、時間が経ちすぎています。ログイン画面からもう一度始めてください。".into()
            }
            Rejection::IdpInitiatedNotAllowed => {
                "この団体ではIdPのポータルから直接のログインは許可されていません。ログイン画面からシングルサインオンを選んでください。".into()
            }
            Rejection::IdpStatus(_) => {
                "IdPでの認証が完了しませんでした。IdPでもう一度ログインしてください。".into()
            }
            Rejection::Replay(_) => {
                "この応答はすでに使われています。ログイン画面からもう一度ログインしてください。".into()
            }
            Rejection::NoSubject | Rejection::MissingAttribute(_) | Rejection::BadLogin(_) => {
                "IdPから職員を特定する情報(ログインIDなどの属性)が届きませんでした。団体管理者に属性の対応付けの設定とIdPの属性送信の設定を確認してもらってください。".into()
            }
            Rejection::OtherTenantUser { .. } => {
                "この職員は別の団体に所属しています。ログインする団体コードを確認してください。".into()
            }
            Rejection::NoRoles(_) => {
                "IdPから届いた所属・権限がこの団体のどの役割にも対応していません。団体管理者に役割の対応付けを確認してもらってください。".into()
            }
            Rejection::UnknownUser(_) => {
                "この職員のアカウントが登録されていません。団体管理者にアカウントの作成を依頼してください。".into()
            }
            Rejection::DisabledUser(_) => {
                "この職員のアカウントは無効になっています。団体管理者に確認してください。".into()
            }
            Rejection::NotConfigured => {
                "この団体ではシングルサインオン(IdP)が設定されていません。ID・パスワードでログインするか、運用者にIdPの設定を依頼してください。".into()
            }
            Rejection::Internal(_) => {
                "署名の検証中に内部エラーが起きました。運用者にサーバーのログを確認してもらってください。".into()
            }
            Rejection::NotLinked(_) => {
                "このアカウントはID・パスワードでのログイン用に作られ、シングルサインオンとまだ連携していません。団体管理者に連携(2人目の管理者の承認が必要です)を依頼するか、ID・パスワードでログインしてください。".into()
            }
        }
    }
}

/// What is wrong with IdP metadata or a tenant's SSO settings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the IdP metadata is not readable XML: {0}")]
    Xml(String),
    #[error("the IdP metadata has no {0}; export the IdP's SAML 2.0 metadata again")]
    Missing(&'static str),
    #[error("the IdP certificate is not a readable X.509 certificate: {0}")]
    Certificate(String),
    #[error("the IdP metadata's {what} {url:?} is not an http(s) URL")]
    Url { what: &'static str, url: String },
    #[error("attribute mapping: {0}")]
    Mapping(String),
}

impl ConfigError {
    /// What the 団体管理者 configuring single sign-on is told, in Japanese.
    pub fn message_ja(&self) -> String {
        match self {
            ConfigError::Xml(e) => format!(
                "IdP のメタデータを XML として読み取れません({e})。IdP から SAML 2.0 のメタデータを書き出し直して、そのまま貼り付けてください"
            ),
            ConfigError::Missing(what) => format!(
                "IdP のメタデータに {what} がありません。IdP から SAML 2.0 のメタデータを書き出し直してください"
            ),
            ConfigError::Certificate(e) => format!(
                "IdP の署名証明書を X.509 証明書として読み取れません({e})。メタデータを書き出し直してください"
            ),
            ConfigError::Url { what, url } => {
                format!("IdP のメタデータの {what}「{url}」が http(s) の URL ではありません")
            }
            ConfigError::Mapping(e) => format!(
                "属性の対応が正しくありません: {e}。役割コードは resident.clerk などを使ってください"
            ),
        }
    }
}
