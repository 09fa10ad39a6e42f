//! A real PostgreSQL hot standby of the test server, for the read-replica tests (and the
//! load generator, which may include this file by path): `pg_basebackup -R -X stream` of the
//! primary into a temporary directory, started with the server binaries of the installed
//! PostgreSQL on a free port. Only the standard library: blocking calls, so async callers
//! run them in `spawn_blocking`.
//!
//! The standby streams through a replication slot of its own (`zouqin_standby_<pid>_<port>`),
//! dropped with it — by [`Drop`], or by a watchdog shell when the process ends without
//! dropping it.
//!
//! The primary must accept replication connections from 127.0.0.1; [`allow_replication`]
//! adds `host replication all 127.0.0.1/32 trust` to its `pg_hba.conf` when it is missing
//! (as `.ci/run` does) and reloads it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `pg_hba.conf` line that lets `pg_basebackup` and the standby stream from the primary.
pub const REPLICATION_HBA_LINE: &str = "host replication all 127.0.0.1/32 trust";

/// A running hot standby; stopped and its directory removed when dropped.
pub struct Standby {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    /// The primary's address.
    primary: (String, u16),
    /// The replication slot that keeps the primary's WAL until this standby has it (without
    /// one, a primary busy with other writes recycles segments a slow standby still needs,
    /// and the standby never catches up); dropped with the standby.
    slot: String,
    /// The `sh` that tears the standby down if this process dies without dropping it.
    watchdog: Option<std::process::Child>,
}

/// Where the primary listens, from a `postgres://user@host:port` URL (the defaults of
/// `psql` for what it leaves out).
fn host_port(primary_url: &str) -> (String, u16) {
    let rest = primary_url
        .split_once("://")
        .map_or(primary_url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    match hostport.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse().unwrap_or(5432)),
        None if hostport.is_empty() => ("127.0.0.1".to_owned(), 5432),
        None => (hostport.to_owned(), 5432),
    }
}

/// The newest installed PostgreSQL's `bin` directory (`/usr/lib/postgresql/<major>/bin`).
fn server_bin() -> Result<PathBuf, String> {
    let root = Path::new("/usr/lib/postgresql");
    let mut majors: Vec<u32> = std::fs::read_dir(root)
        .map_err(|e| format!("{}: {e}", root.display()))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    majors.sort_unstable();
    let major = majors
        .last()
        .ok_or("no PostgreSQL under /usr/lib/postgresql")?;
    Ok(root.join(major.to_string()).join("bin"))
}

/// Whether this process runs as root (PostgreSQL then must be run as `postgres`).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A command run as the `postgres` user when this process is root, else as itself.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(mut command: Command, what: &str) -> Result<String, String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// SQL through `psql` on the primary, as its superuser.
fn psql(host: &str, port: u16, sql: &str) -> Result<String, String> {
    let mut command = Command::new("psql");
    command.args([
        "-h",
        host,
        "-p",
        &port.to_string(),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-Atc",
        sql,
    ]);
    run(command, "psql").map(|out| out.trim().to_owned())
}

/// Makes the primary accept replication connections from 127.0.0.1 (adds
/// [`REPLICATION_HBA_LINE`] to its `pg_hba.conf` when no line allows them, then reloads).
pub fn allow_replication(primary_url: &str) -> Result<(), String> {
    let (host, port) = host_port(primary_url);
    let hba = psql(&host, port, "SHOW hba_file")?;
    let text = std::fs::read_to_string(&hba).map_err(|e| format!("{hba}: {e}"))?;
    let allowed = text.lines().any(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        words.first() == Some(&"host") && words.get(1) == Some(&"replication")
    });
    if !allowed {
        let mut text = text;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(REPLICATION_HBA_LINE);
        text.push('\n');
        std::fs::write(&hba, text).map_err(|e| format!("{hba}: {e}"))?;
        psql(&host, port, "SELECT pg_reload_conf()")?;
    }
    Ok(())
}

/// A port nobody listens on right now.
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

impl Standby {
    /// Takes a base backup of the primary at `primary_url` and starts it as a hot standby
    /// streaming from it; returns once it accepts connections.
    pub fn start_from(primary_url: &str) -> Result<Self, String> {
        allow_replication(primary_url)?;
        let (host, port) = host_port(primary_url);
        let bin = server_bin()?;
        let dir = std::env::temp_dir().join(format!(
            "zouqin-standby-{}-{}",
            std::process::id(),
            free_port()?
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // PostgreSQL refuses a data directory others may read.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:postgres").arg(&dir);
                    c
                },
                "chown",
            )?;
        }
        let port_of_standby = free_port()?;
        let mut standby = Self {
            slot: format!("zouqin_standby_{}_{port_of_standby}", std::process::id()),
            dir,
            port: port_of_standby,
            bin,
            primary: (host.clone(), port),
            watchdog: None,
        };
        let mut backup = as_postgres(&standby.bin.join("pg_basebackup"));
        backup
            .args(["-h", &host, "-p", &port.to_string(), "-U", "postgres", "-D"])
            .arg(&standby.dir)
            .args(["-R", "-X", "stream", "--checkpoint=fast", "-C", "-S"])
            .arg(&standby.slot);
        // From here on the slot exists: the watchdog drops it whatever happens next.
        standby.watchdog = standby.watch_this_process().ok();
        run(backup, "pg_basebackup")?;
        // The Debian cluster keeps its configuration outside the data directory: give the
        // copy minimal files of its own (connections from this machine only).
        for (name, text) in [
            ("postgresql.conf", "\n"),
            (
                "pg_hba.conf",
                "local all all trust\nhost all all 127.0.0.1/32 trust\n",
            ),
            ("pg_ident.conf", "\n"),
        ] {
            let path = standby.dir.join(name);
            if !path.exists() {
                std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
                if is_root() {
                    run(
                        {
                            let mut c = Command::new("chown");
                            c.arg("postgres:postgres").arg(&path);
                            c
                        },
                        "chown",
                    )?;
                }
            }
        }
        standby.start()?;
        Ok(standby)
    }

    /// `postgres://postgres@127.0.0.1:PORT/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start(&self) -> Result<(), String> {
        let mut start = as_postgres(&self.bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(&self.dir)
            .arg("-l")
            .arg(self.dir.join("standby.log"))
            .args(["-w", "-t", "120", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c hot_standby=on \
                 -c shared_buffers=32MB -c max_connections=100",
                self.port,
                self.dir.display()
            ))
            .arg("start")
            .stdout(Stdio::null());
        run(start, "pg_ctl start").map_err(|e| {
            let log = std::fs::read_to_string(self.dir.join("standby.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            format!(
                "{e}\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if self.is_running() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("the standby did not accept connections within 120 s".to_owned())
    }

    /// Runs SQL on the standby as its superuser (e.g. `SELECT pg_wal_replay_pause()`).
    pub fn sql(&self, sql: &str) -> Result<String, String> {
        psql("127.0.0.1", self.port, sql)
    }

    /// Whether the server accepts connections.
    pub fn is_running(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The server's processes: the postmaster (first line of `postmaster.pid`) and its
    /// children.
    fn processes(&self) -> Result<Vec<String>, String> {
        let pidfile = std::fs::read_to_string(self.dir.join("postmaster.pid"))
            .map_err(|e| format!("postmaster.pid: {e}"))?;
        let postmaster = pidfile.lines().next().unwrap_or("").trim().to_owned();
        let mut children = Command::new("pgrep");
        children.args(["-P", &postmaster]);
        let listed = children
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_default();
        let mut pids = vec![postmaster];
        pids.extend(listed.split_whitespace().map(str::to_owned));
        Ok(pids)
    }

    /// Sends `signal` to every process of the server.
    fn signal(&self, signal: &str) -> Result<(), String> {
        let mut kill = Command::new("kill");
        kill.arg(format!("-{signal}")).args(self.processes()?);
        run(kill, "kill").map(|_| ())
    }

    /// Freezes the server (`SIGSTOP` to all its processes): connections stay open and
    /// nothing answers, as with a host that hangs.
    pub fn freeze(&self) -> Result<(), String> {
        self.signal("STOP")
    }

    /// Lets a frozen server run again.
    pub fn thaw(&self) -> Result<(), String> {
        self.signal("CONT")
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn stop_immediate(&self) -> Result<(), String> {
        let mut stop = as_postgres(&self.bin.join("pg_ctl"));
        stop.arg("-D")
            .arg(&self.dir)
            .args(["-m", "immediate", "-w", "stop"]);
        run(stop, "pg_ctl stop").map(|_| ())
    }

    /// A detached shell that stops the standby and removes its directory once this process
    /// is gone, however it ends (a standby shared by a whole test binary lives in a static,
    /// which is never dropped).
    fn watch_this_process(&self) -> std::io::Result<std::process::Child> {
        let pg_ctl = self.bin.join("pg_ctl");
        let runas = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {runas}{pg_ctl} -D '{dir}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'; \
             for i in 1 2 3 4 5 6 7 8 9 10; do \
               psql -h '{host}' -p {port} -U postgres -d postgres -qAtc \
                 \"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                   WHERE slot_name = '{slot}' AND NOT active\" >/dev/null 2>&1; \
               [ -z \"$(psql -h '{host}' -p {port} -U postgres -d postgres -qAtc \
                 \"SELECT 1 FROM pg_replication_slots WHERE slot_name = '{slot}'\")\" ] && break; \
               sleep 1; \
             done",
            pid = std::process::id(),
            pg_ctl = pg_ctl.display(),
            dir = self.dir.display(),
            host = self.primary.0,
            port = self.primary.1,
            slot = self.slot,
        );
        Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        let _ = self.stop_immediate();
        let _ = std::fs::remove_dir_all(&self.dir);
        // The walsender notices the standby is gone within moments; until then the slot
        // is active and cannot be dropped.
        for _ in 0..10 {
            let drop = format!(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = '{}' AND NOT active",
                self.slot
            );
            let _ = psql(&self.primary.0, self.primary.1, &drop);
            let left = format!(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{}'",
                self.slot
            );
            if psql(&self.primary.0, self.primary.1, &left).is_ok_and(|n| n == "0") {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_primary_address_comes_from_its_url() {
        assert_eq!(
            super::host_port("postgres://postgres@127.0.0.1:5432"),
            ("127.0.0.1".to_owned(), 5432)
        );
        assert_eq!(
            super::host_port("postgres://u:p@db.example:6543/zouqin"),
            ("db.example".to_owned(), 6543)
        );
        assert_eq!(
            super::host_port("postgres://localhost"),
            ("localhost".to_owned(), 5432)
        );
    }
}
