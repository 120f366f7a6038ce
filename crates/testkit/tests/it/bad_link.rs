//! A bad link loses what it is told to lose: netem where the kernel has it,
//! nftables where it does not.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use murakumo_testkit::{BadLink, Impairment, Side};

#[test]
fn a_lossy_link_drops_about_the_share_of_packets_it_is_given() {
    let imp = Impairment {
        delay_ms: 0,
        loss_percent: 20.0,
        rate_kbit: 0,
        mtu: 1500,
    };
    let link = BadLink::require(&imp);
    let far = link.far_addr().to_string();
    // Counts UDP datagrams until none has come for a second.
    let receiver = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)\n\
         s.bind(('{far}', 9999))\n\
         print('ready', flush=True)\n\
         s.settimeout(1.0)\n\
         n = 0\n\
         try:\n    while True:\n        s.recv(2048)\n        n += 1\n\
         except socket.timeout:\n    pass\n\
         print(n, flush=True)\n"
    );
    let mut rx = link
        .command(Side::Far, "python3")
        .args(["-c", &receiver])
        .stdout(Stdio::piped())
        .spawn()
        .expect("receiver");
    let mut lines = BufReader::new(rx.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().expect("line").expect("read"), "ready");
    let sender = format!(
        "import socket, time\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for i in range(2000):\n    s.sendto(b'x' * 100, ('{far}', 9999))\n    time.sleep(0.0002)\n"
    );
    let sent = link
        .command(Side::Near, "python3")
        .args(["-c", &sender])
        .status()
        .expect("sender");
    assert!(sent.success());
    let received: u32 = lines
        .next()
        .expect("count")
        .expect("read")
        .parse()
        .expect("a number");
    rx.wait().expect("receiver ends");
    // 20 % of 2,000: 1,600 arrive on average, with a standard deviation of 18.
    assert!(
        (1450..=1750).contains(&received),
        "{received} of 2000 datagrams arrived over a link losing 20 %"
    );
}

#[test]
fn a_slow_link_delays_each_way_by_what_it_is_given() {
    let imp = Impairment {
        delay_ms: 100,
        loss_percent: 0.0,
        rate_kbit: 0,
        mtu: 478,
    };
    let link = BadLink::require(&imp);
    let far = link.far_addr().to_string();
    // An echo server, and a client timing ten round trips of a small
    // message and one of 20 KB (segments of the small MTU, in order).
    let server = format!(
        "import socket\n\
         s = socket.socket()\n\
         s.bind(('{far}', 9998))\n\
         s.listen()\n\
         s.settimeout(20)\n\
         print('ready', flush=True)\n\
         c, _ = s.accept()\n\
         while True:\n    d = c.recv(65536)\n    if not d:\n        break\n    c.sendall(d)\n"
    );
    let mut echo = link
        .command(Side::Far, "python3")
        .args(["-c", &server])
        .stdout(Stdio::piped())
        .spawn()
        .expect("server");
    let mut lines = BufReader::new(echo.stdout.take().expect("stdout")).lines();
    assert_eq!(lines.next().expect("line").expect("read"), "ready");
    let client = format!(
        "import socket, time\n\
         c = socket.create_connection(('{far}', 9998), timeout=20)\n\
         c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n\
         def trip(data):\n    t = time.monotonic()\n    c.sendall(data)\n    got = b''\n    \
         while len(got) < len(data):\n        got += c.recv(65536)\n    assert got == data\n    \
         return (time.monotonic() - t) * 1000\n\
         small = sorted(trip(b'x') for _ in range(10))\n\
         big = trip(bytes(range(256)) * 80)\n\
         print(round(small[5]), round(big), flush=True)\n"
    );
    let out = link
        .command(Side::Near, "python3")
        .args(["-c", &client])
        .output()
        .expect("client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let ms: Vec<u64> = text
        .split_whitespace()
        .map(|n| n.parse().expect("a number"))
        .collect();
    let _ = echo.kill();
    let _ = echo.wait();
    // 100 ms each way: no round trip is quicker than 200 ms. Only the lower
    // bound is asserted: it is what the link promises; how much longer a
    // trip takes depends on the machine (no speed assertions in tests).
    assert!(
        ms[0] >= 195,
        "median round trip {} ms over a link delaying 100 ms each way",
        ms[0]
    );
    // 20 KB in 478-byte frames arrives whole and in order (the client
    // compares what came back), delayed like everything else.
    assert!(ms[1] >= 195, "20 KB came back in {} ms", ms[1]);
}
