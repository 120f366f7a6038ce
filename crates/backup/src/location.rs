//! Repository URLs: where a repository lives.

use std::path::PathBuf;

use crate::{BackupError, Result};

/// A parsed repository URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// `file:///PATH` (or `file://relative/path`): a directory on this machine.
    File(PathBuf),
    /// `webdav://HOST:PORT/PATH` (http) or `webdavs://…` (https).
    Webdav { endpoint: String, root: String },
    /// `murakumo://HOST:PORT` (http) or `murakumos://HOST:PORT` (https):
    /// another Murakumo data centre's backup-target API.
    Murakumo { base: String },
    /// `dispersed:URL1,URL2,URL3`: 2-of-3 secret sharing over three sites.
    Dispersed(Box<[Location; 3]>),
}

impl Location {
    pub fn parse(url: &str) -> Result<Location> {
        let bad = |reason: &str| BackupError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let url = url.trim();
        if let Some(rest) = url.strip_prefix("dispersed:") {
            let parts: Vec<&str> = rest.split(',').map(str::trim).collect();
            let [a, b, c] = parts.as_slice() else {
                return Err(bad(
                    "dispersed: takes exactly three repository URLs, comma-separated",
                ));
            };
            let sites = [
                Location::parse(a)?,
                Location::parse(b)?,
                Location::parse(c)?,
            ];
            if sites.iter().any(|s| matches!(s, Location::Dispersed(_))) {
                return Err(bad("dispersed: sites cannot themselves be dispersed:"));
            }
            if sites[0] == sites[1] || sites[1] == sites[2] || sites[0] == sites[2] {
                return Err(bad("the three dispersed: sites must be different"));
            }
            return Ok(Location::Dispersed(Box::new(sites)));
        }
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err(bad(
                    "file:// needs a path, e.g. file:///var/backups/murakumo",
                ));
            }
            return Ok(Location::File(PathBuf::from(path)));
        }
        for (prefix, scheme) in [("webdav://", "http"), ("webdavs://", "https")] {
            if let Some(rest) = url.strip_prefix(prefix) {
                let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
                if host.is_empty() {
                    return Err(bad("no host given"));
                }
                return Ok(Location::Webdav {
                    endpoint: format!("{scheme}://{host}"),
                    root: format!("/{}/", path.trim_matches('/')).replace("//", "/"),
                });
            }
        }
        for (prefix, scheme) in [("murakumo://", "http"), ("murakumos://", "https")] {
            if let Some(rest) = url.strip_prefix(prefix) {
                let host = rest.trim_end_matches('/');
                if host.is_empty() || host.contains('/') {
                    return Err(bad(
                        "murakumo:// takes HOST:PORT of the other centre's server, without a path",
                    ));
                }
                return Ok(Location::Murakumo {
                    base: format!("{scheme}://{host}"),
                });
            }
        }
        Err(bad("unknown scheme"))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(p) => write!(f, "file://{}", p.display()),
            Location::Webdav { endpoint, root } => {
                let (scheme, host) = endpoint.split_once("://").unwrap_or(("http", endpoint));
                let s = if scheme == "https" {
                    "webdavs"
                } else {
                    "webdav"
                };
                write!(f, "{s}://{host}{}", root.trim_end_matches('/'))
            }
            Location::Murakumo { base } => {
                let (scheme, host) = base.split_once("://").unwrap_or(("http", base));
                let s = if scheme == "https" {
                    "murakumos"
                } else {
                    "murakumo"
                };
                write!(f, "{s}://{host}")
            }
            Location::Dispersed(sites) => {
                write!(f, "dispersed:{},{},{}", sites[0], sites[1], sites[2])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_print_back() {
        for url in [
            "file:///var/backups/m",
            "webdav://127.0.0.1:8081/backups/m",
            "webdavs://dav.example.jp:443/x",
            "murakumo://127.0.0.1:9000",
            "murakumos://dc2.example.jp:8443",
            "dispersed:file:///a,file:///b,murakumo://127.0.0.1:1",
        ] {
            let loc = Location::parse(url).expect(url);
            assert_eq!(loc.to_string(), url);
        }
        assert_eq!(
            Location::parse("webdav://h:1/a/b/").expect("ok"),
            Location::Webdav {
                endpoint: "http://h:1".into(),
                root: "/a/b/".into()
            }
        );
    }

    #[test]
    fn bad_urls_say_what_is_accepted() {
        for url in [
            "s3://bucket",
            "file://",
            "murakumo://h:1/path",
            "dispersed:file:///a,file:///b",
            "dispersed:file:///a,file:///a,file:///b",
        ] {
            let e = Location::parse(url).expect_err(url).to_string();
            assert!(e.contains("file:///PATH"), "{e}");
        }
    }
}
