//! An error and its causes on one line (`outer: cause: root cause`), for log fields.
//!
//! Library errors keep their causes as `source()` rather than pasting them into their own
//! message; a log line that shows only `Display` would then lose the cause. `%Report(&e)`
//! shows the whole chain, as anyhow's `{:#}` does at the command line.

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its sources.
pub struct Report<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_is_shown() {
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(Report(&error).to_string(), "outer: inner");
    }
}
