//! The static-table file format, shared by the built-in asset and `StaticEmbedder::from_file`.
//!
//! One self-describing little-endian file, so a table carries its own vocabulary and model id
//! and cannot be paired with the wrong tokenizer:
//!
//! ```text
//! magic    8 bytes  "MNEMOSTE"
//! version  u32      1
//! rows     u32      number of tokens (= rows)
//! dims     u32
//! dtype    u8       0 = f32, 1 = f16, 2 = int8 with one f32 scale per row
//! pad      3 bytes
//! id_len   u32, then the model id (UTF-8), e.g. "static:minilm-l6-v2-256@1"
//! voc_len  u32, then the vocabulary (UTF-8, tokens joined by '\n'; row i = token i)
//! [int8 only] rows x f32 scales
//! rows x dims values
//! ```
//!
//! int8 rows are kept quantised in memory (value = scale * q) so the built-in table is used
//! straight from the binary's read-only data without a 30 MB f32 copy.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::tokenizer::WordPiece;
use crate::EmbedError;

const MAGIC: &[u8; 8] = b"MNEMOSTE";
const VERSION: u32 = 1;

/// How the rows of a table are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Quantization {
    /// 4 bytes per value, exact.
    F32,
    /// 2 bytes per value (IEEE half); read-only here (the distillation script writes it).
    F16,
    /// 1 byte per value plus one f32 scale per row (symmetric, max-abs / 127).
    I8,
}

impl Quantization {
    fn code(self) -> u8 {
        match self {
            Quantization::F32 => 0,
            Quantization::F16 => 1,
            Quantization::I8 => 2,
        }
    }
}

enum Rows {
    /// `data[offset..]` holds rows x dims signed bytes.
    I8 {
        scales: Vec<f32>,
        data: Cow<'static, [u8]>,
        offset: usize,
    },
    F32(Vec<f32>),
}

/// A parsed table: vocabulary, model id and one vector per token.
pub(crate) struct Table {
    pub(crate) model_id: String,
    pub(crate) dims: usize,
    pub(crate) vocab: WordPiece,
    rows: Rows,
}

impl Table {
    /// Parses a table; `path` only names the source in errors.
    pub(crate) fn parse(bytes: Cow<'static, [u8]>, path: &Path) -> Result<Table, EmbedError> {
        let bad = |reason: String| EmbedError::BadFile {
            path: path.to_path_buf(),
            reason,
        };
        let mut r = Reader {
            bytes: &bytes,
            pos: 0,
            path,
        };
        if r.take(8)? != MAGIC {
            return Err(bad("not a mnemo static table (bad magic)".into()));
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(bad(format!(
                "format version {version}, this mnemo reads {VERSION}"
            )));
        }
        let n = r.u32()? as usize;
        let dims = r.u32()? as usize;
        let dtype = r.take(4)?[0];
        if n == 0 || dims == 0 {
            return Err(bad(format!("empty table ({n} rows x {dims} dims)")));
        }
        let model_id = r.string()?;
        let vocab_text = r.string()?;
        let vocab = WordPiece::new(vocab_text.split('\n'));
        if vocab.len() != n {
            return Err(bad(format!(
                "vocabulary has {} tokens but the table has {n} rows",
                vocab.len()
            )));
        }
        let values = n * dims;
        let rows = match dtype {
            0 => Rows::F32(r.take(values * 4)?.chunks_exact(4).map(f32_le).collect()),
            1 => Rows::F32(
                r.take(values * 2)?
                    .chunks_exact(2)
                    .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
            ),
            2 => {
                let scales = r.take(n * 4)?.chunks_exact(4).map(f32_le).collect();
                let offset = r.pos;
                r.take(values)?;
                Rows::I8 {
                    scales,
                    data: Cow::Borrowed(&[]),
                    offset,
                }
            }
            other => return Err(bad(format!("unknown value type code {other}"))),
        };
        if r.pos != bytes.len() {
            return Err(bad(format!(
                "{} trailing bytes after the table",
                bytes.len() - r.pos
            )));
        }
        let rows = match rows {
            Rows::I8 { scales, offset, .. } => Rows::I8 {
                scales,
                data: bytes,
                offset,
            },
            f32_rows => f32_rows,
        };
        Ok(Table {
            model_id,
            dims,
            vocab,
            rows,
        })
    }

    /// Adds row `id` to `acc` (length `dims`).
    #[inline]
    pub(crate) fn add_row(&self, id: u32, acc: &mut [f32]) {
        let id = id as usize;
        let d = self.dims;
        match &self.rows {
            Rows::I8 {
                scales,
                data,
                offset,
            } => {
                let s = scales[id];
                let start = offset + id * d;
                for (a, q) in acc.iter_mut().zip(&data[start..start + d]) {
                    *a += s * f32::from(*q as i8);
                }
            }
            Rows::F32(v) => {
                for (a, x) in acc.iter_mut().zip(&v[id * d..(id + 1) * d]) {
                    *a += x;
                }
            }
        }
    }
}

/// Serialises a table in the format above (the Rust twin of `scripts/distill_static.py`'s
/// writer; used by tests and by tools that build tables from other sources).
/// `rows` holds `tokens.len() * dims` values, row-major. `F16` is not written here.
pub fn encode_table(
    model_id: &str,
    tokens: &[&str],
    dims: usize,
    rows: &[f32],
    quantization: Quantization,
) -> Result<Vec<u8>, EmbedError> {
    if dims == 0 || rows.len() != tokens.len() * dims {
        return Err(EmbedError::DimensionMismatch {
            context: "encode_table rows".into(),
            expected: tokens.len() * dims,
            got: rows.len(),
        });
    }
    if tokens.iter().any(|t| t.contains('\n')) {
        return Err(EmbedError::Config("a token contains a newline".into()));
    }
    let mut out = Vec::with_capacity(64 + rows.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(tokens.len() as u32).to_le_bytes());
    out.extend_from_slice(&(dims as u32).to_le_bytes());
    out.extend_from_slice(&[quantization.code(), 0, 0, 0]);
    for s in [model_id.to_string(), tokens.join("\n")] {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    match quantization {
        Quantization::F32 => rows
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        Quantization::I8 => {
            let quantized: Vec<(f32, Vec<i8>)> = rows.chunks_exact(dims).map(quantize_i8).collect();
            for (scale, _) in &quantized {
                out.extend_from_slice(&scale.to_le_bytes());
            }
            for (_, q) in &quantized {
                out.extend(q.iter().map(|v| *v as u8));
            }
        }
        Quantization::F16 => {
            return Err(EmbedError::Config(
                "writing f16 tables is done by scripts/distill_static.py".into(),
            ))
        }
    }
    Ok(out)
}

/// Symmetric int8 quantisation of one row: `q = round(x / scale)`, `scale = max|x| / 127`.
/// The reconstruction error of each value is at most `scale / 2`.
pub fn quantize_i8(row: &[f32]) -> (f32, Vec<i8>) {
    let max = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    let q = row
        .iter()
        .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
        .collect();
    (scale, q)
}

/// IEEE 754 half -> single precision, including subnormals, infinities and NaN.
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exp = u32::from((bits >> 10) & 0x1f);
    let frac = u32::from(bits & 0x3ff);
    let out = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = frac * 2^-24, exact in f32.
            let v = frac as f32 * f32::from_bits(0x3380_0000); // 2^-24
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000 | (frac << 13),
        _ => sign | ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(out)
}

fn f32_le(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EmbedError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        let Some(end) = end else {
            return Err(EmbedError::BadFile {
                path: PathBuf::from(self.path),
                reason: format!(
                    "truncated: needed {n} bytes at offset {}, file has {}",
                    self.pos,
                    self.bytes.len()
                ),
            });
        };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, EmbedError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<String, EmbedError> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| EmbedError::BadFile {
            path: PathBuf::from(self.path),
            reason: "a string field is not UTF-8".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_decoding_known_values() {
        let cases: &[(u16, f32)] = &[
            (0x0000, 0.0),
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x3800, 0.5),
            (0x7bff, 65504.0),
            (0x0400, 6.103_515_6e-5),  // smallest normal
            (0x0001, 5.960_464_5e-8),  // smallest subnormal
            (0x8001, -5.960_464_5e-8), // negative subnormal
            (0x3555, 0.333_251_95),
        ];
        for &(bits, want) in cases {
            assert_eq!(f16_to_f32(bits), want, "bits {bits:#06x}");
        }
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
    }

    #[test]
    fn i8_round_trip_error_is_within_half_a_step() {
        let row: Vec<f32> = (0..257)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
            .collect();
        let (scale, q) = quantize_i8(&row);
        let max = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!((scale - max / 127.0).abs() < 1e-9);
        for (x, q) in row.iter().zip(&q) {
            let err = (x - scale * f32::from(*q)).abs();
            assert!(err <= scale * 0.5 + 1e-7, "x {x} err {err} scale {scale}");
        }
        // Relative error of the whole row (what cosine sees) stays far below 1 %.
        let err2: f32 = row
            .iter()
            .zip(&q)
            .map(|(x, q)| (x - scale * f32::from(*q)).powi(2))
            .sum();
        let norm2: f32 = row.iter().map(|x| x * x).sum();
        assert!((err2 / norm2).sqrt() < 0.01);
    }

    #[test]
    fn zero_row_quantises_to_zeros() {
        let (scale, q) = quantize_i8(&[0.0; 8]);
        assert_eq!(scale, 1.0);
        assert!(q.iter().all(|v| *v == 0));
    }
}
