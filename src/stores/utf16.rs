//! UTF-16 text (with a byte-order mark): YAML allows it and go-yaml, hence sops, reads it. sepal
//! reads such a file as UTF-8 and writes its output back in the file's own encoding.

/// How a file's text is encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TextEncoding {
    #[default]
    Utf8,
    Utf16Le,
    Utf16Be,
}

/// UTF-16 text that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Utf16Error {
    #[error("the UTF-16 text has an odd number of bytes")]
    OddLength,
    #[error("invalid UTF-16 (an unpaired surrogate) at byte {at}")]
    UnpairedSurrogate { at: usize },
}

/// The UTF-8 text of a UTF-16 file with a byte-order mark (the mark kept, as U+FEFF), or `None`
/// when `src` does not start with one. Unpaired surrogates and an odd length are errors.
pub fn decode(src: &[u8]) -> Option<Result<(Vec<u8>, TextEncoding), Utf16Error>> {
    let enc = match src {
        [0xFF, 0xFE, ..] => TextEncoding::Utf16Le,
        [0xFE, 0xFF, ..] => TextEncoding::Utf16Be,
        _ => return None,
    };
    if !src.len().is_multiple_of(2) {
        return Some(Err(Utf16Error::OddLength));
    }
    let units = src.chunks_exact(2).map(|c| match enc {
        TextEncoding::Utf16Be => u16::from_be_bytes([c[0], c[1]]),
        _ => u16::from_le_bytes([c[0], c[1]]),
    });
    let mut out = String::with_capacity(src.len());
    for (i, c) in char::decode_utf16(units).enumerate() {
        match c {
            Ok(c) => out.push(c),
            Err(_) => return Some(Err(Utf16Error::UnpairedSurrogate { at: i * 2 })),
        }
    }
    Some(Ok((out.into_bytes(), enc)))
}

/// `utf8` written in `enc` (a leading U+FEFF becomes the byte-order mark).
pub fn encode(utf8: Vec<u8>, enc: TextEncoding) -> Result<Vec<u8>, super::StoreError> {
    let be = match enc {
        TextEncoding::Utf8 => return Ok(utf8),
        TextEncoding::Utf16Be => true,
        TextEncoding::Utf16Le => false,
    };
    let text = String::from_utf8(utf8).map_err(|_| {
        super::StoreError::new("the output is not text, so it cannot be written as UTF-16")
    })?;
    let mut out = Vec::with_capacity(text.len() * 2);
    for u in text.encode_utf16() {
        out.extend_from_slice(&if be { u.to_be_bytes() } else { u.to_le_bytes() });
    }
    zeroize::Zeroize::zeroize(&mut text.into_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_both_byte_orders() {
        for enc in [TextEncoding::Utf16Le, TextEncoding::Utf16Be] {
            let text = "\u{feff}a: héllo 💚\n";
            let bytes = encode(text.as_bytes().to_vec(), enc).unwrap();
            assert_eq!(bytes.len() % 2, 0);
            let (back, got) = decode(&bytes).unwrap().unwrap();
            assert_eq!(got, enc);
            assert_eq!(back, text.as_bytes());
        }
        assert!(decode(b"a: b\n").is_none());
        assert!(decode(&[0xFF, 0xFE, 0x00, 0xD8]).unwrap().is_err());
    }
}
