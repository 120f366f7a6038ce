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
    #[error(
        "印影の画像に解像度(dpi)の記録がないため、実際の大きさが分かりません。スキャナーで 300〜600 dpi を指定して PNG で保存し直してください"
    )]
    NoResolution,
    #[error(
        "印影が大きすぎます(約 {0} mm)。一辺 25 mm の正方形に収まる印鑑でなければ登録できません。スキャンの解像度(dpi)の記録も確かめてください"
    )]
    MarkTooLarge(String),
    #[error(
        "印影が小さすぎます(約 {0} mm)。一辺 8 mm の正方形に収まる印鑑は登録できません。スキャンの解像度(dpi)の記録も確かめてください"
    )]
    MarkTooSmall(String),
}

/// 印鑑条例: an impression must not fit in an 8 mm square, and must fit in a 25 mm square.
pub const MIN_MARK_MM: f32 = 8.0;
pub const MAX_MARK_MM: f32 = 25.0;

/// A decoded image: its size in pixels, its resolution (pixels per metre) if it records one,
/// and the bounding box of what is marked on it (darker than paper, not transparent).
struct Scan {
    width: u32,
    height: u32,
    pixels_per_metre: Option<(u32, u32)>,
    /// (left, top, right, bottom), exclusive right and bottom; `None` when nothing is marked.
    marked: Option<(u32, u32, u32, u32)>,
}

fn scan(png: &[u8]) -> Result<Scan, ImageError> {
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
    let (width, height) = (reader.info().width, reader.info().height);
    if !(MIN_SIDE..=MAX_SIDE).contains(&width) || !(MIN_SIDE..=MAX_SIDE).contains(&height) {
        return Err(ImageError::BadSize(width, height));
    }
    let pixels_per_metre = reader
        .info()
        .pixel_dims
        .filter(|d| d.unit == png::Unit::Meter && d.xppu > 0 && d.yppu > 0)
        .map(|d| (d.xppu, d.yppu));
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| ImageError::NotPng("image too large to decode".into()))?;
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| ImageError::NotPng(e.to_string()))?;
    let channels = frame.color_type.samples();
    let row_bytes = frame.line_size;
    let mut marked: Option<(u32, u32, u32, u32)> = None;
    for (y, row) in buf[..frame.buffer_size()]
        .chunks_exact(row_bytes)
        .enumerate()
    {
        for (x, px) in row.chunks_exact(channels).enumerate() {
            // Something darker than paper, and not fully transparent.
            let ink = match channels {
                1 => px[0] < 160,
                2 => px[1] > 0 && px[0] < 160,
                3 => px.iter().take(3).any(|&c| c < 160),
                _ => px[3] > 0 && px.iter().take(3).any(|&c| c < 160),
            };
            if ink {
                let (x, y) = (x as u32, y as u32);
                marked = Some(match marked {
                    None => (x, y, x + 1, y + 1),
                    Some((l, t, r, b)) => (l.min(x), t.min(y), r.max(x + 1), b.max(y + 1)),
                });
            }
        }
    }
    Ok(Scan {
        width,
        height,
        pixels_per_metre,
        marked,
    })
}

/// Checks that `png` is a PNG of a plausible size showing something (a 公印, or an 印影
/// whose resolution is not known, as imported from another system).
pub fn check_impression(png: &[u8]) -> Result<(), ImageError> {
    match scan(png)?.marked {
        Some(_) => Ok(()),
        None => Err(ImageError::Blank),
    }
}

/// Checks an 印影 scanned at the counter for registration: as [`check_impression`], and the
/// scan records its resolution (so that certificates print the impression at its real size)
/// and the impression's size keeps to the 印鑑条例 (more than 8 mm, at most 25 mm square).
pub fn check_registered_impression(png: &[u8]) -> Result<(), ImageError> {
    let scan = scan(png)?;
    let (l, t, r, b) = scan.marked.ok_or(ImageError::Blank)?;
    let (xppm, yppm) = scan.pixels_per_metre.ok_or(ImageError::NoResolution)?;
    let mm = |px: u32, ppm: u32| px as f32 * 1000.0 / ppm as f32;
    let (w, h) = (mm(r - l, xppm), mm(b - t, yppm));
    let size = format!("{w:.1}×{h:.1}");
    if w > MAX_MARK_MM || h > MAX_MARK_MM {
        return Err(ImageError::MarkTooLarge(size));
    }
    if w <= MIN_MARK_MM && h <= MIN_MARK_MM {
        return Err(ImageError::MarkTooSmall(size));
    }
    Ok(())
}

/// The printed size of a scan in millimetres, from the resolution it records; `None` when it
/// records none.
pub fn physical_size_mm(png: &[u8]) -> Option<(f32, f32)> {
    let scan = scan(png).ok()?;
    let (xppm, yppm) = scan.pixels_per_metre?;
    Some((
        scan.width as f32 * 1000.0 / xppm as f32,
        scan.height as f32 * 1000.0 / yppm as f32,
    ))
}

/// The resolution [`sample_impression`] records: 120 pixels make 15 mm.
pub const SAMPLE_PIXELS_PER_METRE: u32 = 8_000;

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
        // A 15 mm seal: 120 pixels at 8,000 pixels per metre (203.2 dpi).
        enc.set_pixel_dims(Some(png::PixelDimensions {
            xppu: SAMPLE_PIXELS_PER_METRE,
            yppu: SAMPLE_PIXELS_PER_METRE,
            unit: png::Unit::Meter,
        }));
        // Writing to a Vec cannot fail; the header and data sizes match.
        if let Ok(mut w) = enc.write_header() {
            let _ = w.write_image_data(&pixels);
        }
    }
    out
}
