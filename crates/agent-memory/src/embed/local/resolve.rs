//! Finding a model folder by name: a path, the HuggingFace hub cache, or agent-memory's
//! own model folder.

use std::path::{Path, PathBuf};

use crate::embed::EmbedError;

/// The folder of the sentence-transformers model `name`, looked up the way
/// [`crate::embed::from_provider`] does for the `huggingface` provider:
///
/// 1. `name` itself, when it is an existing folder;
/// 2. the HuggingFace hub cache (`$HF_HUB_CACHE`, `$HF_HOME/hub`, or
///    `~/.cache/huggingface/hub`): `models--ORG--NAME/snapshots/<rev>/`, the revision from
///    `refs/main` when present; a bare `NAME` is tried as `sentence-transformers/NAME`, then
///    under any organisation;
/// 3. agent-memory's model folder (`$AGENT_MEMORY_MODELS_DIR`, or
///    `~/.cache/agent-memory/models`): `NAME/`.
///
/// Nothing is downloaded.
///
/// # Errors
///
/// [`EmbedError::Config`] listing the places searched when none holds the model.
pub fn resolve_model_dir(name: &str) -> Result<PathBuf, EmbedError> {
    resolve_model_dir_with_env(name, &|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
}

pub(crate) fn resolve_model_dir_with_env(
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, EmbedError> {
    let name = name.trim();
    let as_path = Path::new(name);
    if as_path.is_dir() {
        return Ok(as_path.to_path_buf());
    }
    let cache_home =
        env("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| env("HOME").map(|h| Path::new(&h).join(".cache")));
    let hub_roots: Vec<PathBuf> = [
        env("HF_HUB_CACHE").map(PathBuf::from),
        env("HUGGINGFACE_HUB_CACHE").map(PathBuf::from),
        env("HF_HOME").map(|h| Path::new(&h).join("hub")),
        cache_home.as_ref().map(|c| c.join("huggingface").join("hub")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let base_name = name.rsplit('/').next().unwrap_or(name);
    let repo_names: Vec<String> =
        if name.contains('/') { vec![name.to_owned()] } else { vec![format!("sentence-transformers/{name}")] };
    for root in &hub_roots {
        for repo in &repo_names {
            if let Some(dir) = snapshot_dir(&root.join(format!("models--{}", repo.replace('/', "--")))) {
                return Ok(dir);
            }
        }
        if !name.contains('/') {
            // `bge-small-en-v1.5` finds models--BAAI--bge-small-en-v1.5.
            let suffix = format!("--{name}");
            let mut matches: Vec<PathBuf> = std::fs::read_dir(root)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| {
                    path.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("models--") && n.ends_with(&suffix))
                })
                .collect();
            matches.sort();
            if let Some(dir) = matches.iter().find_map(|repo| snapshot_dir(repo)) {
                return Ok(dir);
            }
        }
    }
    let model_roots: Vec<PathBuf> = [
        env("AGENT_MEMORY_MODELS_DIR").map(PathBuf::from),
        cache_home.as_ref().map(|c| c.join("agent-memory").join("models")),
    ]
    .into_iter()
    .flatten()
    .collect();
    for root in &model_roots {
        let dir = root.join(base_name);
        if dir.is_dir() {
            return Ok(dir);
        }
    }
    let searched: Vec<String> = hub_roots.iter().chain(&model_roots).map(|p| p.display().to_string()).collect();
    Err(EmbedError::Config(format!(
        "huggingface: model `{name}` not found: not a folder, and not in {}; nothing is downloaded, so \
         put a sentence-transformers folder there or pass its path",
        if searched.is_empty() { "any cache (HOME is not set)".to_owned() } else { searched.join(", ") }
    )))
}

/// `repo/snapshots/<rev>` for the revision in `refs/main`, else the only (or newest)
/// snapshot holding a `config.json`.
fn snapshot_dir(repo: &Path) -> Option<PathBuf> {
    let snapshots = repo.join("snapshots");
    if let Ok(rev) = std::fs::read_to_string(repo.join("refs").join("main")) {
        let dir = snapshots.join(rev.trim());
        if dir.join("config.json").is_file() {
            return Some(dir);
        }
    }
    let mut candidates: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&snapshots)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|dir| dir.join("config.json").is_file())
        .map(|dir| (dir.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), dir))
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, dir)| dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn model_folder(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("config.json"), "{}").unwrap();
    }

    fn resolve(name: &str, env: &[(&str, &Path)]) -> Result<PathBuf, EmbedError> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.display().to_string())).collect();
        resolve_model_dir_with_env(name, &|var| env.get(var).cloned())
    }

    #[test]
    fn finds_hub_snapshots_by_repo_name_or_bare_name() {
        let hub = tempfile::tempdir().unwrap();
        let repo = hub.path().join("models--sentence-transformers--all-MiniLM-L6-v2");
        model_folder(&repo.join("snapshots/old"));
        model_folder(&repo.join("snapshots/abc123"));
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "abc123\n").unwrap();
        let bge = hub.path().join("models--BAAI--bge-small-en-v1.5");
        model_folder(&bge.join("snapshots/only"));

        let env = [("HF_HUB_CACHE", hub.path())];
        let expected = repo.join("snapshots/abc123");
        assert_eq!(resolve("sentence-transformers/all-MiniLM-L6-v2", &env).unwrap(), expected);
        assert_eq!(resolve("all-MiniLM-L6-v2", &env).unwrap(), expected);
        assert_eq!(resolve("bge-small-en-v1.5", &env).unwrap(), bge.join("snapshots/only"));
        assert_eq!(resolve("BAAI/bge-small-en-v1.5", &env).unwrap(), bge.join("snapshots/only"));

        let home = tempfile::tempdir().unwrap();
        let hf_home_hub = home.path().join(".cache/huggingface/hub/models--intfloat--e5-small-v2/snapshots/r");
        model_folder(&hf_home_hub);
        assert_eq!(resolve("intfloat/e5-small-v2", &[("HOME", home.path())]).unwrap(), hf_home_hub);
    }

    #[test]
    fn finds_paths_and_agent_memory_model_folders() {
        let models = tempfile::tempdir().unwrap();
        model_folder(&models.path().join("all-MiniLM-L6-v2"));
        let path = models.path().join("all-MiniLM-L6-v2");
        assert_eq!(resolve(path.to_str().unwrap(), &[]).unwrap(), path);
        assert_eq!(resolve("all-MiniLM-L6-v2", &[("AGENT_MEMORY_MODELS_DIR", models.path())]).unwrap(), path);
        assert_eq!(
            resolve("sentence-transformers/all-MiniLM-L6-v2", &[("AGENT_MEMORY_MODELS_DIR", models.path())]).unwrap(),
            path
        );
        let err = resolve("nope", &[("HF_HUB_CACHE", Path::new("/h")), ("AGENT_MEMORY_MODELS_DIR", Path::new("/m"))]);
        assert_eq!(
            err.unwrap_err().to_string(),
            "embedder configuration: huggingface: model `nope` not found: not a folder, and not in /h, /m; \
             nothing is downloaded, so put a sentence-transformers folder there or pass its path"
        );
    }
}
