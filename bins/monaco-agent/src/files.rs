//! Writing a job's files into a directory and handing them to a uid.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use monaco_core::protocol::JobFile;

/// Writes `files` below `dir` and makes the whole tree `uid`'s.
pub fn write_files(dir: &Path, files: &[JobFile], uid: u32) -> Result<(), String> {
    for file in files {
        let rel = Path::new(&file.path);
        // The host validated the names; refuse anything that could leave the
        // directory all the same.
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(format!("refusing file name {:?}", file.path));
        }
        let path: PathBuf = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, file.content.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", file.path))?;
    }
    chown_tree(dir, uid).map_err(|e| format!("cannot prepare {}: {e}", dir.display()))
}

fn chown_tree(path: &Path, uid: u32) -> std::io::Result<()> {
    // Children first: the agent has no CAP_DAC_OVERRIDE, so once a
    // directory of mode 0700 (the checker's) is `uid`'s it cannot list it.
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid)?;
        }
    }
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))
}
