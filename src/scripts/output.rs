//! What a script run printed: `stdout.txt` and `stderr.txt` in the run's directory, each
//! kept to its first MiB (the rest is read and dropped, so the program never blocks on a
//! full pipe) and marked when cut.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::config::ProjectPaths;

/// Bytes kept of each stream.
pub const CAPTURE_LIMIT: u64 = 1024 * 1024;
/// Appended to a stream that was cut.
pub const TRUNCATED_MARK: &str = "\n\n[TRUNCATED at 1MB]\n";

/// A program's stdout or stderr, as it is read.
pub type Pipe = Box<dyn AsyncRead + Unpin + Send>;

/// The two streams of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn file_name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout.txt",
            Stream::Stderr => "stderr.txt",
        }
    }
}

/// Where run `run_id` keeps its output.
pub fn run_dir(paths: &ProjectPaths, run_id: &str) -> PathBuf {
    paths.script_runs_dir().join(run_id)
}

pub fn file(paths: &ProjectPaths, run_id: &str, stream: Stream) -> PathBuf {
    run_dir(paths, run_id).join(stream.file_name())
}

/// What a stream holds so far (empty when nothing was written), read lossily as UTF-8,
/// and whether it was cut.
pub fn read(paths: &ProjectPaths, run_id: &str, stream: Stream) -> (String, bool) {
    let bytes = std::fs::read(file(paths, run_id, stream)).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let truncated = text.ends_with(TRUNCATED_MARK);
    (text, truncated)
}

/// Copies `from` into `to` until the stream ends, keeping the first [`CAPTURE_LIMIT`]
/// bytes; returns how many bytes the program wrote in all.
pub async fn capture(mut from: impl AsyncRead + Unpin, to: &Path) -> std::io::Result<u64> {
    let mut file = tokio::fs::File::create(to).await?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    let mut cut = false;
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        let room = CAPTURE_LIMIT.saturating_sub(total) as usize;
        if room > 0 {
            // Written as it comes, so the log page shows a running script's output.
            file.write_all(&buffer[..read.min(room)]).await?;
            file.flush().await?;
        }
        if read > room && !cut {
            cut = true;
            file.write_all(TRUNCATED_MARK.as_bytes()).await?;
            file.flush().await?;
        }
        total += read as u64;
    }
    file.sync_all().await?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_beyond_a_mebibyte_is_drained_and_marked() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("out.txt");
        let big = vec![b'x'; (CAPTURE_LIMIT as usize) * 3 + 17];
        let total = capture(&big[..], &to).await.unwrap();
        assert_eq!(total, big.len() as u64);
        let kept = std::fs::read(&to).unwrap();
        assert_eq!(kept.len(), CAPTURE_LIMIT as usize + TRUNCATED_MARK.len());
        assert!(kept.ends_with(TRUNCATED_MARK.as_bytes()));

        let small = capture(&b"hello\n"[..], &to).await.unwrap();
        assert_eq!(small, 6);
        assert_eq!(std::fs::read_to_string(&to).unwrap(), "hello\n");
    }
}
