//! The work directory as the compile step left it, kept in the agent's
//! memory and put back before each test case, and the emptying of /tmp.
//!
//! The agent is root without `CAP_DAC_OVERRIDE`: it cannot read or delete
//! what the program owns and locked away (`chmod 000`). With `CAP_CHOWN`
//! it can take any entry over first (chown it to root, then, as its owner,
//! open its mode up), so nothing a case did can stop the next restore. The
//! program is never running while this happens: every process of a step is
//! killed and reaped before the step returns.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{lchown, DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One entry below the snapshotted directory.
struct Entry {
    /// Path relative to the directory.
    path: PathBuf,
    kind: Kind,
    mode: u32,
    uid: u32,
    gid: u32,
    modified: Option<SystemTime>,
}

enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(PathBuf),
}

/// A directory tree's content, modes and owners.
pub struct Snapshot {
    root: PathBuf,
    /// The directory's own mode and owner.
    top: (u32, u32, u32),
    /// Parents before children.
    entries: Vec<Entry>,
}

impl Snapshot {
    /// Reads the tree at `root` (taking over what it cannot read).
    pub fn take(root: &Path) -> Result<Snapshot, String> {
        let meta = fs::symlink_metadata(root).map_err(|e| describe(root, e))?;
        let top = (meta.mode() & 0o7777, meta.uid(), meta.gid());
        take_over(root).map_err(|e| describe(root, e))?;
        let mut entries = Vec::new();
        walk(root, Path::new(""), &mut entries)?;
        // Reading took the tree over; the first restore gives it back.
        Ok(Snapshot {
            root: root.to_path_buf(),
            top,
            entries,
        })
    }

    /// Makes the tree exactly the snapshot again.
    pub fn restore(&self) -> Result<(), String> {
        // The program owns the directory and may have locked it.
        take_over(&self.root).map_err(|e| describe(&self.root, e))?;
        empty_dir(&self.root, None)?;
        for entry in &self.entries {
            let path = self.root.join(&entry.path);
            let made = match &entry.kind {
                Kind::Dir => fs::DirBuilder::new().mode(0o700).create(&path),
                Kind::File(content) => fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .and_then(|mut f| {
                        f.write_all(content)?;
                        match entry.modified {
                            Some(t) => f.set_modified(t),
                            None => Ok(()),
                        }
                    }),
                Kind::Symlink(target) => std::os::unix::fs::symlink(target, &path),
            };
            made.map_err(|e| describe(&path, e))?;
        }
        // Modes and owners last, children first: once an entry belongs to
        // the program again the agent can no longer change it.
        for entry in self.entries.iter().rev() {
            let path = self.root.join(&entry.path);
            give_back(&path, &entry.kind, entry.mode, entry.uid, entry.gid)
                .map_err(|e| describe(&path, e))?;
        }
        let (mode, uid, gid) = self.top;
        give_back(&self.root, &Kind::Dir, mode, uid, gid).map_err(|e| describe(&self.root, e))
    }
}

fn give_back(path: &Path, kind: &Kind, mode: u32, uid: u32, gid: u32) -> std::io::Result<()> {
    if !matches!(kind, Kind::Symlink(_)) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    }
    lchown(path, Some(uid), Some(gid))
}

fn walk(root: &Path, rel: &Path, entries: &mut Vec<Entry>) -> Result<(), String> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .and_then(|d| d.map(|e| e.map(|e| e.file_name())).collect())
        .map_err(|e: std::io::Error| describe(&dir, e))?;
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).map_err(|e| describe(&path, e))?;
        let (mode, uid, gid) = (meta.mode() & 0o7777, meta.uid(), meta.gid());
        let modified = meta.modified().ok();
        let file_type = meta.file_type();
        let kind = if file_type.is_symlink() {
            Kind::Symlink(fs::read_link(&path).map_err(|e| describe(&path, e))?)
        } else if file_type.is_dir() || file_type.is_file() {
            take_over(&path).map_err(|e| describe(&path, e))?;
            if file_type.is_dir() {
                Kind::Dir
            } else {
                Kind::File(fs::read(&path).map_err(|e| describe(&path, e))?)
            }
        } else {
            // Fifos and sockets a compiler left behind carry nothing.
            continue;
        };
        let is_dir = matches!(kind, Kind::Dir);
        entries.push(Entry {
            path: rel.clone(),
            kind,
            mode,
            uid,
            gid,
            modified,
        });
        if is_dir {
            walk(root, &rel, entries)?;
        }
    }
    Ok(())
}

/// Removes everything inside `dir` but `keep` (a name directly inside);
/// `dir` itself must be writable by the agent (root's, like /tmp).
pub fn empty_dir(dir: &Path, keep: Option<&str>) -> Result<(), String> {
    for entry in fs::read_dir(dir).map_err(|e| describe(dir, e))? {
        let entry = entry.map_err(|e| describe(dir, e))?;
        if keep.is_some_and(|k| entry.file_name() == k) {
            continue;
        }
        let kind = entry.file_type().map_err(|e| describe(&entry.path(), e))?;
        remove_tree(&entry.path(), kind).map_err(|e| describe(&entry.path(), e))?;
    }
    Ok(())
}

/// The bytes a file system holds (its used blocks), as `statvfs` tells;
/// `None` if it cannot say. For a tmpfs this is the memory its files take.
pub fn used_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: all-zero bytes are a valid `statvfs` (plain integers).
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid C string; the call writes only `st`.
    if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let used = (st.f_blocks as u64).saturating_sub(st.f_bfree as u64);
    Some(used.saturating_mul(st.f_frsize as u64))
}

/// Removes `path`, of type `kind` (as its directory entry says: a symlink
/// is a symlink, never what it points to).
fn remove_tree(path: &Path, kind: fs::FileType) -> std::io::Result<()> {
    if !kind.is_dir() {
        return fs::remove_file(path);
    }
    // An empty directory goes in one call, whoever owns it: a toolchain's
    // cache of many empty directories (Go makes 256) is gone in a quarter
    // of the calls taking each one over would need.
    if fs::remove_dir(path).is_ok() {
        return Ok(());
    }
    take_over(path)?;
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        remove_tree(&entry.path(), entry.file_type()?)?;
    }
    fs::remove_dir(path)
}

/// Makes `path` root's, readable and writable by root, so the agent can
/// read, empty or remove it whatever its owner did to it. Symlinks are
/// never followed.
fn take_over(path: &Path) -> std::io::Result<()> {
    lchown(path, Some(0), Some(0))?;
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    } else if meta.is_file() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn describe(path: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a tmpfs's files take is what `used_bytes` says it holds: the
    /// count the agent compares before letting the host lower the limits.
    #[test]
    fn used_bytes_counts_what_a_tmpfs_holds() {
        let shm = Path::new("/dev/shm");
        let dir = shm.join(format!("monaco-agent-used-{}", std::process::id()));
        fs::create_dir(&dir).unwrap();
        let before = used_bytes(&dir).expect("statvfs of /dev/shm");
        fs::write(dir.join("f"), vec![1u8; 4 << 20]).unwrap();
        let after = used_bytes(&dir).expect("statvfs of /dev/shm");
        fs::remove_dir_all(&dir).unwrap();
        assert!(
            after >= before + (4 << 20) - (1 << 20),
            "4 MiB written, used went from {before} to {after}"
        );
        assert_eq!(used_bytes(Path::new("/no/such/dir")), None);
    }
}
