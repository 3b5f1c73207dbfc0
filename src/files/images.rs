//! Images (README, "Files"): their size read from the header alone
//! ([`probe`]), and smaller copies re-encoded from the decoded pixels
//! ([`thumbnail`], [`square`]), so no metadata of the original (EXIF
//! location, comments) survives. Decoding runs under explicit limits: at
//! most [`MAX_PIXELS`] pixels and [`MAX_DECODE_BYTES`] of memory, checked
//! against the header before any pixel buffer exists (a small file that
//! claims 100,000 x 100,000 px is refused without allocating).
//!
//! The functions are synchronous and CPU-bound: callers run them through
//! [`run`], which keeps them off the async workers and at most
//! [`CONCURRENT_DECODES`] at a time.

use std::io::Cursor;
use std::sync::LazyLock;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use tokio::sync::{Semaphore, SemaphorePermit};

/// Largest image decoded: 50 megapixels (README, "Files").
pub const MAX_PIXELS: u64 = 50_000_000;
/// Most memory one decode may allocate.
pub const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// Longer side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 320;
/// Decodes running at once on this instance (each up to
/// [`MAX_DECODE_BYTES`], plus the file's bytes).
pub const CONCURRENT_DECODES: usize = 2;
/// JPEG quality of re-encoded copies.
const JPEG_QUALITY: u8 = 85;

static DECODES: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(CONCURRENT_DECODES));

/// An image format Parley decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Png,
    Jpeg,
    Gif,
    WebP,
}

impl Kind {
    /// The kind of a sniffed content type.
    pub fn of(content_type: &str) -> Option<Kind> {
        Some(match content_type {
            "image/png" => Kind::Png,
            "image/jpeg" => Kind::Jpeg,
            "image/gif" => Kind::Gif,
            "image/webp" => Kind::WebP,
            _ => return None,
        })
    }

    fn format(self) -> ImageFormat {
        match self {
            Kind::Png => ImageFormat::Png,
            Kind::Jpeg => ImageFormat::Jpeg,
            Kind::Gif => ImageFormat::Gif,
            Kind::WebP => ImageFormat::WebP,
        }
    }
}

/// An image's size, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
}

impl Probe {
    /// Within [`MAX_PIXELS`]: decoded for thumbnails; larger images are
    /// kept as plain files.
    pub fn decodable(&self) -> bool {
        u64::from(self.width) * u64::from(self.height) <= MAX_PIXELS
    }
}

/// A re-encoded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("over the decoding limits ({MAX_PIXELS} pixels, {MAX_DECODE_BYTES} bytes)")]
    TooLarge,
    #[error("not a decodable image: {0}")]
    Decode(#[from] image::ImageError),
    #[error("the decoding task failed")]
    Task,
}

/// The size of the image of `kind` whose first bytes are `head` (its
/// header must be in them); None if they do not parse.
pub fn probe(head: &[u8], kind: Kind) -> Option<Probe> {
    let mut reader = ImageReader::with_format(Cursor::new(head), kind.format());
    reader.limits(limits());
    let (width, height) = reader.into_dimensions().ok()?;
    (width > 0 && height > 0).then_some(Probe {
        kind,
        width,
        height,
    })
}

/// A copy of the image `bytes` at most `max_side` px on its longer side
/// (never enlarged), turned upright, without metadata.
pub fn thumbnail(bytes: &[u8], kind: Kind, max_side: u32) -> Result<Encoded, ImageError> {
    let image = decode(bytes, kind)?;
    let small = if image.width() > max_side || image.height() > max_side {
        image.thumbnail(max_side, max_side)
    } else {
        image
    };
    encode(&small)
}

/// A `side` x `side` copy of the image `bytes`, its centre cropped to a
/// square (for avatars), turned upright, without metadata.
pub fn square(bytes: &[u8], kind: Kind, side: u32) -> Result<Encoded, ImageError> {
    let image = decode(bytes, kind)?;
    let squared = image.resize_to_fill(side, side, image::imageops::FilterType::Triangle);
    encode(&squared)
}

/// One of the [`CONCURRENT_DECODES`] slots: hold it while the image's
/// bytes are in memory and decoded (as [`run`] does).
pub async fn permit() -> Result<SemaphorePermit<'static>, ImageError> {
    DECODES.acquire().await.map_err(|_| ImageError::Task)
}

/// Runs `job` (one of the functions above) on the blocking pool, at most
/// [`CONCURRENT_DECODES`] at once on this instance.
pub async fn run<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, ImageError> + Send + 'static,
) -> Result<T, ImageError> {
    let _permit = permit().await?;
    tokio::task::spawn_blocking(job)
        .await
        .map_err(|_| ImageError::Task)?
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

fn decode(bytes: &[u8], kind: Kind) -> Result<DynamicImage, ImageError> {
    let header = probe(bytes, kind).ok_or(ImageError::TooLarge)?;
    if !header.decodable() {
        return Err(ImageError::TooLarge);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    reader.limits(limits());
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// PNG when the image has transparency, JPEG otherwise. The encoders
/// write pixels only: nothing of the original's metadata.
fn encode(image: &DynamicImage) -> Result<Encoded, ImageError> {
    let mut out = Cursor::new(Vec::new());
    let content_type = if image.has_alpha() {
        image.write_to(&mut out, ImageFormat::Png)?;
        "image/png"
    } else {
        let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
        rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))?;
        "image/jpeg"
    };
    Ok(Encoded {
        bytes: out.into_inner(),
        content_type,
        width: image.width(),
        height: image.height(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::new_rgba8(width, height);
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn probe_reads_the_size_from_the_header() {
        let bytes = png(640, 480);
        let p = probe(&bytes[..64], Kind::Png).unwrap();
        assert_eq!((p.width, p.height), (640, 480));
        assert!(p.decodable());
    }

    #[test]
    fn thumbnail_keeps_the_aspect_and_bounds_the_longer_side() {
        let t = thumbnail(&png(1000, 500), Kind::Png, THUMBNAIL_SIDE).unwrap();
        assert_eq!((t.width, t.height), (320, 160));
        assert_eq!(t.content_type, "image/png");
        let small = thumbnail(&png(20, 10), Kind::Png, THUMBNAIL_SIDE).unwrap();
        assert_eq!((small.width, small.height), (20, 10));
    }

    #[test]
    fn square_crops_to_the_side() {
        let s = square(&png(300, 100), Kind::Png, 256).unwrap();
        assert_eq!((s.width, s.height), (256, 256));
    }

    #[test]
    fn a_header_claiming_huge_dimensions_is_refused_before_decoding() {
        // A valid PNG header (IHDR) claiming 100,000 x 100,000 px.
        let mut bytes = png(1, 1);
        bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        if let Some(p) = probe(&bytes, Kind::Png) {
            assert!(!p.decodable());
        }
        assert!(matches!(
            thumbnail(&bytes, Kind::Png, THUMBNAIL_SIDE),
            Err(ImageError::TooLarge | ImageError::Decode(_))
        ));
    }
}
