//! Settings, layered: built-in defaults < `vitrine.toml` < `.env` < environment variables.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The JWT secret used when none is configured; accepted only in development.
pub const DEVELOPMENT_JWT_SECRET: &str = "vitrine-development-secret-do-not-use-in-production";
const MIN_JWT_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

/// A string that never shows up in `Debug` output or logs.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `VITRINE_ENV`
    pub env: Environment,
    /// `VITRINE_ADDR`
    pub addr: SocketAddr,
    /// `VITRINE_PUBLIC_URL`: the address clients reach this server at, used in links.
    pub public_url: Option<String>,
    /// `VITRINE_DATA_DIR`: SQLite file, local files and the mail outbox.
    pub data_dir: PathBuf,
    /// `VITRINE_LOG_DIR`
    pub log_dir: PathBuf,
    /// `VITRINE_LOG_LEVEL`: a tracing filter such as `info` or `vitrine=debug,info`.
    pub log_level: String,
    /// `DATABASE_URL`: `postgres://…` or `sqlite://…`; unset means `{data_dir}/vitrine.db`.
    pub database_url: Option<String>,
    /// `VITRINE_DB_MAX_CONNECTIONS`
    pub db_max_connections: u32,
    /// `VITRINE_DB_READ_CONNECTIONS`: PostgreSQL connections of the request path's reads;
    /// unset means twice this machine's cores.
    pub db_read_connections: Option<u32>,
    /// `VITRINE_SQLITE_DIRECT_READS`: SQLite reads on the request path run on the
    /// request's own thread rather than through the pool's worker threads.
    pub sqlite_direct_reads: bool,
    /// `VITRINE_SQLITE_READ_CACHE_MB`: pages each request-path SQLite reader keeps in
    /// memory (only as many as it has read).
    pub sqlite_read_cache_mb: u64,
    /// `VITRINE_SQLITE_LOG_LIMIT_MB`: how far SQLite's log may grow while writes never
    /// pause, before they wait for it to be copied into the database so it can start over.
    pub sqlite_log_limit_mb: u64,
    /// `VITRINE_SQLITE_CHECKPOINT_MS`: how often SQLite's log is copied into the database.
    pub sqlite_checkpoint_ms: u64,
    /// `JWT_SECRET`
    pub jwt_secret: Option<Secret>,
    /// `VITRINE_ACCESS_TOKEN_TTL_SECS`
    pub access_token_ttl_secs: u64,
    /// `VITRINE_REFRESH_TOKEN_TTL_SECS`
    pub refresh_token_ttl_secs: u64,
    /// `VITRINE_PASSWORD_RESET_TTL_SECS`
    pub password_reset_ttl_secs: u64,
    /// `REDIS_URL`
    pub redis_url: Option<String>,
    /// `VITRINE_REDIS_KEY_PREFIX`: lets several deployments share one Redis.
    pub redis_key_prefix: String,
    /// `SMTP_URL`, e.g. `smtps://user:pass@mail.example.com`
    pub smtp_url: Option<Secret>,
    /// `MAIL_FROM`
    pub mail_from: String,
    /// `VITRINE_LOGIN_LIMIT_PER_IP`: login attempts per address per window.
    pub login_limit_per_ip: u32,
    /// `VITRINE_LOGIN_LIMIT_PER_ACCOUNT`: login attempts per account per window.
    pub login_limit_per_account: u32,
    /// `VITRINE_LOGIN_LIMIT_WINDOW_SECS`
    pub login_limit_window_secs: u64,
    /// `VITRINE_REGISTER_LIMIT_PER_IP`: new accounts per address per window.
    pub register_limit_per_ip: u32,
    /// `VITRINE_CHAT_SEND_BURST`: messages a member may send within 5 seconds.
    pub chat_send_burst: u32,
    /// `VITRINE_CHAT_SEND_PER_MINUTE`: messages a member may send within a minute.
    pub chat_send_per_minute: u32,
    /// `VITRINE_TRUST_FORWARDED_FOR`: take the client address from `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// `VITRINE_REQUEST_TIMEOUT_SECS`
    pub request_timeout_secs: u64,
    /// `VITRINE_UPLOAD_IDLE_TIMEOUT_SECS`: an upload whose body sends nothing for this
    /// long is ended (uploads are exempt from the request time limit).
    pub upload_idle_timeout_secs: u64,
    /// `VITRINE_CORS_ORIGINS`: comma-separated origins allowed to call the API from a browser.
    pub cors_origins: String,
    pub google: OAuthProviderConfig,
    pub yandex: OAuthProviderConfig,
    /// `STORAGE`: where file bytes live.
    pub storage: StorageBackend,
    /// `VITRINE_FILES_DIR`: local storage root; unset means `{data_dir}/files`.
    pub files_dir: Option<PathBuf>,
    pub s3: S3Config,
    /// `VITRINE_MAX_UPLOAD_BYTES`
    pub max_upload_bytes: u64,
    /// `VITRINE_MAX_AVATAR_BYTES`
    pub max_avatar_bytes: u64,
    /// `VITRINE_ALLOWED_TYPES`: comma-separated MIME types accepted for upload.
    pub allowed_types: String,
    /// `VITRINE_CATALOG_CACHE_TTL_SECS`: how long rendered catalog answers are reused
    /// at most (writes through this instance invalidate them at once); 0 turns it off.
    pub catalog_cache_ttl_secs: u64,
    /// `VITRINE_CATALOG_CACHE_MAX_MB`: memory the rendered catalog answers may take at most
    /// (keys and bodies); the least used answers make room for new ones.
    pub catalog_cache_max_mb: u64,
    /// `VITRINE_REFRESH_REUSE_INTERVAL_SECS`: a refresh token presented again this soon
    /// after its rotation gets the same new pair instead of revoking the session; 0 turns
    /// the grace off.
    pub refresh_reuse_interval_secs: u64,
    /// `VITRINE_REDIS_TIMEOUT_MS`: the longest any Redis call may take; past it the
    /// request is answered 503.
    pub redis_timeout_ms: u64,
    /// `VITRINE_DB_ACQUIRE_TIMEOUT_MS`: how long a request waits for a PostgreSQL
    /// connection (also while the server is unreachable) before it is answered 503.
    pub db_acquire_timeout_ms: u64,
    /// `VITRINE_RATE_LIMIT_MAX_KEYS`: the most rate-limit windows kept in this process.
    pub rate_limit_max_keys: usize,
    /// `VITRINE_JANITOR_INTERVAL_SECS`: how often the janitor runs (also once at start);
    /// 0 turns it off.
    pub janitor_interval_secs: u64,
    /// `VITRINE_JANITOR_GRACE_SECS`: how long an unfinished upload or an unreferenced blob
    /// must have been left alone before the janitor removes it; unset means the upload
    /// idle timeout.
    pub janitor_grace_secs: Option<u64>,
    /// `VITRINE_BACKUP_EVERY`: how often the server takes a backup, e.g. `24h`, `30m`,
    /// `7d`; empty turns the schedule off.
    pub backup_every: String,
    /// `VITRINE_BACKUP_KEEP`: scheduled backups kept; older ones are deleted.
    pub backup_keep: usize,
    /// `VITRINE_BACKUP_TO`: where scheduled backups go, a directory or `s3://bucket/prefix`.
    pub backup_to: String,
    /// `VITRINE_SESSION_CACHE`: live sessions are remembered between changes, so a valid
    /// access token costs no database (or Redis) round trip; `false` checks every time.
    pub session_cache: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    Local,
    S3,
}

/// An S3-compatible service (AWS, MinIO, Garage…), addressed path-style when an
/// endpoint is given.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct S3Config {
    /// `S3_ENDPOINT_URL` (or `ENDPOINT_URL`)
    pub endpoint_url: Option<String>,
    /// `S3_REGION`
    pub region: String,
    /// `S3_BUCKET_NAME` (or `BUCKET_NAME`)
    pub bucket_name: Option<String>,
    /// `S3_ACCESS_KEY` (or `ACCESS_KEY`)
    pub access_key: Option<String>,
    /// `S3_SECRET_KEY` (or `SECRET_KEY`)
    pub secret_key: Option<Secret>,
    /// `VITRINE_S3__CREATE_BUCKET`: create the bucket at start when it is missing.
    pub create_bucket: bool,
    /// `VITRINE_S3__PRESIGNED_DOWNLOADS`: answer downloads with a redirect to a presigned URL.
    pub presigned_downloads: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            region: "us-east-1".into(),
            bucket_name: None,
            access_key: None,
            secret_key: None,
            create_bucket: false,
            presigned_downloads: false,
        }
    }
}

/// Images, video, audio, PDF, plain text and archives.
pub const DEFAULT_ALLOWED_TYPES: &str = "image/jpeg,image/png,image/gif,image/webp,image/avif,\
video/mp4,video/webm,video/quicktime,video/x-matroska,\
audio/mpeg,audio/ogg,audio/x-wav,audio/x-flac,audio/aac,audio/m4a,\
application/pdf,text/plain,\
application/zip,application/gzip,application/x-tar,application/x-7z-compressed,application/vnd.rar";

/// One OAuth provider; enabled when both client id and secret are set.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct OAuthProviderConfig {
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub auth_url: String,
    pub token_url: String,
    /// Google: the JWKS the ID token is checked against.
    pub jwks_url: String,
    /// Google: the expected `iss` of the ID token.
    pub issuer: String,
    /// Yandex: the user-info endpoint.
    pub userinfo_url: String,
}

impl OAuthProviderConfig {
    fn google() -> Self {
        Self {
            auth_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            jwks_url: "https://www.googleapis.com/oauth2/v3/certs".into(),
            issuer: "https://accounts.google.com".into(),
            ..Self::default()
        }
    }

    fn yandex() -> Self {
        Self {
            auth_url: "https://oauth.yandex.ru/authorize".into(),
            token_url: "https://oauth.yandex.ru/token".into(),
            userinfo_url: "https://login.yandex.ru/info?format=json".into(),
            ..Self::default()
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.client_id.is_some() && self.client_secret.is_some()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            env: Environment::Development,
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("./data"),
            log_dir: PathBuf::from("./logs"),
            log_level: "info".into(),
            database_url: None,
            db_max_connections: 16,
            db_read_connections: None,
            sqlite_direct_reads: true,
            sqlite_read_cache_mb: 16,
            sqlite_log_limit_mb: 64,
            sqlite_checkpoint_ms: 1000,
            jwt_secret: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            password_reset_ttl_secs: 3600,
            redis_url: None,
            redis_key_prefix: "vitrine".into(),
            smtp_url: None,
            mail_from: "vitrine <no-reply@localhost>".into(),
            login_limit_per_ip: 30,
            login_limit_per_account: 10,
            login_limit_window_secs: 300,
            register_limit_per_ip: 10,
            chat_send_burst: 30,
            chat_send_per_minute: 300,
            trust_forwarded_for: false,
            request_timeout_secs: 30,
            upload_idle_timeout_secs: 60,
            cors_origins: String::new(),
            google: OAuthProviderConfig::google(),
            yandex: OAuthProviderConfig::yandex(),
            storage: StorageBackend::Local,
            files_dir: None,
            s3: S3Config::default(),
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
            max_avatar_bytes: 5 * 1024 * 1024,
            allowed_types: DEFAULT_ALLOWED_TYPES.into(),
            catalog_cache_ttl_secs: 5,
            catalog_cache_max_mb: 32,
            refresh_reuse_interval_secs: 10,
            redis_timeout_ms: 500,
            db_acquire_timeout_ms: 1500,
            rate_limit_max_keys: 100_000,
            janitor_interval_secs: 600,
            janitor_grace_secs: None,
            backup_every: String::new(),
            backup_keep: 7,
            backup_to: "./backups".into(),
            session_cache: true,
        }
    }
}

/// Environment variables with names of their own (from the seeds and common practice).
const PLAIN_ENV_NAMES: &[(&str, &str)] = &[
    ("DATABASE_URL", "database_url"),
    ("JWT_SECRET", "jwt_secret"),
    ("REDIS_URL", "redis_url"),
    ("SMTP_URL", "smtp_url"),
    ("MAIL_FROM", "mail_from"),
    ("GOOGLE_CLIENT_ID", "google.client_id"),
    ("GOOGLE_CLIENT_SECRET", "google.client_secret"),
    ("YANDEX_CLIENT_ID", "yandex.client_id"),
    ("YANDEX_CLIENT_SECRET", "yandex.client_secret"),
    ("STORAGE", "storage"),
    ("S3_ENDPOINT_URL", "s3.endpoint_url"),
    ("S3_REGION", "s3.region"),
    ("S3_BUCKET_NAME", "s3.bucket_name"),
    ("S3_ACCESS_KEY", "s3.access_key"),
    ("S3_SECRET_KEY", "s3.secret_key"),
];

/// The bare S3 names of older `.env` files; the `S3_` names win when both are set.
const SEED_ENV_NAMES: &[(&str, &str)] = &[
    ("ENDPOINT_URL", "s3.endpoint_url"),
    ("BUCKET_NAME", "s3.bucket_name"),
    ("ACCESS_KEY", "s3.access_key"),
    ("SECRET_KEY", "s3.secret_key"),
];

fn env_names(names: &'static [(&'static str, &'static str)]) -> Env {
    Env::raw().filter_map(move |key| {
        names
            .iter()
            .find(|(name, _)| key.as_str().eq_ignore_ascii_case(name))
            .map(|(_, field)| (*field).into())
    })
}

impl Config {
    /// Reads the layered configuration: defaults, then the TOML file, then `.env`
    /// (which never overrides a variable already set), then the environment.
    pub fn load(toml_path: Option<&Path>) -> anyhow::Result<Self> {
        // A missing .env is normal; a broken one is not.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(err) if err.not_found() => {}
            Err(err) => return Err(err).context("reading .env"),
        }
        let toml_path = toml_path
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("VITRINE_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("vitrine.toml"));
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(&toml_path))
            .merge(env_names(SEED_ENV_NAMES))
            .merge(env_names(PLAIN_ENV_NAMES))
            .merge(
                Env::prefixed("VITRINE_")
                    .ignore(&["CONFIG"])
                    .map(|key| key.as_str().replace("__", ".").into()),
            )
            .extract()
            .with_context(|| format!("reading configuration (file {})", toml_path.display()))?;
        Ok(config)
    }

    /// Checks the settings that must hold before the server may start.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.env == Environment::Production {
            match &self.jwt_secret {
                None => bail!("JWT_SECRET must be set in production"),
                Some(secret) if secret.expose() == DEVELOPMENT_JWT_SECRET => {
                    bail!("JWT_SECRET must not be the development default in production")
                }
                Some(secret) if secret.expose().len() < MIN_JWT_SECRET_BYTES => {
                    bail!("JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes long")
                }
                Some(_) => {}
            }
        }
        if self.access_token_ttl_secs == 0 || self.refresh_token_ttl_secs == 0 {
            bail!("token lifetimes must be positive");
        }
        if self.storage == StorageBackend::S3 && self.s3.bucket_name.is_none() {
            bail!("STORAGE=s3 needs S3_BUCKET_NAME");
        }
        if self.upload_idle_timeout_secs == 0 {
            bail!("VITRINE_UPLOAD_IDLE_TIMEOUT_SECS must be positive");
        }
        if self.janitor_grace_secs == Some(0) {
            bail!("VITRINE_JANITOR_GRACE_SECS must be positive");
        }
        if self.login_limit_window_secs == 0 {
            bail!("VITRINE_LOGIN_LIMIT_WINDOW_SECS must be positive");
        }
        if self.db_read_connections == Some(0) {
            bail!("VITRINE_DB_READ_CONNECTIONS must be positive");
        }
        if self.redis_timeout_ms == 0 || self.db_acquire_timeout_ms == 0 {
            bail!("VITRINE_REDIS_TIMEOUT_MS and VITRINE_DB_ACQUIRE_TIMEOUT_MS must be positive");
        }
        if self.rate_limit_max_keys == 0 {
            bail!("VITRINE_RATE_LIMIT_MAX_KEYS must be positive");
        }
        self.backup_interval()?;
        if self.backup_keep == 0 {
            bail!("VITRINE_BACKUP_KEEP must be positive");
        }
        Ok(())
    }

    pub fn janitor_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.janitor_grace_secs
                .unwrap_or(self.upload_idle_timeout_secs),
        )
    }

    pub fn upload_idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.upload_idle_timeout_secs)
    }

    pub fn redis_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.redis_timeout_ms)
    }

    /// PostgreSQL's rule of thumb for a pool: about twice the database server's cores.
    /// The server's are not known here; this machine's stand in, which is right when
    /// PostgreSQL runs beside vitrine. With more connections than that, PostgreSQL's
    /// processes take turns on the cores and answers wait longer: on two cores, 16
    /// connections instead of 4 served catalog reads at about the same rate with a 99th
    /// percentile a quarter to a half higher.
    pub fn db_read_connections(&self) -> u32 {
        self.db_read_connections.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            u32::try_from(cores.saturating_mul(2)).unwrap_or(u32::MAX)
        })
    }

    pub fn db_acquire_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.db_acquire_timeout_ms)
    }

    pub fn jwt_secret(&self) -> &str {
        self.jwt_secret
            .as_ref()
            .map(Secret::expose)
            .unwrap_or(DEVELOPMENT_JWT_SECRET)
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("vitrine.db").display()
            ),
        }
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.addr))
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn files_dir(&self) -> PathBuf {
        self.files_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("files"))
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }

    /// The period of scheduled backups; `None` when they are off.
    pub fn backup_interval(&self) -> anyhow::Result<Option<std::time::Duration>> {
        let every = self.backup_every.trim();
        if every.is_empty() || every == "0" {
            return Ok(None);
        }
        parse_duration(every).map(Some).with_context(|| {
            format!("VITRINE_BACKUP_EVERY={every}: expected e.g. 24h, 30m, 7d, 1h30m")
        })
    }
}

/// Reads `90s`, `30m`, `24h`, `7d` or a sequence of them such as `1h30m`.
pub fn parse_duration(text: &str) -> anyhow::Result<std::time::Duration> {
    let mut total: u64 = 0;
    let mut digits = String::new();
    for character in text.chars() {
        if character.is_ascii_digit() {
            digits.push(character);
            continue;
        }
        let unit: u64 = match character {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => bail!("unknown unit {character:?}"),
        };
        let amount: u64 = digits.parse().context("a number must precede each unit")?;
        digits.clear();
        total = amount
            .checked_mul(unit)
            .and_then(|seconds| total.checked_add(seconds))
            .context("too long")?;
    }
    if !digits.is_empty() {
        bail!("the last number has no unit (s, m, h or d)");
    }
    if total == 0 {
        bail!("must be positive");
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
// figment::Jail's closures return figment's own (large) error type
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_missing_or_default_secret() {
        let mut config = Config {
            env: Environment::Production,
            ..Config::default()
        };
        assert!(config.validate().is_err());
        config.jwt_secret = Some(Secret::new(DEVELOPMENT_JWT_SECRET));
        assert!(config.validate().is_err());
        config.jwt_secret = Some(Secret::new("short"));
        assert!(config.validate().is_err());
        config.jwt_secret = Some(Secret::new("a".repeat(48)));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn development_accepts_the_default_secret() {
        assert!(Config::default().validate().is_ok());
        assert_eq!(Config::default().jwt_secret(), DEVELOPMENT_JWT_SECRET);
    }

    #[test]
    fn read_connections_default_to_twice_the_cores_and_are_never_zero() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let config = Config::default();
        assert_eq!(config.db_read_connections() as usize, 2 * cores);
        figment::Jail::expect_with(|jail| {
            jail.set_env("VITRINE_DB_READ_CONNECTIONS", "3");
            let config = Config::load(None).map_err(|err| err.to_string())?;
            assert_eq!(config.db_read_connections(), 3);
            jail.set_env("VITRINE_DB_READ_CONNECTIONS", "0");
            let config = Config::load(None).map_err(|err| err.to_string())?;
            assert!(config.validate().is_err());
            Ok(())
        });
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "[redacted]");
    }

    #[test]
    fn layers_apply_in_order_defaults_file_dotenv_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "vitrine.toml",
                r#"
                    addr = "127.0.0.1:9000"
                    data_dir = "/srv/from-file"
                    log_dir = "/var/log/from-file"
                    login_limit_per_ip = 7
                    [google]
                    client_id = "from-file"
                "#,
            )?;
            jail.create_file(
                ".env",
                "VITRINE_DATA_DIR=/srv/from-dotenv\nVITRINE_LOG_DIR=/var/log/from-dotenv\n",
            )?;
            jail.set_env("VITRINE_LOG_DIR", "/var/log/from-env");
            jail.set_env("DATABASE_URL", "postgres://db.example/vitrine");
            jail.set_env("JWT_SECRET", "s3cret-from-the-environment-0123456789");
            jail.set_env("GOOGLE_CLIENT_SECRET", "g-secret");
            jail.set_env("VITRINE_ENV", "production");
            let config = Config::load(None).map_err(|err| err.to_string())?;
            assert_eq!(config.addr.port(), 9000, "file over defaults");
            assert_eq!(config.login_limit_per_ip, 7);
            assert_eq!(
                config.data_dir,
                PathBuf::from("/srv/from-dotenv"),
                ".env over file"
            );
            assert_eq!(
                config.log_dir,
                PathBuf::from("/var/log/from-env"),
                "environment over .env"
            );
            assert_eq!(
                config.database_url.as_deref(),
                Some("postgres://db.example/vitrine")
            );
            assert_eq!(
                config.jwt_secret(),
                "s3cret-from-the-environment-0123456789"
            );
            assert_eq!(config.google.client_id.as_deref(), Some("from-file"));
            assert!(config.google.is_enabled());
            assert_eq!(config.env, Environment::Production);
            assert_eq!(config.access_token_ttl_secs, 900, "defaults fill the rest");
            assert_eq!(config.storage, StorageBackend::Local);
            Ok(())
        });
    }

    #[test]
    fn s3_settings_accept_the_seed_names_and_prefer_the_s3_ones() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("STORAGE", "s3");
            jail.set_env("ENDPOINT_URL", "http://127.0.0.1:9000");
            jail.set_env("BUCKET_NAME", "seed-bucket");
            jail.set_env("S3_BUCKET_NAME", "vitrine-bucket");
            jail.set_env("ACCESS_KEY", "seed-access");
            jail.set_env("SECRET_KEY", "seed-secret");
            let config = Config::load(None).map_err(|err| err.to_string())?;
            assert_eq!(config.storage, StorageBackend::S3);
            assert_eq!(
                config.s3.endpoint_url.as_deref(),
                Some("http://127.0.0.1:9000")
            );
            assert_eq!(config.s3.bucket_name.as_deref(), Some("vitrine-bucket"));
            assert_eq!(config.s3.access_key.as_deref(), Some("seed-access"));
            assert_eq!(
                config.s3.secret_key.as_ref().map(Secret::expose),
                Some("seed-secret")
            );
            assert!(config.validate().is_ok());
            Ok(())
        });
    }

    #[test]
    fn a_malformed_setting_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("VITRINE_ADDR", "not an address");
            assert!(Config::load(None).is_err());
            Ok(())
        });
    }

    #[test]
    fn backup_periods_read_units_and_refuse_nonsense() {
        let hours = |text: &str| parse_duration(text).map(|period| period.as_secs());
        assert_eq!(hours("24h").ok(), Some(86_400));
        assert_eq!(hours("1h30m").ok(), Some(5_400));
        assert_eq!(hours("7d").ok(), Some(604_800));
        assert_eq!(hours("90s").ok(), Some(90));
        for bad in [
            "24",
            "h",
            "1x",
            "0h",
            "-1h",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} must be refused");
        }
        let off = Config::default();
        assert_eq!(off.backup_interval().ok(), Some(None));
        let daily = Config {
            backup_every: "24h".into(),
            ..Config::default()
        };
        assert!(daily.validate().is_ok());
        let broken = Config {
            backup_every: "daily".into(),
            ..Config::default()
        };
        assert!(broken.validate().is_err());
    }

    #[test]
    fn default_database_is_sqlite_in_the_data_dir() {
        assert_eq!(
            Config::default().database_url(),
            "sqlite://./data/vitrine.db?mode=rwc"
        );
    }
}
