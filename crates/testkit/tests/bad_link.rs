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
    let Some(link) = BadLink::create(&imp).expect("netns") else {
        eprintln!("SKIPPED: network namespaces are not permitted here");
        return;
    };
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
