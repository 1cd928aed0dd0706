//! The CLI's error: a message saying what went wrong and what to do next, and an exit code.

pub struct Failure {
    message: Option<String>,
    code: u8,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure { message: Some(message.into()), code: 1 }
    }

    /// A failure already reported (rendered diagnostics, a test summary): exit 1, print nothing.
    pub fn reported() -> Failure {
        Failure { message: None, code: 1 }
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    pub fn code(&self) -> u8 {
        self.code
    }
}

impl From<exo_server::Error> for Failure {
    fn from(e: exo_server::Error) -> Failure {
        Failure::new(e.message())
    }
}

impl From<exo_pg_ephemeral::Error> for Failure {
    fn from(e: exo_pg_ephemeral::Error) -> Failure {
        Failure::new(e.message())
    }
}
