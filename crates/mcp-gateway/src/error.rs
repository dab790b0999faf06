//! The crate's one error type.

/// Why the gateway could not start or do what was asked. The message names the setting, the
/// server or the tool that was wrong, never a secret value; [`std::error::Error::source`] gives
/// the underlying error.
pub struct Error(anyhow::Error);

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<anyhow::Error> for Error {
    fn from(error: anyhow::Error) -> Self {
        Error(error)
    }
}

/// So that serving the gateway's server (`serve_stdio`, `serve`) composes with `?`.
impl From<mcp_core::Error> for Error {
    fn from(error: mcp_core::Error) -> Self {
        Error(error.into())
    }
}

impl Error {
    /// The errors this one stands for, outermost first: the one it wraps, then its causes
    /// ([`std::error::Error::source`] starts below the wrapped one, whose message this one's
    /// already says). For telling a kind of cause, such as a configuration error.
    pub fn chain(&self) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
        self.0.chain()
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The whole chain on one line: "connecting the database `x` (native.sql.x.url): ...",
        // each cause said once (some errors already include their source in their message).
        f.write_str(&mcp_core::error::one_line(self.0.as_ref()))
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
