use clap::Parser;

// glibc malloc dominated the server's own CPU profile (fan-out and receipt
// buffers are many short-lived small allocations) and kept freed memory in
// per-thread arenas; mimalloc is faster at both.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use parley::config::{Cli, Command};
use parley::startup::Application;

fn main() -> std::process::ExitCode {
    // A missing .env is fine; a broken one is reported.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("parley: cannot read .env: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    match cli.command.clone().unwrap_or(Command::Serve) {
        Command::Healthcheck => parley::healthcheck::run(&cli.settings.bind_addr),
        Command::Serve => serve(cli),
    }
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
        if config.jwt_secret.generated {
            tracing::warn!(
                "JWT_SECRET is not set: generated a random one; tokens will not survive a restart"
            );
        }
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
