//! Bad links between processes on this machine: two network namespaces
//! joined by a veth pair, shaped with `tc netem` (delay, loss, rate) and a
//! small MTU. A kernel without netem gets the rate from `tc htb` and the loss
//! from nftables; the delay is then missing ([`BadLink::degraded`]). IPv4 link-local addresses inside the two namespaces only —
//! nothing is routed to or from any other network.
//!
//! ```no_run
//! use murakumo_testkit::{BadLink, Side};
//! let Some(link) = BadLink::create(&BadLink::LGWAN_WORST)? else { return Ok(()) };
//! let mut server = link.command(Side::Far, "murakumo");
//! // server.args(["serve", "--listen", &format!("{}:8080", link.far_addr())]) …
//! link.cut()?;     // the link goes down
//! link.restore()?; // and comes back
//! # Ok::<(), murakumo_testkit::Error>(())
//! ```
//!
//! Needs root (or CAP_NET_ADMIN), the `ip` and `tc` programs (iproute2) and,
//! without netem, `nft` (nftables).
//! When creating a namespace is not permitted (EPERM, e.g. in an
//! unprivileged container), [`BadLink::create`] returns `Ok(None)` and says
//! why on stderr, so a test can skip with the reason printed. Namespaces are
//! removed on drop; ones left by a killed test process are removed by the
//! next [`BadLink::create`].

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::Error;

/// How the link is impaired (applied in both directions).
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    /// One-way delay in milliseconds.
    pub delay_ms: u32,
    /// Packet loss in percent.
    pub loss_percent: f32,
    /// Rate in kbit/s (0: unlimited).
    pub rate_kbit: u32,
    pub mtu: u32,
}

/// Which end of the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Near,
    Far,
}

/// Two namespaces and the impaired veth link between them.
pub struct BadLink {
    near: String,
    far: String,
    near_dev: String,
    far_dev: String,
    degraded: std::sync::atomic::AtomicBool,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);
const PREFIX: &str = "mkbl";

impl BadLink {
    /// The seed report's worst LGWAN link: 48 kbit/s, 300 ms, 1 % loss, MTU 478.
    pub const LGWAN_WORST: Impairment = Impairment {
        delay_ms: 300,
        loss_percent: 1.0,
        rate_kbit: 48,
        mtu: 478,
    };

    pub fn create(imp: &Impairment) -> Result<Option<BadLink>, Error> {
        remove_stale();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let near = format!("{PREFIX}-{pid}-{n}-n");
        let far = format!("{PREFIX}-{pid}-{n}-f");
        let out = Command::new("ip")
            .args(["netns", "add", &near])
            .output()
            .map_err(|e| Error::io("running `ip netns add` (install iproute2)", e))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            if err.contains("Operation not permitted") || err.contains("Permission denied") {
                eprintln!(
                    "network namespaces are not permitted here ({}): skipping",
                    err.trim()
                );
                return Ok(None);
            }
            return Err(Error::CommandFailed {
                action: "ip netns add".into(),
                status: out.status,
                output: err,
            });
        }
        // From here on, Drop cleans up whatever was made.
        let link = BadLink {
            near,
            far,
            near_dev: format!("mkv{}{}n", pid % 100_000, n % 100),
            far_dev: format!("mkv{}{}f", pid % 100_000, n % 100),
            degraded: std::sync::atomic::AtomicBool::new(false),
        };
        link.set_up(imp)?;
        Ok(Some(link))
    }

    fn set_up(&self, imp: &Impairment) -> Result<(), Error> {
        run("ip", &["netns", "add", &self.far])?;
        run(
            "ip",
            &[
                "link",
                "add",
                &self.near_dev,
                "netns",
                &self.near,
                "type",
                "veth",
                "peer",
                "name",
                &self.far_dev,
                "netns",
                &self.far,
            ],
        )?;
        for (ns, dev, addr) in [
            (&self.near, &self.near_dev, self.near_addr()),
            (&self.far, &self.far_dev, self.far_addr()),
        ] {
            let cidr = format!("{addr}/30");
            let mtu = imp.mtu.to_string();
            run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
            run("ip", &["-n", ns, "addr", "add", &cidr, "dev", dev])?;
            run("ip", &["-n", ns, "link", "set", dev, "mtu", &mtu, "up"])?;
            let mut netem = vec![
                "-n", ns, "qdisc", "add", "dev", dev, "root", "netem", "delay",
            ]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
            netem.push(format!("{}ms", imp.delay_ms));
            netem.push("loss".into());
            netem.push(format!("{}%", imp.loss_percent));
            if imp.rate_kbit > 0 {
                netem.push("rate".into());
                netem.push(format!("{}kbit", imp.rate_kbit));
            }
            let args: Vec<&str> = netem.iter().map(String::as_str).collect();
            match run("tc", &args) {
                Ok(()) => {}
                Err(Error::CommandFailed { output, .. }) if output.contains("unknown") => {
                    // No sch_netem in this kernel: shape the rate with htb,
                    // drop packets at random with nftables, and say that the
                    // delay cannot be applied.
                    if !self.degraded.swap(true, Ordering::SeqCst) {
                        eprintln!(
                            "BadLink: this kernel has no netem qdisc; applying rate {} kbit/s, \
                             {} % loss (nftables) and MTU {}, without the {} ms delay",
                            imp.rate_kbit, imp.loss_percent, imp.mtu, imp.delay_ms
                        );
                    }
                    if imp.loss_percent > 0.0 {
                        drop_at_random(ns, dev, imp.loss_percent)?;
                    }
                    if imp.rate_kbit > 0 {
                        let rate = format!("{}kbit", imp.rate_kbit);
                        run(
                            "tc",
                            &[
                                "-n", ns, "qdisc", "add", "dev", dev, "root", "handle", "1:",
                                "htb", "default", "10", "r2q", "1",
                            ],
                        )?;
                        run(
                            "tc",
                            &[
                                "-n", ns, "class", "add", "dev", dev, "parent", "1:", "classid",
                                "1:10", "htb", "rate", &rate, "ceil", &rate,
                            ],
                        )?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether the delay could not be applied (no netem in the kernel):
    /// the rate, the loss (by nftables) and the MTU hold.
    pub fn degraded(&self) -> bool {
        self.degraded.load(Ordering::SeqCst)
    }

    /// The near end's address (inside its namespace).
    pub fn near_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(169, 254, 213, 1)
    }

    /// The far end's address (inside its namespace).
    pub fn far_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(169, 254, 213, 2)
    }

    /// A command that runs `program` inside one end's namespace.
    pub fn command(&self, side: Side, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", self.ns(side)]).arg(program);
        c
    }

    fn ns(&self, side: Side) -> &str {
        match side {
            Side::Near => &self.near,
            Side::Far => &self.far,
        }
    }

    /// Cuts the link (both ends down).
    pub fn cut(&self) -> Result<(), Error> {
        run(
            "ip",
            &["-n", &self.near, "link", "set", &self.near_dev, "down"],
        )?;
        run(
            "ip",
            &["-n", &self.far, "link", "set", &self.far_dev, "down"],
        )
    }

    /// Brings a cut link back.
    pub fn restore(&self) -> Result<(), Error> {
        run(
            "ip",
            &["-n", &self.near, "link", "set", &self.near_dev, "up"],
        )?;
        run("ip", &["-n", &self.far, "link", "set", &self.far_dev, "up"])
    }
}

impl Drop for BadLink {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so both.
        for ns in [&self.near, &self.far] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Drops `percent` of the packets arriving on `dev` at random (in steps of
/// 0.1 %): nftables' `numgen random` at the device's ingress, for kernels
/// without netem. On arrival, not on departure: a packet dropped on the way
/// out is refused to the sender (EPERM), which no wire does.
fn drop_at_random(ns: &str, dev: &str, percent: f32) -> Result<(), Error> {
    let per_mille = ((percent * 10.0).round() as u32).min(1000).to_string();
    let chain = format!("{{ type filter hook ingress device \"{dev}\" priority 0 ; }}");
    let nft = |args: &[&str]| {
        let mut all = vec!["netns", "exec", ns, "nft"];
        all.extend_from_slice(args);
        run("ip", &all)
    };
    nft(&["add", "table", "netdev", "badlink"])?;
    nft(&["add", "chain", "netdev", "badlink", "in", &chain])?;
    nft(&[
        "add", "rule", "netdev", "badlink", "in", "numgen", "random", "mod", "1000", "<",
        &per_mille, "drop",
    ])
}

fn run(program: &str, args: &[&str]) -> Result<(), Error> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::io(format!("running {program}"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::CommandFailed {
            action: format!("{program} {}", args.join(" ")),
            status: out.status,
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Removes namespaces left by test processes that no longer run.
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let mut parts = name.split('-');
        if parts.next() != Some(PREFIX) {
            continue;
        }
        let Some(pid) = parts.next() else { continue };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}
