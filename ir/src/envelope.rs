//! The on-disk form of the IR: an envelope (magic, format version, compiler version) and a
//! bincode 2 body. A file from another format or compiler version is a clear error, never a
//! decode panic.

use std::fmt;

use crate::Ir;

/// First bytes of every `index.exo_ir`.
pub const MAGIC: &[u8; 8] = b"EXO-IR\0\x01";
/// Bumped whenever the shape of [`Ir`] changes.
pub const FORMAT_VERSION: u32 = 7;
/// The version of the crates that wrote the file.
pub const COMPILER_VERSION: &str = env!("CARGO_PKG_VERSION");

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    NotAnIrFile,
    FormatVersion { found: u32, expected: u32 },
    CompilerVersion { found: String, expected: String },
    Body(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NotAnIrFile => write!(f, "not an exo IR file (bad magic bytes); run `exo build` to produce target/index.exo_ir"),
            DecodeError::FormatVersion { found, expected } => write!(
                f,
                "the IR file has format version {found}, but this exo reads version {expected}; rebuild it with `exo build`"
            ),
            DecodeError::CompilerVersion { found, expected } => write!(
                f,
                "the IR file was written by exo {found}, but this is exo {expected}; rebuild it with `exo build`"
            ),
            DecodeError::Body(e) => write!(f, "the IR file is corrupt: {e}; rebuild it with `exo build`"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Encodes the IR with its envelope.
pub fn encode(ir: &Ir) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let v = COMPILER_VERSION.as_bytes();
    out.extend_from_slice(&(v.len() as u16).to_le_bytes());
    out.extend_from_slice(v);
    let body = bincode::serde::encode_to_vec(ir, config()).expect("the IR is always encodable");
    out.extend_from_slice(&body);
    out
}

/// Checks the envelope and decodes the body.
pub fn decode(bytes: &[u8]) -> Result<Ir, DecodeError> {
    let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(DecodeError::NotAnIrFile)?;
    if rest.len() < 6 {
        return Err(DecodeError::Body("truncated header".into()));
    }
    let found = u32::from_le_bytes(rest[0..4].try_into().unwrap());
    if found != FORMAT_VERSION {
        return Err(DecodeError::FormatVersion { found, expected: FORMAT_VERSION });
    }
    let vlen = u16::from_le_bytes(rest[4..6].try_into().unwrap()) as usize;
    let rest = &rest[6..];
    if rest.len() < vlen {
        return Err(DecodeError::Body("truncated header".into()));
    }
    let version = String::from_utf8_lossy(&rest[..vlen]).into_owned();
    if version != COMPILER_VERSION {
        return Err(DecodeError::CompilerVersion { found: version, expected: COMPILER_VERSION.into() });
    }
    let (ir, used) = bincode::serde::decode_from_slice::<Ir, _>(&rest[vlen..], config())
        .map_err(|e| DecodeError::Body(e.to_string()))?;
    if used != rest.len() - vlen {
        return Err(DecodeError::Body("trailing bytes after the body".into()));
    }
    Ok(ir)
}
