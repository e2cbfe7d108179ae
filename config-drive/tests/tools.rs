//! The image checked with tools nobody here wrote: isoinfo (genisoimage), bsdtar
//! (libarchive-tools, what cloudbase-init uses on a raw disk) and blkid (util-linux, what
//! cloud-init uses to find the drive).
//!
//! Install with `apt-get install -y genisoimage libarchive-tools util-linux`. When the
//! environment variable `CI` is set, a missing tool fails the test; otherwise the test prints
//! a notice and skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use config_drive::{
    ConfigDrive, Interface, MetaData, NetworkConfig, NetworkConfigFormat, build_iso, read_iso,
};

/// Finds `tool` on PATH or in the sbin directories (blkid lives in /usr/sbin).
fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Returns the tool, or `None` (skip) outside CI; panics in CI.
fn require(name: &str, package: &str) -> Option<PathBuf> {
    match tool(name) {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!("{name} not found (CI is set): apt-get install -y {package}")
        }
        None => {
            eprintln!("NOTICE: skipping: {name} not found (apt-get install -y {package})");
            None
        }
    }
}

fn run(tool: &Path, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", tool.display()));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}\nstderr: {stderr}",
        tool.display(),
        out.status
    );
    // Any warning from the reader means it had to work around something in our image.
    assert!(
        !stderr.to_lowercase().contains("warn") && !stderr.to_lowercase().contains("error"),
        "{} {args:?} complained: {stderr}",
        tool.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const USER_DATA: &str =
    "#cloud-config\nhostname: web-1\nruncmd:\n  - [sh, -c, \"echo 'héllo' > /tmp/x\"]\n";

fn sample(with_vendor: bool, user_data: Option<&str>) -> ConfigDrive {
    ConfigDrive {
        user_data: user_data.map(str::to_owned),
        meta_data: MetaData {
            instance_id: "6a1c0a4e-8a4b-4c39-9a6e-2f0a0b9d7c11".into(),
            local_hostname: Some("web-1".into()),
            user_text: None,
        },
        vendor_data: with_vendor.then(|| "#cloud-config\n{}\n".to_owned()),
        network_config: NetworkConfig::Rendered {
            format: NetworkConfigFormat::V1,
            interfaces: vec![
                Interface {
                    mac: "12:34:56:12:34:56".into(),
                    device: 0,
                    ipv4_address: Some("10.20.30.40/24".into()),
                    ipv4_gateway: Some("10.20.30.1".into()),
                    dns_servers: vec!["10.20.30.53".into()],
                    dns_search: vec!["lab.example.net".into()],
                    ..Interface::default()
                },
                Interface {
                    mac: "02:00:00:00:00:02".into(),
                    device: 1,
                    ..Interface::default()
                },
            ],
        },
    }
}

fn write_image(dir: &tempfile::TempDir, drive: &ConfigDrive) -> (PathBuf, Vec<u8>) {
    let img = build_iso(drive).unwrap();
    let path = dir.path().join("seed.img");
    std::fs::write(&path, &img).unwrap();
    (path, img)
}

#[test]
fn isoinfo_sees_label_joliet_rock_ridge_and_names() {
    let Some(isoinfo) = require("isoinfo", "genisoimage") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_image(&dir, &sample(true, Some(USER_DATA)));
    let p = path.to_str().unwrap();

    let d = run(&isoinfo, &["-d", "-i", p]);
    assert!(d.contains("Volume id: cidata"), "{d}");
    assert!(d.contains("Joliet with UCS level 3 found"), "{d}");
    assert!(d.contains("Rock Ridge signatures version 1 found"), "{d}");
    assert!(d.contains("Logical block size is: 2048"), "{d}");

    let names = |mode: &str| -> Vec<String> {
        let listing = run(&isoinfo, &[mode, "-l", "-i", p]);
        let mut names: Vec<String> = listing
            .lines()
            .filter(|l| l.starts_with('-'))
            .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    let want = ["meta-data", "network-config", "user-data", "vendor-data"];
    assert_eq!(names("-J"), want);
    assert_eq!(names("-R"), want);
    // The plain ISO9660 names are 8.3.
    let plain = run(&isoinfo, &["-l", "-i", p]);
    assert!(plain.contains("USER_DAT.;1"), "{plain}");
}

#[test]
fn isoinfo_extracts_the_same_bytes() {
    let Some(isoinfo) = require("isoinfo", "genisoimage") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let drive = sample(false, Some(USER_DATA));
    let (path, _) = write_image(&dir, &drive);
    let p = path.to_str().unwrap();
    let files = drive.files().unwrap();
    for (name, content) in &files {
        let out = run(&isoinfo, &["-J", "-i", p, "-x", &format!("/{name}")]);
        assert_eq!(&out, content, "{name}");
    }
}

#[test]
fn bsdtar_lists_and_extracts() {
    let Some(bsdtar) = require("bsdtar", "libarchive-tools") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for drive in [
        sample(true, Some(USER_DATA)),
        sample(false, None),
        ConfigDrive {
            network_config: NetworkConfig::None,
            ..sample(false, Some(&"x".repeat(70_000)))
        },
    ] {
        let (path, _) = write_image(&dir, &drive);
        let p = path.to_str().unwrap();
        let listing = run(&bsdtar, &["-tf", p]);
        let mut names: Vec<&str> = listing.lines().filter(|l| *l != ".").collect();
        names.sort();
        let mut want: Vec<&str> = drive.files().unwrap().iter().map(|(n, _)| *n).collect();
        want.sort();
        assert_eq!(names, want);
        let user = run(&bsdtar, &["-xOf", p, "user-data"]);
        assert_eq!(user, drive.user_data.clone().unwrap_or_default());
        let meta = run(&bsdtar, &["-xOf", p, "meta-data"]);
        assert_eq!(meta, drive.meta_data.to_text().unwrap());
        // What cloudbase-init does: extract everything into a directory.
        let out = dir.path().join("extract");
        std::fs::create_dir_all(&out).unwrap();
        run(&bsdtar, &["-xf", p, "-C", out.to_str().unwrap()]);
        for (name, content) in drive.files().unwrap() {
            assert_eq!(std::fs::read_to_string(out.join(name)).unwrap(), content);
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn blkid_sees_iso9660_labelled_cidata() {
    let Some(blkid) = require("blkid", "util-linux") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write_image(&dir, &sample(true, Some(USER_DATA)));
    let out = run(&blkid, &["-p", "-o", "export", path.to_str().unwrap()]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"TYPE=iso9660"), "{out}");
    assert!(lines.contains(&"LABEL=cidata"), "{out}");
}

#[test]
fn read_iso_reads_a_genisoimage_seed() {
    // The reader also understands the reference tool's output (Joliet + Rock Ridge).
    let Some(genisoimage) = require("genisoimage", "genisoimage") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("user-data"), USER_DATA).unwrap();
    std::fs::write(src.join("meta-data"), "instance-id: i-1\n").unwrap();
    let img = dir.path().join("ref.iso");
    let out = Command::new(genisoimage)
        .args([
            "-quiet",
            "-output",
            img.to_str().unwrap(),
            "-volid",
            "cidata",
        ])
        .args(["-joliet", "-rock", src.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = read_iso(&std::fs::read(&img).unwrap()).unwrap();
    assert_eq!(files.user_data.as_deref(), Some(USER_DATA));
    assert_eq!(files.meta_data.as_deref(), Some("instance-id: i-1\n"));
}
