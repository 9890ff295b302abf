//! A subcommand's flags defined only when that subcommand runs.
//!
//! clap builds every subcommand's arguments before parsing; with eighteen subcommands that is a
//! measurable part of a one-value `decrypt` (docs/performance.md). `Deferred<T>` hands `T`'s
//! definitions to [`clap::Command::defer`], which runs them when clap enters that subcommand (or
//! builds the whole tree for help, completions and the man page).

use clap::{ArgMatches, Args, Command, FromArgMatches};

/// `T`'s flags, added to its subcommand only when clap enters it.
#[derive(Debug, Clone)]
pub struct Deferred<T>(pub T);

impl<T> std::ops::Deref for Deferred<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: FromArgMatches> FromArgMatches for Deferred<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Self)
    }
    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Self)
    }
    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }
    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

impl<T: Args> Args for Deferred<T> {
    fn augment_args(cmd: Command) -> Command {
        cmd.defer(|cmd| keeping_about(cmd, T::augment_args))
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        cmd.defer(|cmd| keeping_about(cmd, T::augment_args_for_update))
    }
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// `augment` applied to `cmd`, which keeps the descriptions it had. Without the deferral the
/// subcommand's own doc comment is set after its flags (and wins over a flattened struct's);
/// deferred, the flags come last, so the descriptions are put back.
fn keeping_about(cmd: Command, augment: fn(Command) -> Command) -> Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let mut cmd = augment(cmd);
    if let Some(about) = about {
        cmd = cmd.about(about);
    }
    if let Some(long_about) = long_about {
        cmd = cmd.long_about(long_about);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser, Subcommand};

    /// A flattened struct's description (not the subcommand's)
    #[derive(Args, Debug, Clone)]
    struct Greet {
        /// Whom to greet
        #[arg(long)]
        name: String,
    }

    #[derive(Parser, Debug)]
    struct Cli {
        #[arg(long, global = true)]
        loud: bool,
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(Subcommand, Debug)]
    enum Sub {
        /// Say hello
        Greet(Deferred<Greet>),
    }

    #[test]
    fn deferred_flags_parse_and_show_in_help() {
        let cli = Cli::try_parse_from(["t", "greet", "--name", "x", "--loud"]).expect("parses");
        let Sub::Greet(g) = cli.command;
        assert_eq!(g.name, "x");
        assert!(cli.loud);
        assert!(Cli::try_parse_from(["t", "greet", "--nope"]).is_err());
        let mut cmd = Cli::command();
        cmd.build();
        let greet = cmd.find_subcommand("greet").expect("subcommand");
        assert!(greet.get_arguments().any(|a| a.get_id() == "name"));
        let help = Cli::try_parse_from(["t", "greet", "--help"]).expect_err("help");
        assert!(help.to_string().contains("Whom to greet"));
        assert!(help.to_string().starts_with("Say hello"), "{help}");
        assert_eq!(
            greet.get_about().map(|a| a.to_string()).as_deref(),
            Some("Say hello")
        );
    }
}
