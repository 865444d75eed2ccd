//! Outgoing mail: SMTP when configured, otherwise files in `{data_dir}/outbox/`.

use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use crate::config::{Config, Environment};

pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Outbox {
        dir: PathBuf,
        from: Mailbox,
        /// Development also prints each message to the log, so a reset link is at hand.
        log_bodies: bool,
    },
}

impl Mailer {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let from: Mailbox = config
            .mail_from
            .parse()
            .context("MAIL_FROM is not a mailbox")?;
        Ok(match &config.smtp_url {
            Some(url) => Self::Smtp {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .context("SMTP_URL is invalid")?
                    .build(),
                from,
            },
            None => Self::Outbox {
                dir: config.outbox_dir(),
                from,
                log_bodies: config.env == Environment::Development,
            },
        })
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        let to: Mailbox = to.parse().context("recipient is not a mailbox")?;
        match self {
            Self::Smtp { transport, from } => {
                let body = Body::new(body);
                let message = build(from, &to, subject, body)?;
                transport
                    .send(message)
                    .await
                    .context("sending mail over SMTP")?;
            }
            Self::Outbox {
                dir,
                from,
                log_bodies,
            } => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .with_context(|| format!("creating {}", dir.display()))?;
                let path = dir.join(format!(
                    "{}-{}.eml",
                    Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
                    Uuid::new_v4()
                ));
                if *log_bodies {
                    tracing::info!(to = %to, subject, body = %body, path = %path.display(), "mail written to the outbox");
                } else {
                    tracing::warn!(path = %path.display(), "SMTP_URL is not set; mail written to the outbox");
                }
                // files are read by people: keep the text as it is, links unbroken
                let body = Body::new_with_encoding(body, ContentTransferEncoding::Binary)
                    .map_err(|_| anyhow::anyhow!("the mail body cannot be encoded"))?;
                let message = build(from, &to, subject, body)?;
                tokio::fs::write(&path, message.formatted())
                    .await
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Ok(())
    }
}

fn build(from: &Mailbox, to: &Mailbox, subject: &str, body: Body) -> anyhow::Result<Message> {
    Message::builder()
        .from(from.clone())
        .to(to.clone())
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .context("building the message")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outbox_keeps_links_readable() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::Outbox {
            dir: dir.path().to_path_buf(),
            from: "vitrine <no-reply@localhost>".parse().unwrap(),
            log_bodies: false,
        };
        mailer
            .send(
                "ann@example.com",
                "Reset",
                format!(
                    "Hello!\n\nOpen http://127.0.0.1:8080/reset-password?token={} — спасибо\n",
                    "abc_DEF-123".repeat(5)
                ),
            )
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
        assert!(
            text.contains(&format!("token={}", "abc_DEF-123".repeat(5))),
            "{text}"
        );
        assert!(text.contains("To: ann@example.com"), "{text}");
    }
}
