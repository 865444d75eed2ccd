//! Outgoing mail: SMTP when configured, otherwise files in `{data_dir}/outbox/`.

use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use lettre::message::Mailbox;
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
                let message = build(from, &to, subject, body)?;
                tokio::fs::write(&path, message.formatted())
                    .await
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Ok(())
    }
}

fn build(from: &Mailbox, to: &Mailbox, subject: &str, body: String) -> anyhow::Result<Message> {
    Message::builder()
        .from(from.clone())
        .to(to.clone())
        .subject(subject)
        .body(body)
        .context("building the message")
}
