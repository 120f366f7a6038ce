//! Throughput of an 8 MiB object (the backup's default chunk size).
//! Run: `cargo test --release -p murakumo-dispersal --test throughput -- --ignored --nocapture`.
//! Prints timings; asserts only correctness.

use std::time::{Duration, Instant};

use murakumo_dispersal::{Share, combine, split, verify_share};

const LEN: usize = 8 << 20;

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let start = Instant::now();
        let v = f();
        best = best.min(start.elapsed());
        out = Some(v);
    }
    (best, out.expect("runs > 0"))
}

fn rate(d: Duration) -> String {
    format!(
        "{:>7.1} ms {:>8.1} MiB/s",
        d.as_secs_f64() * 1e3,
        8.0 / d.as_secs_f64()
    )
}

#[test]
#[ignore = "timing; run in release with --ignored --nocapture"]
fn throughput_8_mib() {
    let object: Vec<u8> = (0..LEN)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (t, shares) = best_of(5, || split(&object, b"chunk/bench").expect("split"));
    println!("split                 {}", rate(t));
    let (t, bytes) = best_of(5, || shares.iter().map(Share::to_bytes).collect::<Vec<_>>());
    println!("to_bytes (3 shares)   {}", rate(t));
    let (t, parsed) = best_of(5, || {
        bytes
            .iter()
            .map(|b| Share::from_bytes(b).expect("parse"))
            .collect::<Vec<_>>()
    });
    println!("from_bytes (3 shares) {}", rate(t));
    let (t, ()) = best_of(5, || {
        for s in &parsed {
            verify_share(s).expect("intact");
        }
    });
    println!("verify_share (3)      {}", rate(t));
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        let pair = [parsed[a].clone(), parsed[b].clone()];
        let (t, restored) = best_of(5, || combine(&pair).expect("combine"));
        assert!(restored == object);
        println!("combine shares {}+{}    {}", a + 1, b + 1, rate(t));
    }
    let total: usize = bytes.iter().map(Vec::len).sum();
    println!(
        "stored {total} B for {LEN} B = {:.5}x",
        total as f64 / LEN as f64
    );
}
