//! The image: determinism, size, read-back round trip, robustness of the reader.

use config_drive::{
    ConfigDrive, ConfigDriveFiles, Error, Interface, MetaData, NetworkConfig, NetworkConfigFormat,
    build_iso, iso_size, read_iso,
};
use proptest::prelude::*;

fn drive() -> ConfigDrive {
    ConfigDrive {
        user_data: Some("#cloud-config\nusers: [{name: ops}]\n".into()),
        meta_data: MetaData {
            instance_id: "0b4f3c52-2d0e-4c8e-9f1a-6f1f5bb0c0de".into(),
            local_hostname: Some("db-1".into()),
            user_text: None,
        },
        vendor_data: Some("#cloud-config\nntp: {enabled: true}\n".into()),
        network_config: NetworkConfig::Rendered {
            format: NetworkConfigFormat::V2,
            interfaces: vec![
                Interface {
                    mac: "52:E0:18:07:B5:B0".into(),
                    device: 0,
                    ipv4_address: Some("10.1.2.3/24".into()),
                    ipv4_gateway: Some("10.1.2.1".into()),
                    dns_servers: vec!["10.1.2.53".into()],
                    dns_search: vec!["example.org".into()],
                    ..Interface::default()
                },
                Interface {
                    mac: "3e:4a:c4:ec:cd:ce".into(),
                    device: 1,
                    ..Interface::default()
                },
            ],
        },
    }
}

#[test]
fn deterministic() {
    let a = build_iso(&drive()).unwrap();
    let b = build_iso(&drive()).unwrap();
    assert_eq!(a, b);
    let mut other = drive();
    other.user_data = Some("#cloud-config\nusers: [{name: dev}]\n".into());
    assert_ne!(a, build_iso(&other).unwrap());
}

#[test]
fn size_is_whole_sectors_and_predicted() {
    for d in [
        drive(),
        ConfigDrive::default(),
        ConfigDrive {
            user_data: Some("u".repeat(100_001)),
            ..drive()
        },
    ] {
        let d = ConfigDrive {
            meta_data: MetaData {
                instance_id: "i".into(),
                ..d.meta_data.clone()
            },
            ..d
        };
        let img = build_iso(&d).unwrap();
        assert_eq!(img.len() % 512, 0);
        assert_eq!(img.len() % 2048, 0);
        assert_eq!(img.len() as u64, iso_size(&d).unwrap());
        // Volume space size in the PVD matches the image.
        let blocks = u32::from_le_bytes(img[16 * 2048 + 80..16 * 2048 + 84].try_into().unwrap());
        assert_eq!(blocks as usize * 2048, img.len());
    }
}

#[test]
fn round_trip() {
    let d = drive();
    let files = read_iso(&build_iso(&d).unwrap()).unwrap();
    let rendered = d.files().unwrap();
    assert_eq!(files.meta_data.as_deref(), Some(rendered[0].1.as_str()));
    assert_eq!(files.user_data, d.user_data);
    assert_eq!(files.vendor_data, d.vendor_data);
    assert!(files.other_files.is_empty());
    // Back to the inputs (import): MACs come back lower-case, everything else as given.
    let mut want = d.clone();
    if let NetworkConfig::Rendered { interfaces, .. } = &mut want.network_config {
        interfaces[0].mac = interfaces[0].mac.to_lowercase();
    }
    assert_eq!(files.to_config_drive(), want);

    // Minimal drive: empty user-data file, no vendor-data, no network-config.
    let minimal = ConfigDrive {
        meta_data: MetaData {
            instance_id: "x".into(),
            ..MetaData::default()
        },
        ..ConfigDrive::default()
    };
    let files = read_iso(&build_iso(&minimal).unwrap()).unwrap();
    assert_eq!(
        files,
        ConfigDriveFiles {
            meta_data: Some("instance-id: x\n".into()),
            user_data: Some(String::new()),
            vendor_data: None,
            network_config: None,
            other_files: vec![],
        }
    );
    assert_eq!(files.to_config_drive(), minimal);

    // User-written network config and meta-data survive verbatim.
    let user = ConfigDrive {
        meta_data: MetaData {
            instance_id: "vm".into(),
            local_hostname: None,
            user_text: Some("local-hostname: win-1\nadmin-username: Administrator".into()),
        },
        network_config: NetworkConfig::User("network:\n  version: 1\n  config: []\n".into()),
        ..drive()
    };
    let back = read_iso(&build_iso(&user).unwrap())
        .unwrap()
        .to_config_drive();
    assert_eq!(back.network_config, user.network_config);
    assert_eq!(back.meta_data.instance_id, "vm");
    assert_eq!(
        back.meta_data.to_text().unwrap(),
        user.meta_data.to_text().unwrap()
    );
}

#[test]
fn reader_rejects_non_iso_and_damaged_images() {
    assert!(matches!(read_iso(&[]), Err(Error::NotIso9660(_))));
    assert!(matches!(
        read_iso(&vec![0u8; 40_000]),
        Err(Error::NotIso9660(_))
    ));
    let img = build_iso(&drive()).unwrap();
    // Truncated: file extents beyond the end.
    assert!(matches!(
        read_iso(&img[..img.len() - 2048]),
        Err(Error::Malformed(_))
    ));
    // Root directory pointing past the end (Joliet and primary).
    let mut bad = img.clone();
    for vd in [16usize, 17] {
        bad[vd * 2048 + 156 + 2..vd * 2048 + 156 + 6].copy_from_slice(&u32::MAX.to_le_bytes());
    }
    assert!(matches!(read_iso(&bad), Err(Error::Malformed(_))));
    // Non-UTF-8 content.
    let mut bad = img.clone();
    let pos = bad.windows(12).position(|w| w == b"#cloud-confi").unwrap();
    bad[pos] = 0xFF;
    assert!(matches!(read_iso(&bad), Err(Error::NotUtf8 { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn read_iso_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..50_000)) {
        let _ = read_iso(&bytes);
    }

    #[test]
    fn read_iso_never_panics_on_corrupted_images(
        flips in proptest::collection::vec((0usize..60_000, any::<u8>()), 1..64),
        cut in 0usize..70_000,
    ) {
        let mut img = build_iso(&drive()).unwrap();
        let len = img.len();
        for (pos, val) in flips {
            img[pos % len] = val;
        }
        img.truncate(cut.max(1).min(len));
        let _ = read_iso(&img);
    }

    #[test]
    fn user_data_round_trips(user in ".{0,3000}", vendor in proptest::option::of(".{0,100}")) {
        let d = ConfigDrive { user_data: Some(user.clone()), vendor_data: vendor.clone(), ..drive() };
        let img = build_iso(&d).unwrap();
        prop_assert_eq!(img.len() as u64, iso_size(&d).unwrap());
        let files = read_iso(&img).unwrap();
        prop_assert_eq!(files.user_data, Some(user));
        prop_assert_eq!(files.vendor_data, vendor);
    }
}
