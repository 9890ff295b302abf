fn main() -> std::process::ExitCode {
    let cli = sepal::cli::parse_args(std::env::args_os().collect());
    std::process::ExitCode::from(sepal::cli::run(cli))
}
