//! `sagactl`: audit the saga, inspect and replay dead letters, follow an order.
//! The commands are in `sagactl::cli`.

use sagactl::cli::{run, Cli, Parser};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse(), &mut std::io::stdout()).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("sagactl: {e:#}");
            ExitCode::from(2)
        }
    }
}
