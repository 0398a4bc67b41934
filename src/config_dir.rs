//! farview's directory in the user's configuration: `$XDG_CONFIG_HOME/farview`, else
//! `~/.config/farview`. It keeps the self-signed server certificate and the viewer's
//! known-servers file.

use std::path::PathBuf;

/// The directory, or `None` when neither `XDG_CONFIG_HOME` nor `HOME` is set.
pub fn config_dir() -> Option<PathBuf> {
    let non_empty = |name| std::env::var_os(name).filter(|value| !value.is_empty());
    let base = non_empty("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("farview"))
}

/// The viewer's default known-servers file.
pub fn known_servers_file() -> Option<PathBuf> {
    config_dir().map(|dir| dir.join("known-servers"))
}
