//! What a file is, judged from its bytes, and where it is kept.

use chrono::{DateTime, Datelike, Utc};

/// Bytes looked at to decide the type.
pub const SNIFF_BYTES: usize = 8192;
const MAX_SAFE_NAME_CHARS: usize = 100;

/// The MIME type of content, from its magic bytes; text that is valid UTF-8 without
/// control characters is `text/plain`.
pub fn sniff_mime(head: &[u8]) -> Option<&'static str> {
    if let Some(kind) = infer::get(head) {
        return Some(kind.mime_type());
    }
    looks_like_text(head).then_some("text/plain")
}

fn looks_like_text(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // the sample may end inside a multi-byte character
        Err(err) if err.error_len().is_none() && head.len() - err.valid_up_to() < 4 => {
            match std::str::from_utf8(&head[..err.valid_up_to()]) {
                Ok(text) => text,
                Err(_) => return false,
            }
        }
        Err(_) => return false,
    };
    !text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
}

/// Every storage folder `category` names.
pub const CATEGORIES: &[&str] = &["images", "media", "text", "other"];

/// The storage folder of a MIME type, as the seed's static directories.
pub fn category(mime: &str) -> &'static str {
    match mime.split('/').next() {
        Some("image") => "images",
        Some("video" | "audio") => "media",
        Some("text") => "text",
        _ => "other",
    }
}

/// The usual extension of a MIME type, for names and derived objects.
pub fn extension(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/avif" => "avif",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        "audio/mpeg" => "mp3",
        "audio/ogg" => "ogg",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "application/zip" => "zip",
        "application/gzip" => "gz",
        _ => "bin",
    }
}

/// A client's file name reduced to characters that are safe in any storage key:
/// never a path, never empty.
pub fn safe_name(original: &str) -> String {
    let base = original.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut safe: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    safe = safe.trim_matches('.').to_owned();
    while safe.contains("..") {
        safe = safe.replace("..", ".");
    }
    if safe.chars().count() > MAX_SAFE_NAME_CHARS {
        safe = safe
            .chars()
            .rev()
            .take(MAX_SAFE_NAME_CHARS)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
    }
    if safe.trim_matches(['_', '.']).is_empty() {
        "file".to_owned()
    } else {
        safe
    }
}

/// `{category}/{yyyy}/{mm}/{uid}/{safe_name}`
pub fn file_key(mime: &str, uploaded_at: DateTime<Utc>, uid: &str, original_name: &str) -> String {
    format!(
        "{}/{:04}/{:02}/{}/{}",
        category(mime),
        uploaded_at.year(),
        uploaded_at.month(),
        uid,
        safe_name(original_name)
    )
}

/// The original name as kept in metadata: no directories, no control characters.
pub fn display_name(original: &str) -> String {
    let base = original.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    if cleaned.trim().is_empty() {
        "file".to_owned()
    } else {
        cleaned
    }
}

/// The allow-list of upload types.
#[derive(Debug, Clone)]
pub struct AllowedTypes(Vec<String>);

impl AllowedTypes {
    pub fn parse(list: &str) -> Self {
        Self(
            list.split(',')
                .map(|item| item.trim().to_ascii_lowercase())
                .filter(|item| !item.is_empty())
                .collect(),
        )
    }

    /// `image/*` style wildcards are allowed in the list.
    pub fn allows(&self, mime: &str) -> bool {
        self.0.iter().any(|allowed| {
            allowed == mime
                || allowed
                    .strip_suffix("/*")
                    .is_some_and(|prefix| mime.split('/').next() == Some(prefix))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
    ];

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff_mime(PNG), Some("image/png"));
        assert_eq!(sniff_mime(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(sniff_mime("Часы «Полёт»\n".as_bytes()), Some("text/plain"));
        assert_eq!(
            sniff_mime(b"MZ\x90\x00\x03\x00\x00\x00"),
            Some("application/vnd.microsoft.portable-executable")
        );
        assert_eq!(sniff_mime(b"\x00\x01\x02binary"), None);
        assert_eq!(sniff_mime(b""), None);
        // a sample cut inside a two-byte letter is still text
        let cut = &"ёёё".as_bytes()[..5];
        assert_eq!(sniff_mime(cut), Some("text/plain"));
    }

    #[test]
    fn names_never_become_paths() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(safe_name("Фото часов.JPG"), "__________.JPG");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name(""), "file");
        assert_eq!(safe_name("a..b"), "a.b");
        assert_eq!(safe_name(&format!("{}.png", "x".repeat(300))).len(), 100);
        assert_eq!(display_name("../secret/Фото.jpg"), "Фото.jpg");
        assert_eq!(display_name("a\u{0}b\nc"), "abc");
    }

    #[test]
    fn keys_follow_the_layout() {
        let at = "2026-03-05T10:00:00Z".parse().unwrap();
        assert_eq!(
            file_key("image/png", at, "0192-uid", "a b.png"),
            "images/2026/03/0192-uid/a_b.png"
        );
        assert_eq!(category("video/mp4"), "media");
        assert_eq!(category("text/plain"), "text");
        assert_eq!(category("application/zip"), "other");
    }

    #[test]
    fn allow_list_with_wildcards() {
        let allowed = AllowedTypes::parse("image/*, application/pdf");
        assert!(allowed.allows("image/webp"));
        assert!(allowed.allows("application/pdf"));
        assert!(!allowed.allows("application/zip"));
        assert!(!allowed.allows("imagex/png"));
    }
}
