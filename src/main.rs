use clap::{CommandFactory, FromArgMatches};

// glibc malloc dominated the server's own CPU profile (fan-out and receipt
// buffers are many short-lived small allocations) and kept freed memory in
// per-thread arenas; mimalloc is faster at both. (Heap profilers such as
// heaptrack see only the system allocator: build with
// `--features system-allocator` to profile; see BENCHMARKS.md.)
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use parley::config::{Cli, Command, redact_url};
use parley::startup::Application;

fn main() -> std::process::ExitCode {
    // A missing .env is fine; a broken one is reported.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("parley: cannot read .env: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = parse_cli();
    match cli.command.clone().unwrap_or(Command::Serve) {
        Command::Healthcheck => parley::healthcheck::run(&cli.settings.bind_addr),
        Command::Serve => serve(cli),
    }
}

/// The command line, with `--help` showing the current DATABASE_URL and
/// REDIS_URL with their passwords masked (clap would print them verbatim).
fn parse_cli() -> Cli {
    let mut command = Cli::command();
    for (id, var) in [("database_url", "DATABASE_URL"), ("redis_url", "REDIS_URL")] {
        let current = std::env::var(var).ok().filter(|v| !v.is_empty());
        command = command.mut_arg(id, |arg| {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let arg = arg.hide_env_values(true);
            match &current {
                Some(v) => arg.help(format!("{help} [current: {}]", redact_url(v))),
                None => arg,
            }
        });
    }
    Cli::from_arg_matches_mut(&mut command.get_matches()).unwrap_or_else(|e| e.exit())
}

fn serve(cli: Cli) -> std::process::ExitCode {
    let config = match cli.settings.validate() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("parley: invalid configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    parley::telemetry::init(config.json_logs);
    let result = actix_web::rt::System::new().block_on(async move {
        let app = Application::build(config.clone()).await?;
        tracing::info!(
            addr = %config.bind_addr.ip(),
            port = app.port(),
            database = config.database_url.split(':').next().unwrap_or(""),
            "parley listening"
        );
        app.run_until_stopped().await?;
        tracing::info!("parley stopped");
        Ok::<_, Box<dyn std::error::Error>>(())
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "parley failed");
            eprintln!("parley: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
