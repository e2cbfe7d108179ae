//! Reading a NoCloud config drive from a VDI's bytes with third-party readers: `isomage` for
//! ISO9660 (Rock Ridge / Joliet names) and `fatfs` for FAT (whole disk or the first MBR
//! partition). Nothing here is shared with the provider's image writer.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use serde::{Deserialize, Serialize};

/// The NoCloud files a guest looks at (root directory only).
pub const SEED_FILES: &[&str] = &["meta-data", "user-data", "vendor-data", "network-config"];

/// A filesystem found on a drive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drive {
    /// `iso9660` or `vfat`.
    pub filesystem: String,
    /// Volume label as blkid would report it.
    pub label: String,
    /// Seed files found in the root directory (name -> content, lossy UTF-8).
    pub files: BTreeMap<String, String>,
}

/// Detects and reads an ISO9660 or FAT filesystem.
pub fn read_drive(bytes: &[u8]) -> Option<Drive> {
    if is_iso(bytes) {
        return read_iso(bytes);
    }
    if let Some(d) = read_fat(bytes) {
        return Some(d);
    }
    // MBR with one partition (how Windows-oriented drives are built).
    if bytes.len() >= 512 && bytes[510] == 0x55 && bytes[511] == 0xAA {
        let entry = &bytes[446..462];
        let ptype = entry[4];
        let lba = u32::from_le_bytes([entry[8], entry[9], entry[10], entry[11]]) as usize;
        if ptype != 0 && lba > 0 && lba * 512 < bytes.len() {
            let part = &bytes[lba * 512..];
            if is_iso(part) {
                return read_iso(part);
            }
            return read_fat(part);
        }
    }
    None
}

fn is_iso(bytes: &[u8]) -> bool {
    bytes.len() > 0x8006 && &bytes[0x8001..0x8006] == b"CD001"
}

fn read_iso(bytes: &[u8]) -> Option<Drive> {
    // Primary volume descriptor: volume identifier at offset 40, 32 bytes.
    let label = String::from_utf8_lossy(&bytes[0x8000 + 40..0x8000 + 72])
        .trim_end_matches([' ', '\0'])
        .to_string();
    let mut cur = Cursor::new(bytes);
    let root = isomage::detect_and_parse_filesystem(&mut cur, "config-drive").ok()?;
    let mut files = BTreeMap::new();
    for child in &root.children {
        if child.is_directory {
            continue;
        }
        let name = child.name.trim_end_matches(";1").to_string();
        if SEED_FILES.contains(&name.as_str()) {
            let mut buf = Vec::new();
            if isomage::cat_node(&mut cur, child, &mut buf).is_ok() {
                files.insert(name, String::from_utf8_lossy(&buf).into_owned());
            }
        }
    }
    Some(Drive {
        filesystem: "iso9660".into(),
        label,
        files,
    })
}

fn read_fat(bytes: &[u8]) -> Option<Drive> {
    if bytes.len() < 512 || bytes[510] != 0x55 || bytes[511] != 0xAA {
        return None;
    }
    let fs = fatfs::FileSystem::new(Cursor::new(bytes.to_vec()), fatfs::FsOptions::new()).ok()?;
    // blkid's LABEL comes from the root-directory volume entry, else the boot sector.
    let label = fs
        .read_volume_label_from_root_dir()
        .ok()
        .flatten()
        .unwrap_or_else(|| fs.volume_label())
        .trim_end()
        .to_string();
    let mut files = BTreeMap::new();
    for entry in fs.root_dir().iter() {
        let Ok(entry) = entry else { continue };
        if !entry.is_file() {
            continue;
        }
        let name = entry.file_name();
        if SEED_FILES.contains(&name.as_str()) {
            let mut buf = Vec::new();
            if entry.to_file().read_to_end(&mut buf).is_ok() {
                files.insert(name, String::from_utf8_lossy(&buf).into_owned());
            }
        }
    }
    Some(Drive {
        filesystem: "vfat".into(),
        label,
        files,
    })
}
