//! One problem found in a configuration, where it was set, and how it is printed:
//! `error: /etc/sn27/sn27.toml:50: miner.ssh_prot: unknown key; did you mean `ssh_port`?`

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in the configuration.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Dotted key, with `[i]` for array elements; empty for problems with the file as a whole.
    pub key: String,
    /// `file:line`, `environment variable X`, or `defaults`.
    pub origin: String,
    /// The line in the configuration file, when the key was set there.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.key.is_empty() {
            write!(f, "{level}: {}: {}", self.origin, self.message)
        } else {
            write!(
                f,
                "{level}: {}: {}: {}",
                self.origin, self.key, self.message
            )
        }
    }
}
