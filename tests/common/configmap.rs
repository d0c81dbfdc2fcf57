//! A folder laid out and updated the way the kubelet updates a ConfigMap or
//! Secret volume (its `AtomicWriter`): the files live in a timestamped
//! folder `..2026_…`, `..data` is a symlink to it, and each visible name is a
//! symlink `name -> ..data/name` that never changes. An update writes a new
//! timestamped folder, points a temporary symlink at it, renames that over
//! `..data` (one atomic step), then removes the old folder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

pub struct ConfigMapVolume {
    pub root: PathBuf,
    generation: usize,
    current: Option<PathBuf>,
}

impl ConfigMapVolume {
    /// An empty volume in `root` (created if missing).
    pub fn new(root: &Path) -> ConfigMapVolume {
        std::fs::create_dir_all(root).unwrap();
        ConfigMapVolume {
            root: root.to_path_buf(),
            generation: 0,
            current: None,
        }
    }

    /// The visible path of `name` (`root/name`, a symlink into `..data`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Publishes a new version holding exactly `files` (name, content).
    pub fn publish(&mut self, files: &[(&str, &[u8])]) {
        self.generation += 1;
        let stamp = format!("..2026_11_30_12_00_00.{:04}", self.generation);
        let dir = self.root.join(&stamp);
        std::fs::create_dir(&dir).unwrap();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        let tmp = self.root.join("..data_tmp");
        symlink(&stamp, &tmp).unwrap();
        std::fs::rename(&tmp, self.root.join("..data")).unwrap();
        for (name, _) in files {
            let visible = self.root.join(name);
            if std::fs::symlink_metadata(&visible).is_err() {
                symlink(Path::new("..data").join(name), &visible).unwrap();
            }
        }
        if let Some(old) = self.current.replace(dir) {
            std::fs::remove_dir_all(old).unwrap();
        }
    }
}
