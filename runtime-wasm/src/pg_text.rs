//! Postgres result columns as text, from the binary form the extended protocol returns. The
//! native server and the Worker both read columns through tokio-postgres and hand the bytes
//! here, so they agree on every value's spelling.
//!
//! Generated SQL casts every output to `text`, so the engine only ever meets text columns; the
//! other common types are spelled as Postgres would, so a hand-written query still works.

/// Type OIDs from `pg_type` (stable across Postgres versions).
mod oid {
    pub const BOOL: u32 = 16;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const UNKNOWN: u32 = 705;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const JSONB: u32 = 3802;
}

/// The text of a column of type `type_oid` (named `type_name`, for extension types whose OID
/// differs between databases) from its binary form.
pub fn decode(type_oid: u32, type_name: &str, raw: &[u8]) -> Result<String, String> {
    let fixed = |n: usize| -> Result<&[u8], String> {
        if raw.len() == n {
            Ok(raw)
        } else {
            Err(format!("a `{type_name}` value of {} bytes (expected {n})", raw.len()))
        }
    };
    let utf8 = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|e| format!("a `{type_name}` value that is not UTF-8: {e}"))
    };
    match type_oid {
        oid::BOOL => Ok(if fixed(1)?[0] != 0 { "t" } else { "f" }.to_string()),
        oid::INT2 => Ok(i16::from_be_bytes(fixed(2)?.try_into().unwrap_or_default()).to_string()),
        oid::INT4 => Ok(i32::from_be_bytes(fixed(4)?.try_into().unwrap_or_default()).to_string()),
        oid::INT8 => Ok(i64::from_be_bytes(fixed(8)?.try_into().unwrap_or_default()).to_string()),
        oid::FLOAT4 => {
            let v = f32::from_be_bytes(fixed(4)?.try_into().unwrap_or_default());
            // Printed as an f32, so `1.1` stays `1.1` rather than its f64 widening.
            Ok(special(f64::from(v)).unwrap_or_else(|| v.to_string()))
        }
        oid::FLOAT8 => {
            let v = f64::from_be_bytes(fixed(8)?.try_into().unwrap_or_default());
            Ok(special(v).unwrap_or_else(|| v.to_string()))
        }
        // Binary jsonb starts with a format version byte (1); json is its text.
        oid::JSONB => match raw.split_first() {
            Some((1, text)) => utf8(text),
            _ => Err("a `jsonb` value in an unknown binary format".to_string()),
        },
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN | oid::JSON => utf8(raw),
        _ if type_name == "citext" => utf8(raw),
        _ => Err(format!("column has type `{type_name}`; exo reads result columns as text (cast it with `::text`)")),
    }
}

/// Postgres's spelling of the special float values. Other values print as Rust prints them:
/// the shortest text that reads back to the same number.
fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".to_string())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_values_as_text() {
        assert_eq!(decode(oid::BOOL, "bool", &[1]).unwrap(), "t");
        assert_eq!(decode(oid::BOOL, "bool", &[0]).unwrap(), "f");
        assert_eq!(decode(oid::INT2, "int2", &(-7i16).to_be_bytes()).unwrap(), "-7");
        assert_eq!(decode(oid::INT4, "int4", &2_000_000_000i32.to_be_bytes()).unwrap(), "2000000000");
        assert_eq!(decode(oid::INT8, "int8", &i64::MIN.to_be_bytes()).unwrap(), "-9223372036854775808");
        assert_eq!(decode(oid::FLOAT4, "float4", &1.1f32.to_be_bytes()).unwrap(), "1.1");
        assert_eq!(decode(oid::FLOAT8, "float8", &0.1f64.to_be_bytes()).unwrap(), "0.1");
        assert_eq!(decode(oid::FLOAT8, "float8", &f64::NEG_INFINITY.to_be_bytes()).unwrap(), "-Infinity");
        assert_eq!(decode(oid::FLOAT8, "float8", &f64::NAN.to_be_bytes()).unwrap(), "NaN");
        assert_eq!(decode(oid::TEXT, "text", "héllo".as_bytes()).unwrap(), "héllo");
        assert_eq!(decode(oid::JSON, "json", br#"{"a": 1}"#).unwrap(), r#"{"a": 1}"#);
        assert_eq!(decode(oid::JSONB, "jsonb", b"\x01{\"a\": 1}").unwrap(), r#"{"a": 1}"#);
        assert_eq!(decode(99_999, "citext", b"Case").unwrap(), "Case");
    }

    #[test]
    fn malformed_and_unknown_values_are_errors() {
        assert!(decode(oid::INT4, "int4", &[0, 1]).unwrap_err().contains("2 bytes (expected 4)"));
        assert!(decode(oid::TEXT, "text", &[0xff, 0xfe]).unwrap_err().contains("not UTF-8"));
        assert!(decode(oid::JSONB, "jsonb", b"\x02{}").is_err());
        assert!(decode(oid::JSONB, "jsonb", b"").is_err());
        let e = decode(1700, "numeric", &[0, 0]).unwrap_err();
        assert!(e.contains("`numeric`") && e.contains("::text"), "{e}");
    }
}
