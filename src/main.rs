use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = dango::cli::Cli::parse();
    dango::cli::init_tracing();
    match dango::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
