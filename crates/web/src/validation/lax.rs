//! pydantic's lax mode: a string read as the number or boolean its field expects (`"5"` → 5,
//! `"yes"` → true), an integral float read as an integer (`5.0` → 5), `0`/`1` as booleans.
//!
//! A string that does not read as its kind is left as it is, so the schema then reports it
//! with the client's own input (`int_parsing`, `bool_parsing`...).

use serde_json::{Number, Value};

use super::model::{non_null, Kind};

/// `text` read as `kind`, or `None` to leave it a string.
pub(crate) fn read(kind: &Kind, text: &str) -> Option<Value> {
    match kind {
        Kind::Integer => integer(text),
        Kind::Number => number(text),
        Kind::Boolean => boolean(text).map(Value::Bool),
        Kind::Text | Kind::List(_) => None,
    }
}

/// An integer as pydantic reads one from a string: blanks around it, a sign, Python's digit
/// separators (`1_000`), and a fractional part of zeros (`"1.0"`). Past 64 bits it becomes a
/// float, so that a bound still reports it (`less_than_equal`), as pydantic's unbounded ints do.
pub(crate) fn integer(text: &str) -> Option<Value> {
    let text = text.trim();
    let text = match text.split_once('.') {
        Some((whole, zeros)) if zeros.bytes().all(|b| b == b'0') => whole,
        Some(_) => return None,
        None => text,
    };
    let (sign, digits) = match text.as_bytes().first() {
        Some(b'-') => ("-", &text[1..]),
        Some(b'+') => ("", &text[1..]),
        _ => ("", text),
    };
    let separated = digits.contains('_');
    // Underscores only between two digits, as in Python's `int()`.
    let valid = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__");
    if !valid {
        return None;
    }
    let owned;
    let literal = if separated || !sign.is_empty() {
        owned = format!("{sign}{}", digits.replace('_', ""));
        owned.as_str()
    } else {
        digits
    };
    if let Ok(n) = literal.parse::<i64>() {
        return Some(n.into());
    }
    if let Ok(n) = literal.parse::<u64>() {
        return Some(n.into());
    }
    literal.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number)
}

/// A float as pydantic reads one from a string. `inf` and `nan` read as floats but JSON has
/// no such numbers: they stay strings, and the report says what pydantic would of them.
pub(crate) fn number(text: &str) -> Option<Value> {
    let text = text.trim();
    if let Some(integer) = integer(text) {
        return Some(integer);
    }
    text.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number)
}

/// A float that pydantic accepts and JSON cannot hold: `inf`, `-inf`, `nan`.
pub(crate) fn non_finite(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|f| !f.is_finite())
}

/// pydantic's lax booleans, in any case.
pub(crate) fn boolean(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// Reads a JSON body's mismatched values in lax mode, in place, guided by `schema`; records
/// each changed value's JSON pointer and its original, for the report's `input`.
pub(crate) fn body(
    root: &Value,
    schema: &Value,
    value: &mut Value,
    pointer: &mut String,
    originals: &mut Vec<(String, Value)>,
) {
    let schema = non_null(root, schema);
    match value {
        Value::Object(object) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let others = schema.get("additionalProperties").filter(|s| s.is_object());
            for (key, item) in object.iter_mut() {
                let Some(item_schema) = properties.and_then(|p| p.get(key)).or(others) else {
                    continue;
                };
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                body(root, item_schema, item, pointer, originals);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            let prefix = schema.get("prefixItems").and_then(Value::as_array);
            let rest = schema.get("items").filter(|s| s.is_object());
            for (index, item) in items.iter_mut().enumerate() {
                let Some(item_schema) = prefix.and_then(|p| p.get(index)).or(rest) else {
                    continue;
                };
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&index.to_string());
                body(root, item_schema, item, pointer, originals);
                pointer.truncate(len);
            }
        }
        _ => {
            let read = match (super::model::kind(root, schema), &*value) {
                (kind, Value::String(text)) => read(&kind, text),
                (Kind::Integer, Value::Number(n)) => n
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && n.is_f64())
                    .and_then(|f| integer(&format!("{f:.0}"))),
                (Kind::Boolean, Value::Number(n)) => match n.as_u64() {
                    Some(0) => Some(Value::Bool(false)),
                    Some(1) => Some(Value::Bool(true)),
                    _ => None,
                },
                _ => None,
            };
            if let Some(read) = read {
                originals.push((pointer.clone(), std::mem::replace(value, read)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn integers_read_as_pydantic_reads_them() {
        for (text, expected) in [
            ("5", json!(5)),
            (" 5 ", json!(5)),
            ("+5", json!(5)),
            ("-5", json!(-5)),
            ("1_000", json!(1000)),
            ("1.0", json!(1)),
            ("2.", json!(2)),
            ("18446744073709551615", json!(u64::MAX)),
            ("99999999999999999999999", json!(1e23)),
        ] {
            assert_eq!(integer(text), Some(expected), "{text:?}");
        }
        for text in ["", "abc", "1.5", "_1", "1_", "1__0", "0x10", "1e3", "--1", "+"] {
            assert_eq!(integer(text), None, "{text:?}");
        }
    }

    #[test]
    fn numbers_and_booleans() {
        assert_eq!(number("0.5"), Some(json!(0.5)));
        assert_eq!(number("5"), Some(json!(5)));
        assert_eq!(number("inf"), None);
        assert_eq!(non_finite("-inf"), Some(f64::NEG_INFINITY));
        assert!(non_finite("nan").is_some_and(f64::is_nan));
        assert_eq!(boolean("Yes"), Some(true));
        assert_eq!(boolean("off"), Some(false));
        assert_eq!(boolean("maybe"), None);
        assert_eq!(boolean(""), None);
    }

    #[test]
    fn a_body_is_read_in_lax_mode_where_its_schema_says() {
        let root = json!({
            "type": "object",
            "properties": {
                "n": {"type": "integer"},
                "f": {"type": ["boolean", "null"]},
                "tags": {"type": "array", "items": {"type": "integer"}},
                "name": {"type": "string"},
                "inner": {"$ref": "#/$defs/Inner"}
            },
            "$defs": {"Inner": {"type": "object", "properties": {"x": {"type": "number"}}}}
        });
        let mut value = json!({"n": "5", "f": 1, "tags": ["1", 2.0, "x"], "name": "7",
                               "inner": {"x": "0.5"}});
        let mut originals = Vec::new();
        body(&root, &root, &mut value, &mut String::new(), &mut originals);
        assert_eq!(
            value,
            json!({"n": 5, "f": true, "tags": [1, 2, "x"], "name": "7", "inner": {"x": 0.5}})
        );
        assert!(originals.contains(&("/n".to_owned(), json!("5"))));
        assert!(originals.contains(&("/inner/x".to_owned(), json!("0.5"))));
    }
}
