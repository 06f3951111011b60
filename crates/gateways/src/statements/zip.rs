//! The part of the zip format (PKWARE APPNOTE) statement archives use: stored or DEFLATE entries, no
//! encryption, no zip64. Reading goes through the central directory and checks each entry's CRC-32 and size;
//! names are UTF-8 when the entry says so (flag bit 11), otherwise GBK, as Alipay's Chinese file names are.

use std::io::{Read as _, Write as _};

use super::{bad, decode_text};
use crate::error::Result;

/// Largest archive member read (statements of one day are far smaller).
const MAX_ENTRY: usize = 64 * 1024 * 1024;
const MAX_ENTRIES: usize = 256;

/// One file of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    pub name: String,
    pub data: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| bad("zip: truncated"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| bad("zip: truncated"))
}

/// Every file in a zip archive.
pub fn read(archive: &[u8]) -> Result<Vec<ZipEntry>> {
    // The end-of-central-directory record: the last `PK\5\6` within the trailing 64 KiB comment window.
    let min = archive.len().saturating_sub(22 + 65_535);
    let eocd = (min..archive.len().saturating_sub(21))
        .rev()
        .find(|&i| archive[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(|| bad("zip: no end of central directory"))?;
    let count = usize::from(u16_at(archive, eocd + 10)?);
    if count > MAX_ENTRIES {
        return Err(bad("zip: too many entries"));
    }
    let mut at = u32_at(archive, eocd + 16)? as usize;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        if u32_at(archive, at)? != 0x0201_4b50 {
            return Err(bad("zip: bad central directory entry"));
        }
        let flags = u16_at(archive, at + 8)?;
        let method = u16_at(archive, at + 10)?;
        let crc = u32_at(archive, at + 16)?;
        let compressed = u32_at(archive, at + 20)? as usize;
        let size = u32_at(archive, at + 24)? as usize;
        let name_len = usize::from(u16_at(archive, at + 28)?);
        let extra_len = usize::from(u16_at(archive, at + 30)?);
        let comment_len = usize::from(u16_at(archive, at + 32)?);
        let local = u32_at(archive, at + 42)? as usize;
        let raw_name = archive
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| bad("zip: truncated"))?;
        let name = if flags & 0x0800 != 0 {
            String::from_utf8(raw_name.to_vec()).map_err(|_| bad("zip: name is not UTF-8"))?
        } else {
            decode_text(raw_name)?
        };
        at += 46 + name_len + extra_len + comment_len;
        if flags & 0x0001 != 0 {
            return Err(bad("zip: encrypted entries are not supported"));
        }
        if size > MAX_ENTRY {
            return Err(bad("zip: entry too large"));
        }
        if u32_at(archive, local)? != 0x0403_4b50 {
            return Err(bad("zip: bad local header"));
        }
        let start = local
            + 30
            + usize::from(u16_at(archive, local + 26)?)
            + usize::from(u16_at(archive, local + 28)?);
        let body = archive
            .get(start..start + compressed)
            .ok_or_else(|| bad("zip: truncated entry"))?;
        let data = match method {
            0 => body.to_vec(),
            8 => {
                let mut data = Vec::with_capacity(size);
                flate2::read::DeflateDecoder::new(body)
                    .take(MAX_ENTRY as u64 + 1)
                    .read_to_end(&mut data)
                    .map_err(|_| bad("zip: corrupt DEFLATE data"))?;
                data
            }
            m => return Err(bad(format!("zip: compression method {m} is not supported"))),
        };
        let mut c = flate2::Crc::new();
        c.update(&data);
        if data.len() != size || c.sum() != crc {
            return Err(bad("zip: size or CRC-32 mismatch"));
        }
        out.push(ZipEntry { name, data });
    }
    Ok(out)
}

/// A zip archive of `files` (DEFLATE, UTF-8 names unless `gbk_names`, as Alipay's archives have), for sandboxes.
pub fn write(files: &[ZipEntry], gbk_names: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for f in files {
        let name = if gbk_names {
            super::encode_gbk(&f.name)
        } else {
            f.name.as_bytes().to_vec()
        };
        let flags: u16 = if gbk_names { 0 } else { 0x0800 };
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        // Writing to a Vec cannot fail.
        let _ = enc.write_all(&f.data);
        let body = enc.finish().unwrap_or_default();
        let mut crc = flate2::Crc::new();
        crc.update(&f.data);
        let offset = out.len() as u32;
        // Fixed DOS time: 2000-01-01 00:00 (statements carry their own dates).
        let (time, date): (u16, u16) = (0, (20 << 9) | (1 << 5) | 1);
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes());
            v.extend_from_slice(&flags.to_le_bytes());
            v.extend_from_slice(&8u16.to_le_bytes());
            v.extend_from_slice(&time.to_le_bytes());
            v.extend_from_slice(&date.to_le_bytes());
            v.extend_from_slice(&crc.sum().to_le_bytes());
            v.extend_from_slice(&(body.len() as u32).to_le_bytes());
            v.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(b"PK\x03\x04");
        common(&mut out);
        out.extend_from_slice(&name);
        out.extend_from_slice(&body);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&20u16.to_le_bytes());
        common(&mut central);
        // Comment length, disk number, internal attributes.
        central.extend_from_slice(&[0; 6]);
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(&name);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let files = vec![
            ZipEntry {
                name: "2088_20261126_业务明细.csv".into(),
                data: "a,b\n".repeat(100).into_bytes(),
            },
            ZipEntry {
                name: "2088_20261126_业务明细(汇总).csv".into(),
                data: b"x".to_vec(),
            },
        ];
        for gbk in [false, true] {
            let z = write(&files, gbk);
            assert_eq!(read(&z).unwrap(), files);
        }
        let mut z = write(&files, false);
        // A flipped byte inside the first entry's compressed data: CRC or DEFLATE error, never wrong data.
        z[60] ^= 0x55;
        assert!(read(&z).is_err());
        let z = write(&files, false);
        assert!(read(&z[..z.len() - 30]).is_err());
        assert!(read(b"not a zip").is_err());
    }

    /// An archive made by Info-ZIP `zip` (the format real providers' files come in) reads the same.
    #[test]
    fn reads_info_zip_output() {
        let z = include_bytes!("../../testdata/statements/info-zip.zip");
        let files = read(z).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].name, "hello.txt");
        assert_eq!(files[0].data, b"hello statement\n".repeat(20));
    }
}
