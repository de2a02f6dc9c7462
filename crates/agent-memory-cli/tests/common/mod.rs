//! Helpers shared by the integration tests that run `agent-memory serve` as a process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// `agent-memory serve` on a free loopback port in `workdir` (so its default SQLite file
/// lands there), with `api_keys` (`tenant:key,…`) and no other `AGENT_MEMORY_*` setting
/// inherited from the environment. Returns the child and its base URL; the server's log is
/// `workdir/server.log`.
pub(crate) fn start_server(workdir: &Path, api_keys: &str) -> (Child, String) {
    start_server_with(workdir, api_keys, &[])
}

/// [`start_server`] with more `serve` arguments (`["--embedder", "none"]`).
#[allow(dead_code)] // not every test binary that includes this module passes arguments
pub(crate) fn start_server_with(workdir: &Path, api_keys: &str, args: &[&str]) -> (Child, String) {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin!("agent-memory"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AGENT_MEMORY_") {
            command.env_remove(name);
        }
    }
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("AGENT_MEMORY_API_KEYS", api_keys)
        .current_dir(workdir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(workdir.join("server.log")).expect("log file"))
        .spawn()
        .expect("spawn agent-memory serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read the listening line");
    let url = line.trim().strip_prefix("listening on ").expect("listening line").to_owned();
    (child, url)
}
