//! Bad links between processes on this machine: two network namespaces
//! joined by a veth pair, shaped with `tc netem` (delay, loss, rate) and a
//! small MTU. A kernel without netem gets the rate from `tc htb`, the loss
//! from nftables, and the delay from a wire in user space: a third namespace
//! between the two, where python3 passes raw frames from one veth pair to
//! the other after the delay. IPv4 link-local addresses inside the two namespaces only —
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
//! without netem, `nft` (nftables), `ethtool` and `python3`.
//! When creating a namespace is not permitted (EPERM, e.g. in an
//! unprivileged container), [`BadLink::create`] returns `Ok(None)` and says
//! why on stderr. Tests call [`BadLink::require`] instead, which fails: a
//! test that needs a bad link never passes without one. To leave those tests
//! out where namespaces cannot be made, set `MURAKUMO_SKIP_NETNS_TESTS=1`
//! for `scripts/test.sh`, which then filters them out so that nextest
//! reports them as skipped. Namespaces are
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
    /// Between the two when the delay is made in user space (no netem).
    middle: String,
    near_dev: String,
    far_dev: String,
    /// The user-space wire that delays frames (no netem), killed on drop.
    wire: std::sync::Mutex<Option<std::process::Child>>,
}

/// The variable that, set to `1`, makes `scripts/test.sh` leave out the
/// tests that need network namespaces (they are reported as skipped).
pub const SKIP_NETNS_TESTS: &str = "MURAKUMO_SKIP_NETNS_TESTS";

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

    /// A bad link for a test, or a panic that says why there is none and
    /// what to do: run as root (CI does), or skip the bad-link tests with
    /// [`SKIP_NETNS_TESTS`]`=1 scripts/test.sh` (reported as skipped).
    pub fn require(imp: &Impairment) -> BadLink {
        match BadLink::create(imp) {
            Ok(Some(link)) => link,
            Ok(None) => panic!(
                "this test needs network namespaces, which are not permitted here: \
                 run it as root (or with CAP_NET_ADMIN), as CI does, or leave the bad-link \
                 tests out with `{SKIP_NETNS_TESTS}=1 scripts/test.sh` (nextest then \
                 reports them as skipped)"
            ),
            Err(e) => panic!("creating the bad link: {e}"),
        }
    }

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
            middle: format!("{PREFIX}-{pid}-{n}-m"),
            near_dev: format!("mkv{}{}n", pid % 100_000, n % 100),
            far_dev: format!("mkv{}{}f", pid % 100_000, n % 100),
            wire: std::sync::Mutex::new(None),
        };
        link.set_up(imp)?;
        Ok(Some(link))
    }

    fn set_up(&self, imp: &Impairment) -> Result<(), Error> {
        run("ip", &["netns", "add", &self.far])?;
        // netem, or rate by htb, loss by nftables and the delay by a wire in
        // user space between two veth pairs.
        let netem = has_netem(&self.near);
        let wire = !netem && imp.delay_ms > 0;
        if wire {
            run("ip", &["netns", "add", &self.middle])?;
            for (ns, dev, mid) in [
                (&self.near, &self.near_dev, self.middle_dev(Side::Near)),
                (&self.far, &self.far_dev, self.middle_dev(Side::Far)),
            ] {
                veth(ns, dev, &self.middle, &mid)?;
            }
        } else {
            veth(&self.near, &self.near_dev, &self.far, &self.far_dev)?;
        }
        let mtu = imp.mtu.to_string();
        // Fixed MACs and permanent neighbour entries: the loss falls on the
        // traffic under test, not on ARP (a lost ARP reply silences a link
        // for seconds, which makes a test's outcome luck).
        let (near_mac, far_mac) = ("02:6d:6b:00:00:01", "02:6d:6b:00:00:02");
        for (ns, dev, addr, mac, peer, peer_mac) in [
            (
                &self.near,
                &self.near_dev,
                self.near_addr(),
                near_mac,
                self.far_addr(),
                far_mac,
            ),
            (
                &self.far,
                &self.far_dev,
                self.far_addr(),
                far_mac,
                self.near_addr(),
                near_mac,
            ),
        ] {
            let cidr = format!("{addr}/30");
            let peer = peer.to_string();
            run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
            run("ip", &["-n", ns, "link", "set", dev, "address", mac])?;
            run("ip", &["-n", ns, "addr", "add", &cidr, "dev", dev])?;
            run("ip", &["-n", ns, "link", "set", dev, "mtu", &mtu, "up"])?;
            run(
                "ip",
                &[
                    "-n",
                    ns,
                    "neigh",
                    "replace",
                    &peer,
                    "lladdr",
                    peer_mac,
                    "dev",
                    dev,
                    "nud",
                    "permanent",
                ],
            )?;
            if netem {
                let delay = format!("{}ms", imp.delay_ms);
                let loss = format!("{}%", imp.loss_percent);
                let rate = format!("{}kbit", imp.rate_kbit);
                let mut args = vec![
                    "-n", ns, "qdisc", "add", "dev", dev, "root", "netem", "delay", &delay, "loss",
                    &loss,
                ];
                if imp.rate_kbit > 0 {
                    args.extend(["rate", &rate]);
                }
                run("tc", &args)?;
                continue;
            }
            if imp.rate_kbit > 0 {
                let rate = format!("{}kbit", imp.rate_kbit);
                run(
                    "tc",
                    &[
                        "-n", ns, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb",
                        "default", "10", "r2q", "1",
                    ],
                )?;
                run(
                    "tc",
                    &[
                        "-n", ns, "class", "add", "dev", dev, "parent", "1:", "classid", "1:10",
                        "htb", "rate", &rate, "ceil", &rate,
                    ],
                )?;
            }
            if imp.loss_percent > 0.0 {
                drop_at_random(ns, dev, imp.loss_percent)?;
            }
        }
        if wire {
            self.start_wire(imp)?;
        }
        Ok(())
    }

    /// The middle namespace's end of the veth pair to `side`.
    fn middle_dev(&self, side: Side) -> String {
        let dev = match side {
            Side::Near => &self.near_dev,
            Side::Far => &self.far_dev,
        };
        format!("{dev}w")
    }

    /// Starts the wire in the middle namespace: it passes every frame from
    /// one end to the other `delay_ms` later. Offloads are off on all four
    /// devices: segmentation, so that frames are no larger than the MTU, and
    /// checksumming, so that a frame carries its checksum across (a veth
    /// peer trusts a partial one; the far end, fed by the wire, does not).
    fn start_wire(&self, imp: &Impairment) -> Result<(), Error> {
        let (a, b) = (self.middle_dev(Side::Near), self.middle_dev(Side::Far));
        let mtu = imp.mtu.to_string();
        for (ns, dev) in [
            (&self.near, &self.near_dev),
            (&self.far, &self.far_dev),
            (&self.middle, &a),
            (&self.middle, &b),
        ] {
            run(
                "ip",
                &[
                    "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso",
                    "off", "gro", "off",
                ],
            )?;
            if *ns == self.middle {
                run("ip", &["-n", ns, "link", "set", dev, "mtu", &mtu, "up"])?;
            }
        }
        // No addresses in the middle, and no IPv6 chatter of its own.
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.middle,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ],
        )?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.middle, "python3", "-c", WIRE])
            .args([imp.delay_ms.to_string(), a, b])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| Error::io("starting the delaying wire (python3)", e))?;
        let mut ready = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut ready);
        }
        let started = ready.trim() == "ready";
        if let Ok(mut slot) = self.wire.lock() {
            *slot = Some(child);
        }
        if !started {
            return Err(Error::io(
                "starting the delaying wire",
                std::io::Error::other("python3 did not start it"),
            ));
        }
        eprintln!(
            "BadLink: this kernel has no netem qdisc; rate {} kbit/s by htb, {} % loss by \
             nftables, {} ms delay by a wire in user space, MTU {}",
            imp.rate_kbit, imp.loss_percent, imp.delay_ms, imp.mtu
        );
        Ok(())
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
        if let Ok(mut slot) = self.wire.lock() {
            if let Some(mut child) = slot.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // Deleting a namespace deletes its end of the veth pair, and so both.
        for ns in [&self.near, &self.far, &self.middle] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// The wire of a link without netem, run by python3 in the middle
/// namespace with the delay in ms and its two devices: raw frames in from
/// one device, out of the other `delay` later, in order. It ends when a
/// device goes away (the namespace is deleted).
const WIRE: &str = r#"
import heapq, select, socket, sys, time
delay = int(sys.argv[1]) / 1000.0
ends = []
for dev in sys.argv[2:4]:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((dev, 0))
    ends.append(s)
other = {ends[0]: ends[1], ends[1]: ends[0]}
print("ready", flush=True)
queue, n = [], 0
while True:
    wait = max(0.0, queue[0][0] - time.monotonic()) if queue else None
    for s in select.select(ends, [], [], wait)[0]:
        frame, addr = s.recvfrom(65536)
        if addr[2] != socket.PACKET_OUTGOING:
            heapq.heappush(queue, (time.monotonic() + delay, n, other[s], frame))
            n += 1
    while queue and queue[0][0] <= time.monotonic():
        _, _, out, frame = heapq.heappop(queue)
        try:
            out.send(frame)
        except OSError:
            pass
"#;

/// Whether this kernel has netem: tried on the loopback of a namespace.
fn has_netem(ns: &str) -> bool {
    let tried = run(
        "tc",
        &[
            "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
        ],
    );
    let _ = run("tc", &["-n", ns, "qdisc", "del", "dev", "lo", "root"]);
    tried.is_ok()
}

/// A veth pair: `dev` in `ns`, its peer `peer_dev` in `peer_ns`.
fn veth(ns: &str, dev: &str, peer_ns: &str, peer_dev: &str) -> Result<(), Error> {
    run(
        "ip",
        &[
            "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", peer_dev, "netns",
            peer_ns,
        ],
    )
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
