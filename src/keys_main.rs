//! The `sepal-keys` helper executable: AWS KMS and Vault transit keys and key services for
//! `sepal`, which starts it only for a file that needs them (see `keys::backend`). This is the one
//! executable that links the AWS SDK, tokio, gRPC and an HTTPS client.

fn main() -> std::process::ExitCode {
    // It holds data keys while it answers.
    sepal::cli::disable_core_dumps();
    std::process::ExitCode::from(sepal::keys::helper::serve::main(
        std::env::args_os().collect(),
        &sepal::cloud::IN_PROCESS,
    ))
}
