fn main() -> std::process::ExitCode {
    // Before anything is read or decrypted.
    sepal::cli::disable_core_dumps();
    let cli = sepal::cli::parse_args(std::env::args_os().collect());
    std::process::ExitCode::from(sepal::cli::run(cli))
}
