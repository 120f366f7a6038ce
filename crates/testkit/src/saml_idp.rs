//! A real SAML 2.0 identity provider for tests: Debian's SimpleSAMLphp
//! (package `simplesamlphp`, installed by `scripts/setup-test.sh`) served by
//! `php -S` on a free 127.0.0.1 port, with its own RSA key made by the
//! `openssl` command, the `exampleauth:UserPass` users given, and one
//! service provider registered. Stopped and removed on drop.

use std::fmt::Write as _;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, free_port};

const WWW: &str = "/usr/share/simplesamlphp/www";

/// A user of the test IdP: login, password and attributes sent in the
/// assertion.
pub struct IdpUser<'a> {
    pub login: &'a str,
    pub password: &'a str,
    pub attributes: &'a [(&'a str, &'a [&'a str])],
}

/// A running SimpleSAMLphp IdP.
pub struct SimpleSamlIdp {
    /// e.g. `http://127.0.0.1:PORT`
    pub base: String,
    /// The IdP's entity id.
    pub entity_id: String,
    child: Child,
    dir: tempfile::TempDir,
}

fn php_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl SimpleSamlIdp {
    /// Starts the IdP at `http://127.0.0.1:PORT` with one SP
    /// (`sp_entity_id`, its ACS and SLO URLs).
    pub fn start(
        sp_entity_id: &str,
        acs_url: &str,
        slo_url: &str,
        users: &[IdpUser<'_>],
    ) -> Result<SimpleSamlIdp, Error> {
        Self::start_at("127.0.0.1", sp_entity_id, acs_url, slo_url, users)
    }

    /// As [`Self::start`], with the IdP's URLs naming `host` (e.g.
    /// `localhost`, so that a browser sees the IdP and a service on
    /// 127.0.0.1 as different sites). It listens on 127.0.0.1.
    pub fn start_at(
        host: &str,
        sp_entity_id: &str,
        acs_url: &str,
        slo_url: &str,
        users: &[IdpUser<'_>],
    ) -> Result<SimpleSamlIdp, Error> {
        if !Path::new(WWW).is_dir() {
            return Err(Error::ProgramNotFound {
                program: "simplesamlphp (Debian package)",
            });
        }
        let dir = tempfile::tempdir().map_err(|e| Error::io("creating the IdP directory", e))?;
        let d = dir.path();
        for sub in ["config", "metadata", "cert", "data"] {
            std::fs::create_dir_all(d.join(sub)).map_err(|e| Error::io("creating IdP dirs", e))?;
        }
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
            ])
            .args(["-subj", "/CN=murakumo-test-idp"])
            .arg("-keyout")
            .arg(d.join("cert/idp.key"))
            .arg("-out")
            .arg(d.join("cert/idp.crt"))
            .output()
            .map_err(|e| Error::io("running openssl (scripts/setup-test.sh)", e))?;
        if !out.status.success() {
            return Err(Error::CommandFailed {
                action: "openssl req".into(),
                status: out.status,
                output: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let port = free_port();
        let base = format!("http://{host}:{port}");
        let entity_id = format!("{base}/idp");
        let p = |s: &str| d.join(s).display().to_string() + "/";
        let config = format!(
            "<?php\n$config = [\n  'baseurlpath' => {base},\n  'certdir' => {cert},\n  'loggingdir' => {data},\n  'datadir' => {data},\n  'tempdir' => {data},\n  'metadatadir' => {md},\n  'technicalcontact_name' => 'test',\n  'technicalcontact_email' => 'test@example.invalid',\n  'timezone' => 'UTC',\n  'secretsalt' => 'murakumo-test-salt-0123456789',\n  'auth.adminpassword' => 'murakumo-test-admin',\n  'enable.saml20-idp' => true,\n  'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true],\n  'store.type' => 'phpsession',\n  'session.cookie.secure' => false,\n  'session.cookie.samesite' => null,\n  'session.phpsession.savepath' => {data},\n  'logging.handler' => 'file',\n  'logging.logfile' => 'simplesamlphp.log',\n  'language.default' => 'en',\n];\n",
            base = php_str(&format!("{base}/")),
            cert = php_str(&p("cert")),
            data = php_str(&p("data")),
            md = php_str(&p("metadata")),
        );
        let mut sources = String::from(
            "<?php\n$config = [\n  'admin' => ['core:AdminPassword'],\n  'users' => ['exampleauth:UserPass',\n",
        );
        for u in users {
            let attrs: Vec<String> = u
                .attributes
                .iter()
                .map(|(k, vs)| {
                    let vals: Vec<String> = vs.iter().map(|v| php_str(v)).collect();
                    format!("{} => [{}]", php_str(k), vals.join(", "))
                })
                .collect();
            let _ = writeln!(
                sources,
                "    {} => [{}],",
                php_str(&format!("{}:{}", u.login, u.password)),
                attrs.join(", ")
            );
        }
        sources.push_str("  ],\n];\n");
        let hosted = format!(
            "<?php\n$metadata[{eid}] = [\n  'host' => '__DEFAULT__',\n  'privatekey' => 'idp.key',\n  'certificate' => 'idp.crt',\n  'auth' => 'users',\n  'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',\n  'saml20.sign.assertion' => true,\n  'saml20.sign.response' => true,\n];\n",
            eid = php_str(&entity_id)
        );
        let remote = format!(
            "<?php\n$metadata[{sp}] = [\n  'AssertionConsumerService' => {acs},\n  'SingleLogoutService' => {slo},\n];\n",
            sp = php_str(sp_entity_id),
            acs = php_str(acs_url),
            slo = php_str(slo_url),
        );
        for (name, text) in [
            ("config/config.php", config),
            ("config/authsources.php", sources),
            ("metadata/saml20-idp-hosted.php", hosted),
            ("metadata/saml20-sp-remote.php", remote),
        ] {
            std::fs::write(d.join(name), text).map_err(|e| Error::io("writing IdP config", e))?;
        }
        let log = std::fs::File::create(d.join("data/php-server.log"))
            .map_err(|e| Error::io("creating the IdP log", e))?;
        let log2 = log.try_clone().map_err(|e| Error::io("IdP log", e))?;
        let child = Command::new("php")
            .args(["-S", &format!("127.0.0.1:{port}"), "-t", WWW])
            .env("SIMPLESAMLPHP_CONFIG_DIR", d.join("config"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| {
                Error::io(
                    "starting php -S (scripts/setup-test.sh installs php-cli)",
                    e,
                )
            })?;
        let idp = SimpleSamlIdp {
            base,
            entity_id,
            child,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(Error::CommandFailed {
                    action: "php -S (SimpleSAMLphp)".into(),
                    status: std::process::ExitStatus::default(),
                    output: idp.log(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(idp)
    }

    /// The IdP's SAML 2.0 metadata URL.
    pub fn metadata_url(&self) -> String {
        format!("{}/saml2/idp/metadata.php", self.base)
    }

    /// The PHP server's and SimpleSAMLphp's logs (for failure messages).
    pub fn log(&self) -> String {
        let d = self.dir.path().join("data");
        ["php-server.log", "simplesamlphp.log"]
            .iter()
            .map(|f| std::fs::read_to_string(d.join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for SimpleSamlIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
