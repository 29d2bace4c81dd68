//! Reader and writer for NumPy `.npy` files (format versions 1–3), enough for feature
//! matrices: little-endian `f4`/`f8`/`f2` in, `f4` out, C order.
use std::path::{Path, PathBuf};

/// A dense array read from a `.npy` file, converted to `f32`, in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a .npy file ({reason})")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: unsupported dtype {dtype:?} (expected little-endian float: <f4, <f8 or <f2)")]
    Dtype { path: PathBuf, dtype: String },
    #[error("{path}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray")]
    FortranOrder { path: PathBuf },
    #[error("{path}: header says shape {shape:?} ({expected} values) but the file holds {actual}")]
    Truncated { path: PathBuf, shape: Vec<usize>, expected: usize, actual: usize },
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Encodes a C-ordered `f32` array as `.npy` (version 1.0) bytes.
pub fn encode_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "shape does not match data length");
    let shape_txt = match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // Total of magic(6) + version(2) + len(2) + header + '\n' must be a multiple of 64.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes a C-ordered `f32` array atomically.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
    crate::io::atomic::write_atomic(path, &encode_f32(shape, data))
        .map_err(|source| NpyError::Io { path: path.to_owned(), source })
}

/// Reads a `.npy` file of little-endian floats into `f32`.
pub fn read_f32(path: &Path) -> Result<NpyArray, NpyError> {
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io { path: path.to_owned(), source })?;
    decode_f32(&bytes).map_err(|e| e.with_path(path))
}

/// Decodes `.npy` bytes; errors carry an empty path until [`NpyError::with_path`].
pub fn decode_f32(bytes: &[u8]) -> Result<NpyArray, NpyError> {
    let fmt = |reason: &str| NpyError::Format { path: PathBuf::new(), reason: reason.to_owned() };
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(fmt("missing \\x93NUMPY magic"));
    }
    let (hlen, hstart) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(fmt(&format!("unknown format version {v}"))),
    };
    let header = bytes.get(hstart..hstart + hlen).ok_or_else(|| fmt("header runs past end of file"))?;
    let header = std::str::from_utf8(header).map_err(|_| fmt("header is not text"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| fmt("header has no 'descr'"))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"').to_owned();
    let fortran = dict_value(header, "fortran_order").ok_or_else(|| fmt("header has no 'fortran_order'"))?;
    if fortran.starts_with("True") {
        return Err(NpyError::FortranOrder { path: PathBuf::new() });
    }
    let shape = parse_shape(header).ok_or_else(|| fmt("header has no valid 'shape'"))?;
    let (size, conv): (usize, fn(&[u8]) -> f32) = match descr.as_str() {
        "<f4" | "=f4" => (4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "<f8" | "=f8" => (8, |b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32),
        "<f2" | "=f2" => (2, |b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))),
        _ => return Err(NpyError::Dtype { path: PathBuf::new(), dtype: descr }),
    };
    let expected: usize = shape.iter().product();
    let body = &bytes[hstart + hlen..];
    if body.len() < expected * size {
        return Err(NpyError::Truncated { path: PathBuf::new(), shape, expected, actual: body.len() / size });
    }
    let data = body[..expected * size].chunks_exact(size).map(conv).collect();
    Ok(NpyArray { shape, data })
}

impl NpyError {
    /// Attaches the file name to an error produced while decoding bytes.
    pub fn with_path(self, p: &Path) -> Self {
        let path = p.to_owned();
        match self {
            NpyError::Io { source, .. } => NpyError::Io { path, source },
            NpyError::Format { reason, .. } => NpyError::Format { path, reason },
            NpyError::Dtype { dtype, .. } => NpyError::Dtype { path, dtype },
            NpyError::FortranOrder { .. } => NpyError::FortranOrder { path },
            NpyError::Truncated { shape, expected, actual, .. } => {
                NpyError::Truncated { path, shape, expected, actual }
            }
        }
    }
}

fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let i = header.find(&format!("'{key}'")).or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = &header[i + key.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find(',').unwrap_or(rest.len()) };
    Some(rest[..end].trim())
}

fn parse_shape(header: &str) -> Option<Vec<usize>> {
    let v = dict_value(header, "shape")?;
    let inner = v.strip_prefix('(')?.strip_suffix(')')?;
    inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.trim_end_matches('L').parse().ok()).collect()
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise.
            let mut e = 113u32;
            let mut f = f;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_2d_and_1d() {
        for shape in [vec![3usize, 5], vec![7], vec![2, 3, 4], vec![0, 4]] {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
            let bytes = encode_f32(&shape, &data);
            assert_eq!((bytes.len() - data.len() * 4) % 64, 0, "header aligned to 64");
            let arr = decode_f32(&bytes).unwrap();
            assert_eq!(arr.shape, shape);
            assert_eq!(arr.data, data);
        }
    }

    #[test]
    fn reads_f8_and_f2_written_by_numpy_style_headers() {
        let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(&1.5f64.to_le_bytes());
        b.extend_from_slice(&(-2.0f64).to_le_bytes());
        assert_eq!(decode_f32(&b).unwrap().data, vec![1.5, -2.0]);
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
    }

    #[test]
    fn rejects_garbage_truncation_and_fortran() {
        assert!(matches!(decode_f32(b"hello world, not numpy"), Err(NpyError::Format { .. })));
        let mut b = encode_f32(&[4, 4], &[0.0; 16]);
        b.truncate(b.len() - 8);
        assert!(matches!(decode_f32(&b), Err(NpyError::Truncated { expected: 16, actual: 14, .. })));
        let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }";
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(&0f32.to_le_bytes());
        assert!(matches!(decode_f32(&b), Err(NpyError::FortranOrder { .. })));
        let header = "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }";
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(&(header.len() as u16).to_le_bytes());
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(&0i64.to_le_bytes());
        let err = decode_f32(&b).unwrap_err().with_path(Path::new("x.npy"));
        assert!(err.to_string().starts_with("x.npy: unsupported dtype"), "{err}");
    }
}
