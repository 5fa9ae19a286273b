//! `computed_body_hash`: SHA3-256 over Python `str()` renderings of the hash fields.
//!
//! `parts = [sha3_hex(str(value)) for field in required_hash_fields]`, then
//! `sha3_hex("".join(parts))`. Every SN27 class has no hash fields, so its hash is the constant
//! [`EMPTY_BODY_HASH`]; the general rule is implemented for classes that do (including Python's
//! float `repr` and string quoting), so the dendrite can call any Python axon.

use serde_json::{Map, Value};
use sha3::{Digest, Sha3_256};

/// `sha3_256("")`: the body hash of every synapse without hash fields.
pub const EMPTY_BODY_HASH: &str =
    "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";

fn sha3_hex(data: &[u8]) -> String {
    hex::encode(Sha3_256::digest(data))
}

/// The body hash of a synapse whose fields serialise to `fields`, for `hash_fields` in order.
/// A hash field missing from `fields` renders as `None`, as Python's `model_dump` would give.
pub fn body_hash(fields: &Map<String, Value>, hash_fields: &[&str]) -> String {
    let parts: String = hash_fields
        .iter()
        .map(|field| sha3_hex(python_str(fields.get(*field).unwrap_or(&Value::Null)).as_bytes()))
        .collect();
    sha3_hex(parts.as_bytes())
}

/// Python's `str(value)` of the JSON-decoded value.
pub fn python_str(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => python_repr(other),
    }
}

/// Python's `repr(value)`, used for values nested in lists and dicts.
fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (None, Some(u), _) => u.to_string(),
            (None, None, Some(f)) => python_float_repr(f),
            _ => number.to_string(),
        },
        Value::String(text) => python_string_repr(text),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(python_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", python_string_repr(k), python_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Python's float `repr`: the shortest round-tripping digits, positional for exponents from
/// -4 to 15, scientific (`1e-05`, `1e+16`) outside.
pub fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .into();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits, e.g. "1.2345e-7".
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` exponent is an integer");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if value < 0.0 { "-" } else { "" };
    if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
    }
}

/// Python's `repr` of a string: single quotes unless the text has a `'` and no `"`.
fn python_string_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            // Python escapes non-printable characters; control characters are the ones a JSON
            // body realistically carries.
            c if c.is_control() => {
                let code = c as u32;
                if code <= 0xff {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code <= 0xffff {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_hash_fields_give_the_constant() {
        assert_eq!(body_hash(&Map::new(), &[]), EMPTY_BODY_HASH);
    }

    /// The vector of `bittensor-wire.md` §3, confirmed against the Python SDK.
    #[test]
    fn python_vector() {
        let fields = json!({"prompt": "hello", "weights": [1, 2.5], "extra": {"a": 1, "b": "x"}});
        let Value::Object(fields) = fields else {
            unreachable!()
        };
        assert_eq!(python_str(&fields["weights"]), "[1, 2.5]");
        assert_eq!(python_str(&fields["extra"]), "{'a': 1, 'b': 'x'}");
        assert_eq!(
            body_hash(&fields, &["prompt", "weights", "extra"]),
            "5846e2a248cc7151b1117b8a3a7f34fa4a6c33767b321dc2fd9cc396e0b3670b"
        );
    }

    #[test]
    fn floats_render_like_python_repr() {
        for (value, text) in [
            (1.0, "1.0"),
            (2.5, "2.5"),
            (12.0, "12.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (0.1, "0.1"),
            (-3.25, "-3.25"),
            (-0.0, "-0.0"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
            (123456.789, "123456.789"),
        ] {
            assert_eq!(python_float_repr(value), text, "{value:?}");
        }
    }

    #[test]
    fn strings_quote_like_python_repr() {
        for (text, repr) in [
            ("plain", "'plain'"),
            ("it's", "\"it's\""),
            ("both ' and \"", "'both \\' and \"'"),
            ("tab\tnew\nline\\", "'tab\\tnew\\nline\\\\'"),
            ("bell\u{7}", "'bell\\x07'"),
            ("ünïcode", "'ünïcode'"),
        ] {
            assert_eq!(python_string_repr(text), repr, "{text:?}");
        }
        assert_eq!(python_str(&json!([null, true, "a"])), "[None, True, 'a']");
    }
}
