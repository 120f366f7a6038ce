//! The frames of a pull answer, as a follower reads them from a primary it
//! does not trust (`murakumo_replication::wire::FrameReader`).
//!
//! Input: `limit:u8 cuts:u8 rest…`. The limit is `limit` bytes (small, so
//! refusals are reachable; 0xFF means the real `MAX_FRAME_BYTES`), the rest
//! is the body, fed in chunks cut at positions taken from `cuts`. Must not
//! panic; no frame above the limit is returned, nothing more than one frame
//! of the limit is held, and what is read is exactly the body's frames
//! (re-framed, it is a prefix of the body; a one-piece read agrees).
#![no_main]

use libfuzzer_sys::fuzz_target;
use murakumo_replication::wire::{FrameReader, MAX_FRAME_BYTES, put_frame, take_frames_limited};

fuzz_target!(|data: &[u8]| {
    let Some((&[limit, cuts], body)) = data.split_first_chunk::<2>() else {
        return;
    };
    let limit = if limit == 0xFF {
        MAX_FRAME_BYTES
    } else {
        usize::from(limit)
    };
    let step = usize::from(cuts).max(1);
    let mut reader = FrameReader::with_limit(limit);
    let mut read = Vec::new();
    let mut refused = false;
    for chunk in body.chunks(step) {
        match reader.push(chunk) {
            Ok(frames) => {
                assert!(frames.iter().all(|f| f.len() <= limit));
                read.extend(frames);
                assert!(reader.pending() <= limit.saturating_add(3));
            }
            Err(e) => {
                let _ = e.to_string();
                refused = true;
                break;
            }
        }
    }
    let whole = take_frames_limited(body, limit);
    if refused {
        assert!(whole.is_err(), "refused in chunks, accepted whole");
        return;
    }
    let (frames, used) = whole.expect("accepted in chunks, refused whole");
    assert_eq!(frames.len(), read.len());
    let mut again = Vec::new();
    for f in &read {
        put_frame(&mut again, f);
    }
    assert_eq!(used, again.len());
    assert_eq!(&body[..used], &again[..]);
    assert_eq!(used + reader.pending(), body.len());
});
