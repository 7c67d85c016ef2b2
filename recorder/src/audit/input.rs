//! Opening inputs (files, rotated `.gz`, stdin) and reading them line by line in bounded
//! memory.

use super::AuditError;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// No audit record (about 300 bytes) or journald entry comes near this; a longer line is
/// cut here, so a file without newlines cannot make us grow without bound.
pub const MAX_LINE: usize = 1024 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens `path` (`-` is stdin) and decompresses it when it starts with the gzip magic, so
/// rotated `audit.log.2.gz` and `zcat`-less pipes both work.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>, AuditError> {
    let name = path.display().to_string();
    let reader: Box<dyn Read> = if path == Path::new("-") {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(|source| AuditError::Open {
            path: name.clone(),
            source,
        })?)
    };
    let mut reader = BufReader::with_capacity(256 * 1024, reader);
    let head = reader.fill_buf().map_err(|source| AuditError::Read {
        source_name: name,
        source,
    })?;
    if head.starts_with(&GZIP_MAGIC) {
        let gz = flate2::bufread::MultiGzDecoder::new(reader);
        return Ok(Box::new(BufReader::with_capacity(256 * 1024, gz)));
    }
    Ok(Box::new(reader))
}

/// Reads the next line into `buf` without its `\n` (or `\r\n`), keeping at most
/// [`MAX_LINE`] bytes of it. Returns `None` at the end, else whether the line was cut.
pub(crate) fn next_line<R: BufRead + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
) -> io::Result<Option<bool>> {
    buf.clear();
    let (mut cut, mut any) = (false, false);
    loop {
        let available = match reader.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(any.then_some(cut));
        }
        any = true;
        let newline = memchr::memchr(b'\n', available);
        let chunk = &available[..newline.unwrap_or(available.len())];
        let room = MAX_LINE.saturating_sub(buf.len());
        cut |= chunk.len() > room;
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = newline.map_or(available.len(), |i| i + 1);
        reader.consume(used);
        if newline.is_some() {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(cut));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(String, bool)> {
        let mut reader = BufReader::with_capacity(7, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(cut) = next_line(&mut reader, &mut buf).unwrap() {
            out.push((String::from_utf8(buf.clone()).unwrap(), cut));
        }
        out
    }

    #[test]
    fn splits_across_small_buffers() {
        let got = lines(b"first line\r\n\nthird without newline");
        let want = [
            ("first line", false),
            ("", false),
            ("third without newline", false),
        ];
        assert_eq!(got, want.map(|(s, c)| (s.to_string(), c)));
    }

    #[test]
    fn cuts_overlong_lines_and_resumes_at_the_next() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.extend_from_slice(b"\nnext\n");
        let got = lines(&input);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0.len(), got[0].1), (MAX_LINE, true));
        assert_eq!(got[1], ("next".to_string(), false));
    }
}
