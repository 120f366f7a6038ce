//! Just enough of libpq's URL syntax to hand out URLs for other roles on the same server.

use crate::Error;

/// Where a server is, from its admin URL: everything but the user, password and database.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServerAddress {
    scheme: String,
    /// `host:port`, possibly empty (a socket given by `?host=`).
    host_port: String,
    /// Including the leading `?`, or empty.
    query: String,
}

impl ServerAddress {
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let bad = || Error::BadAdminUrl {
            redacted: redact(url),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        if scheme != "postgres" && scheme != "postgresql" {
            return Err(bad());
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let query = rest[authority_end..]
            .find('?')
            .map_or("", |q| &rest[authority_end + q..]);
        Ok(ServerAddress {
            scheme: scheme.to_owned(),
            host_port: host_port.to_owned(),
            query: query.to_owned(),
        })
    }

    /// A URL for `user` with `password` (which must need no percent-encoding) on `database`.
    pub(crate) fn url(&self, user: &str, password: &str, database: &str) -> String {
        let ServerAddress {
            scheme,
            host_port,
            query,
        } = self;
        format!("{scheme}://{user}:{password}@{host_port}/{database}{query}")
    }
}

/// `url` with the password (if any) replaced by `***`, for error messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_host_port_and_query_and_replaces_the_rest() {
        let a = ServerAddress::parse(
            "postgres://admin:s3cret@db.example:6543/postgres?sslmode=require",
        )
        .expect("valid URL");
        assert_eq!(
            a.url("app", "pw", "appdb"),
            "postgres://app:pw@db.example:6543/appdb?sslmode=require"
        );
    }

    #[test]
    fn accepts_urls_without_credentials_or_database() {
        let a = ServerAddress::parse("postgresql://127.0.0.1:5432").expect("valid URL");
        assert_eq!(a.url("u", "p", "d"), "postgresql://u:p@127.0.0.1:5432/d");
        let a =
            ServerAddress::parse("postgres:///postgres?host=/run/postgresql").expect("valid URL");
        assert_eq!(
            a.url("u", "p", "d"),
            "postgres://u:p@/d?host=/run/postgresql"
        );
    }

    #[test]
    fn rejects_other_schemes_without_showing_the_password() {
        let e = ServerAddress::parse("mysql://root:hunter2@h/db").expect_err("not postgres");
        let msg = e.to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("mysql://root:***@h/db"), "{msg}");
    }
}
