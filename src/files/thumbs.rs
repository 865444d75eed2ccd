//! Thumbnails of images, made on first request and kept as derived objects.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use super::download::Blob;
use super::entity;
use crate::error::{AppError, AppResult};

/// The only sizes offered, so that nobody can fill storage with arbitrary variants.
pub const SIZES: &[(u32, u32)] = &[(64, 64), (128, 128), (256, 256), (512, 512), (1024, 1024)];
/// Originals larger than this are not decoded.
const MAX_SOURCE_BYTES: i64 = 40 * 1024 * 1024;
const MAX_SOURCE_PIXELS_SIDE: u32 = 12_000;

pub fn parse_size(spec: &str) -> AppResult<(u32, u32)> {
    let size = spec
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .filter(|size| SIZES.contains(size));
    size.ok_or_else(|| {
        let offered: Vec<String> = SIZES.iter().map(|(w, h)| format!("{w}x{h}")).collect();
        AppError::bad_request(
            "invalid_thumbnail_size",
            format!("thumbnail sizes are {}", offered.join(", ")),
        )
    })
}

/// Whether thumbnails are made of files of this type.
pub fn makes_thumbnails(mime: &str) -> bool {
    output_format(mime).is_some()
}

fn output_format(mime: &str) -> Option<(ImageFormat, &'static str, &'static str)> {
    match mime {
        "image/jpeg" => Some((ImageFormat::Jpeg, "jpg", "image/jpeg")),
        "image/png" | "image/gif" | "image/webp" => Some((ImageFormat::Png, "png", "image/png")),
        _ => None,
    }
}

/// The thumbnail of `file` at `size`, made now if it does not exist yet.
pub async fn thumbnail(
    store: &std::sync::Arc<dyn ObjectStore>,
    file: &entity::Model,
    size: (u32, u32),
) -> AppResult<Blob<'static>> {
    let (format, extension, mime_type) = output_format(&file.mime_type).ok_or_else(|| {
        AppError::bad_request(
            "not_an_image",
            "thumbnails are made of JPEG, PNG, GIF and WebP images only",
        )
    })?;
    let key = format!("thumbs/{}/{}x{}.{extension}", file.uid, size.0, size.1);
    let path = ObjectPath::from(key.as_str());
    let etag = format!("{}-{}x{}", file.sha256, size.0, size.1);
    match store.head(&path).await {
        Ok(meta) => {
            return Ok(Blob {
                key,
                size: meta.size,
                mime_type,
                etag,
            });
        }
        Err(object_store::Error::NotFound { .. }) => {}
        Err(err) => return Err(AppError::internal(err)),
    }
    if file.size > MAX_SOURCE_BYTES {
        return Err(AppError::bad_request(
            "image_too_large",
            "the image is too large for a thumbnail",
        ));
    }
    let source = store
        .get(&ObjectPath::from(file.file_key.as_str()))
        .await
        .map_err(AppError::internal)?
        .bytes()
        .await
        .map_err(AppError::internal)?;
    let encoded = tokio::task::spawn_blocking(move || render(&source, size, format))
        .await
        .map_err(AppError::internal)??;
    let length = encoded.len() as u64;
    store
        .put(&path, PutPayload::from(encoded))
        .await
        .map_err(AppError::internal)?;
    Ok(Blob {
        key,
        size: length,
        mime_type,
        etag,
    })
}

/// Decodes within limits, scales to fit `size` keeping the aspect ratio, encodes.
pub fn render(source: &[u8], size: (u32, u32), format: ImageFormat) -> AppResult<Vec<u8>> {
    let undecodable = || AppError::bad_request("undecodable_image", "the image cannot be decoded");
    let mut reader = ImageReader::new(Cursor::new(source))
        .with_guessed_format()
        .map_err(|_| undecodable())?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_PIXELS_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_PIXELS_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let image = reader.decode().map_err(|_| undecodable())?;
    let thumbnail = image.thumbnail(size.0, size.1);
    let thumbnail = if format == ImageFormat::Jpeg {
        image::DynamicImage::ImageRgb8(thumbnail.to_rgb8())
    } else {
        thumbnail
    };
    let mut out = Cursor::new(Vec::new());
    thumbnail
        .write_to(&mut out, format)
        .map_err(AppError::internal)?;
    Ok(out.into_inner())
}

/// Checks that bytes decode as an image (used for avatars and catalog photos).
pub fn decodes_as_image(source: &[u8]) -> bool {
    render(source, (8, 8), ImageFormat::Png).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image =
            image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn sizes_are_bounded() {
        assert_eq!(parse_size("256x256").unwrap(), (256, 256));
        for bad in ["257x256", "0x0", "99999x99999", "abc", "256", "-1x-1"] {
            assert_eq!(
                parse_size(bad).unwrap_err().code(),
                "invalid_thumbnail_size"
            );
        }
    }

    #[test]
    fn thumbnails_fit_and_keep_the_aspect_ratio() {
        let encoded = render(&png(400, 200), (128, 128), ImageFormat::Png).unwrap();
        let thumb = image::load_from_memory(&encoded).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (128, 64));
    }

    #[test]
    fn garbage_is_not_an_image() {
        assert!(!decodes_as_image(b"\x89PNG\r\n\x1a\nnot really"));
        assert!(decodes_as_image(&png(3, 3)));
    }
}
