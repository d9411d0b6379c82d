//! Turning untrusted bytes into safe images: sniff the type from the
//! content, read the dimensions from the header and refuse too many pixels
//! before anything is decoded, decode under `image::Limits`, then re-encode
//! (which drops EXIF, GPS, ICC and every other metadata block) and make the
//! WebP variants. Pure and synchronous: callers run it on the blocking pool.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The formats we accept, told apart by their magic bytes only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Jpeg,
    Png,
    Webp,
}

impl Kind {
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Webp => "image/webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
            Kind::Webp => "webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            Kind::Jpeg => ImageFormat::Jpeg,
            Kind::Png => ImageFormat::Png,
            Kind::Webp => ImageFormat::WebP,
        }
    }
}

/// What the content is, whatever the file name or Content-Type claim.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Kind::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Kind::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Kind::Webp)
    } else {
        None
    }
}

/// The stored renditions of one upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Full size, re-encoded in the uploaded format.
    Original,
    /// WebP, fitting in `MEDIUM_PX` × `MEDIUM_PX`.
    Medium,
    /// WebP, fitting in `THUMB_PX` × `THUMB_PX`.
    Thumb,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Original, Variant::Medium, Variant::Thumb];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::Medium => "medium",
            Variant::Thumb => "thumb",
        }
    }

    pub fn parse(s: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == s)
    }
}

pub const MEDIUM_PX: u32 = 800;
pub const THUMB_PX: u32 = 160;
/// JPEG originals are re-encoded at this quality: visually the same as a
/// phone's output, and the only lossy step of the pipeline.
pub const JPEG_QUALITY: u8 = 85;
/// No side may exceed this even under the pixel budget (a 1 × 25,000,000
/// strip is no shop photo), and WebP cannot encode more than 16,383.
pub const MAX_SIDE: u32 = 16_383;

/// Why an upload is refused; every case is the client's doing (4xx).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("is empty")]
    Empty,
    #[error("is not a JPEG, PNG or WebP image (judged by its content, not its name)")]
    UnsupportedType,
    #[error("is {width} x {height} pixels; at most {max_pixels} pixels and {MAX_SIDE} per side")]
    TooManyPixels {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("is not a readable {0} image (truncated or corrupt)")]
    Corrupt(&'static str),
    #[error("needs more memory to decode than this server allows")]
    OverLimits,
}

/// One encoded rendition.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub variant: Variant,
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
    /// Lowercase hex SHA-256 of `bytes`.
    pub sha256: String,
}

/// The result of processing one upload.
#[derive(Debug, Clone)]
pub struct Processed {
    /// The upload's id: the SHA-256 of the re-encoded original.
    pub hash: String,
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    pub variants: Vec<Encoded>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Jpeg => "JPEG",
        Kind::Png => "PNG",
        Kind::Webp => "WebP",
    }
}

/// The second guard, inside the decoder: sides and the total allocation.
/// 8 bytes per pixel covers 16-bit RGBA PNGs; the slack covers the
/// decoders' own buffers. The PNG decoder gets the same byte budget for its
/// own buffers (`png::Limits { bytes }`, through `PngDecoder::with_limits`).
pub fn limits(max_pixels: u64) -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(MAX_SIDE);
    l.max_image_height = Some(MAX_SIDE);
    l.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(64 << 20));
    l
}

/// The budget of the header pass, which allocates no pixels: room for the
/// chunks before the image data (all of them together are no bigger than
/// the file) and the decoders' small fixed buffers.
fn header_limits(input_len: usize) -> Limits {
    let mut l = Limits::no_limits();
    l.max_alloc = Some((input_len as u64).saturating_mul(2).saturating_add(8 << 20));
    l
}

/// PNG chunks that change the pixels we keep: every other chunk is dropped
/// before a decoder sees the file. Among those dropped are the compressed
/// ones (iCCP, zTXt, iTXt), whose few bytes can inflate to gigabytes inside
/// the decoder, and tEXt and the APNG frames; the re-encode drops all
/// metadata anyway. `eXIf` stays (it is stored, not compressed, so no
/// bigger than the file) because it carries the orientation.
const PNG_KEPT: [&[u8; 4]; 6] = [b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"eXIf"];

/// The PNG without its ancillary chunks (see `PNG_KEPT`). Refuses a chunk
/// that claims more bytes than the file has. Chunks are copied whole with
/// their CRCs, which the decoder still checks.
fn strip_png(bytes: &[u8]) -> Result<Vec<u8>, Refusal> {
    const SIGNATURE: usize = 8;
    let corrupt = Refusal::Corrupt(kind_name(Kind::Png));
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..SIGNATURE).ok_or(corrupt.clone())?);
    let mut pos = SIGNATURE;
    while pos < bytes.len() {
        let head = bytes.get(pos..pos + 8).ok_or(corrupt.clone())?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let end = pos
            .checked_add(12)
            .and_then(|p| p.checked_add(len))
            .filter(|&e| e <= bytes.len())
            .ok_or(corrupt.clone())?;
        let kind: &[u8; 4] = head[4..8].try_into().map_err(|_| corrupt.clone())?;
        if PNG_KEPT.contains(&kind) {
            out.extend_from_slice(&bytes[pos..end]);
        }
        pos = end;
        if kind == b"IEND" {
            break;
        }
    }
    Ok(out)
}

/// A WebP's RIFF chunks must lie inside the file: the WebP decoder
/// allocates a chunk's declared size (up to 4 GiB) before it reads it,
/// e.g. for the EXIF chunk it reads the orientation from.
fn check_webp(bytes: &[u8]) -> Result<(), Refusal> {
    let corrupt = Refusal::Corrupt(kind_name(Kind::Webp));
    let le = |at: usize| -> Result<usize, Refusal> {
        let b = bytes.get(at..at + 4).ok_or(corrupt.clone())?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let riff_end = le(4)?.checked_add(8).ok_or(corrupt.clone())?;
    if riff_end > bytes.len() {
        return Err(corrupt);
    }
    let mut pos = 12;
    while pos + 8 <= riff_end {
        let size = le(pos + 4)?;
        let end = pos + 8 + size;
        if end > riff_end {
            return Err(corrupt);
        }
        // Chunks are padded to an even size.
        pos = end + (size & 1);
    }
    Ok(())
}

/// The bytes the decoders may see: PNGs without their ancillary chunks,
/// WebPs whose chunks all fit in the file, JPEGs as they are (their
/// segments are at most 64 KiB each and never compressed).
fn sanitized(kind: Kind, bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, Refusal> {
    match kind {
        Kind::Png => Ok(std::borrow::Cow::Owned(strip_png(bytes)?)),
        Kind::Webp => check_webp(bytes).map(|()| std::borrow::Cow::Borrowed(bytes)),
        Kind::Jpeg => Ok(std::borrow::Cow::Borrowed(bytes)),
    }
}

/// Reads only the header: the dimensions, refused above the pixel budget.
/// Exposed so tests can show a bomb is refused without being decoded.
pub fn check_header(bytes: &[u8], max_pixels: u64) -> Result<(Kind, u32, u32), Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::Empty);
    }
    let kind = sniff(bytes).ok_or(Refusal::UnsupportedType)?;
    let clean = sanitized(kind, bytes)?;
    header_of(kind, &clean, max_pixels)
}

fn header_of(kind: Kind, clean: &[u8], max_pixels: u64) -> Result<(Kind, u32, u32), Refusal> {
    let mut reader = ImageReader::with_format(Cursor::new(clean), kind.format());
    // A byte budget but no size limits at this step: it parses the header
    // only, and we want our own check (with its clearer message) to be the
    // one that refuses too many pixels.
    reader.limits(header_limits(clean.len()));
    let decoder = reader.into_decoder().map_err(|e| refusal(kind, e))?;
    let (width, height) = decoder.dimensions();
    check_pixels(width, height, max_pixels)?;
    Ok((kind, width, height))
}

fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), Refusal> {
    if width == 0
        || height == 0
        || width > MAX_SIDE
        || height > MAX_SIDE
        || u64::from(width) * u64::from(height) > max_pixels
    {
        return Err(Refusal::TooManyPixels {
            width,
            height,
            max_pixels,
        });
    }
    Ok(())
}

fn refusal(kind: Kind, e: image::ImageError) -> Refusal {
    match e {
        // A limit hit inside the decoder: still "too big", never a 5xx.
        image::ImageError::Limits(_) => Refusal::OverLimits,
        _ => Refusal::Corrupt(kind_name(kind)),
    }
}

/// Decodes, strips, re-encodes and makes the variants.
pub fn process(bytes: &[u8], max_pixels: u64) -> Result<Processed, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::Empty);
    }
    let kind = sniff(bytes).ok_or(Refusal::UnsupportedType)?;
    let clean = sanitized(kind, bytes)?;
    header_of(kind, &clean, max_pixels)?;
    let mut reader = ImageReader::with_format(Cursor::new(&clean[..]), kind.format());
    reader.limits(limits(max_pixels));
    let mut decoder = reader.into_decoder().map_err(|e| refusal(kind, e))?;
    // Phones store rotation in EXIF; apply it now, since the EXIF goes.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let (w, h) = decoder.dimensions();
    check_pixels(w, h, max_pixels)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| refusal(kind, e))?;
    img.apply_orientation(orientation);
    // 8 bits per channel, RGB or RGBA: what every encoder here accepts.
    // Most photos decode to RGB8 already; converting those would only
    // double the memory a large image holds.
    let img = match img {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => img,
        other if other.color().has_alpha() => DynamicImage::ImageRgba8(other.to_rgba8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    };

    let original = encode(&img, Variant::Original, kind).map_err(|_| Refusal::Corrupt("image"))?;
    let medium = fit(&img, MEDIUM_PX, FilterType::CatmullRom);
    let medium =
        encode(&medium, Variant::Medium, Kind::Webp).map_err(|_| Refusal::Corrupt("image"))?;
    let thumb = fit(&img, THUMB_PX, FilterType::Triangle);
    let thumb =
        encode(&thumb, Variant::Thumb, Kind::Webp).map_err(|_| Refusal::Corrupt("image"))?;
    Ok(Processed {
        hash: original.sha256.clone(),
        kind,
        width: img.width(),
        height: img.height(),
        variants: vec![original, medium, thumb],
    })
}

/// Shrinks to fit a `max` × `max` box, keeping the aspect ratio; never
/// enlarges.
fn fit(img: &DynamicImage, max: u32, filter: FilterType) -> DynamicImage {
    if img.width() <= max && img.height() <= max {
        return img.clone();
    }
    img.resize(max, max, filter)
}

fn encode(img: &DynamicImage, variant: Variant, kind: Kind) -> image::ImageResult<Encoded> {
    let mut out = Vec::new();
    match kind {
        Kind::Jpeg => {
            let encoder = JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
            if img.color().has_alpha() {
                // JPEG has no alpha channel.
                DynamicImage::ImageRgb8(img.to_rgb8()).write_with_encoder(encoder)?;
            } else {
                img.write_with_encoder(encoder)?;
            }
        }
        Kind::Png => img.write_with_encoder(PngEncoder::new(&mut out))?,
        Kind::Webp => img.write_with_encoder(WebPEncoder::new_lossless(&mut out))?,
    }
    Ok(Encoded {
        variant,
        kind,
        width: img.width(),
        height: img.height(),
        sha256: sha256_hex(&out),
        bytes: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    fn photo(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 256) as u8])
        })
    }

    fn encoded(img: DynamicImage, f: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, f).unwrap();
        out.into_inner()
    }

    #[test]
    fn sniffs_by_content_only() {
        let png = encoded(DynamicImage::ImageRgb8(photo(4, 4)), ImageFormat::Png);
        assert_eq!(sniff(&png), Some(Kind::Png));
        assert_eq!(sniff(b"GIF89a......"), None);
        assert_eq!(sniff(b"<svg xmlns=..."), None);
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8L"), Some(Kind::Webp));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Kind::Jpeg));
    }

    #[test]
    fn makes_variants_that_fit_and_keeps_alpha() {
        let img = DynamicImage::ImageRgba8(RgbaImage::from_fn(1200, 600, |x, _| {
            Rgba([x as u8, 0, 0, 128])
        }));
        let p = process(&encoded(img, ImageFormat::Png), 25_000_000).unwrap();
        assert_eq!(p.kind, Kind::Png);
        let dims: Vec<_> = p
            .variants
            .iter()
            .map(|v| (v.variant, v.width, v.height))
            .collect();
        assert_eq!(
            dims,
            vec![
                (Variant::Original, 1200, 600),
                (Variant::Medium, 800, 400),
                (Variant::Thumb, 160, 80)
            ]
        );
        let thumb = image::load_from_memory(&p.variants[2].bytes).unwrap();
        assert!(thumb.color().has_alpha());
        assert_eq!(p.hash, sha256_hex(&p.variants[0].bytes));
        // Deterministic: the same content gives the same id.
        let again = process(
            &encoded(
                DynamicImage::ImageRgba8(RgbaImage::from_fn(1200, 600, |x, _| {
                    Rgba([x as u8, 0, 0, 128])
                })),
                ImageFormat::Png,
            ),
            25_000_000,
        )
        .unwrap();
        assert_eq!(again.hash, p.hash);
    }

    #[test]
    fn small_images_are_not_enlarged() {
        let jpg = encoded(DynamicImage::ImageRgb8(photo(100, 50)), ImageFormat::Jpeg);
        let p = process(&jpg, 25_000_000).unwrap();
        assert!(p.variants.iter().all(|v| (v.width, v.height) == (100, 50)));
        assert_eq!(p.variants[0].kind, Kind::Jpeg);
        assert_eq!(p.variants[1].kind, Kind::Webp);
    }

    /// A PNG header claiming 20,000 × 20,000 with no pixel data at all: the
    /// refusal must come from the header alone.
    #[test]
    fn a_bomb_is_refused_from_its_header() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&20_000u32.to_be_bytes());
        ihdr.extend_from_slice(&20_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // 1-bit grey
        png.extend_from_slice(&(ihdr.len() as u32).to_be_bytes());
        let mut chunk = b"IHDR".to_vec();
        chunk.extend_from_slice(&ihdr);
        let crc = crc32(&chunk);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc.to_be_bytes());
        // The decoder reads up to the first IDAT; give it a (tiny) one.
        let idat = b"IDAT\x78\x9c\x03\x00";
        png.extend_from_slice(&4u32.to_be_bytes());
        png.extend_from_slice(idat);
        png.extend_from_slice(&crc32(idat).to_be_bytes());
        let err = check_header(&png, 25_000_000).unwrap_err();
        assert!(
            matches!(
                err,
                Refusal::TooManyPixels {
                    width: 20_000,
                    height: 20_000,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(matches!(
            process(&png, 25_000_000),
            Err(Refusal::TooManyPixels { .. })
        ));
        // A smaller budget refuses an ordinary image too.
        let jpg = encoded(DynamicImage::ImageRgb8(photo(100, 100)), ImageFormat::Jpeg);
        assert!(matches!(
            process(&jpg, 9_999),
            Err(Refusal::TooManyPixels { .. })
        ));
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
        out
    }

    /// Inserts `extra` right after the IHDR chunk (signature 8 + IHDR 25).
    fn with_chunks_after_ihdr(png: &[u8], extra: &[u8]) -> Vec<u8> {
        let mut out = png[..33].to_vec();
        out.extend_from_slice(extra);
        out.extend_from_slice(&png[33..]);
        out
    }

    #[test]
    fn ancillary_png_chunks_never_reach_the_decoder() {
        let plain = encoded(DynamicImage::ImageRgb8(photo(20, 10)), ImageFormat::Png);
        // A zlib stream that is not even valid: whatever is in them, these
        // chunks are dropped unread.
        let mut extra = chunk(b"iCCP", b"icc\0\0\x78\x9c garbage");
        extra.extend(chunk(b"zTXt", b"Comment\0\0\x78\x9c garbage"));
        extra.extend(chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0x"));
        extra.extend(chunk(b"tEXt", b"Comment\0hello"));
        extra.extend(chunk(b"prVt", b"private"));
        let decorated = with_chunks_after_ihdr(&plain, &extra);
        assert_eq!(strip_png(&decorated).unwrap(), plain);
        assert_eq!(
            process(&decorated, 25_000_000).unwrap().hash,
            process(&plain, 25_000_000).unwrap().hash
        );
        // Kept: transparency (it changes the pixels) and eXIf.
        let kept = with_chunks_after_ihdr(&plain, &chunk(b"eXIf", b"MM\0*"));
        assert_eq!(strip_png(&kept).unwrap(), kept);
        // A chunk claiming more bytes than the file has.
        let mut lying = plain[..33].to_vec();
        lying.extend_from_slice(&u32::MAX.to_be_bytes());
        lying.extend_from_slice(b"iCCP");
        assert_eq!(strip_png(&lying), Err(Refusal::Corrupt("PNG")));
    }

    #[test]
    fn a_webp_chunk_larger_than_the_file_is_refused_before_decoding() {
        let webp = encoded(
            DynamicImage::ImageRgba8(RgbaImage::from_pixel(8, 8, Rgba([1, 2, 3, 4]))),
            ImageFormat::WebP,
        );
        assert!(check_webp(&webp).is_ok());
        assert!(process(&webp, 25_000_000).is_ok());
        // The first chunk (VP8L) claims 4 GiB.
        let mut lying = webp.clone();
        lying[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            process(&lying, 25_000_000).unwrap_err(),
            Refusal::Corrupt("WebP")
        );
        // The RIFF header claims more than the file.
        let mut lying = webp.clone();
        lying[4..8].copy_from_slice(&(webp.len() as u32 + 100).to_le_bytes());
        assert!(check_webp(&lying).is_err());
    }

    #[test]
    fn garbage_and_truncation_are_refusals_not_panics() {
        assert_eq!(process(b"", 100).unwrap_err(), Refusal::Empty);
        assert_eq!(
            process(b"hello, I am text", 100).unwrap_err(),
            Refusal::UnsupportedType
        );
        let png = encoded(DynamicImage::ImageRgb8(photo(64, 64)), ImageFormat::Png);
        for cut in [8, 20, 40, png.len() / 2, png.len() - 13] {
            let r = process(&png[..cut], 25_000_000);
            assert!(matches!(r, Err(Refusal::Corrupt(_))), "cut at {cut}: {r:?}");
        }
        let jpg = encoded(DynamicImage::ImageRgb8(photo(64, 64)), ImageFormat::Jpeg);
        for cut in [3, 10, 100] {
            let r = process(&jpg[..cut], 25_000_000);
            assert!(r.is_err(), "cut at {cut}");
        }
        assert!(process(b"RIFF\x10\0\0\0WEBPVP8 garbage", 25_000_000).is_err());
    }
}
