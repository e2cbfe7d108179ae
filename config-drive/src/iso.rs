//! A minimal ISO9660 writer and reader: one root directory holding a handful of small files,
//! with Joliet (level 3) and Rock Ridge (RRIP 1.10, `RRIP_1991A`) names.
//!
//! Image layout (2048-byte logical sectors):
//!
//! | sector | content |
//! |---|---|
//! | 0..16 | system area (zeros) |
//! | 16 | primary volume descriptor (PVD) |
//! | 17 | Joliet supplementary volume descriptor (SVD, escape `%/E`) |
//! | 18 | volume descriptor set terminator |
//! | 19, 20 | PVD path tables (L, M) |
//! | 21, 22 | Joliet path tables (L, M) |
//! | 23.. | primary root directory (Rock Ridge entries in each record's system use area) |
//! | next | SUSP continuation area holding the `ER` entry |
//! | next | Joliet root directory |
//! | next | file data, each file in its own extent (an empty file gets one zero sector) |
//!
//! The `ER` entry with the standard RRIP texts does not fit in the root `.` record (255
//! bytes at most), so it lives in a continuation area referenced by a `CE` entry; the area is
//! placed *after* the directory that references it and before any file data, which is what
//! libarchive (bsdtar) requires of a `CE` target.
//!
//! All timestamps are a fixed 1980-01-01 00:00:00 UTC, so identical input gives identical
//! bytes.

use std::collections::BTreeMap;

use crate::error::Error;

/// Logical sector size of the image.
pub const SECTOR: usize = 2048;

const FIRST_DIR_SECTOR: u32 = 23;
/// Fixed recording time: 1980-01-01 00:00:00 UTC, as directory-record date.
const DIR_DATE: [u8; 7] = [80, 1, 1, 0, 0, 0, 0];
/// The same as a volume-descriptor date (`YYYYMMDDHHMMSScc` + zone).
const VD_DATE: &[u8; 16] = b"1980010100000000";
const VD_DATE_UNSET: &[u8; 16] = b"0000000000000000";

const ER_ID: &[u8] = b"RRIP_1991A";
const ER_DESCRIPTOR: &[u8] =
    b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
const ER_SOURCE: &[u8] = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";

const APPLICATION_ID: &str = "TERRAFORM-PROVIDER-XENAPI CONFIG-DRIVE";

const MODE_DIR: u32 = 0o040_555;
const MODE_FILE: u32 = 0o100_444;

fn put16(buf: &mut [u8], off: usize, v: u16) {
    buf[off..off + 2].copy_from_slice(&v.to_le_bytes());
    buf[off + 2..off + 4].copy_from_slice(&v.to_be_bytes());
}

fn put32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
    buf[off + 4..off + 8].copy_from_slice(&v.to_be_bytes());
}

fn both32(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    put32(&mut b, 0, v);
    b
}

fn sectors_for(len: usize) -> usize {
    len.div_ceil(SECTOR)
}

/// UCS-2 big-endian encoding (Joliet). Names here are ASCII, so no surrogates arise.
fn ucs2be(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// The ISO9660 level-1 name for `name`: `BASE.EXT;1` with d-characters only, 8.3.
fn iso_level1_name(name: &str, taken: &[Vec<u8>]) -> Vec<u8> {
    let upper: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (base, ext) = match upper.rsplit_once('.') {
        Some((b, e)) => (b.replace('.', "_"), e.to_owned()),
        None => (upper.clone(), String::new()),
    };
    let base: String = base.chars().take(8).collect();
    let ext: String = ext.chars().take(3).collect();
    let mut candidate = format!("{base}.{ext};1").into_bytes();
    let mut n = 1u32;
    while taken.contains(&candidate) {
        let suffix = format!("~{n}");
        let keep = 8usize.saturating_sub(suffix.len()).min(base.len());
        candidate = format!("{}{}.{ext};1", &base[..keep], suffix).into_bytes();
        n += 1;
    }
    candidate
}

struct Entry<'a> {
    iso_name: Vec<u8>,
    joliet_name: Vec<u8>,
    rr_name: &'a str,
    len: usize,
    location: u32,
}

fn susp_px(mode: u32, nlink: u32) -> Vec<u8> {
    let mut v = vec![b'P', b'X', 36, 1];
    v.extend_from_slice(&both32(mode));
    v.extend_from_slice(&both32(nlink));
    v.extend_from_slice(&both32(0)); // uid
    v.extend_from_slice(&both32(0)); // gid
    v
}

fn susp_tf() -> Vec<u8> {
    // Flags: modify | access | attributes, short (7-byte) form.
    let mut v = vec![b'T', b'F', 26, 1, 0x0E];
    for _ in 0..3 {
        v.extend_from_slice(&DIR_DATE);
    }
    v
}

fn susp_rr(flags: u8) -> Vec<u8> {
    vec![b'R', b'R', 5, 1, flags]
}

fn susp_nm(name: &str) -> Vec<u8> {
    let mut v = vec![b'N', b'M', 0, 1, 0];
    v.extend_from_slice(name.as_bytes());
    v[2] = v.len() as u8; // names are short (checked by the caller)
    v
}

fn susp_ce(location: u32, length: u32) -> Vec<u8> {
    let mut v = vec![b'C', b'E', 28, 1];
    v.extend_from_slice(&both32(location));
    v.extend_from_slice(&both32(0));
    v.extend_from_slice(&both32(length));
    v
}

fn er_entry() -> Vec<u8> {
    let mut v = vec![
        b'E',
        b'R',
        0,
        1,
        ER_ID.len() as u8,
        ER_DESCRIPTOR.len() as u8,
        ER_SOURCE.len() as u8,
        1,
    ];
    v.extend_from_slice(ER_ID);
    v.extend_from_slice(ER_DESCRIPTOR);
    v.extend_from_slice(ER_SOURCE);
    v[2] = v.len() as u8; // 8 + 10 + 84 + 135 = 237
    v
}

fn dir_record(location: u32, size: u32, is_dir: bool, ident: &[u8], susp: &[u8]) -> Vec<u8> {
    let pad = usize::from(ident.len().is_multiple_of(2));
    let mut len = 33 + ident.len() + pad + susp.len();
    len += len % 2;
    let mut r = vec![0u8; len];
    r[0] = len as u8;
    put32(&mut r, 2, location);
    put32(&mut r, 10, size);
    r[18..25].copy_from_slice(&DIR_DATE);
    r[25] = if is_dir { 0x02 } else { 0x00 };
    put16(&mut r, 28, 1);
    r[32] = ident.len() as u8;
    r[33..33 + ident.len()].copy_from_slice(ident);
    let s = 33 + ident.len() + pad;
    r[s..s + susp.len()].copy_from_slice(susp);
    r
}

/// Packs records into sectors: a record never crosses a sector boundary.
fn pack_records(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        let used = out.len() % SECTOR;
        if used + r.len() > SECTOR {
            out.resize(out.len() + (SECTOR - used), 0);
        }
        out.extend_from_slice(r);
    }
    let total = sectors_for(out.len().max(1)) * SECTOR;
    out.resize(total, 0);
    out
}

struct Layout {
    root: u32,
    root_len: u32,
    ce: u32,
    joliet_root: u32,
    joliet_len: u32,
    total: u32,
}

fn primary_dir(entries: &[Entry<'_>], l: &Layout, ce_len: u32) -> Vec<u8> {
    let mut dot_susp = vec![b'S', b'P', 7, 1, 0xBE, 0xEF, 0];
    dot_susp.extend(susp_rr(0x81));
    dot_susp.extend(susp_px(MODE_DIR, 2));
    dot_susp.extend(susp_tf());
    dot_susp.extend(susp_ce(l.ce, ce_len));
    let mut dotdot_susp = susp_rr(0x81);
    dotdot_susp.extend(susp_px(MODE_DIR, 2));
    dotdot_susp.extend(susp_tf());
    let mut records = vec![
        dir_record(l.root, l.root_len, true, &[0], &dot_susp),
        dir_record(l.root, l.root_len, true, &[1], &dotdot_susp),
    ];
    let mut sorted: Vec<&Entry<'_>> = entries.iter().collect();
    sorted.sort_by(|a, b| a.iso_name.cmp(&b.iso_name));
    for e in sorted {
        let mut susp = susp_rr(0x89);
        susp.extend(susp_nm(e.rr_name));
        susp.extend(susp_px(MODE_FILE, 1));
        susp.extend(susp_tf());
        records.push(dir_record(
            e.location,
            e.len as u32,
            false,
            &e.iso_name,
            &susp,
        ));
    }
    pack_records(&records)
}

fn joliet_dir(entries: &[Entry<'_>], l: &Layout) -> Vec<u8> {
    let mut records = vec![
        dir_record(l.joliet_root, l.joliet_len, true, &[0], &[]),
        dir_record(l.joliet_root, l.joliet_len, true, &[1], &[]),
    ];
    let mut sorted: Vec<&Entry<'_>> = entries.iter().collect();
    sorted.sort_by(|a, b| a.joliet_name.cmp(&b.joliet_name));
    for e in sorted {
        records.push(dir_record(
            e.location,
            e.len as u32,
            false,
            &e.joliet_name,
            &[],
        ));
    }
    pack_records(&records)
}

fn path_table(root: u32, big_endian: bool) -> [u8; 10] {
    let mut t = [0u8; 10];
    t[0] = 1;
    if big_endian {
        t[2..6].copy_from_slice(&root.to_be_bytes());
        t[6..8].copy_from_slice(&1u16.to_be_bytes());
    } else {
        t[2..6].copy_from_slice(&root.to_le_bytes());
        t[6..8].copy_from_slice(&1u16.to_le_bytes());
    }
    t
}

/// Fills `field` with `text` in the descriptor's character set, padded with spaces.
fn put_text(field: &mut [u8], text: &str, joliet: bool) {
    if joliet {
        for pair in field.chunks_mut(2) {
            pair[0] = 0x00;
            if pair.len() == 2 {
                pair[1] = 0x20;
            }
        }
        let enc = ucs2be(text);
        let n = enc.len().min(field.len() & !1);
        field[..n].copy_from_slice(&enc[..n]);
    } else {
        field.fill(b' ');
        let n = text.len().min(field.len());
        field[..n].copy_from_slice(&text.as_bytes()[..n]);
    }
}

fn volume_descriptor(joliet: bool, label: &str, l: &Layout, path_l: u32, path_m: u32) -> Vec<u8> {
    let mut d = vec![0u8; SECTOR];
    d[0] = if joliet { 2 } else { 1 };
    d[1..6].copy_from_slice(b"CD001");
    d[6] = 1;
    put_text(&mut d[8..40], "", joliet); // system identifier
    put_text(&mut d[40..72], label, joliet);
    put32(&mut d, 80, l.total);
    if joliet {
        d[88..91].copy_from_slice(b"%/E"); // UCS-2 level 3
    }
    put16(&mut d, 120, 1); // volume set size
    put16(&mut d, 124, 1); // volume sequence number
    put16(&mut d, 128, SECTOR as u16);
    put32(&mut d, 132, 10); // path table size
    d[140..144].copy_from_slice(&path_l.to_le_bytes());
    d[148..152].copy_from_slice(&path_m.to_be_bytes());
    let (root, root_len) = if joliet {
        (l.joliet_root, l.joliet_len)
    } else {
        (l.root, l.root_len)
    };
    let root_rec = dir_record(root, root_len, true, &[0], &[]);
    d[156..156 + 34].copy_from_slice(&root_rec);
    put_text(&mut d[190..318], "", joliet); // volume set
    put_text(&mut d[318..446], "", joliet); // publisher
    put_text(&mut d[446..574], "", joliet); // data preparer
    put_text(&mut d[574..702], APPLICATION_ID, joliet);
    put_text(&mut d[702..739], "", joliet); // copyright file
    put_text(&mut d[739..776], "", joliet); // abstract file
    put_text(&mut d[776..813], "", joliet); // bibliographic file
    for (off, date) in [
        (813, VD_DATE),
        (830, VD_DATE),
        (847, VD_DATE_UNSET),
        (864, VD_DATE_UNSET),
    ] {
        d[off..off + 16].copy_from_slice(date);
        d[off + 16] = 0;
    }
    d[881] = 1; // file structure version
    d
}

/// Size in bytes of the image [`write_image`] produces for files with these names and sizes.
pub(crate) fn image_size(names: &[&str], sizes: &[usize]) -> usize {
    let entries = make_entries(names, sizes);
    let (layout, _) = plan(&entries);
    layout.total as usize * SECTOR
}

fn make_entries<'a>(names: &[&'a str], sizes: &[usize]) -> Vec<Entry<'a>> {
    let mut taken: Vec<Vec<u8>> = Vec::new();
    let mut entries = Vec::new();
    for (name, &len) in names.iter().zip(sizes) {
        let iso_name = iso_level1_name(name, &taken);
        taken.push(iso_name.clone());
        entries.push(Entry {
            iso_name,
            joliet_name: ucs2be(name),
            rr_name: name,
            len,
            location: 0,
        });
    }
    entries
}

/// Computes the layout and assigns file locations.
fn plan(entries: &[Entry<'_>]) -> (Layout, Vec<u32>) {
    let mut l = Layout {
        root: FIRST_DIR_SECTOR,
        root_len: 0,
        ce: 0,
        joliet_root: 0,
        joliet_len: 0,
        total: 0,
    };
    // Record lengths do not depend on locations: size the directories with zeros first.
    l.root_len = primary_dir(entries, &l, 0).len() as u32;
    l.joliet_len = joliet_dir(entries, &l).len() as u32;
    l.ce = l.root + (l.root_len / SECTOR as u32);
    l.joliet_root = l.ce + 1;
    let mut next = l.joliet_root + l.joliet_len / SECTOR as u32;
    let mut locations = Vec::new();
    for e in entries {
        locations.push(next);
        next += sectors_for(e.len.max(1)) as u32;
    }
    l.total = next;
    (l, locations)
}

/// Writes the image. `names` are the Rock Ridge / Joliet names (short, ASCII, no `/`);
/// the caller checks sizes fit in 32 bits.
pub(crate) fn write_image(label: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let sizes: Vec<usize> = files.iter().map(|(_, d)| d.len()).collect();
    let mut entries = make_entries(&names, &sizes);
    let (layout, locations) = plan(&entries);
    for (e, loc) in entries.iter_mut().zip(locations) {
        e.location = loc;
    }
    let er = er_entry();
    let mut img = vec![0u8; layout.total as usize * SECTOR];
    let at = |sector: u32| sector as usize * SECTOR;
    img[at(16)..at(17)].copy_from_slice(&volume_descriptor(false, label, &layout, 19, 20));
    img[at(17)..at(18)].copy_from_slice(&volume_descriptor(true, label, &layout, 21, 22));
    img[at(18)] = 255;
    img[at(18) + 1..at(18) + 6].copy_from_slice(b"CD001");
    img[at(18) + 6] = 1;
    img[at(19)..at(19) + 10].copy_from_slice(&path_table(layout.root, false));
    img[at(20)..at(20) + 10].copy_from_slice(&path_table(layout.root, true));
    img[at(21)..at(21) + 10].copy_from_slice(&path_table(layout.joliet_root, false));
    img[at(22)..at(22) + 10].copy_from_slice(&path_table(layout.joliet_root, true));
    let primary = primary_dir(&entries, &layout, er.len() as u32);
    img[at(layout.root)..at(layout.root) + primary.len()].copy_from_slice(&primary);
    img[at(layout.ce)..at(layout.ce) + er.len()].copy_from_slice(&er);
    let joliet = joliet_dir(&entries, &layout);
    img[at(layout.joliet_root)..at(layout.joliet_root) + joliet.len()].copy_from_slice(&joliet);
    for (e, (_, data)) in entries.iter().zip(files) {
        let start = at(e.location);
        img[start..start + data.len()].copy_from_slice(data);
    }
    img
}

// ---------------------------------------------------------------------------------------
// Reader

fn malformed(msg: impl Into<String>) -> Error {
    Error::Malformed(msg.into())
}

fn read_u32_le(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

struct RootRef {
    location: u32,
    size: u32,
}

fn root_of(descriptor: &[u8]) -> Option<RootRef> {
    let rec = descriptor.get(156..190)?;
    Some(RootRef {
        location: read_u32_le(rec, 2)?,
        size: read_u32_le(rec, 10)?,
    })
}

/// A directory record's parsed fields.
struct Record<'a> {
    location: u32,
    size: u32,
    flags: u8,
    ident: &'a [u8],
    system_use: &'a [u8],
}

fn parse_record(r: &[u8]) -> Option<Record<'_>> {
    let name_len = usize::from(*r.get(32)?);
    let ident = r.get(33..33 + name_len)?;
    let su_start = 33 + name_len + usize::from(name_len.is_multiple_of(2));
    Some(Record {
        location: read_u32_le(r, 2)?,
        size: read_u32_le(r, 10)?,
        flags: *r.get(25)?,
        ident,
        system_use: r.get(su_start.min(r.len())..).unwrap_or(&[]),
    })
}

/// Iterates the records of a directory extent (bounded by the extent).
fn records(dir: &[u8]) -> Result<Vec<Record<'_>>, Error> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < dir.len() {
        let len = usize::from(dir[pos]);
        if len == 0 {
            // Rest of this sector is padding.
            pos = (pos / SECTOR + 1) * SECTOR;
            continue;
        }
        let rec = dir
            .get(pos..pos + len)
            .filter(|_| len >= 34)
            .ok_or_else(|| malformed("directory record out of bounds"))?;
        out.push(parse_record(rec).ok_or_else(|| malformed("short directory record"))?);
        pos += len;
    }
    Ok(out)
}

/// Rock Ridge `NM` name from a system use area (entries inside the record only).
fn rr_name(system_use: &[u8], skip: usize) -> Option<String> {
    let mut su = system_use.get(skip..)?;
    let mut name = Vec::new();
    let mut found = false;
    while su.len() >= 4 {
        let len = usize::from(su[2]);
        if len < 4 || len > su.len() {
            break;
        }
        if &su[0..2] == b"NM" && len >= 5 {
            found = true;
            name.extend_from_slice(&su[5..len]);
            if su[4] & 0x01 == 0 {
                break;
            }
        }
        if &su[0..2] == b"ST" {
            break;
        }
        su = &su[len..];
    }
    found.then(|| String::from_utf8_lossy(&name).into_owned())
}

fn strip_version(name: &str) -> &str {
    let base = name.split_once(';').map(|(b, _)| b).unwrap_or(name);
    base.strip_suffix('.').unwrap_or(base)
}

/// Reads the root directory's regular files: name -> content.
///
/// Names come from the Joliet tree when there is one, else from Rock Ridge `NM` entries,
/// else from the plain ISO9660 names (version suffix removed). Subdirectories are ignored.
pub(crate) fn read_root_files(img: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let sector = |n: usize| img.get(n * SECTOR..(n + 1) * SECTOR);
    let pvd = sector(16).ok_or_else(|| Error::NotIso9660("image shorter than 34 KiB".into()))?;
    if pvd.get(1..6) != Some(b"CD001".as_slice()) || pvd[0] != 1 {
        return Err(Error::NotIso9660(
            "no primary volume descriptor at sector 16".into(),
        ));
    }
    let mut joliet = None;
    for n in 17..(17 + 64) {
        let Some(d) = sector(n) else { break };
        if d.get(1..6) != Some(b"CD001".as_slice()) || d[0] == 255 {
            break;
        }
        if d[0] == 2 && d[88..90] == *b"%/" && matches!(d[90], b'@' | b'C' | b'E') {
            joliet = Some(d);
            break;
        }
    }
    let (root, is_joliet) = match joliet.and_then(root_of) {
        Some(r) => (r, true),
        None => (
            root_of(pvd).ok_or_else(|| malformed("no root directory record"))?,
            false,
        ),
    };
    let start = (root.location as usize)
        .checked_mul(SECTOR)
        .ok_or_else(|| malformed("root directory location overflows"))?;
    let dir = start
        .checked_add(root.size as usize)
        .and_then(|end| img.get(start..end))
        .ok_or_else(|| malformed("root directory extends past the end of the image"))?;
    let recs = records(dir)?;
    // Rock Ridge: SP in the first entry of the root's "." record; honour its LEN_SKP.
    let susp_skip = recs.first().and_then(|dot| {
        let su = dot.system_use;
        (su.len() >= 7 && su[0..2] == *b"SP" && su[4] == 0xBE && su[5] == 0xEF)
            .then(|| usize::from(su[6]))
    });
    let mut files = BTreeMap::new();
    for r in &recs {
        if r.ident == [0] || r.ident == [1] || r.flags & 0x02 != 0 {
            continue;
        }
        if r.flags & 0x80 != 0 {
            return Err(malformed("multi-extent files are not supported"));
        }
        let name = if is_joliet {
            let units: Vec<u16> = r
                .ident
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            strip_version(&String::from_utf16_lossy(&units)).to_owned()
        } else {
            match susp_skip.and_then(|skip| rr_name(r.system_use, skip)) {
                Some(n) => n,
                None => strip_version(&String::from_utf8_lossy(r.ident)).to_owned(),
            }
        };
        let begin = (r.location as usize)
            .checked_mul(SECTOR)
            .ok_or_else(|| malformed("file location overflows"))?;
        let content = begin
            .checked_add(r.size as usize)
            .and_then(|end| img.get(begin..end))
            .ok_or_else(|| malformed(format!("file {name:?} extends past the end of the image")))?;
        files.insert(name, content.to_vec());
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level1_names() {
        let mut taken = Vec::new();
        for (name, want) in [
            ("meta-data", "META_DAT.;1"),
            ("user-data", "USER_DAT.;1"),
            ("vendor-data", "VENDOR_D.;1"),
            ("network-config", "NETWORK_.;1"),
            ("network-configuration", "NETWOR~1.;1"),
        ] {
            let n = iso_level1_name(name, &taken);
            assert_eq!(String::from_utf8_lossy(&n), want);
            taken.push(n);
        }
    }

    #[test]
    fn er_fits_one_byte_length() {
        assert_eq!(er_entry().len(), 237);
        assert_eq!(er_entry()[2], 237);
    }

    #[test]
    fn records_fit_and_are_even() {
        let r = dir_record(1, 2, false, b"USER_DAT.;1", &susp_nm("user-data"));
        assert_eq!(r.len() % 2, 0);
        assert_eq!(usize::from(r[0]), r.len());
    }

    #[test]
    fn image_size_matches_written_image() {
        for sizes in [vec![0, 0], vec![1, 2048, 2049], vec![5000, 0, 17, 4096]] {
            let names: Vec<String> = (0..sizes.len()).map(|i| format!("file-{i}")).collect();
            let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let data: Vec<Vec<u8>> = sizes.iter().map(|&s| vec![7u8; s]).collect();
            let files: Vec<(&str, &[u8])> = name_refs
                .iter()
                .zip(&data)
                .map(|(n, d)| (*n, d.as_slice()))
                .collect();
            let img = write_image("cidata", &files);
            assert_eq!(img.len(), image_size(&name_refs, &sizes));
            let back = read_root_files(&img).unwrap();
            for (n, d) in name_refs.iter().zip(&data) {
                assert_eq!(back.get(*n), Some(d));
            }
        }
    }
}
