//! How a command ends: nothing on stderr and exit code 0, or one line on stderr and exit
//! code 2 when the user must change the input, 1 when something failed while running.

use std::future::Future;
use std::process::ExitCode;

/// The exit code of input the user must fix.
pub(crate) const EXIT_BAD_INPUT: u8 = 2;

/// A command's error as the user sees it.
pub(crate) trait CommandError {
    /// What went wrong, on one line.
    fn message(&self) -> String;
    /// Whether the user must change the input (exit 2) rather than the environment (exit 1).
    fn is_bad_input(&self) -> bool;
}

/// An error already put into words and classified.
pub(crate) struct Described {
    message: String,
    bad_input: bool,
}

impl Described {
    /// An `anyhow` error with its causes (`{:#}`), bad input or not.
    pub(crate) fn new(error: &anyhow::Error, bad_input: bool) -> Described {
        Described { message: format!("{error:#}"), bad_input }
    }
}

impl CommandError for Described {
    fn message(&self) -> String {
        self.message.clone()
    }

    fn is_bad_input(&self) -> bool {
        self.bad_input
    }
}

/// Runs `work` on a single-threaded Tokio runtime; see [`exit`].
pub(crate) fn run_current_thread<E: CommandError>(
    command: &str,
    work: impl Future<Output = Result<(), E>>,
) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => exit(command, runtime.block_on(work)),
        Err(error) => runtime_failed(command, &error),
    }
}

/// Runs `work` on a multi-threaded Tokio runtime (one worker per core); see [`exit`].
pub(crate) fn run_multi_thread<E: CommandError>(command: &str, work: impl Future<Output = Result<(), E>>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => exit(command, runtime.block_on(work)),
        Err(error) => runtime_failed(command, &error),
    }
}

/// The exit code of `result`, a failure printed as `{command}: {message}` on stderr.
pub(crate) fn exit<E: CommandError>(command: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{command}: {}", error.message().replace('\n', " "));
            if error.is_bad_input() { ExitCode::from(EXIT_BAD_INPUT) } else { ExitCode::FAILURE }
        }
    }
}

fn runtime_failed(command: &str, error: &std::io::Error) -> ExitCode {
    eprintln!("{command}: cannot start the async runtime: {error}");
    ExitCode::FAILURE
}
