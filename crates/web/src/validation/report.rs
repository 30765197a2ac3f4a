//! From the JSON Schema validator's errors to pydantic v2's items: its error types, its
//! messages word for word, its `ctx`, the client's own `input`, one item per bad value (the
//! first pydantic would find) and the items in the model's field order.

use std::borrow::Cow;
use std::fmt::Write;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{JsonType, ValidationError};
use serde_json::{json, Value};

use super::lax;
use super::model::{non_null, resolve, Model, Shape};
use crate::ValidationItem;

/// Where the instance came from, for `loc` and `input`.
pub(crate) struct Origin<'a> {
    /// `"body"`, `"query"`, `"path"`, `"header"`.
    pub(crate) source: &'static str,
    /// The raw values of a request part, by name (`None` for a body).
    pub(crate) params: Option<&'a [(String, Vec<String>)]>,
    /// Body values read in lax mode: their JSON pointer and what the client sent.
    pub(crate) originals: &'a [(String, Value)],
}

/// Every error of `instance` against `model`, as pydantic would list them.
pub(crate) fn errors(model: &Model, instance: &Value, origin: &Origin<'_>) -> Vec<ValidationItem> {
    let mut report = Report { model, origin, found: Vec::new() };
    for error in model.validator.iter_errors(instance) {
        report.add(&error);
    }
    report.finish()
}

struct Found {
    /// The instance path (without the source), to keep one item per value.
    path: Vec<Value>,
    /// Which of a value's errors pydantic finds first (lowest first).
    rank: u8,
    item: ValidationItem,
}

struct Report<'a> {
    model: &'a Model,
    origin: &'a Origin<'a>,
    found: Vec<Found>,
}

impl Report<'_> {
    fn add(&mut self, error: &ValidationError<'_>) {
        let path: Vec<Value> = error
            .instance_path()
            .iter()
            .map(|segment| match segment {
                LocationSegment::Property(name) => Value::from(name.as_ref()),
                LocationSegment::Index(index) => Value::from(index),
            })
            .collect();
        let instance: &Value = error.instance();
        let model = self.model;
        let node = || schema_at(model, error.schema_path().as_str());
        let (rank, item) = match error.kind() {
            ValidationErrorKind::Type { kind } => {
                let types = match kind {
                    TypeKind::Single(t) => vec![*t],
                    TypeKind::Multiple(set) => set.iter().collect(),
                };
                let expected = types.into_iter().find(|t| *t != JsonType::Null);
                let Some(expected) = expected else { return };
                (0, self.type_error(expected, instance, node()))
            }
            ValidationErrorKind::Required { property } => {
                let mut path = path;
                path.push(property.clone());
                let input =
                    if self.origin.params.is_some() { Value::Null } else { instance.clone() };
                let item = ValidationItem::new("missing", Vec::new(), "Field required");
                self.push(path, 0, item.input(input), false);
                return;
            }
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                for key in unexpected {
                    let mut path = path.clone();
                    path.push(Value::from(key.as_str()));
                    let value = instance.get(key).cloned().unwrap_or(Value::Null);
                    let item = ValidationItem::new(
                        "extra_forbidden",
                        Vec::new(),
                        "Extra inputs are not permitted",
                    );
                    self.push(path, 0, item.input(value), false);
                }
                return;
            }
            ValidationErrorKind::FalseSchema => {
                let item = ValidationItem::new(
                    "extra_forbidden",
                    Vec::new(),
                    "Extra inputs are not permitted",
                );
                (0, item)
            }
            ValidationErrorKind::Enum { options } => {
                let options = options.as_array().map(Vec::as_slice).unwrap_or_default();
                (0, choice(self.enum_or_literal(error), options))
            }
            ValidationErrorKind::Constant { expected_value } => {
                (0, choice("literal_error", std::slice::from_ref(&**expected_value)))
            }
            ValidationErrorKind::AnyOf { context }
            | ValidationErrorKind::OneOfNotValid { context } => {
                let branches = node().and_then(Value::as_array).map(Vec::as_slice);
                self.union(error, instance, &path, branches.unwrap_or_default(), context);
                return;
            }
            ValidationErrorKind::MultipleOf { multiple_of } => {
                let n = number(*multiple_of);
                let msg = format!("Input should be a multiple of {n}");
                (
                    1,
                    ValidationItem::new("multiple_of", Vec::new(), msg)
                        .ctx(json!({"multiple_of": n})),
                )
            }
            ValidationErrorKind::Maximum { limit } => (2, bound("less_than_equal", "le", limit)),
            ValidationErrorKind::ExclusiveMaximum { limit } => (3, bound("less_than", "lt", limit)),
            ValidationErrorKind::Minimum { limit } => (4, bound("greater_than_equal", "ge", limit)),
            ValidationErrorKind::ExclusiveMinimum { limit } => {
                (5, bound("greater_than", "gt", limit))
            }
            ValidationErrorKind::MinLength { limit } => {
                let msg =
                    format!("String should have at least {limit} character{}", plural(*limit));
                (
                    1,
                    ValidationItem::new("string_too_short", Vec::new(), msg)
                        .ctx(json!({"min_length": limit})),
                )
            }
            ValidationErrorKind::MaxLength { limit } => {
                let msg = format!("String should have at most {limit} character{}", plural(*limit));
                (
                    2,
                    ValidationItem::new("string_too_long", Vec::new(), msg)
                        .ctx(json!({"max_length": limit})),
                )
            }
            ValidationErrorKind::Pattern { pattern } => {
                let msg = format!("String should match pattern '{pattern}'");
                let item = ValidationItem::new("string_pattern_mismatch", Vec::new(), msg);
                (3, item.ctx(json!({"pattern": pattern})))
            }
            ValidationErrorKind::MinItems { limit } => {
                let actual = instance.as_array().map_or(0, Vec::len);
                let msg = format!(
                    "List should have at least {limit} item{} after validation, not {actual}",
                    plural(*limit)
                );
                let ctx =
                    json!({"field_type": "List", "min_length": limit, "actual_length": actual});
                (1, ValidationItem::new("too_short", Vec::new(), msg).ctx(ctx))
            }
            ValidationErrorKind::MaxItems { limit } => {
                let actual = instance.as_array().map_or(0, Vec::len);
                let msg = format!(
                    "List should have at most {limit} item{} after validation, not {actual}",
                    plural(*limit)
                );
                let ctx =
                    json!({"field_type": "List", "max_length": limit, "actual_length": actual});
                (2, ValidationItem::new("too_long", Vec::new(), msg).ctx(ctx))
            }
            _ => {
                let msg = format!("Value error, {error}");
                (9, ValidationItem::new("value_error", Vec::new(), msg))
            }
        };
        let item = item.input(instance.clone());
        self.push(path, rank, item, true);
    }

    /// The error of a value of the wrong JSON type, named as pydantic names it by what was
    /// expected and what came (`int_parsing` for a string, `int_from_float` for 1.5, ...).
    fn type_error(
        &self,
        expected: JsonType,
        instance: &Value,
        node: Option<&Value>,
    ) -> ValidationItem {
        let (kind, msg) = match (expected, instance) {
            (JsonType::Integer, Value::String(_)) => (
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
            ),
            (JsonType::Integer, Value::Number(_)) => (
                "int_from_float",
                "Input should be a valid integer, got a number with a fractional part",
            ),
            (JsonType::Integer, _) => ("int_type", "Input should be a valid integer"),
            (JsonType::Number, Value::String(text)) => {
                if let Some(item) = lax::non_finite(text).and_then(|f| non_finite(f, node)) {
                    return item;
                }
                (
                    "float_parsing",
                    "Input should be a valid number, unable to parse string as a number",
                )
            }
            (JsonType::Number, _) => ("float_type", "Input should be a valid number"),
            (JsonType::Boolean, Value::String(_) | Value::Number(_)) => {
                ("bool_parsing", "Input should be a valid boolean, unable to interpret input")
            }
            (JsonType::Boolean, _) => ("bool_type", "Input should be a valid boolean"),
            (JsonType::String, _) => ("string_type", "Input should be a valid string"),
            (JsonType::Array, _) => ("list_type", "Input should be a valid list"),
            (JsonType::Object, _) if node.is_some_and(|n| n.get("properties").is_some()) => (
                "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from",
            ),
            (JsonType::Object, _) => ("dict_type", "Input should be a valid dictionary"),
            (JsonType::Null, _) => ("none_required", "Input should be None"),
        };
        ValidationItem::new(kind, Vec::new(), msg)
    }

    /// pydantic names a bad choice after the Python type: `enum` for an `Enum` class,
    /// `literal_error` for `Literal[...]` — and its schemas put the first in `$defs` and the
    /// second inline. The same here: values of a named type (a Rust enum, reached through
    /// `$ref`, or the root model itself) are an `enum`; values listed on the field itself
    /// (`extend("enum" = [...])`, an enum marked `#[schemars(inline)]`) a `literal_error`.
    fn enum_or_literal(&self, error: &ValidationError<'_>) -> &'static str {
        let path = error.evaluation_path().as_str();
        let keyword = path.rsplit('/').next().unwrap_or("");
        let holder = &path[..path.len() - keyword.len()];
        let named = holder.ends_with("/$ref/")
            || (holder == "/" && self.model.schema.get("title").is_some());
        if named {
            "enum"
        } else {
            "literal_error"
        }
    }

    /// `anyOf`/`oneOf` that no branch matched: an enum whose variants have docs (a `oneOf`
    /// of `const`s) is pydantic's `enum`; an `Option` reports what its value failed; another
    /// union, the errors of the branch that came closest.
    fn union(
        &mut self,
        error: &ValidationError<'_>,
        instance: &Value,
        path: &[Value],
        branches: &[Value],
        context: &[Vec<ValidationError<'static>>],
    ) {
        let root = &self.model.schema;
        let constants: Option<Vec<Vec<Value>>> = branches
            .iter()
            .map(|b| {
                let b = resolve(root, b);
                match (b.get("const"), b.get("enum").and_then(Value::as_array)) {
                    (Some(c), _) => Some(vec![c.clone()]),
                    (None, Some(options)) => Some(options.clone()),
                    _ => None,
                }
            })
            .collect();
        if let Some(constants) = constants.filter(|c| !c.is_empty()) {
            let options: Vec<Value> = constants.into_iter().flatten().collect();
            let item = choice(self.enum_or_literal(error), &options).input(instance.clone());
            self.push(path.to_vec(), 0, item, true);
            return;
        }
        let is_null = |i: usize| {
            branches.get(i).map(|b| non_null(root, b)).and_then(|b| b.get("type"))
                == Some(&Value::from("null"))
        };
        let closest = context
            .iter()
            .enumerate()
            .filter(|(i, errors)| !is_null(*i) && !errors.is_empty())
            .min_by_key(|(_, errors)| errors.len());
        match closest {
            Some((_, errors)) => errors.iter().for_each(|e| self.add(e)),
            None => {
                let item =
                    ValidationItem::new("value_error", Vec::new(), format!("Value error, {error}"));
                self.push(path.to_vec(), 9, item.input(instance.clone()), true);
            }
        }
    }

    /// Records an item for the value at `path`; `original` replaces its `input` with what the
    /// client sent, where lax mode read it as something else.
    fn push(&mut self, path: Vec<Value>, rank: u8, mut item: ValidationItem, original: bool) {
        if original && let Some(input) = self.original(&path) {
            item.input = input;
        }
        item.loc = self.loc(&path);
        match self.found.iter_mut().find(|f| f.path == path) {
            Some(found) if found.rank <= rank => {}
            Some(found) => *found = Found { path, rank, item },
            None => self.found.push(Found { path, rank, item }),
        }
    }

    /// `[source, name, ...]`: a header's name as FastAPI writes it (`x_token` is `x-token`),
    /// a tuple's or a single value's position as the parameter's name.
    fn loc(&self, path: &[Value]) -> Vec<Value> {
        let mut loc = Vec::with_capacity(path.len() + 1);
        loc.push(Value::from(self.origin.source));
        let mut rest = path;
        if let Some(params) = self.origin.params {
            let name = match (self.model.shape, path.first()) {
                (Shape::Tuple, Some(Value::Number(i))) => {
                    rest = &path[1..];
                    i.as_u64().and_then(|i| params.get(i as usize)).map(|(n, _)| n.clone())
                }
                (Shape::Single, _) => params.first().map(|(n, _)| n.clone()),
                (Shape::Object, Some(Value::String(name))) => {
                    rest = &path[1..];
                    Some(name.clone())
                }
                _ => None,
            };
            if let Some(name) = name {
                let name =
                    if self.origin.source == "header" { name.replace('_', "-") } else { name };
                loc.push(Value::from(name));
            }
        }
        loc.extend(rest.iter().cloned());
        loc
    }

    /// What the client sent for the value at `path`, where it differs from the instance: the
    /// text of a parameter, the original of a body value read in lax mode.
    fn original(&self, path: &[Value]) -> Option<Value> {
        if let Some(params) = self.origin.params {
            let (values, index) = match (self.model.shape, path) {
                (Shape::Object, [Value::String(name), rest @ ..]) => {
                    (params.iter().find(|(n, _)| n == name).map(|(_, v)| v)?, rest.first())
                }
                (Shape::Tuple, [Value::Number(i), ..]) => {
                    (params.get(i.as_u64()? as usize).map(|(_, v)| v)?, None)
                }
                (Shape::Single, rest) => (params.first().map(|(_, v)| v)?, rest.first()),
                _ => return None,
            };
            return match index.and_then(Value::as_u64) {
                Some(i) => values.get(i as usize).map(|v| Value::from(v.as_str())),
                None if self.is_list(path) => {
                    Some(values.iter().map(|v| Value::from(v.as_str())).collect())
                }
                None => values.last().map(|v| Value::from(v.as_str())),
            };
        }
        let mut pointer = String::new();
        for segment in path {
            pointer.push('/');
            match segment {
                Value::String(s) => pointer.push_str(&s.replace('~', "~0").replace('/', "~1")),
                other => {
                    let _ = write!(pointer, "{other}");
                }
            }
        }
        self.origin.originals.iter().find(|(p, _)| *p == pointer).map(|(_, v)| v.clone())
    }

    fn is_list(&self, path: &[Value]) -> bool {
        let name = path.first().and_then(Value::as_str).unwrap_or("");
        let index = path.first().and_then(Value::as_u64).unwrap_or(0) as usize;
        matches!(self.model.kind_of(name, index), Some(super::model::Kind::List(_)))
    }

    /// The items, one per bad value, in the order of the model's fields (serde's declaration
    /// order); within a field, in the order the validator found them.
    fn finish(self) -> Vec<ValidationItem> {
        let fields = self.model.fields;
        let position = |found: &Found| {
            let name = found.path.first().and_then(Value::as_str);
            name.and_then(|n| fields.iter().position(|f| *f == n)).unwrap_or(usize::MAX)
        };
        let mut found = self.found;
        found.sort_by_key(position);
        found.into_iter().map(|f| f.item).collect()
    }
}

/// The schema holding the keyword at `keyword_path` (`/properties/age/minimum` → the
/// schema of `age`), following `$ref`s on the way; for `anyOf`, its list of branches.
fn schema_at<'m>(model: &'m Model, keyword_path: &str) -> Option<&'m Value> {
    let root = &model.schema;
    let segments: Vec<Cow<'_, str>> = keyword_path
        .split('/')
        .skip(1)
        .map(|s| Cow::Owned(s.replace("~1", "/").replace("~0", "~")))
        .collect();
    let (last, parents) = segments.split_last()?;
    let mut node = root;
    for segment in parents {
        if segment == "$ref" {
            node = resolve(root, node);
            continue;
        }
        node = step(node, segment).or_else(|| step(resolve(root, node), segment))?;
    }
    if last == "anyOf" || last == "oneOf" {
        return resolve(root, node).get(last.as_ref());
    }
    Some(node)
}

fn step<'a>(node: &'a Value, segment: &str) -> Option<&'a Value> {
    match node {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
        _ => None,
    }
}

/// `inf`, `-inf`, `nan` for a float field: pydantic compares them with the field's bounds in
/// its order (`le`, `lt`, `ge`, `gt`) and reports the first that fails; where none does, it
/// would take the value, which JSON cannot carry: `finite_number`.
fn non_finite(value: f64, node: Option<&Value>) -> Option<ValidationItem> {
    let node = node?;
    /// A bound's keyword, pydantic's error type and `ctx` key, and whether a value keeps it.
    type Check = (&'static str, &'static str, &'static str, fn(f64, f64) -> bool);
    let checks: [Check; 4] = [
        ("maximum", "less_than_equal", "le", |v, l| v <= l),
        ("exclusiveMaximum", "less_than", "lt", |v, l| v < l),
        ("minimum", "greater_than_equal", "ge", |v, l| v >= l),
        ("exclusiveMinimum", "greater_than", "gt", |v, l| v > l),
    ];
    for (keyword, kind, short, holds) in checks {
        if let Some(limit) = node.get(keyword)
            && !holds(value, limit.as_f64()?)
        {
            return Some(bound(kind, short, limit));
        }
    }
    Some(ValidationItem::new("finite_number", Vec::new(), "Input should be a finite number"))
}

/// `greater_than_equal` and its kin: "Input should be greater than or equal to 1", ctx `{"ge": 1}`.
fn bound(kind: &str, short: &str, limit: &Value) -> ValidationItem {
    let words = match short {
        "ge" => "greater than or equal to",
        "gt" => "greater than",
        "le" => "less than or equal to",
        _ => "less than",
    };
    // pydantic writes an integral float bound without its `.0` ("less than or equal to 5"
    // for `le=5.0`), and keeps the float in `ctx`.
    let shown = match limit.as_f64() {
        Some(f) if limit.is_f64() => number(f),
        _ => limit.clone(),
    };
    ValidationItem::new(kind, Vec::new(), format!("Input should be {words} {shown}"))
        .ctx(json!({ short: limit }))
}

/// `enum` / `literal_error`: "Input should be 'a', 'b' or 'c'", ctx `{"expected": "'a', 'b' or 'c'"}`.
fn choice(kind: &str, options: &[Value]) -> ValidationItem {
    // `null` among the options is an `Option`'s, which pydantic does not list as a choice.
    let shown: Vec<String> = options.iter().filter(|o| !o.is_null()).map(python_repr).collect();
    let expected = match shown.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    ValidationItem::new(kind, Vec::new(), format!("Input should be {expected}"))
        .ctx(json!({ "expected": expected }))
}

/// A value as Python's `repr` writes it, as pydantic's messages do: `'a'`, `1`, `True`, `None`.
fn python_repr(value: &Value) -> String {
    match value {
        Value::String(s) if s.contains('\'') && !s.contains('"') => format!("\"{s}\""),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// A float limit as pydantic shows the number it was given: `5` for 5, `0.5` for 0.5.
fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        Value::from(value as i64)
    } else {
        Value::from(value)
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
