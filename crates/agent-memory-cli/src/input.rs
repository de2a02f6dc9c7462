//! Reading the command's input: a file, or standard input for `-` or no argument.

use std::io::Read;
use std::path::Path;

use crate::BadInput;

/// Reads `path` (standard input when `None` or `-`) as UTF-8 text.
pub(crate) fn read_input(path: Option<&Path>) -> Result<String, BadInput> {
    match path {
        None => read_stdin(),
        Some(path) if path.as_os_str() == "-" => read_stdin(),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|err| BadInput(format!("cannot read {}: {}", path.display(), lowercase_first(&err.to_string())))),
    }
}

fn read_stdin() -> Result<String, BadInput> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|err| BadInput(format!("cannot read standard input: {}", lowercase_first(&err.to_string()))))?;
    Ok(text)
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
