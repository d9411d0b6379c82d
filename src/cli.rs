//! The `uphill` command line.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::{Application, open_store, shutdown_signal};
use crate::auth::AuthService;
use crate::auth::service::NewUser;
use crate::config::{Config, EXAMPLE, Overrides};
use crate::error::Error;

/// `println!` for the command's output, except that a reader who closed the
/// pipe early (`uphill check | grep -q …`) ends the command the way a closed
/// pipe ends any Unix tool (status 141, nothing on stderr), not with a panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
            panic!("failed printing to stdout: {e}");
        }
    }};
}
pub(crate) use say;

#[derive(Parser, Debug)]
#[command(
    name = "uphill",
    version,
    about = "Campus marketplace with scheduled batch delivery"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Config file (default: /etc/uphill/config.toml when it exists).
    #[arg(long, global = true, env = "UPHILL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Overrides server.bind.
    #[arg(long, global = true)]
    pub bind: Option<String>,
    /// Overrides storage.data_dir.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the web UI and API (the default).
    Serve,
    /// Write a commented config file and create the data directory.
    Init {
        /// Where to write the config.
        #[arg(long, default_value = "uphill.toml")]
        output: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Manage users from the server's console.
    #[command(subcommand)]
    User(UserCommand),
    /// Load data into the store.
    #[command(subcommand)]
    Seed(SeedCommand),
    /// Email: `uphill mail test ADDRESS` sends a test mail now.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Manage the search index.
    #[command(subcommand)]
    Search(SearchCommand),
    /// Manage uploaded files (run while the server is stopped).
    #[command(subcommand)]
    Files(FilesCommand),
    /// Validate the configuration and print it (secrets redacted), then
    /// check the data directory, its disk space and the SMTP server.
    Check,
    /// Give the store file's free pages back to the disk (run while the
    /// server is stopped; the store only grows while it runs).
    Compact,
    /// Backups: take, list, verify, restore.
    #[command(subcommand)]
    Backup(crate::backup::command::BackupCommand),
    /// Print the version.
    Version,
    /// Print the OpenAPI document the server serves at /api/openapi.json
    /// (the web UI's client is generated from it; see scripts/gen-openapi).
    Openapi,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; prints a generated password unless one is piped in.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum MailCommand {
    /// Send a test mail straight through the configured SMTP server (not
    /// through the outbox, so it works while the server runs and answers
    /// at once); exits non-zero with the server's error when it fails.
    Test {
        /// Where to send it.
        address: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SeedCommand {
    /// A demo campus: buildings, six shops with slots and products, students,
    /// a runner and an admin. Runs once per data directory; prints the
    /// accounts and their password.
    Demo,
}

#[derive(Subcommand, Debug)]
pub enum SearchCommand {
    /// Rebuild the search index from the store. Needs the server stopped
    /// (it holds the store); a running server rebuilds on
    /// `POST /api/v1/admin/search/reindex` instead.
    Reindex,
}

#[derive(Subcommand, Debug)]
pub enum FilesCommand {
    /// Remove uploads no shop or product has referenced for
    /// files.gc_grace_hours (the server does this every hour by itself).
    Gc {
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

impl Global {
    fn load(&self) -> anyhow::Result<Config> {
        let overrides = Overrides {
            bind: self.bind.clone(),
            data_dir: self.data_dir.clone(),
        };
        Ok(Config::load(
            self.config.as_deref(),
            std::env::vars(),
            &overrides,
        )?)
    }
}

/// Runs the CLI; returns the process exit code.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.global),
        Command::Init { output, force } => init(&cli.global, &output, force),
        Command::User(UserCommand::Create {
            email,
            name,
            admin,
            password_stdin,
        }) => {
            crate::telemetry::init_cli();
            let config = cli.global.load()?;
            let store = open_store(&config)?;
            let (password, generated) = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                (s.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (crate::auth::token::random_secret()[..20].to_string(), true)
            };
            let user = AuthService::create_user_blocking(
                &store,
                NewUser {
                    email,
                    name,
                    password: password.clone(),
                    phone: None,
                },
                admin,
            )
            .map_err(|e| match e {
                Error::Invalid(errs) => anyhow::anyhow!(
                    "{}",
                    errs.iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                other => anyhow::anyhow!("{other}"),
            })?;
            let role = if admin { "admin" } else { "user" };
            say!("created {role} {} ({})", user.email, user.id);
            if generated {
                say!("password (shown once): {password}");
            }
            Ok(())
        }
        Command::Seed(SeedCommand::Demo) => {
            crate::telemetry::init_cli();
            let config = cli.global.load()?;
            let store = open_store(&config)?;
            match crate::seed::demo(&store).map_err(|e| anyhow::anyhow!("{e}"))? {
                None => say!(
                    "demo data is already in {}",
                    config.storage.data_dir.display()
                ),
                Some(s) => {
                    say!(
                        "demo campus created; every account's password (shown once): {}",
                        s.password
                    );
                    for a in s.accounts {
                        say!("  {:<8} {}", a.role, a.email);
                    }
                }
            }
            Ok(())
        }
        Command::Mail(MailCommand::Test { address }) => {
            crate::telemetry::init_cli();
            let config = cli.global.load()?;
            mail_test(&config, &address)
        }
        Command::Search(SearchCommand::Reindex) => {
            crate::telemetry::init_cli();
            let config = cli.global.load()?;
            let store = open_store(&config).map_err(|e| {
                if matches!(
                    e.downcast_ref::<crate::store::StoreError>(),
                    Some(crate::store::StoreError::Locked(_))
                ) {
                    anyhow::anyhow!(
                        "{e}\nthe server holds the store: stop it first, or ask it to rebuild \
                         with POST /api/v1/admin/search/reindex (admin token)"
                    )
                } else {
                    e
                }
            })?;
            let r = crate::search::indexer::rebuild(
                &crate::search::search_dir(&config.storage.data_dir),
                &store,
                config.search.rebuild_heap_mb * 1_000_000,
            )?;
            say!(
                "search index rebuilt in {} ms: {} products, {} shops, {} orders, {} users",
                r.millis,
                r.products,
                r.shops,
                r.orders,
                r.users
            );
            Ok(())
        }
        Command::Files(FilesCommand::Gc { dry_run }) => {
            crate::telemetry::init_cli();
            let config = cli.global.load()?;
            files_gc(&config, dry_run)
        }
        Command::Check => {
            crate::telemetry::init_cli();
            let config = cli.global.load()?;
            say!("# configuration is valid\n{}", config.redacted_toml());
            let findings = crate::check::run(&config);
            for f in &findings {
                say!("# {f}");
            }
            if findings
                .iter()
                .any(|f| f.level == crate::check::Level::Fail)
            {
                anyhow::bail!("the checks above marked FAIL must be fixed first");
            }
            Ok(())
        }
        Command::Compact => {
            crate::telemetry::init_cli();
            let config = cli.global.load()?;
            let (before, after) = crate::store::compact(&config.storage)?;
            say!(
                "compacted {}: {} → {} bytes",
                config.storage.data_dir.join("uphill.redb").display(),
                before,
                after
            );
            Ok(())
        }
        Command::Backup(cmd) => {
            crate::telemetry::init_cli();
            let config = cli.global.load()?;
            crate::backup::command::run(&config, cmd)
        }
        Command::Version => {
            say!("uphill {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Openapi => {
            say!("{}", openapi_document()?);
            Ok(())
        }
    }
}

/// The OpenAPI document, from the application itself, so it is exactly what
/// `/api/openapi.json` serves. The API structs hold the application state,
/// so this builds one on the defaults over a throwaway store: no config or
/// data directory of this machine can change the document.
pub fn openapi_document() -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("uphill-openapi-{}", ulid::Ulid::new()));
    let mut config = Config::default();
    config.storage.data_dir = dir.clone();
    config.server.bind = "127.0.0.1:0".into();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let spec = rt.block_on(async {
        let app = Application::build(config).await?;
        anyhow::Ok(crate::http::openapi_json(app.state()))
    });
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
    spec
}

fn mail_test(config: &Config, address: &str) -> anyhow::Result<()> {
    use crate::mail::worker::Sender;
    let to: lettre::message::Mailbox = address
        .parse()
        .map_err(|e| anyhow::anyhow!("`{address}` is not an email address: {e}"))?;
    let timeout = std::time::Duration::from_secs(config.mail.send_timeout_secs);
    let sender = Sender::from_config(config, timeout)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| {
            anyhow::anyhow!("smtp.host is not set: configure [smtp] first (see `uphill check`)")
        })?;
    let smtp = &config.smtp;
    let via = format!("{}:{} ({:?})", smtp.host, smtp.port(), smtp.security());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let message = crate::mail::Message::Test {
        sent_at: chrono::Utc::now(),
    };
    rt.block_on(sender.send(to.email.as_ref(), &message))
        .map_err(|e| anyhow::anyhow!("test mail to {to} via {via} failed: {e}"))?;
    say!("sent a test mail to {to} via {via}");
    Ok(())
}

fn files_gc(config: &Config, dry_run: bool) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let files = crate::files::Files::open(&config.storage.data_dir, config.files.clone())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(crate::files::gc::run(
        &store,
        &files,
        chrono::Utc::now(),
        dry_run,
    ))?;
    let verb = if dry_run { "would remove" } else { "removed" };
    for g in &report.removed {
        say!(
            "{verb} {} ({} bytes, unreferenced since {})",
            g.id,
            g.bytes,
            g.unreferenced_since.to_rfc3339()
        );
    }
    for id in &report.orphans {
        say!("{verb} {id} (files without a record)");
    }
    say!(
        "{verb} {} uploads ({} bytes) and {} orphaned directories",
        report.removed.len(),
        report.bytes(),
        report.orphans.len()
    );
    Ok(())
}

fn init(global: &Global, output: &PathBuf, force: bool) -> anyhow::Result<()> {
    crate::telemetry::init_cli();
    if output.exists() && !force {
        anyhow::bail!("{} exists; pass --force to replace it", output.display());
    }
    std::fs::write(output, EXAMPLE)?;
    let config = Config::load(
        Some(output),
        std::env::vars(),
        &Overrides {
            bind: global.bind.clone(),
            data_dir: global.data_dir.clone(),
        },
    )?;
    std::fs::create_dir_all(&config.storage.data_dir)?;
    say!(
        "wrote {} and created {}; start with: uphill --config {} serve",
        output.display(),
        config.storage.data_dir.display(),
        output.display()
    );
    Ok(())
}

fn serve(global: &Global) -> anyhow::Result<()> {
    let config = global.load()?;
    let _guard = crate::telemetry::init_server(&config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("uphill")
        .build()?;
    rt.block_on(async move {
        let app = Application::build(config).await?;
        if let Some(link) = app.first_admin_link() {
            tracing::warn!("no admin yet; create the first one at {link} (valid 24 h, once)");
            say!("\n  Create the first admin: {link}\n");
        }
        app.run_until(shutdown_signal()).await
    })
}
