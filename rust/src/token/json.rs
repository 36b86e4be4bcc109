//! The token wire profile of JSON (`docs/captoken.md` §2): one object whose members are printable-ASCII strings
//! without escape sequences, unsigned integers in shortest decimal form (at most 2⁵³ − 1), or arrays of such
//! strings; whitespace (space, tab, CR, LF) between tokens only. Anything else — escapes, fractions, exponents,
//! signs, leading zeros, `true`/`false`/`null`, nested objects, trailing data — is refused with a message that the
//! pure-Python twin (`capfast/_py/captoken.py`) reproduces byte for byte.

use crate::error::{Error, Result, TokenErrorKind};

/// Largest integer a member may hold (I-JSON, RFC 7493 §2.2).
pub const MAX_UINT: u64 = (1 << 53) - 1;
/// Most strings in one array.
pub const MAX_ARRAY: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Str(&'a str),
    UInt(u64),
    Array(Vec<&'a str>),
}

fn err(msg: String) -> Error {
    Error::token(TokenErrorKind::Format, msg)
}

struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while let Some(&b) = self.s.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&self) -> Result<u8> {
        self.s
            .get(self.pos)
            .copied()
            .ok_or_else(|| err(format!("truncated: unexpected end of input at byte {}", self.pos)))
    }

    fn expect(&mut self, want: u8) -> Result<()> {
        let b = self.peek()?;
        if b != want {
            return Err(err(format!(
                "expected '{}' at byte {}, found {}",
                want as char,
                self.pos,
                describe(b)
            )));
        }
        self.pos += 1;
        Ok(())
    }

    fn string(&mut self) -> Result<&'a str> {
        self.expect(b'"')?;
        let start = self.pos;
        loop {
            let b = self.peek()?;
            match b {
                b'"' => break,
                b'\\' => {
                    return Err(err(format!(
                        "escape sequence at byte {} (not canonical: token strings are printable ASCII without escapes)",
                        self.pos
                    )))
                }
                0x20..=0x7e => self.pos += 1,
                0x00..=0x1f | 0x7f => return Err(err(format!("control character in a string at byte {}", self.pos))),
                _ => return Err(err(format!("non-ASCII byte in a string at byte {}", self.pos))),
            }
        }
        let text = &self.s[start..self.pos];
        self.pos += 1;
        // Only bytes 0x20..=0x7e were accepted, so this is ASCII.
        Ok(std::str::from_utf8(text).unwrap_or_default())
    }

    fn uint(&mut self) -> Result<u64> {
        let start = self.pos;
        while let Some(b) = self.s.get(self.pos) {
            if b.is_ascii_digit() {
                self.pos += 1;
            } else {
                break;
            }
        }
        let digits = &self.s[start..self.pos];
        if let Some(&b) = self.s.get(self.pos) {
            if matches!(b, b'.' | b'e' | b'E') {
                return Err(err(format!(
                    "number at byte {start} has a fraction or exponent (integers only)"
                )));
            }
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(err(format!("number at byte {start} has a leading zero")));
        }
        if digits.len() > 16 {
            return Err(err(format!("number at byte {start} is larger than {MAX_UINT}")));
        }
        let mut v: u64 = 0;
        for d in digits {
            v = v * 10 + u64::from(d - b'0');
        }
        if v > MAX_UINT {
            return Err(err(format!("number at byte {start} is larger than {MAX_UINT}")));
        }
        Ok(v)
    }

    fn array(&mut self) -> Result<Vec<&'a str>> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return Err(err(format!(
                    "array element at byte {} is not a string (found {})",
                    self.pos,
                    describe(self.peek()?)
                )));
            }
            if items.len() == MAX_ARRAY {
                return Err(err(format!("array has more than {MAX_ARRAY} elements")));
            }
            items.push(self.string()?);
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Ok(items);
                }
                b => {
                    return Err(err(format!(
                        "expected ',' or ']' at byte {}, found {}",
                        self.pos,
                        describe(b)
                    )))
                }
            }
        }
    }

    fn value(&mut self) -> Result<Value<'a>> {
        match self.peek()? {
            b'"' => Ok(Value::Str(self.string()?)),
            b'[' => Ok(Value::Array(self.array()?)),
            b'0'..=b'9' => Ok(Value::UInt(self.uint()?)),
            b'-' => Err(err(format!("negative number at byte {} (unsigned integers only)", self.pos))),
            b => Err(err(format!(
                "unsupported value at byte {}: found {} (expected a string, an unsigned integer or an array of strings)",
                self.pos,
                describe(b)
            ))),
        }
    }
}

fn describe(b: u8) -> String {
    if (0x21..=0x7e).contains(&b) {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

/// Parses one token object into its members, in document order. `known` lists the member names allowed; an
/// unknown or repeated name is an error (fail closed).
pub fn parse_object<'a>(text: &'a [u8], known: &[&str]) -> Result<Vec<(&'a str, Value<'a>)>> {
    let mut r = Reader { s: text, pos: 0 };
    r.ws();
    if r.pos == text.len() {
        return Err(err("empty input (expected a JSON object)".to_string()));
    }
    r.expect(b'{')?;
    let mut members: Vec<(&'a str, Value<'a>)> = Vec::new();
    r.ws();
    if r.peek()? == b'}' {
        r.pos += 1;
    } else {
        loop {
            r.ws();
            let at = r.pos;
            if r.peek()? != b'"' {
                return Err(err(format!(
                    "expected a member name at byte {at}, found {}",
                    describe(r.peek()?)
                )));
            }
            let key = r.string()?;
            if !known.contains(&key) {
                return Err(err(format!("unknown field {key:?} at byte {at}")));
            }
            if members.iter().any(|(k, _)| *k == key) {
                return Err(err(format!("duplicate field {key:?} at byte {at}")));
            }
            r.ws();
            r.expect(b':')?;
            r.ws();
            let value = r.value()?;
            members.push((key, value));
            r.ws();
            match r.peek()? {
                b',' => r.pos += 1,
                b'}' => {
                    r.pos += 1;
                    break;
                }
                b => {
                    return Err(err(format!(
                        "expected ',' or '}}' at byte {}, found {}",
                        r.pos,
                        describe(b)
                    )))
                }
            }
        }
    }
    r.ws();
    if r.pos != text.len() {
        return Err(err(format!("trailing data at byte {}", r.pos)));
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &[&str] = &["a", "b", "c"];

    fn msg(text: &str) -> String {
        match parse_object(text.as_bytes(), K) {
            Err(Error::Token { message, .. }) => message,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn accepts_the_profile() {
        let m = parse_object(b" {\n \"a\" : \"x y\", \"b\":[ \"p\" ,\"q\"],\"c\":0 }\r\n", K).unwrap();
        assert_eq!(
            m,
            vec![
                ("a", Value::Str("x y")),
                ("b", Value::Array(vec!["p", "q"])),
                ("c", Value::UInt(0))
            ]
        );
        assert_eq!(
            parse_object(b"{\"c\":9007199254740991}", K).unwrap()[0].1,
            Value::UInt(MAX_UINT)
        );
    }

    #[test]
    fn refuses_everything_else() {
        assert!(msg("").starts_with("empty input"));
        assert!(msg("{\"a\":\"x\"").starts_with("truncated"));
        assert!(msg("{\"a\":\"x").starts_with("truncated"));
        assert!(msg("{\"a\":\"\\u0078\"}").starts_with("escape sequence"));
        assert!(msg("{\"a\":\"x\",\"a\":\"y\"}").starts_with("duplicate field \"a\""));
        assert!(msg("{\"z\":1}").starts_with("unknown field \"z\""));
        assert!(msg("{\"c\":1.0}").contains("fraction or exponent"));
        assert!(msg("{\"c\":1e3}").contains("fraction or exponent"));
        assert!(msg("{\"c\":-0}").starts_with("negative number"));
        assert!(msg("{\"c\":01}").contains("leading zero"));
        assert!(msg("{\"c\":9007199254740992}").contains("larger than"));
        assert!(msg("{\"c\":true}").starts_with("unsupported value"));
        assert!(msg("{\"c\":{}}").starts_with("unsupported value"));
        assert!(msg("{\"b\":[1]}").starts_with("array element"));
        assert!(msg("{\"a\":\"x\"} x").starts_with("trailing data"));
        assert!(msg("{\"a\":\"\u{e9}\"}").starts_with("non-ASCII"));
        assert!(msg("{\"a\":\"\t\"}").starts_with("control character"));
        assert!(msg("\u{feff}{}").starts_with("expected '{'"));
    }
}
