//! Throwaway Redis and PostgreSQL servers that the outage tests stop, freeze and restart
//! under a running app, without touching the servers the rest of the suite uses.
//!
//! The outage tests are `#[ignore]`d and run by `.ci/run` with `TEST_OUTAGE=1` and
//! `TEST_PG_BIN` (PostgreSQL's bin directory); without them, or with a binary missing,
//! they fail rather than skip.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// PostgreSQL's bin directory, after checking that the outage tests may run here.
pub fn require_outage_setup() -> PathBuf {
    assert_eq!(
        std::env::var("TEST_OUTAGE").as_deref(),
        Ok("1"),
        "outage tests start their own PostgreSQL and Redis: run them with TEST_OUTAGE=1 \
         and TEST_PG_BIN=<PostgreSQL bin dir>, as .ci/run does"
    );
    let bin = PathBuf::from(std::env::var("TEST_PG_BIN").expect("TEST_OUTAGE=1 needs TEST_PG_BIN"));
    for tool in ["initdb", "pg_ctl", "postgres"] {
        assert!(
            bin.join(tool).is_file(),
            "TEST_PG_BIN={} has no {tool}",
            bin.display()
        );
    }
    let redis = Command::new("redis-server")
        .arg("--version")
        .output()
        .expect("redis-server must be on PATH for the outage tests");
    assert!(redis.status.success(), "redis-server --version failed");
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{what}: {err}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A redis-server child process on a port of its own.
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl RedisServer {
    pub async fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        server.spawn().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts redis-server, which loads `dump.rdb` from its directory when there is one.
    async fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..100 {
            if self.command::<String>(redis::cmd("PING")).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    pub async fn command<T: redis::FromRedisValue>(
        &self,
        cmd: redis::Cmd,
    ) -> redis::RedisResult<T> {
        let client = redis::Client::open(self.url())?;
        let call = async {
            let mut connection = client.get_multiplexed_tokio_connection().await?;
            cmd.query_async::<T>(&mut connection).await
        };
        tokio::time::timeout(Duration::from_secs(2), call)
            .await
            .unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()))
    }

    /// Kills the server: its clients see their connections drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Stops and starts it again empty, as a cache without persistence comes back.
    pub async fn restart_without_data(&mut self) {
        self.stop();
        let dump = self.dir.path().join("dump.rdb");
        if dump.exists() {
            std::fs::remove_file(dump).expect("dump removed");
        }
        self.spawn().await;
    }

    /// Snapshots its data, stops it and starts it again from the snapshot.
    pub async fn restart_with_data(&mut self) {
        self.command::<String>(redis::cmd("SAVE"))
            .await
            .expect("SAVE");
        self.stop();
        self.spawn().await;
    }

    /// Sends SIGSTOP or SIGCONT: a stopped server accepts connections but never answers.
    pub fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("redis-server running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        // SAFETY: kill(2) on our own child process
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signal sent");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too
        self.stop();
    }
}

fn running_as_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions
    unsafe { libc::geteuid() == 0 }
}

/// A PostgreSQL cluster in a temporary directory, run as `postgres` when we are root
/// (initdb and postgres refuse to run as root).
pub struct PgCluster {
    bin: PathBuf,
    dir: TempDir,
    port: u16,
    running: bool,
}

impl PgCluster {
    pub fn start(bin: PathBuf) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        if running_as_root() {
            run(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(dir.path()),
                "chown the cluster directory",
            );
        }
        let mut cluster = Self {
            bin,
            dir,
            port: free_port(),
            running: false,
        };
        let mut initdb = cluster.pg_command("initdb");
        run(
            initdb
                .arg("-D")
                .arg(cluster.data_dir())
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
                .args(["--no-locale", "--no-sync"]),
            "initdb",
        );
        cluster.start_again();
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(program)
                .current_dir(self.dir.path());
            command
        } else {
            Command::new(program)
        }
    }

    pub fn start_again(&mut self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let mut pg_ctl = self.pg_command("pg_ctl");
        run(
            pg_ctl
                .arg("-D")
                .arg(self.data_dir())
                .arg("-l")
                .arg(self.dir.path().join("postgres.log"))
                .args(["-w", "-t", "30", "-o", &options, "start"]),
            "pg_ctl start",
        );
        self.running = true;
    }

    /// Stops the server the way an administrator does: open connections are ended.
    pub fn stop(&mut self) {
        let mut pg_ctl = self.pg_command("pg_ctl");
        run(
            pg_ctl
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "fast", "-w", "-t", "30", "stop"]),
            "pg_ctl stop",
        );
        self.running = false;
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let mut pg_ctl = self.pg_command("pg_ctl");
            let _ = pg_ctl
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}
