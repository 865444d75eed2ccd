//! The embedded files of `web/` and the shell page made from `web/index.html`.

use std::borrow::Cow;
use std::sync::OnceLock;

use bytes::Bytes;
use rust_embed::Embed;
use sha2::{Digest, Sha256};

/// In release builds the files are part of the binary; debug builds read them from
/// `web/` so that the app can be edited without recompiling.
#[derive(Embed)]
#[folder = "web/"]
struct WebFiles;

const SHELL_NAME: &str = "index.html";

/// What the server needs to answer for the app, computed once.
pub struct Bundle {
    /// Over the names and contents of all files: it changes whenever any file does.
    pub hash: String,
    pub shell: Bytes,
}

impl Bundle {
    pub fn get() -> Option<&'static Bundle> {
        static BUNDLE: OnceLock<Option<Bundle>> = OnceLock::new();
        BUNDLE.get_or_init(Bundle::build).as_ref()
    }

    fn build() -> Option<Bundle> {
        let mut names: Vec<Cow<'static, str>> = WebFiles::iter().collect();
        names.sort();
        let mut hasher = Sha256::new();
        for name in &names {
            let file = WebFiles::get(name)?;
            hasher.update((name.len() as u64).to_le_bytes());
            hasher.update(name.as_bytes());
            hasher.update((file.data.len() as u64).to_le_bytes());
            hasher.update(&file.data);
        }
        let hash = hex::encode(&hasher.finalize()[..8]);
        let base = format!("/assets/{hash}");
        // every module up front: the browser fetches them in parallel, not import by import
        let preloads: String = names
            .iter()
            .filter(|name| name.starts_with("app/") && name.ends_with(".js"))
            .map(|name| format!("<link rel=\"modulepreload\" href=\"{base}/{name}\">\n"))
            .collect();
        let template = WebFiles::get(SHELL_NAME)?;
        let shell = String::from_utf8_lossy(&template.data)
            .replace("{{PRELOADS}}", &preloads)
            .replace("{{ASSETS}}", &base);
        Some(Bundle {
            hash,
            shell: Bytes::from(shell),
        })
    }
}

/// An embedded file and its content type; the shell template is not one of them.
pub fn file(path: &str) -> Option<(&'static str, Bytes)> {
    if path == SHELL_NAME {
        return None;
    }
    let content_type = content_type(path)?;
    let data = WebFiles::get(path)?.data;
    let bytes = match data {
        Cow::Borrowed(bytes) => Bytes::from_static(bytes),
        Cow::Owned(bytes) => Bytes::from(bytes),
    };
    Some((content_type, bytes))
}

/// Only the kinds of file the app is made of are served.
fn content_type(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.')?.1;
    Some(match extension {
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_points_at_hashed_assets_and_has_no_inline_code() {
        let bundle = Bundle::get().expect("web/index.html is embedded");
        let shell = std::str::from_utf8(&bundle.shell).unwrap();
        assert!(shell.contains(&format!("/assets/{}/app/main.js", bundle.hash)));
        assert!(!shell.contains("{{"), "every placeholder is filled");
        assert!(!shell.contains("<style"), "no inline styles");
        assert!(!shell.contains(" style="), "no inline style attributes");
        for script in shell.split("<script").skip(1) {
            let tag_end = script.find('>').unwrap();
            assert!(script[..tag_end].contains("src="), "no inline scripts");
        }
    }

    #[test]
    fn unknown_kinds_of_file_are_not_served() {
        assert_eq!(
            content_type("app/main.js"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(content_type("secret.txt"), None);
        assert_eq!(content_type("noextension"), None);
    }
}
