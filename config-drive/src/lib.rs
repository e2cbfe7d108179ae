//! The NoCloud config drive that terraform-provider-xenapi attaches to VMs.
//!
//! A pure library (no IO): it renders the drive's files from typed inputs, validates the
//! inputs at plan time with errors that name the offending field, builds the ISO9660 image in
//! memory, and reads such an image back (for `terraform import`).
//!
//! # The drive
//!
//! An ISO9660 image with Joliet and Rock Ridge names and the volume label `cidata`, holding
//! in its root directory:
//!
//! | file | when | content |
//! |---|---|---|
//! | `meta-data` | always | [`MetaData::to_text`] |
//! | `user-data` | always | the user-data, or empty (cloud-init requires the file) |
//! | `vendor-data` | when given | verbatim |
//! | `network-config` | unless [`NetworkConfig::None`] | the user's text verbatim, or [`render_network_config`] |
//!
//! cloud-init finds it by filesystem type `iso9660` and label `cidata` on any block device
//! (so it works as a whole-disk image on a Disk VBD), and cloudbase-init's
//! `NoCloudConfigDriveService` finds it on a raw disk by the ISO magic and extracts it with
//! bsdtar (reference guest-config §1.1, §2.2). The image length is a multiple of 2048 and so
//! of 512 bytes: it can be uploaded as-is with `import_raw_vdi` into a VDI of
//! [`iso_size`] bytes.
//!
//! # Usage
//!
//! ```
//! use config_drive::{
//!     build_iso, read_iso, ConfigDrive, Flavor, Interface, MetaData, NetworkConfig,
//!     NetworkConfigFormat,
//! };
//!
//! let drive = ConfigDrive {
//!     user_data: Some("#cloud-config\npackages: [nginx]\n".into()),
//!     meta_data: MetaData {
//!         instance_id: "6a1c0a4e-8a4b-4c39-9a6e-2f0a0b9d7c11".into(),
//!         local_hostname: Some("web-1".into()),
//!         user_text: None,
//!     },
//!     vendor_data: None,
//!     network_config: NetworkConfig::Rendered {
//!         format: NetworkConfigFormat::V2,
//!         interfaces: vec![Interface {
//!             mac: "02:16:3E:00:00:01".into(),
//!             device: 0,
//!             ipv4_address: Some("10.0.0.5/24".into()),
//!             ipv4_gateway: Some("10.0.0.1".into()),
//!             dns_servers: vec!["10.0.0.53".into()],
//!             ..Interface::default()
//!         }],
//!     },
//! };
//! // Plan time: every problem, each naming its field.
//! drive.validate(Flavor::CloudInit).unwrap();
//! // Apply time: the image, and its size for VDI.create.
//! let image = build_iso(&drive).unwrap();
//! assert_eq!(image.len() as u64, config_drive::iso_size(&drive).unwrap());
//! // Import: read the files back.
//! let files = read_iso(&image).unwrap();
//! assert_eq!(files.user_data.as_deref(), Some("#cloud-config\npackages: [nginx]\n"));
//! assert!(files.network_config.unwrap().contains("macaddress: \"02:16:3e:00:00:01\""));
//! ```
//!
//! # instance-id
//!
//! See [`MetaData`]: a new `instance-id` makes cloud-init / cloudbase-init treat the VM as a
//! new machine and run every per-instance step again; keeping it while rebuilding the drive
//! makes most user-data changes inert on an existing VM.
//!
//! # Why an in-house ISO writer
//!
//! The reference note (guest-config §4) allowed hadris-iso 3.x once final, or a small
//! in-house writer. At the time of writing crates.io has only `hadris-iso 3.0.0-rc.2`
//! (a pre-release of a young crate) and `2.0.0`, whose Rock Ridge output bsdtar rejects
//! (`Invalid parameter in SUSP "CE" extension`) — and bsdtar is exactly how cloudbase-init
//! reads a drive on a raw disk. The drive needs only a root directory with up to four small
//! files, so the private `iso` module writes it directly: PVD + Joliet SVD (level 3) + terminator,
//! path tables, and Rock Ridge `SP`, `CE`→`ER` (`RRIP_1991A`), `RR`, `NM`, `PX`, `TF`
//! entries, with fixed timestamps for byte-identical output. Its output is checked in the
//! tests with tools nobody here wrote: `isoinfo`, `bsdtar` and `blkid`.
//!
//! # YAML
//!
//! Inputs (user meta-data and network-config) are parsed with `serde_norway` (maintained
//! fork of `serde_yaml`). Rendered files are written by a small emitter that quotes every
//! scalar YAML 1.1 could misread (cloud-init and cloudbase-init use PyYAML, YAML 1.1:
//! `12:34:56:12:34:56` is an integer there and `yes` a boolean), using JSON string syntax;
//! `serde_norway`'s own serializer quotes by YAML 1.2 rules only and would emit those plain.

mod error;
mod iso;
mod meta;
mod net;
mod validate;
mod yaml;

use std::collections::BTreeMap;

pub use error::{Error, Field, InterfaceAttr, Problem, ValidationError, ValidationErrors};
pub use meta::{APPENDED_MARKER, MetaData, validate_meta_data_text};
pub use net::{
    Interface, Ipv4Cidr, MAX_MTU, MIN_MTU, NetworkConfig, NetworkConfigFormat, normalize_mac,
    parse_gateway, parse_ipv4_cidr, recover_interfaces, render_network_config, validate_interfaces,
    validate_link_name, validate_search_domain,
};
pub use validate::{Flavor, validate_network_config_text};

/// The volume label cloud-init and cloudbase-init look for.
pub const VOLUME_LABEL: &str = "cidata";
/// File name of the meta-data file.
pub const META_DATA: &str = "meta-data";
/// File name of the user-data file.
pub const USER_DATA: &str = "user-data";
/// File name of the vendor-data file.
pub const VENDOR_DATA: &str = "vendor-data";
/// File name of the network-config file.
pub const NETWORK_CONFIG: &str = "network-config";

/// Everything that goes on the drive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigDrive {
    /// `user-data` (secret: never log it). `None` writes an empty file.
    pub user_data: Option<String>,
    /// `meta-data`.
    pub meta_data: MetaData,
    /// `vendor-data`; no file when `None`.
    pub vendor_data: Option<String>,
    /// `network-config`.
    pub network_config: NetworkConfig,
}

impl ConfigDrive {
    /// Plan-time validation: every problem found, each naming its field.
    ///
    /// Checks the meta-data ([`MetaData::validate`]), rendered interfaces
    /// ([`validate_interfaces`]) or user network-config text
    /// ([`validate_network_config_text`] with `flavor`). With [`Flavor::Cloudbase`] and
    /// rendered interfaces, only v1 and v2 as rendered here are produced, both of which
    /// cloudbase-init applies (every link carries its MAC).
    pub fn validate(&self, flavor: Flavor) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        if let Err(e) = self.meta_data.validate() {
            errors.extend(e.0);
        }
        match &self.network_config {
            NetworkConfig::None => {}
            NetworkConfig::User(text) => {
                if let Err(e) = validate_network_config_text(text, flavor) {
                    errors.extend(e.0);
                }
            }
            NetworkConfig::Rendered { interfaces, .. } => {
                if let Err(e) = validate_interfaces(interfaces) {
                    errors.extend(e.0);
                }
            }
        }
        error::collect(errors)
    }

    /// The drive's files in drive order, rendered. Fails on invalid rendered inputs (the
    /// same problems [`ConfigDrive::validate`] reports, except flavour-specific checks of
    /// user text, which stays verbatim).
    pub fn files(&self) -> Result<Vec<(&'static str, String)>, Error> {
        let mut errors = Vec::new();
        let meta = self
            .meta_data
            .to_text()
            .map_err(|e| errors.extend(e.0))
            .ok();
        let network = self
            .network_config
            .to_text()
            .map_err(|e| errors.extend(e.0))
            .ok();
        error::collect(errors)?;
        let mut files = vec![
            (META_DATA, meta.unwrap_or_default()),
            (USER_DATA, self.user_data.clone().unwrap_or_default()),
        ];
        if let Some(v) = &self.vendor_data {
            files.push((VENDOR_DATA, v.clone()));
        }
        if let Some(Some(n)) = network {
            files.push((NETWORK_CONFIG, n));
        }
        for (name, content) in &files {
            if u32::try_from(content.len()).is_err() {
                return Err(Error::FileTooLarge {
                    file: name,
                    size: content.len(),
                });
            }
        }
        Ok(files)
    }
}

/// Builds the ISO9660 image (Joliet + Rock Ridge, label `cidata`). Deterministic: the same
/// input gives identical bytes. The length is a multiple of 2048 (so of 512) bytes.
pub fn build_iso(drive: &ConfigDrive) -> Result<Vec<u8>, Error> {
    let files = drive.files()?;
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, c)| (*n, c.as_bytes())).collect();
    Ok(iso::write_image(VOLUME_LABEL, &refs))
}

/// The exact length in bytes of [`build_iso`]'s image for this drive (the VDI size to
/// create), without building it.
pub fn iso_size(drive: &ConfigDrive) -> Result<u64, Error> {
    let files = drive.files()?;
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let sizes: Vec<usize> = files.iter().map(|(_, c)| c.len()).collect();
    Ok(iso::image_size(&names, &sizes) as u64)
}

/// The files read back from a drive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigDriveFiles {
    /// `meta-data`, if present.
    pub meta_data: Option<String>,
    /// `user-data`, if present (this crate always writes it, possibly empty).
    pub user_data: Option<String>,
    /// `vendor-data`, if present.
    pub vendor_data: Option<String>,
    /// `network-config`, if present.
    pub network_config: Option<String>,
    /// Names of other files in the root directory (not read).
    pub other_files: Vec<String>,
}

impl ConfigDriveFiles {
    /// Reconstructs the inputs (import): meta-data through [`MetaData::from_drive_text`],
    /// network-config through [`recover_interfaces`] (falling back to user text), an empty
    /// `user-data` as `None`.
    pub fn to_config_drive(&self) -> ConfigDrive {
        let network_config = match &self.network_config {
            None => NetworkConfig::None,
            Some(text) => match recover_interfaces(text) {
                Some((format, interfaces)) => NetworkConfig::Rendered { format, interfaces },
                None => NetworkConfig::User(text.clone()),
            },
        };
        ConfigDrive {
            user_data: self.user_data.clone().filter(|u| !u.is_empty()),
            meta_data: MetaData::from_drive_text(self.meta_data.as_deref().unwrap_or("")),
            vendor_data: self.vendor_data.clone(),
            network_config,
        }
    }
}

/// Reads the root-directory files of an ISO9660 config drive (one this crate built; also
/// genisoimage-style images with Joliet or Rock Ridge names). Never panics: damaged input
/// gives [`Error::NotIso9660`] or [`Error::Malformed`], non-UTF-8 drive files
/// [`Error::NotUtf8`].
pub fn read_iso(image: &[u8]) -> Result<ConfigDriveFiles, Error> {
    let mut files: BTreeMap<String, Vec<u8>> = iso::read_root_files(image)?;
    let mut take = |name: &str| -> Result<Option<String>, Error> {
        match files.remove(name) {
            None => Ok(None),
            Some(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| Error::NotUtf8 {
                    file: name.to_owned(),
                }),
        }
    };
    let meta_data = take(META_DATA)?;
    let user_data = take(USER_DATA)?;
    let vendor_data = take(VENDOR_DATA)?;
    let network_config = take(NETWORK_CONFIG)?;
    Ok(ConfigDriveFiles {
        meta_data,
        user_data,
        vendor_data,
        network_config,
        other_files: files.into_keys().collect(),
    })
}
