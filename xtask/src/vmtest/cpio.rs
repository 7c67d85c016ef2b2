//! A newc ("070701") cpio archive, the initramfs format the kernel unpacks: small enough to
//! write here rather than depend on the cpio tool.

use std::io::Write;

pub enum Entry {
    Dir,
    File { mode: u32, data: Vec<u8> },
}

#[derive(Default)]
pub struct Archive {
    out: Vec<u8>,
    ino: u32,
}

impl Archive {
    pub fn add(&mut self, path: &str, entry: Entry) {
        let (mode, data) = match entry {
            Entry::Dir => (0o040755, Vec::new()),
            Entry::File { mode, data } => (0o100000 | mode, data),
        };
        self.header(path, mode, data.len());
        self.out.extend_from_slice(&data);
        self.pad();
    }

    fn header(&mut self, path: &str, mode: u32, size: usize) {
        self.ino += 1;
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            size as u32,
            0,
            0,
            0,
            0,
            path.len() as u32 + 1,
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            write!(self.out, "{f:08x}").unwrap();
        }
        self.out.extend_from_slice(path.as_bytes());
        self.out.push(0);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.header("TRAILER!!!", 0, 0);
        self.out
    }
}
