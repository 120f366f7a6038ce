//! 印影 images: what an acceptable impression is, and a generated one for
//! demos and tests.

/// Largest accepted file (a scanned 印影 at 300–600 dpi is 10–100 KB).
pub const MAX_BYTES: usize = 512 * 1024;
/// Side lengths accepted, in pixels.
pub const MIN_SIDE: u32 = 48;
pub const MAX_SIDE: u32 = 2048;

/// Why an image is not an acceptable 印影.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("印影の画像がありません。印影をスキャンして PNG ファイルで添付してください")]
    Empty,
    #[error(
        "印影の画像が大きすぎます({0} バイト、上限 {MAX_BYTES})。300〜600 dpi でスキャンしてください"
    )]
    TooLarge(usize),
    #[error("印影の画像を PNG として読めません({0})。PNG 形式で保存してください")]
    NotPng(String),
    #[error(
        "印影の画像が {0}×{1} ピクセルです。縦横とも {MIN_SIDE}〜{MAX_SIDE} ピクセルにしてください(印影だけを 300〜600 dpi で)"
    )]
    BadSize(u32, u32),
    #[error("印影の画像に何も写っていません")]
    Blank,
}

/// Checks that `png` is a PNG of a plausible size showing something.
pub fn check_impression(png: &[u8]) -> Result<(), ImageError> {
    if png.is_empty() {
        return Err(ImageError::Empty);
    }
    if png.len() > MAX_BYTES {
        return Err(ImageError::TooLarge(png.len()));
    }
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| ImageError::NotPng(e.to_string()))?;
    let (w, h) = (reader.info().width, reader.info().height);
    if !(MIN_SIDE..=MAX_SIDE).contains(&w) || !(MIN_SIDE..=MAX_SIDE).contains(&h) {
        return Err(ImageError::BadSize(w, h));
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| ImageError::NotPng("image too large to decode".into()))?;
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| ImageError::NotPng(e.to_string()))?;
    let data = &buf[..frame.buffer_size()];
    let channels = frame.color_type.samples();
    // Something darker than paper, and not fully transparent, must be there.
    let marked = data.chunks_exact(channels).any(|px| match channels {
        1 => px[0] < 160,
        2 => px[1] > 0 && px[0] < 160,
        3 => px.iter().take(3).any(|&c| c < 160),
        _ => px[3] > 0 && px.iter().take(3).any(|&c| c < 160),
    });
    if marked {
        Ok(())
    } else {
        Err(ImageError::Blank)
    }
}

/// A generated round 印影 (vermilion ring and a pattern from `seed`), for the
/// demo, synthetic data and tests. Different seeds give different images.
pub fn sample_impression(seed: u64) -> Vec<u8> {
    const SIDE: u32 = 120;
    let c = SIDE as f32 / 2.0;
    let mut pixels = vec![255u8; (SIDE * SIDE * 4) as usize];
    let mut bits = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut cells = [[false; 5]; 5];
    for row in &mut cells {
        for cell in row.iter_mut().take(3) {
            bits ^= bits << 13;
            bits ^= bits >> 7;
            bits ^= bits << 17;
            *cell = bits & 1 == 1;
        }
        row[3] = row[1];
        row[4] = row[0];
    }
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (dx, dy) = (x as f32 + 0.5 - c, y as f32 + 0.5 - c);
            let r = (dx * dx + dy * dy).sqrt();
            let ring = (c - 8.0..c - 2.0).contains(&r);
            let (gx, gy) = ((x as i32 - 30) / 12, (y as i32 - 30) / 12);
            let inside = (0..5).contains(&gx) && (0..5).contains(&gy) && x >= 30 && y >= 30;
            let cell = inside && cells[gy as usize][gx as usize];
            let i = ((y * SIDE + x) * 4) as usize;
            if ring || cell {
                pixels[i..i + 4].copy_from_slice(&[0xD0, 0x30, 0x20, 0xFF]);
            } else {
                pixels[i + 3] = 0;
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, SIDE, SIDE);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        // Writing to a Vec cannot fail; the header and data sizes match.
        if let Ok(mut w) = enc.write_header() {
            let _ = w.write_image_data(&pixels);
        }
    }
    out
}
