//! A minimal PNG encoder for the image grids: 8-bit RGBA, one IDAT chunk.
//!
//! Image grids were once one SVG rectangle per run of equal pixels, which
//! made a page of filters and reconstructions about 600 KB. A raster is what
//! a picture of pixels is, and the scikit-learn gallery embeds them the same
//! way. The tiles are drawn at display size (each data pixel a block of
//! `scale × scale`), so no viewer has to honour `image-rendering` to keep
//! pixels sharp. Rows repeated from the one above use PNG's Up filter and
//! the rest the Sub filter, so the repetition compresses to almost nothing.
//!
//! The format (signature, IHDR, IDAT, IEND; CRC-32 over type and data;
//! zlib-wrapped deflate) is ISO/IEC 15948. Tests decode what this writes
//! with an independent inflater and check every pixel.

use crate::error::{Error, Result};
use base64::Engine;
use flate2::Compression;
use flate2::write::ZlibEncoder;
use std::io::Write;

/// An RGBA image being filled in, row-major, starting fully transparent.
#[derive(Debug, Clone)]
pub struct Raster {
    width: usize,
    height: usize,
    pixels: Vec<[u8; 4]>,
}

/// PNG filter types used (ISO/IEC 15948, 9.2).
const FILTER_SUB: u8 = 1;
const FILTER_UP: u8 = 2;

impl Raster {
    /// A transparent `width × height` image.
    ///
    /// # Errors
    /// [`Error::InvalidData`] for a zero side or a side PNG cannot store.
    pub fn new(width: usize, height: usize) -> Result<Self> {
        if width == 0 || height == 0 || u32::try_from(width.max(height)).is_err() {
            return Err(Error::InvalidData(format!(
                "raster image of {width}x{height} pixels cannot be written as PNG"
            )));
        }
        Ok(Raster {
            width,
            height,
            pixels: vec![[0; 4]; width * height],
        })
    }

    /// Fills the block of `size` pixels whose top-left corner is `at`
    /// (x, y), clipped to the image.
    pub fn fill(&mut self, at: (usize, usize), size: (usize, usize), rgb: [u8; 3]) {
        let rgba = [rgb[0], rgb[1], rgb[2], 255];
        for y in at.1..(at.1 + size.1).min(self.height) {
            let row = y * self.width;
            for x in at.0..(at.0 + size.0).min(self.width) {
                self.pixels[row + x] = rgba;
            }
        }
    }

    /// The pixel at (x, y).
    #[cfg(test)]
    fn pixel(&self, x: usize, y: usize) -> [u8; 4] {
        self.pixels[y * self.width + x]
    }

    /// (width, height) in pixels.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// The PNG file's bytes.
    ///
    /// # Errors
    /// [`Error::Render`] if compression fails (it writes to memory, so only
    /// on allocation failure).
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let stride = self.width * 4;
        let bytes: Vec<u8> = self.pixels.iter().flatten().copied().collect();
        let mut filtered = Vec::with_capacity((stride + 1) * self.height);
        for y in 0..self.height {
            let line = &bytes[y * stride..(y + 1) * stride];
            if y > 0 && line == &bytes[(y - 1) * stride..y * stride] {
                filtered.push(FILTER_UP);
                filtered.extend(std::iter::repeat_n(0, stride));
            } else {
                filtered.push(FILTER_SUB);
                filtered.extend(
                    (0..stride).map(|i| line[i].wrapping_sub(if i >= 4 { line[i - 4] } else { 0 })),
                );
            }
        }
        let fail = |e: std::io::Error| Error::Render(format!("PNG compression failed: {e}"));
        let mut z = ZlibEncoder::new(Vec::new(), Compression::best());
        z.write_all(&filtered).map_err(fail)?;
        let idat = z.finish().map_err(fail)?;

        let mut ihdr = Vec::with_capacity(13);
        ihdr.extend((self.width as u32).to_be_bytes());
        ihdr.extend((self.height as u32).to_be_bytes());
        // Bit depth 8, colour type 6 (RGBA), deflate, adaptive filters, no
        // interlace.
        ihdr.extend([8, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut png, b"IHDR", &ihdr);
        chunk(&mut png, b"IDAT", &idat);
        chunk(&mut png, b"IEND", &[]);
        Ok(png)
    }

    /// The image as a `data:image/png;base64,…` URI, for `<image href>`.
    ///
    /// # Errors
    /// As [`Raster::to_png`].
    pub fn data_uri(&self) -> Result<String> {
        Ok(format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(self.to_png()?)
        ))
    }
}

/// Appends one chunk: length, type, data, CRC-32 of type and data.
fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend((data.len() as u32).to_be_bytes());
    png.extend(kind);
    png.extend(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    png.extend(crc.finalize().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::ZlibDecoder;
    use std::io::Read;

    /// Decodes what `to_png` writes (its two filters only) with flate2's
    /// inflater, checking signature, chunk CRCs and header on the way.
    fn decode(png: &[u8]) -> (usize, usize, Vec<[u8; 4]>) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let mut at = 8;
        let (mut w, mut h, mut idat) = (0, 0, Vec::new());
        loop {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let kind = &png[at + 4..at + 8];
            let data = &png[at + 8..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(kind);
            hasher.update(data);
            assert_eq!(hasher.finalize(), crc, "chunk CRC");
            match kind {
                b"IHDR" => {
                    w = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                    h = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                    assert_eq!(&data[8..], &[8, 6, 0, 0, 0]);
                }
                b"IDAT" => idat.extend_from_slice(data),
                b"IEND" => break,
                other => panic!("unexpected chunk {other:?}"),
            }
            at += 12 + len;
        }
        let mut raw = Vec::new();
        ZlibDecoder::new(&idat[..]).read_to_end(&mut raw).unwrap();
        let stride = w * 4;
        assert_eq!(raw.len(), h * (stride + 1));
        let mut out: Vec<u8> = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            let line = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
            for i in 0..stride {
                let left = if i >= 4 { out[y * stride + i - 4] } else { 0 };
                let up = if y > 0 { out[(y - 1) * stride + i] } else { 0 };
                let v = match line[0] {
                    0 => line[1 + i],
                    1 => line[1 + i].wrapping_add(left),
                    2 => line[1 + i].wrapping_add(up),
                    f => panic!("filter {f}"),
                };
                out.push(v);
            }
        }
        let pixels = out.chunks(4).map(|c| [c[0], c[1], c[2], c[3]]).collect();
        (w, h, pixels)
    }

    #[test]
    fn written_pixels_decode_unchanged() {
        let mut r = Raster::new(7, 5).unwrap();
        r.fill((1, 0), (3, 2), [200, 10, 30]);
        r.fill((5, 3), (9, 9), [1, 2, 3]); // clipped at the edges
        r.fill((0, 4), (1, 1), [255, 255, 255]);
        let (w, h, pixels) = decode(&r.to_png().unwrap());
        assert_eq!((w, h), (7, 5));
        for y in 0..5 {
            for x in 0..7 {
                assert_eq!(pixels[y * 7 + x], r.pixel(x, y), "pixel ({x}, {y})");
            }
        }
        assert_eq!(r.pixel(2, 1), [200, 10, 30, 255]);
        assert_eq!(r.pixel(6, 4), [1, 2, 3, 255]);
        assert_eq!(r.pixel(0, 0), [0, 0, 0, 0]);
    }

    #[test]
    fn data_uri_is_base64_png() {
        let r = Raster::new(1, 1).unwrap();
        let uri = r.data_uri().unwrap();
        let b64 = uri.strip_prefix("data:image/png;base64,").unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(png, r.to_png().unwrap());
    }

    #[test]
    fn empty_or_huge_rasters_are_refused() {
        assert!(Raster::new(0, 3).is_err());
        assert!(Raster::new(3, 0).is_err());
        assert!(Raster::new(1 << 33, 1).is_err());
    }
}
