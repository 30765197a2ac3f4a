//! A serde `Deserializer` over string pairs — path parameters, query pairs, headers — that
//! parses each value as the target field's type and names the field when one does not fit.
//!
//! `serde_urlencoded` would parse the values but its errors do not say which field failed, and
//! a FastAPI-style 422 must (`"loc": ["query", "ms"]`). Repeated keys (`?tag=a&tag=b`) fill a
//! `Vec` field; a scalar field takes the last value.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

/// Why a value did not fit; `field` is the key it came from, when known.
#[derive(Debug)]
pub(crate) struct FieldError {
    pub(crate) field: Option<String>,
    pub(crate) msg: String,
    pub(crate) kind: &'static str,
}

impl FieldError {
    fn new(msg: impl Into<String>, kind: &'static str) -> FieldError {
        FieldError { field: None, msg: msg.into(), kind }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for FieldError {}

impl de::Error for FieldError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        FieldError::new(msg.to_string(), "value_error")
    }

    fn missing_field(field: &'static str) -> Self {
        FieldError { field: Some(field.to_owned()), msg: "Field required".into(), kind: "missing" }
    }
}

/// Deserializes `T` from `pairs`, grouping repeated keys in order of first appearance.
pub(crate) fn from_pairs<T: de::DeserializeOwned>(
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<T, FieldError> {
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for (key, value) in pairs {
        match grouped.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value),
            None => grouped.push((key, vec![value])),
        }
    }
    T::deserialize(PairsDe { pairs: &grouped })
}

struct PairsDe<'a> {
    pairs: &'a [(String, Vec<String>)],
}

impl<'a> PairsDe<'a> {
    /// The single value a scalar target (`Path<u32>`) is made from.
    fn single(&self) -> Result<(&'a str, ValueDe<'a>), FieldError> {
        match self.pairs {
            [(key, values)] => Ok((key, ValueDe { values })),
            _ => Err(FieldError::new(
                format!(
                    "expected exactly one parameter for a single value, found {}; extract a \
                     tuple or a struct instead",
                    self.pairs.len()
                ),
                "value_error",
            )),
        }
    }
}

macro_rules! scalar_via_single {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
            let (key, value) = self.single()?;
            value.$method(visitor).map_err(|e| named(e, key))
        }
    )*};
}

fn named(mut error: FieldError, key: &str) -> FieldError {
    error.field.get_or_insert_with(|| key.to_owned());
    error
}

impl<'de> de::Deserializer<'de> for PairsDe<'_> {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_map(PairsMap { pairs: self.pairs.iter(), current: None })
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_seq(PairsSeq { pairs: self.pairs.iter() })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        let (key, value) = self.single()?;
        value.deserialize_enum(name, variants, visitor).map_err(|e| named(e, key))
    }

    scalar_via_single! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_option
    }

    forward_to_deserialize_any! {
        bytes byte_buf unit unit_struct map struct identifier ignored_any
    }
}

struct PairsMap<'a> {
    pairs: std::slice::Iter<'a, (String, Vec<String>)>,
    current: Option<&'a (String, Vec<String>)>,
}

impl<'de> MapAccess<'de> for PairsMap<'_> {
    type Error = FieldError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, FieldError> {
        let Some(pair) = self.pairs.next() else { return Ok(None) };
        self.current = Some(pair);
        seed.deserialize(pair.0.as_str().into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, FieldError> {
        let (key, values) = self.current.take().expect("serde asks for a value after its key");
        seed.deserialize(ValueDe { values }).map_err(|e| named(e, key))
    }
}

struct PairsSeq<'a> {
    pairs: std::slice::Iter<'a, (String, Vec<String>)>,
}

impl<'de> SeqAccess<'de> for PairsSeq<'_> {
    type Error = FieldError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, FieldError> {
        let Some((key, values)) = self.pairs.next() else { return Ok(None) };
        seed.deserialize(ValueDe { values }).map(Some).map_err(|e| named(e, key))
    }
}

/// The values of one key (never empty); scalars take the last.
struct ValueDe<'a> {
    values: &'a [String],
}

impl ValueDe<'_> {
    fn last(&self) -> &str {
        self.values.last().map_or("", String::as_str)
    }

    fn parse<T: std::str::FromStr>(&self, msg: &str, kind: &'static str) -> Result<T, FieldError> {
        self.last().trim().parse().map_err(|_| FieldError::new(msg, kind))
    }
}

const INT: (&str, &str) =
    ("Input should be a valid integer, unable to parse string as an integer", "int_parsing");
const FLOAT: (&str, &str) =
    ("Input should be a valid number, unable to parse string as a number", "float_parsing");

macro_rules! parse_as {
    ($($method:ident => $visit:ident : $ty:ty, $what:expr;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
            let (msg, kind) = $what;
            visitor.$visit(self.parse::<$ty>(msg, kind)?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDe<'_> {
    type Error = FieldError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_str(self.last())
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        // pydantic's lax booleans.
        match self.last().trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => visitor.visit_bool(true),
            "false" | "0" | "no" | "off" | "f" | "n" => visitor.visit_bool(false),
            _ => Err(FieldError::new(
                "Input should be a valid boolean, unable to interpret input",
                "bool_parsing",
            )),
        }
    }

    parse_as! {
        deserialize_i8 => visit_i8: i8, INT;
        deserialize_i16 => visit_i16: i16, INT;
        deserialize_i32 => visit_i32: i32, INT;
        deserialize_i64 => visit_i64: i64, INT;
        deserialize_i128 => visit_i128: i128, INT;
        deserialize_u8 => visit_u8: u8, INT;
        deserialize_u16 => visit_u16: u16, INT;
        deserialize_u32 => visit_u32: u32, INT;
        deserialize_u64 => visit_u64: u64, INT;
        deserialize_u128 => visit_u128: u128, INT;
        deserialize_f32 => visit_f32: f32, FLOAT;
        deserialize_f64 => visit_f64: f64, FLOAT;
        deserialize_char => visit_char: char, ("Input should be a single character", "string_type");
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, FieldError> {
        visitor.visit_seq(ValuesSeq { values: self.values.iter() })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, FieldError> {
        let value: de::value::StrDeserializer<'_, FieldError> = self.last().into_deserializer();
        visitor.visit_enum(value).map_err(|mut e| {
            e.kind = "enum";
            e
        })
    }

    forward_to_deserialize_any! {
        str string bytes byte_buf unit_struct tuple tuple_struct map struct identifier
        ignored_any
    }
}

struct ValuesSeq<'a> {
    values: std::slice::Iter<'a, String>,
}

impl<'de> SeqAccess<'de> for ValuesSeq<'_> {
    type Error = FieldError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, FieldError> {
        let Some(value) = self.values.next() else { return Ok(None) };
        seed.deserialize(ValueDe { values: std::slice::from_ref(value) }).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Params {
        ms: u64,
        name: Option<String>,
        #[serde(default)]
        tag: Vec<String>,
        fast: Option<bool>,
    }

    #[test]
    fn a_struct_takes_typed_fields_and_repeated_keys() {
        let p: Params =
            from_pairs(pairs(&[("ms", "15"), ("tag", "a"), ("tag", "b"), ("fast", "yes")]))
                .unwrap();
        assert_eq!(
            p,
            Params { ms: 15, name: None, tag: vec!["a".into(), "b".into()], fast: Some(true) }
        );
    }

    #[test]
    fn a_bad_value_names_its_field_and_kind() {
        let e = from_pairs::<Params>(pairs(&[("ms", "soon")])).unwrap_err();
        assert_eq!((e.field.as_deref(), e.kind), (Some("ms"), "int_parsing"));
        let e = from_pairs::<Params>(pairs(&[("name", "x")])).unwrap_err();
        assert_eq!(
            (e.field.as_deref(), e.kind, e.msg.as_str()),
            (Some("ms"), "missing", "Field required")
        );
    }

    #[test]
    fn scalars_and_tuples_come_from_positional_parameters() {
        assert_eq!(from_pairs::<u32>(pairs(&[("id", "7")])).unwrap(), 7);
        let t: (u32, String) = from_pairs(pairs(&[("id", "7"), ("name", "x")])).unwrap();
        assert_eq!(t, (7, "x".to_string()));
        let e = from_pairs::<(u32, u32)>(pairs(&[("a", "1"), ("b", "z")])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("b"));
    }
}
