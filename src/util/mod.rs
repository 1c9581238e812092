//! Small helpers shared by the app and the transform engine, so that the engine depends on
//! nothing else of the app.

pub mod glob;

use std::path::Path;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// Writes `contents` to `path` atomically: a temp file in the same directory, synced, then
/// renamed over `path`, and the directory synced so the rename survives a power cut.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, contents, None)
}

/// [`write_atomic`] for a file only its owner may read (mode 0600 from the moment the
/// temp file exists, so a secret is never readable by others, not even briefly).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, contents, Some(0o600))
}

fn write_atomic_with(path: &Path, contents: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        if let Some(mode) = mode {
            options.mode(mode);
        }
        let mut file = options.open(&tmp)?;
        if let Some(mode) = mode {
            // A temp file left by a crash may have been created with another mode.
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Lowercase hex SHA-256 of `value`.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// What tells two versions of a file apart without reading it: its size and modification
/// time (`None` when it does not exist).
pub type FileStamp = Option<(u64, SystemTime)>;

pub fn file_stamp(path: &Path) -> FileStamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn atomic_writes_replace_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.json");
        super::write_atomic(&path, b"first, longer contents").unwrap();
        super::write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temp file is left behind");
    }
}
