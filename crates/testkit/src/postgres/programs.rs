//! Finding PostgreSQL's programs, and running them as a user `initdb` accepts.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Error;

/// Debian installs each major version's programs here; not all of them are put on PATH.
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";

/// The programs of one PostgreSQL installation.
pub(crate) struct Programs {
    pub(crate) initdb: PathBuf,
    pub(crate) pg_ctl: PathBuf,
    pub(crate) psql: PathBuf,
}

impl Programs {
    /// The server-side programs. `pg_ctl` and `psql` are taken from `initdb`'s directory when
    /// they are there, so all three are of the same version.
    pub(crate) fn server() -> Result<Self, Error> {
        let initdb = find("initdb")?;
        let dir = fs::canonicalize(&initdb)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let sibling = |program: &'static str| match dir.as_ref().map(|d| d.join(program)) {
            Some(p) if is_executable(&p) => Ok(p),
            _ => find(program),
        };
        Ok(Programs {
            pg_ctl: sibling("pg_ctl")?,
            psql: sibling("psql")?,
            initdb,
        })
    }
}

/// `psql`, for talking to a server this crate did not start.
pub(crate) fn psql() -> Result<PathBuf, Error> {
    find("psql")
}

/// `program` on PATH, else in the highest version under /usr/lib/postgresql/*/bin.
fn find(program: &'static str) -> Result<PathBuf, Error> {
    on_path(program)
        .or_else(|| {
            let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(DEBIAN_PG_ROOT)
                .ok()?
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name();
                    let version: Vec<u32> = name
                        .to_str()?
                        .split('.')
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .ok()?;
                    Some((version, e.path().join("bin").join(program)))
                })
                .filter(|(_, p)| is_executable(p))
                .collect();
            versions.sort();
            versions.pop().map(|(_, p)| p)
        })
        .ok_or(Error::ProgramNotFound { program })
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The system user PostgreSQL's programs run as when we are root (initdb refuses root).
pub(crate) struct ServiceUser {
    uid: u32,
    gid: u32,
    /// The program and arguments that run a command as this user, e.g. `runuser -u postgres --`.
    wrapper: Vec<OsString>,
}

impl ServiceUser {
    /// Debian's postgresql package creates this user.
    const DEBIAN: &str = "postgres";
    /// Created by us when the package did not create [`Self::DEBIAN`].
    const OURS: &str = "murakumo-pg";

    /// The user to run PostgreSQL as: `None` when we are not root, so we run it ourselves.
    pub(crate) fn if_root() -> Result<Option<Self>, Error> {
        if effective_uid() != Some(0) {
            return Ok(None);
        }
        let (name, uid, gid) = match lookup(Self::DEBIAN).or_else(|| lookup(Self::OURS)) {
            Some(found) => found,
            None => {
                create_system_user(Self::OURS)?;
                lookup(Self::OURS).ok_or_else(|| Error::NoServiceUser {
                    detail: format!("created user {} but cannot look it up", Self::OURS),
                })?
            }
        };
        let wrapper: Vec<OsString> = if let Some(runuser) = on_path("runuser")
            .or_else(|| Some(PathBuf::from("/usr/sbin/runuser")).filter(|p| is_executable(p)))
        {
            vec![runuser.into(), "-u".into(), name.into(), "--".into()]
        } else if let Some(setpriv) = on_path("setpriv") {
            vec![
                setpriv.into(),
                format!("--reuid={uid}").into(),
                format!("--regid={gid}").into(),
                "--clear-groups".into(),
                "--".into(),
            ]
        } else {
            return Err(Error::NoServiceUser {
                detail: "neither runuser nor setpriv (util-linux) is installed".into(),
            });
        };
        Ok(Some(ServiceUser { uid, gid, wrapper }))
    }

    /// Hands `path` to this user.
    pub(crate) fn chown(&self, path: &Path) -> Result<(), Error> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).map_err(|e| {
            Error::io(
                format!("handing {} to the PostgreSQL user", path.display()),
                e,
            )
        })
    }
}

/// A command for `program`, run as `user` if given, in `cwd`, with no PG* variables from our
/// environment (PGDATA, PGPORT, PGOPTIONS... would silently change what it does).
pub(crate) fn command(program: &Path, user: Option<&ServiceUser>, cwd: &Path) -> Command {
    let mut cmd = match user {
        Some(u) => {
            let mut c = Command::new(&u.wrapper[0]);
            c.args(&u.wrapper[1..]).arg(program);
            c
        }
        None => Command::new(program),
    };
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(cwd).stdin(Stdio::null());
    cmd
}

/// Runs `cmd` to completion; its stdout on success, else an error with its output.
pub(crate) fn run(cmd: &mut Command, action: &str) -> Result<String, Error> {
    let out = cmd
        .output()
        .map_err(|e| Error::io(format!("{action}: cannot run {:?}", cmd.get_program()), e))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(Error::CommandFailed {
            action: action.to_owned(),
            status: out.status,
            output: format!("{}{stdout}", String::from_utf8_lossy(&out.stderr)),
        })
    }
}

/// Our effective uid, from /proc (this crate forbids the `unsafe` a libc call would need),
/// else from `id -u`.
fn effective_uid() -> Option<u32> {
    let from_proc = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            // Real, effective, saved, filesystem.
            uids.split_whitespace().nth(1)?.parse().ok()
        });
    from_proc.or_else(|| {
        let out = Command::new("id").arg("-u").output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    })
}

/// `(name, uid, gid)` of a user in the system's user database.
fn lookup(name: &str) -> Option<(String, u32, u32)> {
    let out = Command::new("getent")
        .args(["passwd", name])
        .output()
        .ok()?;
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let fields: Vec<&str> = line.trim_end().split(':').collect();
    match fields.as_slice() {
        [n, _, uid, gid, ..] if *n == name => {
            Some((name.to_owned(), uid.parse().ok()?, gid.parse().ok()?))
        }
        _ => None,
    }
}

fn create_system_user(name: &str) -> Result<(), Error> {
    let result = run(
        Command::new("useradd").args([
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ]),
        &format!("creating system user {name}"),
    );
    match result {
        Ok(_) => Ok(()),
        // Another test process may have created it at the same moment.
        Err(_) if lookup(name).is_some() => Ok(()),
        Err(e) => Err(Error::NoServiceUser {
            detail: e.to_string(),
        }),
    }
}
