//! What the command line shows besides its data: exit statuses, colours, progress bars, and
//! hints that tell a person what to do about an error.
//!
//! Colour and progress go only to terminals: nothing a script reads (a pipe, a file) ever holds
//! an escape sequence, and `NO_COLOR` (any non-empty value) turns colour off everywhere.

use std::fmt;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The exit statuses of `mcptk`, the same for every command (listed in `mcptk --help` and
/// `docs/cli/exit-codes.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done as asked.
    Ok = 0,
    /// Something failed that is none of the below (a server could not start, I/O, network).
    Failure = 1,
    /// The command line is wrong: an unknown option, a bad value, a server or file that does not exist.
    Usage = 2,
    /// A configuration (the gateway's or a client's) cannot be read, parsed or resolved, e.g. a
    /// missing `${VAR}`; also `mcptk config check` finding a problem.
    Config = 3,
    /// A tool answered with an error (`isError`, a policy denial included), or a server is not
    /// running (`mcptk tools`).
    Tool = 4,
    /// The audit log (or an audit database chain) does not verify: records were changed, removed,
    /// inserted or reordered.
    Audit = 5,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// The exit statuses as `mcptk --help` shows them.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0    success
  1    failure (a server could not start, I/O, network)
  2    usage: a bad option or value, an unknown server or file
  3    configuration: a config file cannot be read, parsed or resolved (e.g. a missing ${VAR}),
       or `config check` found a problem
  4    a tool answered with an error (a policy denial included), or `tools` found a server down
  5    the audit log does not verify (tampering or damage)
  130  interrupted

Environment: MCPTK_CONFIG (the gateway configuration), MCPTK_LOG (log filter, default `warn`),
NO_COLOR (no colours; none are used when the output is not a terminal either).";

/// An error that carries the exit status it ends the program with. Its message is the wrapped
/// error's, whole chain on one line.
#[derive(Debug)]
pub struct Classified {
    exit: Exit,
    error: anyhow::Error,
}

impl fmt::Display for Classified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for Classified {}

/// `error`, ending the program with `exit`.
pub fn classified(exit: Exit, error: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(Classified { exit, error: error.into() })
}

/// A usage error with this message.
pub fn usage(message: impl fmt::Display) -> anyhow::Error {
    classified(Exit::Usage, anyhow::anyhow!("{message}"))
}

/// The exit status an error ends the program with: the one it was classified with, else
/// [`Exit::Config`] for a configuration error from the protocol layer, else [`Exit::Failure`].
pub fn exit_of(error: &anyhow::Error) -> Exit {
    for cause in causes(error) {
        if let Some(c) = cause.downcast_ref::<Classified>() {
            return c.exit;
        }
        if cause.downcast_ref::<mcp_core::config::ConfigError>().is_some() {
            return Exit::Config;
        }
    }
    Exit::Failure
}

/// `error` and every error it stands for, outermost first: its chain, and inside a
/// [`Classified`] error or the gateway's, theirs.
fn causes(error: &anyhow::Error) -> Vec<&(dyn std::error::Error + 'static)> {
    let mut causes: Vec<&(dyn std::error::Error + 'static)> = Vec::new();
    let mut pending: Vec<&(dyn std::error::Error + 'static)> = error.chain().collect();
    pending.reverse();
    while let Some(cause) = pending.pop() {
        causes.push(cause);
        let inner: Vec<_> = if let Some(c) = cause.downcast_ref::<Classified>() {
            c.error.chain().collect()
        } else if let Some(g) = cause.downcast_ref::<mcp_gateway::Error>() {
            g.chain().collect()
        } else {
            continue;
        };
        pending.extend(inner.into_iter().rev());
    }
    causes
}

/// What a person can do about `error`, when something more can be said than its message.
pub fn hint(error: &anyhow::Error) -> Option<String> {
    use mcp_core::config::ConfigError;
    for cause in causes(error) {
        if let Some(e) = cause.downcast_ref::<ConfigError>() {
            return match e {
                ConfigError::MissingVar { var, others, .. } => {
                    let each = if others.is_empty() { format!("`{var}`") } else { "each of them".to_owned() };
                    Some(format!(
                        "set {each} in the environment mcptk runs in (for a client such as Claude Desktop: the `env` \
                         of its `mcptk` entry; see `mcptk install`), or give a default in the file as \
                         `${{{var}:-value}}`"
                    ))
                }
                ConfigError::BadReference { .. } => Some(
                    "a reference is written `${NAME}` or `${NAME:-default}`, NAME of letters, digits and `_`".into(),
                ),
                ConfigError::NoTransport { server, .. } => Some(format!(
                    "give the server `{server}` a `command` (and `args`) to start it, or the `url` of a running one"
                )),
                _ => None,
            };
        }
    }
    None
}

/// Whether colour may be written to this stream: a terminal, and `NO_COLOR` unset or empty.
pub fn colour_for(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether stdout gets colour.
pub fn stdout_colour() -> bool {
    colour_for(std::io::stdout().is_terminal())
}

/// Whether stderr gets colour (and progress bars: they need a terminal too).
pub fn stderr_colour() -> bool {
    colour_for(std::io::stderr().is_terminal())
}

/// Text styles, each an SGR code.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    /// Failures.
    Red,
    /// Success.
    Green,
    /// Warnings and notes.
    Yellow,
    /// Names and headings.
    Bold,
    /// Less important detail.
    Dim,
}

/// `text` in `style` when `colour`, else as it is.
pub fn paint(colour: bool, style: Style, text: &str) -> String {
    if !colour {
        return text.to_owned();
    }
    let code = match style {
        Style::Red => "31",
        Style::Green => "32",
        Style::Yellow => "33",
        Style::Bold => "1",
        Style::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Prints an error (and its hint) on stderr the way every command does.
pub fn report_error(error: &anyhow::Error) {
    // The reader went away (`mcptk tools | head`): nothing to tell anyone.
    let broken_pipe = causes(error).into_iter().any(|c| {
        let kind = c
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| c.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind));
        kind == Some(std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return;
    }
    let colour = stderr_colour();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{} {}", paint(colour, Style::Red, "error:"), message(error));
    if let Some(hint) = hint(error) {
        let _ = writeln!(err, "{} {hint}", paint(colour, Style::Yellow, "hint:"));
    }
}

/// The error and its causes on one line, each said once: some errors already include their
/// causes in their own message.
pub fn message(error: &anyhow::Error) -> String {
    mcp_core::error::one_line(error.as_ref())
}

/// Prints a note for the person on stderr (`label` is `note`, `warning`, ...).
pub fn note(label: &str, text: &str) {
    let colour = stderr_colour();
    let style = if label == "warning" { Style::Yellow } else { Style::Dim };
    eprintln!("{} {text}", paint(colour, style, &format!("{label}:")));
}

/// Writes `value` as pretty JSON and a newline on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A progress bar on stderr, drawn only when stderr is a terminal (otherwise every method does
/// nothing). Cheap to clone; redraws at most ten times a second; cleared by [`Progress::finish`]
/// or when the last clone is dropped.
#[derive(Clone)]
pub struct Progress {
    inner: Option<Arc<Mutex<Bar>>>,
}

struct Bar {
    label: String,
    position: f64,
    total: Option<f64>,
    message: String,
    started: Instant,
    drawn: Option<Instant>,
    colour: bool,
    unit: Unit,
    /// Characters of the line last drawn, overwritten with spaces where escapes may not be used.
    width: usize,
}

/// How a bar's numbers are shown.
#[derive(Clone, Copy)]
pub enum Unit {
    /// Plain counts: `3/5`.
    Count,
    /// Bytes: `12.0 MiB/40.0 MiB`.
    Bytes,
}

impl Progress {
    /// A bar labelled `label` out of `total` (unknown: a spinner with the elapsed time), shown
    /// only when stderr is a terminal.
    pub fn new(label: impl Into<String>, total: Option<f64>, unit: Unit) -> Progress {
        Self::on_terminal(std::io::stderr().is_terminal(), label, total, unit)
    }

    /// A bar that is drawn when `terminal`.
    pub fn on_terminal(terminal: bool, label: impl Into<String>, total: Option<f64>, unit: Unit) -> Progress {
        if !terminal {
            return Progress { inner: None };
        }
        let bar = Bar {
            label: label.into(),
            position: 0.0,
            total,
            message: String::new(),
            started: Instant::now(),
            drawn: None,
            colour: colour_for(true),
            unit,
            width: 0,
        };
        Progress { inner: Some(Arc::new(Mutex::new(bar))) }
    }

    /// Whether anything is drawn.
    pub fn visible(&self) -> bool {
        self.inner.is_some()
    }

    /// Moves the bar to `position` (out of `total`, which may now become known), with a message.
    pub fn set(&self, position: f64, total: Option<f64>, message: Option<&str>) {
        let Some(inner) = &self.inner else { return };
        let mut bar = inner.lock().unwrap_or_else(PoisonError::into_inner);
        bar.position = position;
        if total.is_some() {
            bar.total = total;
        }
        if let Some(message) = message {
            bar.message = message.to_owned();
        }
        bar.draw(false);
    }

    /// Advances the bar by `by`.
    pub fn advance(&self, by: f64) {
        let Some(inner) = &self.inner else { return };
        let mut bar = inner.lock().unwrap_or_else(PoisonError::into_inner);
        bar.position += by;
        bar.draw(false);
    }

    /// Keeps a spinner turning from a thread of its own until [`Progress::finish`].
    pub fn spin(&self) {
        let Some(inner) = &self.inner else { return };
        let weak = Arc::downgrade(inner);
        std::thread::spawn(move || {
            while let Some(bar) = weak.upgrade() {
                let mut bar = bar.lock().unwrap_or_else(PoisonError::into_inner);
                if bar.label.is_empty() {
                    break;
                }
                bar.draw(true);
                drop(bar);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }

    /// Clears the bar from the terminal.
    pub fn finish(&self) {
        let Some(inner) = &self.inner else { return };
        let mut bar = inner.lock().unwrap_or_else(PoisonError::into_inner);
        bar.clear();
    }
}

impl Bar {
    fn draw(&mut self, force: bool) {
        if self.label.is_empty() {
            return;
        }
        let now = Instant::now();
        if !force && self.drawn.is_some_and(|at| now.duration_since(at) < Duration::from_millis(100)) {
            return;
        }
        self.drawn = Some(now);
        let elapsed = self.started.elapsed().as_secs_f64();
        let line = match self.total.filter(|t| *t > 0.0) {
            Some(total) => {
                let fraction = (self.position / total).clamp(0.0, 1.0);
                let width = 24;
                let filled = (fraction * width as f64).round() as usize;
                let bar = format!("{}{}", "#".repeat(filled), "-".repeat(width - filled));
                let bar = paint(self.colour, Style::Green, &bar);
                format!(
                    "{} [{bar}] {}/{} {:>3.0}%",
                    self.label,
                    self.unit.show(self.position),
                    self.unit.show(total),
                    fraction * 100.0
                )
            }
            None => {
                const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
                let frame = FRAMES[(elapsed * 10.0) as usize % FRAMES.len()];
                let done =
                    if self.position > 0.0 { format!(" {}", self.unit.show(self.position)) } else { String::new() };
                format!("{} {frame}{done} {elapsed:.1}s", self.label)
            }
        };
        let message = if self.message.is_empty() { String::new() } else { format!(" {}", self.message) };
        let line: String = format!("{line}{message}").chars().take(terminal_width()).collect();
        let mut err = std::io::stderr().lock();
        // With NO_COLOR no escape sequence at all: spaces wipe a longer line drawn before.
        let pad = if self.colour { String::new() } else { " ".repeat(self.width.saturating_sub(line.chars().count())) };
        let erase = if self.colour { "\x1b[2K" } else { "" };
        let _ = write!(err, "\r{erase}{line}{pad}");
        let _ = err.flush();
        self.width = line.chars().count();
    }

    fn clear(&mut self) {
        if self.drawn.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = match self.colour {
                true => write!(err, "\r\x1b[2K"),
                false => write!(err, "\r{}\r", " ".repeat(self.width)),
            };
            let _ = err.flush();
        }
        self.drawn = None;
        self.label.clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Unit {
    fn show(self, value: f64) -> String {
        match self {
            Unit::Count if value.fract() == 0.0 => format!("{value:.0}"),
            Unit::Count => format!("{value:.1}"),
            Unit::Bytes => {
                let mut value = value;
                let mut unit = 0;
                const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
                while value >= 1024.0 && unit < UNITS.len() - 1 {
                    value /= 1024.0;
                    unit += 1;
                }
                if unit == 0 { format!("{value:.0} B") } else { format!("{value:.1} {}", UNITS[unit]) }
            }
        }
    }
}

/// Columns of the terminal (`COLUMNS`, else 80): a bar never wraps.
fn terminal_width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse::<usize>().ok()).filter(|c| *c > 10).unwrap_or(80) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classified_errors_keep_their_status_through_context() {
        let e = usage("no server named `x`");
        assert_eq!(exit_of(&e), Exit::Usage);
        let e = e.context("calling");
        assert_eq!(exit_of(&e), Exit::Usage);
        assert_eq!(message(&e), "calling: no server named `x`");
        let repeated = anyhow::anyhow!("server `x`: not set").context("server `x`: not set");
        assert_eq!(message(&repeated), "server `x`: not set");
        assert_eq!(exit_of(&anyhow::anyhow!("boom")), Exit::Failure);
    }

    #[test]
    fn a_missing_variable_is_a_config_error_with_a_hint_naming_it() {
        let missing = mcp_core::config::expand("${MCPTK_NOT_SET_ANYWHERE}", &|_| None, "gh", "env.TOKEN".into())
            .expect_err("not set");
        let e = anyhow::Error::from(missing).context("starting the gateway");
        assert_eq!(exit_of(&e), Exit::Config);
        let hint = hint(&e).expect("a hint");
        assert!(
            hint.contains("`MCPTK_NOT_SET_ANYWHERE`") && hint.contains("${MCPTK_NOT_SET_ANYWHERE:-value}"),
            "{hint}"
        );
    }

    #[test]
    fn no_colour_off_a_terminal_or_with_no_color() {
        assert_eq!(paint(false, Style::Red, "x"), "x");
        assert!(!colour_for(false));
        assert_eq!(paint(true, Style::Red, "x"), "\x1b[31mx\x1b[0m");
    }

    #[test]
    fn units_read_as_people_write_them() {
        assert_eq!(Unit::Bytes.show(3.0 * 1024.0 * 1024.0), "3.0 MiB");
        assert_eq!(Unit::Bytes.show(12.0), "12 B");
        assert_eq!(Unit::Count.show(3.0), "3");
    }

    #[test]
    fn a_bar_off_a_terminal_draws_nothing() {
        let bar = Progress::on_terminal(false, "x", Some(2.0), Unit::Count);
        assert!(!bar.visible());
        bar.set(1.0, None, Some("half"));
        bar.finish();
    }
}
