//! A minimal ISO9660 image writer for the one-file CD that `VM.sysprep` inserts (XAPI runs
//! `genisoimage -r -J -o <iso> <dir>` on a directory holding only `unattend.xml`, X
//! `ocaml/xapi/vm_sysprep.ml` `make_iso`). The lab pool writes a plain ISO9660 level-1 image
//! (primary volume descriptor, root directory, path tables, one file `UNATTEND.XML;1`):
//! Windows opens `D:\unattend.xml` case-insensitively on such a disc, and third-party readers
//! (`isoinfo`, `bsdtar`, the `isomage` crate the simulated guest uses) list it as
//! `UNATTEND.XML`. Nothing here is shared with the provider's config-drive writer.

const SECTOR: usize = 2048;
const PVD: usize = 16;
const TERMINATOR: usize = 17;
const L_PATH: usize = 18;
const M_PATH: usize = 19;
const ROOT: usize = 20;
const DATA: usize = 21;

fn both_u32(out: &mut [u8], v: u32) {
    out[..4].copy_from_slice(&v.to_le_bytes());
    out[4..8].copy_from_slice(&v.to_be_bytes());
}

fn both_u16(out: &mut [u8], v: u16) {
    out[..2].copy_from_slice(&v.to_le_bytes());
    out[2..4].copy_from_slice(&v.to_be_bytes());
}

/// A directory record (ECMA-119 §9.1) with a fixed timestamp.
fn dir_record(extent: u32, len: u32, dir: bool, name: &[u8]) -> Vec<u8> {
    let mut r = vec![0u8; 33 + name.len()];
    if r.len() % 2 == 1 {
        r.push(0);
    }
    r[0] = r.len() as u8;
    both_u32(&mut r[2..10], extent);
    both_u32(&mut r[10..18], len);
    // 2025-07-03 00:00:00 UTC
    r[18..25].copy_from_slice(&[125, 7, 3, 0, 0, 0, 0]);
    r[25] = if dir { 2 } else { 0 };
    both_u16(&mut r[28..32], 1);
    r[32] = name.len() as u8;
    r[33..33 + name.len()].copy_from_slice(name);
    r
}

fn pad_str(out: &mut [u8], s: &str) {
    out.fill(b' ');
    let b = s.as_bytes();
    let n = b.len().min(out.len());
    out[..n].copy_from_slice(&b[..n]);
}

/// Builds an ISO9660 image holding one file in its root directory. `name` must be an
/// ISO9660 level-1 name (upper case `NAME.EXT`, at most 8.3); `";1"` is appended.
pub fn single_file_iso(volume_id: &str, name: &str, content: &[u8]) -> Vec<u8> {
    let data_sectors = content.len().div_ceil(SECTOR).max(1);
    // genisoimage pads every image with 150 zero sectors (300 KiB); readers such as
    // libarchive also need more than 16 + 8 sectors to recognise the format.
    let total = DATA + data_sectors + 150;
    let mut img = vec![0u8; total * SECTOR];
    let file_id = format!("{name};1");
    // Root directory: ".", "..", the file.
    let mut root = Vec::new();
    root.extend(dir_record(ROOT as u32, SECTOR as u32, true, &[0]));
    root.extend(dir_record(ROOT as u32, SECTOR as u32, true, &[1]));
    root.extend(dir_record(
        DATA as u32,
        content.len() as u32,
        false,
        file_id.as_bytes(),
    ));
    img[ROOT * SECTOR..ROOT * SECTOR + root.len()].copy_from_slice(&root);
    img[DATA * SECTOR..DATA * SECTOR + content.len()].copy_from_slice(content);
    // Path tables: one entry (the root).
    let l = L_PATH * SECTOR;
    img[l] = 1;
    img[l + 2..l + 6].copy_from_slice(&(ROOT as u32).to_le_bytes());
    img[l + 6..l + 8].copy_from_slice(&1u16.to_le_bytes());
    let m = M_PATH * SECTOR;
    img[m] = 1;
    img[m + 2..m + 6].copy_from_slice(&(ROOT as u32).to_be_bytes());
    img[m + 6..m + 8].copy_from_slice(&1u16.to_be_bytes());
    // Primary volume descriptor.
    let p = &mut img[PVD * SECTOR..(PVD + 1) * SECTOR];
    p[0] = 1;
    p[1..6].copy_from_slice(b"CD001");
    p[6] = 1;
    pad_str(&mut p[8..40], "LINUX");
    pad_str(&mut p[40..72], volume_id);
    both_u32(&mut p[80..88], total as u32);
    both_u16(&mut p[120..124], 1);
    both_u16(&mut p[124..128], 1);
    both_u16(&mut p[128..132], SECTOR as u16);
    both_u32(&mut p[132..140], 10);
    p[140..144].copy_from_slice(&(L_PATH as u32).to_le_bytes());
    p[148..152].copy_from_slice(&(M_PATH as u32).to_be_bytes());
    let root_rec = dir_record(ROOT as u32, SECTOR as u32, true, &[0]);
    p[156..156 + 34].copy_from_slice(&root_rec);
    pad_str(&mut p[190..813], "");
    for off in [813, 830] {
        p[off..off + 16].copy_from_slice(b"2025070300000000");
    }
    for off in [847, 864] {
        p[off..off + 16].copy_from_slice(b"0000000000000000");
    }
    p[881] = 1;
    // Terminator.
    let t = &mut img[TERMINATOR * SECTOR..(TERMINATOR + 1) * SECTOR];
    t[0] = 255;
    t[1..6].copy_from_slice(b"CD001");
    t[6] = 1;
    img
}

/// Reads a root-directory file of an ISO9660 image by name, case-insensitively and
/// ignoring the `;1` version (how Windows opens `D:\unattend.xml`).
pub fn read_root_file(image: &[u8], name: &str) -> Option<Vec<u8>> {
    if image.len() <= 0x8006 || &image[0x8001..0x8006] != b"CD001" {
        return None;
    }
    let mut cur = std::io::Cursor::new(image);
    let root = isomage::detect_and_parse_filesystem(&mut cur, "cd").ok()?;
    let child = root.children.iter().find(|c| {
        !c.is_directory
            && c.name
                .trim_end_matches(";1")
                .trim_end_matches('.')
                .eq_ignore_ascii_case(name)
    })?;
    let mut buf = Vec::new();
    isomage::cat_node(&mut cur, child, &mut buf).ok()?;
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_isomage() {
        let xml = b"<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"/>";
        let img = single_file_iso("CDROM", "UNATTEND.XML", xml);
        assert_eq!(img.len() % 2048, 0);
        assert_eq!(read_root_file(&img, "unattend.xml").unwrap(), xml);
        assert_eq!(read_root_file(&img, "other.xml"), None);
        let big = vec![b'x'; 5000];
        let img = single_file_iso("CDROM", "UNATTEND.XML", &big);
        assert_eq!(read_root_file(&img, "UNATTEND.XML").unwrap(), big);
        assert_eq!(read_root_file(&[0u8; 100], "unattend.xml"), None);
    }
}
