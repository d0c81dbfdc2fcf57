//! `watch_config = true`: reload when the config file, or a file it names,
//! changes on disk.
//!
//! Polled, not inotify: a Kubernetes ConfigMap or Secret volume is updated by
//! writing a new timestamped folder and repointing the `..data` symlink;
//! `config.toml -> ..data/config.toml` itself never changes, so a watch on
//! the file (or its folder's events for that name) misses the update. Once
//! every [`POLL`], each watched path is looked at as it resolves now: a
//! digest of its content (for a file too large to read each time, its
//! resolved target and metadata). Any difference starts a reload once the
//! files have held still for one [`SETTLE`] (a set of files half written is
//! not read). An invalid config is logged by the reload and the running one
//! stays; the next change is tried again.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::reload::{ConfigReload, Trigger};

/// How often the watched files are looked at.
pub const POLL: Duration = Duration::from_secs(1);
/// How long changed files must stay the same before they are read.
pub const SETTLE: Duration = Duration::from_millis(250);
/// A file still changing after this many settle periods is read anyway.
const MAX_SETTLE_ROUNDS: u32 = 20;
/// Larger files are compared by their metadata instead of their content.
const MAX_DIGEST_BYTES: u64 = 4 << 20;

/// What a path resolves to now.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Missing(ErrorKind),
    /// Two names for the same bytes are the same: nothing to reload.
    Content([u8; 32]),
    Large {
        target: PathBuf,
        dev: u64,
        ino: u64,
        len: u64,
        mtime: (i64, i64),
    },
}

type Snapshot = BTreeMap<PathBuf, Seen>;

fn look(path: &Path) -> Seen {
    let target = match std::fs::canonicalize(path) {
        Ok(t) => t,
        Err(e) => return Seen::Missing(e.kind()),
    };
    let meta = match std::fs::metadata(&target) {
        Ok(m) => m,
        Err(e) => return Seen::Missing(e.kind()),
    };
    if meta.len() <= MAX_DIGEST_BYTES {
        if let Ok(bytes) = std::fs::read(&target) {
            return Seen::Content(crate::digest::sha256_bytes(&bytes));
        }
    }
    Seen::Large {
        target,
        dev: meta.dev(),
        ino: meta.ino(),
        len: meta.len(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
    }
}

async fn snapshot(paths: Vec<PathBuf>) -> Snapshot {
    let taken = tokio::task::spawn_blocking(move || {
        paths
            .into_iter()
            .map(|p| {
                let seen = look(&p);
                (p, seen)
            })
            .collect::<Snapshot>()
    })
    .await;
    taken.unwrap_or_default()
}

/// Whether every path of `now` that `before` knows was seen the same. A
/// path `before` does not know (newly named by a reload through SIGHUP or
/// the admin listener) is not a change: it joins the baseline.
fn unchanged(before: &Snapshot, now: &Snapshot) -> bool {
    now.iter()
        .all(|(path, seen)| before.get(path).is_none_or(|b| b == seen))
}

/// Runs until aborted. Looks at nothing while the running config has
/// `watch_config = false`.
pub async fn watch(reload: ConfigReload) {
    let mut last: Option<Snapshot> = None;
    if reload.watching() {
        // The config file as it was read at start, not as it is now: a
        // change made since then is one.
        let mut first = snapshot(reload.watched()).await;
        if let (path, Some(digest)) = reload.running() {
            first.insert(path, Seen::Content(digest));
        }
        last = Some(first);
    }
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !reload.watching() {
            last = None;
            continue;
        }
        let paths = reload.watched();
        let mut now = snapshot(paths.clone()).await;
        let Some(before) = &last else {
            last = Some(now);
            continue;
        };
        if unchanged(before, &now) {
            last = Some(now);
            continue;
        }
        for _ in 0..MAX_SETTLE_ROUNDS {
            tokio::time::sleep(SETTLE).await;
            let again = snapshot(paths.clone()).await;
            if again == now {
                break;
            }
            now = again;
        }
        // The outcome is logged by the reload; either way the files as they
        // were read become the baseline, so a rejected config is retried
        // only when something changes again.
        let _ = reload.reload(Trigger::Watch).await;
        let mut next = now;
        let named = reload.watched();
        let new_names: Vec<PathBuf> = named
            .iter()
            .filter(|p| !next.contains_key(*p))
            .cloned()
            .collect();
        next.extend(snapshot(new_names).await);
        next.retain(|p, _| named.contains(p));
        last = Some(next);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_configmap_style_symlink_swap_is_a_change_of_the_visible_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (name, text) in [("..2026_a", "a = 1\n"), ("..2026_b", "a = 2\n")] {
            std::fs::create_dir(root.join(name)).unwrap();
            std::fs::write(root.join(name).join("config.toml"), text).unwrap();
        }
        symlink("..2026_a", root.join("..data")).unwrap();
        symlink("..data/config.toml", root.join("config.toml")).unwrap();
        let visible = root.join("config.toml");
        let before = look(&visible);
        assert_eq!(look(&visible), before, "a look changes nothing");

        symlink("..2026_b", root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        let after = look(&visible);
        assert_ne!(after, before);
        assert_eq!(
            after,
            Seen::Content(crate::digest::sha256_bytes(b"a = 2\n"))
        );
        // A swap to the same bytes is no change.
        std::fs::create_dir(root.join("..2026_c")).unwrap();
        std::fs::write(root.join("..2026_c/config.toml"), "a = 2\n").unwrap();
        symlink("..2026_c", root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        assert_eq!(look(&visible), after);
    }

    #[test]
    fn a_rewrite_in_place_and_a_removal_are_changes_a_touch_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwks.json");
        std::fs::write(&file, "one").unwrap();
        let first = look(&file);
        // Same length, same content: no change even with a new mtime.
        std::fs::write(&file, "one").unwrap();
        assert_eq!(look(&file), first);
        std::fs::write(&file, "two").unwrap();
        let second = look(&file);
        assert_ne!(second, first);
        std::fs::remove_file(&file).unwrap();
        assert_eq!(look(&file), Seen::Missing(ErrorKind::NotFound));
    }

    #[test]
    fn only_the_paths_looked_at_now_count() {
        let a = PathBuf::from("/a");
        let b = PathBuf::from("/b");
        let gone = Seen::Missing(ErrorKind::NotFound);
        let before: Snapshot = [(a.clone(), gone.clone()), (b.clone(), gone.clone())].into();
        let now: Snapshot = [(a.clone(), gone.clone())].into();
        assert!(unchanged(&before, &now));
        let more: Snapshot = [(a.clone(), gone.clone()), (PathBuf::from("/c"), gone)].into();
        assert!(
            unchanged(&before, &more),
            "a newly named path joins the baseline"
        );
        let seen = Seen::Content([0; 32]);
        let changed: Snapshot = [(a, seen)].into();
        assert!(!unchanged(&before, &changed));
    }
}
