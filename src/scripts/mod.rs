//! Scripts: the user's programs under `scripts/` (`*.py` run with `python3`, or any
//! executable file). Which files are scripts, the one rule that keeps a name inside
//! `scripts/`, and where a run's output is kept. Running one is `jobs::script`'s.

pub mod output;

use std::path::{Component, Path, PathBuf};

use crate::config::ProjectPaths;
use crate::error::code;
use crate::{Error, Result};

/// How deep under `scripts/` the listing looks.
const MAX_DEPTH: usize = 8;
/// Longest script name accepted (a relative path).
const MAX_NAME_LEN: usize = 512;

/// How a script is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch {
    /// `python3 <file>` (the `python3` on the server's PATH).
    Python,
    /// The file itself (it has an executable bit and, usually, a `#!` line).
    Executable,
}

impl Launch {
    pub fn as_str(self) -> &'static str {
        match self {
            Launch::Python => "python",
            Launch::Executable => "executable",
        }
    }
}

/// A runnable file under `scripts/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// The path relative to `scripts/`, with `/` between directories: `reports/daily.py`.
    pub name: String,
    /// The file, canonical (symlinks resolved, inside `scripts/`).
    pub file: PathBuf,
    pub launch: Launch,
}

/// Every script, sorted by name. Hidden files and directories, `_`-prefixed ones
/// (helpers, `__init__.py`, `__pycache__`) and files that are neither `.py` nor executable
/// are not scripts. A project without `scripts/` has none.
pub fn list(paths: &ProjectPaths) -> Result<Vec<Script>> {
    let Ok(root) = std::fs::canonicalize(paths.scripts_dir()) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    walk(&root, &root, 0, &mut found);
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn walk(root: &Path, dir: &Path, depth: usize, found: &mut Vec<Script>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_hidden(name) {
            continue;
        }
        let path = entry.path();
        // Follows symlinks, but only to what stays inside `scripts/`.
        let Ok(canonical) = std::fs::canonicalize(&path) else {
            continue;
        };
        if !canonical.starts_with(root) {
            continue;
        }
        if canonical.is_dir() {
            if depth + 1 < MAX_DEPTH {
                walk(root, &path, depth + 1, found);
            }
        } else if let Some(launch) = launch_of(&canonical)
            && let Ok(relative) = path.strip_prefix(root)
            && let Some(name) = name_of(relative)
        {
            found.push(Script {
                name,
                file: canonical,
                launch,
            });
        }
    }
}

/// Dotfiles, and `_`-prefixed names (helpers a script imports, `__init__.py`).
fn is_hidden(component: &str) -> bool {
    component.starts_with('.') || component.starts_with('_')
}

fn name_of(relative: &Path) -> Option<String> {
    let parts: Option<Vec<&str>> = relative
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    Some(parts?.join("/"))
}

fn launch_of(file: &Path) -> Option<Launch> {
    use std::os::unix::fs::PermissionsExt;
    if !file.is_file() {
        return None;
    }
    if file.extension().is_some_and(|e| e == "py") {
        return Some(Launch::Python);
    }
    let mode = std::fs::metadata(file).ok()?.permissions().mode();
    (mode & 0o111 != 0).then_some(Launch::Executable)
}

/// The script called `name` (a path relative to `scripts/`). 400 when the name would
/// leave `scripts/` (`..`, an absolute path, a symlink pointing out), 404 when no script
/// has that name.
pub fn resolve(paths: &ProjectPaths, name: &str) -> Result<Script> {
    let outside = || {
        Error::bad_request(format!(
            "Script '{}' is outside scripts/: name a file under scripts/ by its relative path",
            shown(name)
        ))
        .with_code(code::SCRIPT_PATH_OUTSIDE)
    };
    let not_found = || {
        Error::not_found(format!("Script '{}' not found in scripts/", shown(name)))
            .with_code(code::SCRIPT_NOT_FOUND)
    };
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains(['\0', '\\']) {
        return Err(outside());
    }
    let relative = Path::new(name);
    for component in relative.components() {
        match component {
            Component::Normal(part) => {
                if part.to_str().is_none_or(is_hidden) {
                    return Err(not_found());
                }
            }
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(outside());
            }
            Component::CurDir => return Err(not_found()),
        }
    }
    let root = std::fs::canonicalize(paths.scripts_dir()).map_err(|_| not_found())?;
    let file = std::fs::canonicalize(root.join(relative)).map_err(|_| not_found())?;
    if !file.starts_with(&root) {
        return Err(outside());
    }
    let launch = launch_of(&file).ok_or_else(not_found)?;
    Ok(Script {
        name: name_of(relative).ok_or_else(not_found)?,
        file,
        launch,
    })
}

/// A name as an error message may show it: short, one line.
fn shown(name: &str) -> String {
    let one_line: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
    one_line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn project() -> (tempfile::TempDir, ProjectPaths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = ProjectPaths::new(dir.path());
        std::fs::create_dir_all(paths.scripts_dir().join("reports")).unwrap();
        (dir, paths)
    }

    fn write(paths: &ProjectPaths, name: &str, mode: u32) {
        let file = paths.scripts_dir().join(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "print('hi')\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn python_files_and_executables_are_scripts_helpers_and_hidden_files_are_not() {
        let (_dir, paths) = project();
        write(&paths, "daily.py", 0o644);
        write(&paths, "reports/weekly.py", 0o644);
        write(&paths, "export.sh", 0o755);
        write(&paths, "notes.txt", 0o644);
        write(&paths, "__init__.py", 0o644);
        write(&paths, "_helpers.py", 0o644);
        write(&paths, ".secret.py", 0o644);
        write(&paths, "_lib/inner.py", 0o644);
        let names: Vec<(String, Launch)> = list(&paths)
            .unwrap()
            .into_iter()
            .map(|s| (s.name, s.launch))
            .collect();
        assert_eq!(
            names,
            vec![
                ("daily.py".to_string(), Launch::Python),
                ("export.sh".to_string(), Launch::Executable),
                ("reports/weekly.py".to_string(), Launch::Python),
            ]
        );
    }

    #[test]
    fn a_project_under_an_underscore_directory_still_lists_its_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ProjectPaths::new(dir.path().join("_work").join("proj"));
        std::fs::create_dir_all(paths.root.join("scripts")).unwrap();
        let paths = ProjectPaths::new(&paths.root);
        write(&paths, "daily.py", 0o644);
        assert_eq!(list(&paths).unwrap().len(), 1);
    }

    #[test]
    fn names_that_leave_scripts_are_refused_and_unknown_ones_not_found() {
        let (dir, paths) = project();
        write(&paths, "reports/weekly.py", 0o644);
        std::fs::write(dir.path().join("outside.py"), "print(1)").unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("outside.py"),
            paths.scripts_dir().join("link.py"),
        )
        .unwrap();
        assert_eq!(
            resolve(&paths, "reports/weekly.py").unwrap().name,
            "reports/weekly.py"
        );
        for escape in [
            "../outside.py",
            "/etc/passwd",
            "reports/../../outside.py",
            "link.py",
            "a\\b",
        ] {
            let err = resolve(&paths, escape).unwrap_err();
            assert_eq!(err.code, code::SCRIPT_PATH_OUTSIDE, "{escape}");
        }
        for missing in ["nope.py", "reports", "_helpers.py", "./reports/weekly.py"] {
            let err = resolve(&paths, missing).unwrap_err();
            assert_eq!(err.code, code::SCRIPT_NOT_FOUND, "{missing}");
        }
        // a symlink out is not listed either
        assert_eq!(list(&paths).unwrap().len(), 1);
    }
}
