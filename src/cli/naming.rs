//! Every error names the file it is about: the commands' own messages mostly do, and this adds
//! the file in front of those that do not (key, metadata and store messages written without it).

use std::path::{Path, PathBuf};

use super::keys::GroupsCommand;
use super::Command;

/// The file a command works on, when it names exactly one.
pub fn file_of(command: &Command) -> Option<PathBuf> {
    let file = match command {
        Command::Encrypt(a) => a.io.file.clone(),
        Command::Decrypt(a) if a.many.more.is_empty() => a.io.file.clone(),
        Command::Rotate(a) if a.many.more.is_empty() => a.io.file.clone(),
        Command::Edit(a) => Some(a.file.clone()),
        Command::ExecEnv(a) => Some(a.file.clone()),
        Command::ExecFile(a) => Some(a.file.clone()),
        Command::Filestatus(a) if a.files.len() == 1 => a.files.first().cloned(),
        Command::Set(a) => a.args.first().map(PathBuf::from),
        Command::Unset(a) => a.args.first().map(PathBuf::from),
        Command::Updatekeys(a) if a.files.len() == 1 => a.files.first().cloned(),
        Command::Groups(GroupsCommand::Add(a)) => Some(a.file.clone()),
        Command::Groups(GroupsCommand::Delete(a)) => Some(a.file.clone()),
        _ => None,
    };
    file.filter(|f| f.as_os_str() != "-")
}

/// `message`, with `file` in front unless it already names it.
pub fn with_file(message: &str, file: Option<&Path>) -> String {
    let Some(file) = file else {
        return message.to_string();
    };
    let shown = file.display().to_string();
    let absolute = crate::config::absolute(file).display().to_string();
    if message.is_empty() || message.contains(&shown) || message.contains(&absolute) {
        message.to_string()
    } else {
        format!("{shown}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_file_once() {
        let f = Path::new("secrets/db.yaml");
        assert_eq!(
            with_file("Failed to get the data key", Some(f)),
            "secrets/db.yaml: Failed to get the data key"
        );
        assert_eq!(
            with_file("Error reading secrets/db.yaml: gone", Some(f)),
            "Error reading secrets/db.yaml: gone"
        );
        assert_eq!(with_file("no file", None), "no file");
    }
}
