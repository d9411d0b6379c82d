//! `uphill check` beyond the configuration: the data directory, its disk,
//! and whether the SMTP server answers. The unit runs `uphill check` before
//! every start (`ExecStartPre=`), so only what would break the server is a
//! failure; what merely deserves attention is a warning.

use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::config::{Config, SmtpSecurity};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Clone, Debug)]
pub struct Finding {
    pub level: Level,
    pub what: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        write!(f, "{tag} {}: {}", self.what, self.detail)
    }
}

fn finding(level: Level, what: &'static str, detail: impl Into<String>) -> Finding {
    Finding {
        level,
        what,
        detail: detail.into(),
    }
}

/// The nearest directory that exists at or above `p`.
fn existing_ancestor(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut cur = abs.as_path();
    loop {
        if cur.is_dir() {
            return cur.to_path_buf();
        }
        match cur.parent() {
            Some(parent) => cur = parent,
            None => return PathBuf::from("/"),
        }
    }
}

fn writable(p: &Path) -> bool {
    nix::unistd::access(
        p,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .is_ok()
}

pub fn data_dir(config: &Config) -> Finding {
    let dir = &config.storage.data_dir;
    const WHAT: &str = "data directory";
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(_) => {
            let base = existing_ancestor(dir);
            return if writable(&base) {
                finding(
                    Level::Ok,
                    WHAT,
                    format!("{} does not exist yet; it will be created", dir.display()),
                )
            } else {
                finding(
                    Level::Fail,
                    WHAT,
                    format!(
                        "{} does not exist and {} is not writable by this user",
                        dir.display(),
                        base.display()
                    ),
                )
            };
        }
    };
    if !meta.is_dir() {
        return finding(
            Level::Fail,
            WHAT,
            format!("{} is not a directory", dir.display()),
        );
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o002 != 0 {
        return finding(
            Level::Fail,
            WHAT,
            format!(
                "{} is world-writable (mode {mode:o}); any local user could replace the store \
                 (chmod o-w it; the package uses 0750)",
                dir.display()
            ),
        );
    }
    if !writable(dir) {
        return finding(
            Level::Fail,
            WHAT,
            format!(
                "{} is not writable by this user (uid {}); it is owned by uid {}",
                dir.display(),
                nix::unistd::geteuid(),
                meta.uid()
            ),
        );
    }
    let me = nix::unistd::geteuid().as_raw();
    let level = if meta.uid() == me || me == 0 {
        Level::Ok
    } else {
        Level::Warn
    };
    finding(
        level,
        WHAT,
        format!(
            "{} (owner uid {}, mode {mode:o}, writable by uid {me})",
            dir.display(),
            meta.uid()
        ),
    )
}

/// Warn below this free fraction (the alert rule's threshold too).
pub const DISK_WARN: f64 = 0.10;

pub fn disk(config: &Config) -> Finding {
    const WHAT: &str = "disk space";
    let base = existing_ancestor(&config.storage.data_dir);
    match crate::store::disk_space(&base) {
        Ok((avail, total)) => {
            let ratio = if total > 0 {
                avail as f64 / total as f64
            } else {
                0.0
            };
            let detail = format!(
                "{:.1}% free ({} MiB of {} MiB) on the file system of {}",
                ratio * 100.0,
                avail >> 20,
                total >> 20,
                base.display()
            );
            if ratio < DISK_WARN {
                finding(Level::Warn, WHAT, format!("{detail}; below 10 %"))
            } else {
                finding(Level::Ok, WHAT, detail)
            }
        }
        Err(e) => finding(Level::Warn, WHAT, format!("{}: {e}", base.display())),
    }
}

/// The port lettre uses for each security mode when none is set.
fn smtp_port(config: &Config) -> u16 {
    config.smtp.port.unwrap_or(match config.smtp.security {
        Some(SmtpSecurity::Tls) => 465,
        Some(SmtpSecurity::None) => 25,
        _ => 587,
    })
}

pub fn smtp(config: &Config, timeout: Duration) -> Finding {
    const WHAT: &str = "smtp";
    let host = config.smtp.host.trim().to_string();
    if host.is_empty() {
        return finding(
            Level::Ok,
            WHAT,
            "not configured (mail waits in the outbox until smtp.host is set)",
        );
    }
    let port = smtp_port(config);
    // Name lookup has no timeout of its own: run it and the connect on a
    // thread and stop waiting after `timeout`.
    let (tx, rx) = mpsc::channel();
    let h = host.clone();
    std::thread::spawn(move || {
        let r = (h.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve: {e}"))
            .and_then(|mut addrs| addrs.next().ok_or_else(|| "no address".to_string()))
            .and_then(|a| {
                TcpStream::connect_timeout(&a, timeout)
                    .map(|_| a)
                    .map_err(|e| format!("{a}: {e}"))
            });
        let _ = tx.send(r);
    });
    match rx.recv_timeout(timeout + Duration::from_millis(500)) {
        Ok(Ok(a)) => finding(
            Level::Ok,
            WHAT,
            format!("{host}:{port} accepts connections ({a})"),
        ),
        Ok(Err(e)) => finding(
            Level::Warn,
            WHAT,
            format!("{host}:{port} is not reachable ({e}); mail waits in the outbox"),
        ),
        Err(_) => finding(
            Level::Warn,
            WHAT,
            format!(
                "{host}:{port} did not answer within {} s; mail waits in the outbox",
                timeout.as_secs()
            ),
        ),
    }
}

/// The connection caps `serve` will apply: it raises its open-file limit
/// to the hard one and keeps `server.max_connections` below it.
pub fn connections(config: &Config, nofile: Option<(u64, u64)>) -> Finding {
    const WHAT: &str = "connections";
    let Some((soft, hard)) = nofile else {
        return finding(Level::Warn, WHAT, "cannot read the open-file limit");
    };
    let limits = match crate::net::Limits::new(config, Some(hard)) {
        Ok(l) => l,
        Err(e) => return finding(Level::Fail, WHAT, e.to_string()),
    };
    let files = if soft < hard {
        format!("open-file limit {soft}, which serve raises to {hard}")
    } else {
        format!("open-file limit {hard}")
    };
    let detail = format!(
        "at most {} open ({} from one address), {files}; \
         request heads within {} s, idle connections closed after {} s",
        limits.max_connections,
        limits.max_per_address,
        config.server.header_timeout_secs,
        config.server.idle_timeout_secs
    );
    if limits.max_connections < config.server.max_connections {
        finding(
            Level::Warn,
            WHAT,
            format!(
                "{detail}; server.max_connections ({}) does not fit the open-file limit \
                 (raise LimitNOFILE= or the hard limit to at least {})",
                config.server.max_connections,
                config.server.max_connections as u64 + crate::net::FD_RESERVE
            ),
        )
    } else {
        finding(Level::Ok, WHAT, detail)
    }
}

/// The housekeeping settings, so an operator sees what is kept how long.
pub fn housekeeping(config: &Config) -> Finding {
    let h = &config.housekeeping;
    finding(
        Level::Ok,
        "housekeeping",
        format!(
            "read notifications kept {} days, untouched carts {} days, expired sessions \
             removed; swept every {} minutes",
            h.notification_days,
            h.cart_days,
            crate::housekeeping::EVERY_MINUTES
        ),
    )
}

/// Every check, in the order printed.
pub fn run(config: &Config) -> Vec<Finding> {
    vec![
        data_dir(config),
        disk(config),
        connections(config, crate::net::nofile_limit()),
        smtp(config, Duration::from_secs(3)),
        housekeeping(config),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_at(dir: &Path) -> Config {
        let mut c = Config::default();
        c.storage.data_dir = dir.to_path_buf();
        c
    }

    #[test]
    fn data_dir_findings() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("data");
        assert_eq!(
            data_dir(&config_at(&d)).level,
            Level::Ok,
            "missing but creatable"
        );
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(data_dir(&config_at(&d)).level, Level::Ok);
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let f = data_dir(&config_at(&d));
        assert_eq!(f.level, Level::Fail);
        assert!(f.detail.contains("world-writable"), "{f}");
        let file = t.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(data_dir(&config_at(&file)).level, Level::Fail);
    }

    #[test]
    fn smtp_findings() {
        let t = tempfile::tempdir().unwrap();
        let mut c = config_at(t.path());
        assert!(
            smtp(&c, Duration::from_secs(1))
                .detail
                .contains("not configured")
        );
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        c.smtp.host = "127.0.0.1".into();
        c.smtp.port = Some(l.local_addr().unwrap().port());
        assert_eq!(smtp(&c, Duration::from_secs(1)).level, Level::Ok);
        drop(l);
        let f = smtp(&c, Duration::from_secs(1));
        assert_eq!(f.level, Level::Warn, "{f}");
    }

    #[test]
    fn connections_warn_when_the_open_file_limit_is_too_low() {
        let c = Config::default();
        let f = connections(&c, Some((1024, 1 << 20)));
        assert_eq!(f.level, Level::Ok, "{f}");
        assert!(f.detail.contains("at most 16384 open"), "{f}");
        let f = connections(&c, Some((1024, 1024)));
        assert_eq!(f.level, Level::Warn, "{f}");
        assert!(f.detail.contains("at most 768 open"), "{f}");
    }

    #[test]
    fn disk_reports_a_percentage() {
        let t = tempfile::tempdir().unwrap();
        let f = disk(&config_at(&t.path().join("not/yet")));
        assert!(f.detail.contains("% free"), "{f}");
    }
}
