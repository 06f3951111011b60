//! Standalone `shenfen-photo` CLI (the same commands `shenfen photo ...` will embed), plus `bench`.
use clap::Parser;
use shenfen_portrait::PhotoCommand;

#[derive(clap::Parser)]
#[command(name = "shenfen-photo", version, about = "Shenfen portrait engine: ID photo check, standardize, best-of")]
enum Cli {
    #[command(flatten)]
    Photo(PhotoCommand),
    /// Benchmark check and standardize (what `shenfen bench photo` runs).
    Bench(shenfen_portrait::bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    match Cli::parse() {
        Cli::Photo(cmd) => shenfen_portrait::run(cmd),
        Cli::Bench(args) => shenfen_portrait::bench::run(args),
    }
}
