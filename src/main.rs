use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = sepal::cli::Cli::parse();
    std::process::ExitCode::from(sepal::cli::run(cli))
}
