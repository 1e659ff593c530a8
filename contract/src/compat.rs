//! Whether a published event version's frozen schema and the schema its type
//! generates now are compatible both ways: BACKWARD (consumers built from the
//! new schema read records already on the topics) and FORWARD (consumers
//! built from the frozen one read records written from the new one).
//!
//! Hand-written for the subset of JSON Schema that `contract_files` generates,
//! rather than a general checker crate (`jsoncompat` was considered): it names
//! the field and the change, as a developer needs to see it, it stays small
//! and it fails closed, so a keyword it does not know is a change it reports.
//!
//! Adding an optional field to a published version is refused too: our
//! schemas are open (no `additionalProperties: false`; serde ignores unknown
//! fields), so a record already on a topic may carry any value under the new
//! name and is not known to match it. A new field goes into a new version.

use serde_json::{Map, Value};

/// Keywords that only describe: changing them changes no reader.
const ANNOTATIONS: [&str; 6] = [
    "$id",
    "$schema",
    "title",
    "description",
    "examples",
    "default",
];
/// Lower bounds: raising one breaks BACKWARD, lowering one breaks FORWARD.
const LOWER: [&str; 4] = ["minLength", "minItems", "minimum", "exclusiveMinimum"];
/// Upper bounds: lowering one breaks BACKWARD, raising one breaks FORWARD.
const UPPER: [&str; 4] = ["maxLength", "maxItems", "maximum", "exclusiveMaximum"];

const BACKWARD: &str = "BACKWARD: records on the topics may not match it";
const FORWARD: &str = "FORWARD: consumers of the published version refuse new records";
const BOTH: &str = "BACKWARD and FORWARD";
const NEEDED: &str = "FORWARD: consumers of the published version need it";
/// Not provably incompatible, but a published version does not change shape.
const FROZEN: &str = "a published version is frozen: change it in a new version";

/// Every incompatible difference between `frozen` and `generated`, each as
/// `<name> v<version>: field <path>: <what changed>`.
pub fn check(name: &str, version: i32, frozen: &Value, generated: &Value) -> Vec<String> {
    let mut changes = Vec::new();
    compare("", frozen, generated, &mut changes);
    changes
        .into_iter()
        .map(|(path, what)| {
            let path = if path.is_empty() { "(body)" } else { &path };
            format!("{name} v{version}: field {path}: {what}")
        })
        .collect()
}

fn object(schema: &Value) -> Map<String, Value> {
    schema.as_object().cloned().unwrap_or_default()
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn names(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// The values `enum` or `const` allow, or `None` when neither restricts them.
fn allowed(schema: &Map<String, Value>) -> Option<Vec<Value>> {
    match (schema.get("enum"), schema.get("const")) {
        (Some(Value::Array(values)), _) => Some(values.clone()),
        (_, Some(value)) => Some(vec![value.clone()]),
        _ => None,
    }
}

fn list(values: &[String]) -> String {
    values.join(", ")
}

fn compare(path: &str, frozen: &Value, generated: &Value, out: &mut Vec<(String, String)>) {
    let (old, new) = (object(frozen), object(generated));
    let mut report = |what: String| out.push((path.to_owned(), what));

    let (old_types, new_types) = (names(old.get("type")), names(new.get("type")));
    if old_types != new_types {
        let gone: Vec<String> = old_types
            .iter()
            .filter(|t| !new_types.contains(t))
            .cloned()
            .collect();
        let added: Vec<String> = new_types
            .iter()
            .filter(|t| !old_types.contains(t))
            .cloned()
            .collect();
        let direction = match (gone.is_empty(), added.is_empty()) {
            (false, false) => BOTH,
            (false, true) => BACKWARD,
            _ => FORWARD,
        };
        report(format!(
            "type changed from {} to {} ({direction})",
            list(&old_types),
            list(&new_types)
        ));
    }

    for keyword in ["format", "pattern"] {
        match (old.get(keyword), new.get(keyword)) {
            (a, b) if a == b => {}
            (None, Some(b)) => report(format!("{keyword} {b} added ({BACKWARD})")),
            (Some(a), None) => report(format!("{keyword} {a} removed ({FORWARD})")),
            (Some(a), Some(b)) => report(format!("{keyword} changed from {a} to {b} ({BOTH})")),
            (None, None) => unreachable!(),
        }
    }

    for (keyword, lower) in LOWER
        .iter()
        .map(|k| (k, true))
        .chain(UPPER.iter().map(|k| (k, false)))
    {
        let (a, b) = (old.get(*keyword), new.get(*keyword));
        if a == b {
            continue;
        }
        let number = |v: Option<&Value>| v.and_then(Value::as_f64);
        let tighter = match (number(a), number(b)) {
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (Some(x), Some(y)) => (y > x) == lower,
            (None, None) => unreachable!(),
        };
        let show = |v: Option<&Value>| v.map_or("none".to_owned(), Value::to_string);
        let (verb, direction) = match (tighter, lower) {
            (true, true) => ("raised", BACKWARD),
            (true, false) => ("lowered", BACKWARD),
            (false, true) => ("lowered", FORWARD),
            (false, false) => ("raised", FORWARD),
        };
        report(format!(
            "{keyword} {verb} from {} to {} ({direction})",
            show(a),
            show(b)
        ));
    }

    match (allowed(&old), allowed(&new)) {
        (a, b) if a == b => {}
        (a, b) => {
            let show = |values: &[Value]| {
                values
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let missing = |from: &Option<Vec<Value>>, to: &Option<Vec<Value>>| -> Vec<Value> {
                match (from, to) {
                    (Some(from), Some(to)) => {
                        from.iter().filter(|v| !to.contains(v)).cloned().collect()
                    }
                    _ => Vec::new(),
                }
            };
            let (narrowed, widened) = (missing(&a, &b), missing(&b, &a));
            if a.is_none() {
                report(format!(
                    "values restricted to {} ({BACKWARD})",
                    show(b.as_deref().unwrap())
                ));
            } else if b.is_none() {
                report(format!(
                    "restriction to {} removed ({FORWARD})",
                    show(a.as_deref().unwrap())
                ));
            }
            if !narrowed.is_empty() {
                report(format!(
                    "values {} no longer allowed ({BACKWARD})",
                    show(&narrowed)
                ));
            }
            if !widened.is_empty() {
                report(format!(
                    "values {} newly allowed ({FORWARD})",
                    show(&widened)
                ));
            }
        }
    }

    let (old_required, new_required) = (names(old.get("required")), names(new.get("required")));
    let fields =
        |schema: &Map<String, Value>| schema.get("properties").map(object).unwrap_or_default();
    let (old_fields, new_fields) = (fields(&old), fields(&new));
    for (field, frozen_field) in &old_fields {
        let field_path = child(path, field);
        let was_required = old_required.contains(field);
        let Some(generated_field) = new_fields.get(field) else {
            let why = if was_required { NEEDED } else { FROZEN };
            out.push((field_path, format!("removed or renamed ({why})")));
            continue;
        };
        match (was_required, new_required.contains(field)) {
            (false, true) => out.push((field_path.clone(), format!("made required ({BACKWARD})"))),
            (true, false) => out.push((field_path.clone(), format!("made optional ({NEEDED})"))),
            _ => {}
        }
        compare(&field_path, frozen_field, generated_field, out);
    }
    for field in new_fields.keys().filter(|f| !old_fields.contains_key(*f)) {
        let what = if new_required.contains(field) {
            format!("new required field ({BACKWARD})")
        } else {
            format!("new optional field ({FROZEN})")
        };
        out.push((child(path, field), what));
    }

    if let (Some(a), Some(b)) = (old.get("items"), new.get("items")) {
        compare(&format!("{path}[]"), a, b, out);
    }

    // Fail closed: any other keyword that differs is a change we cannot judge.
    let handled = [
        "type",
        "format",
        "pattern",
        "enum",
        "const",
        "required",
        "properties",
    ];
    let mut keywords: Vec<&String> = old.keys().chain(new.keys()).collect();
    keywords.sort();
    keywords.dedup();
    for keyword in keywords {
        let known = ANNOTATIONS.contains(&keyword.as_str())
            || LOWER.contains(&keyword.as_str())
            || UPPER.contains(&keyword.as_str())
            || handled.contains(&keyword.as_str())
            || (keyword == "items" && old.contains_key("items") && new.contains_key("items"));
        if !known && old.get(keyword) != new.get(keyword) {
            let show = |v: Option<&Value>| v.map_or("none".to_owned(), Value::to_string);
            out.push((
                path.to_owned(),
                format!(
                    "{keyword} changed from {} to {} ({BOTH})",
                    show(old.get(keyword)),
                    show(new.get(keyword))
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check;
    use serde_json::{json, Value};

    /// A body with an `id` field and one field `f` of schema `field`.
    fn body(field: Value, required: &[&str]) -> Value {
        json!({
            "type": "object",
            "properties": { "id": { "type": "string", "format": "uuid" }, "f": field },
            "required": required,
        })
    }

    fn changes(old: Value, new: Value) -> Vec<String> {
        check("E", 1, &old, &new)
    }

    /// The one change from `old` to `new`, and the one back.
    fn both_ways(old: Value, new: Value) -> (String, String) {
        let (forth, back) = (changes(old.clone(), new.clone()), changes(new, old));
        assert_eq!((forth.len(), back.len()), (1, 1), "{forth:?} {back:?}");
        (forth[0].clone(), back[0].clone())
    }

    #[test]
    fn the_same_schema_with_other_annotations_is_compatible() {
        let old = body(json!({ "type": "string", "maxLength": 5 }), &["id", "f"]);
        let mut new = old.clone();
        new["description"] = json!("now described");
        new["$id"] = json!("https://elsewhere/E.v1.json");
        new["properties"]["f"]["title"] = json!("F");
        assert_eq!(changes(old, new), Vec::<String>::new());
    }

    #[test]
    fn a_removed_or_renamed_field_is_named_and_so_is_its_new_name() {
        let old = body(json!({ "type": "string" }), &["id", "f"]);
        let new = json!({
            "type": "object",
            "properties": { "id": { "type": "string", "format": "uuid" }, "g": { "type": "string" } },
            "required": ["id", "g"],
        });
        assert_eq!(
            changes(old.clone(), new.clone()),
            [
                "E v1: field f: removed or renamed (FORWARD: consumers of the published version need it)",
                "E v1: field g: new required field (BACKWARD: records on the topics may not match it)",
            ]
        );
        let mut optional = old.clone();
        optional["required"] = json!(["id"]);
        let mut without = optional.clone();
        without["properties"].as_object_mut().unwrap().remove("f");
        let (removed, added) = both_ways(optional, without.clone());
        assert!(
            removed.starts_with("E v1: field f: removed or renamed (a published version is frozen"),
            "{removed}"
        );
        assert!(
            added.starts_with("E v1: field f: new optional field (a published version is frozen"),
            "{added}"
        );
        assert!(changes(without, old)[0].contains("field f: new required field"));
    }

    #[test]
    fn required_made_optional_breaks_forward_and_optional_made_required_backward() {
        let field = json!({ "type": "string" });
        let (optional, required) =
            both_ways(body(field.clone(), &["id", "f"]), body(field, &["id"]));
        assert_eq!(
            optional,
            "E v1: field f: made optional (FORWARD: consumers of the published version need it)"
        );
        assert_eq!(
            required,
            "E v1: field f: made required (BACKWARD: records on the topics may not match it)"
        );
    }

    #[test]
    fn a_changed_type_is_named_with_the_types() {
        let (a, b) = both_ways(
            body(json!({ "type": "string" }), &["f"]),
            body(json!({ "type": "integer" }), &["f"]),
        );
        assert_eq!(
            a,
            "E v1: field f: type changed from string to integer (BACKWARD and FORWARD)"
        );
        assert_eq!(
            b,
            "E v1: field f: type changed from integer to string (BACKWARD and FORWARD)"
        );
        let (nullable, not) = both_ways(
            body(json!({ "type": "string" }), &["f"]),
            body(json!({ "type": ["string", "null"] }), &["f"]),
        );
        assert!(nullable.ends_with("string to string, null (FORWARD: consumers of the published version refuse new records)"), "{nullable}");
        assert!(
            not.ends_with("(BACKWARD: records on the topics may not match it)"),
            "{not}"
        );
    }

    #[test]
    fn bounds_tightened_break_backward_and_loosened_break_forward() {
        for (keyword, tight, loose) in [
            ("maxLength", 50, 100),
            ("minLength", 2, 1),
            ("maxItems", 10, 100),
            ("minItems", 2, 1),
            ("maximum", 10, 20),
            ("minimum", 2, 1),
        ] {
            let field = |n: i64| body(json!({ "type": "string", keyword: n }), &["f"]);
            let (tightened, loosened) = both_ways(field(loose), field(tight));
            assert!(
                tightened.starts_with(&format!("E v1: field f: {keyword} ")),
                "{tightened}"
            );
            assert!(
                tightened.contains(&format!("from {loose} to {tight} (BACKWARD:")),
                "{tightened}"
            );
            assert!(
                loosened.contains(&format!("from {tight} to {loose} (FORWARD:")),
                "{loosened}"
            );
        }
        let (added, removed) = both_ways(
            body(json!({ "type": "string" }), &["f"]),
            body(json!({ "type": "string", "maxLength": 9 }), &["f"]),
        );
        assert_eq!(added, "E v1: field f: maxLength lowered from none to 9 (BACKWARD: records on the topics may not match it)");
        assert!(
            removed.contains("maxLength raised from 9 to none (FORWARD:"),
            "{removed}"
        );
    }

    #[test]
    fn a_pattern_or_format_changed_added_or_removed_is_named() {
        let field = |pattern: &str| body(json!({ "type": "string", "pattern": pattern }), &["f"]);
        let (a, b) = both_ways(field("^[A-Z]{3}$"), field("^[A-Z]{2,3}$"));
        assert_eq!(a, "E v1: field f: pattern changed from \"^[A-Z]{3}$\" to \"^[A-Z]{2,3}$\" (BACKWARD and FORWARD)");
        assert!(b.contains("(BACKWARD and FORWARD)"));
        let (added, removed) = both_ways(
            body(json!({ "type": "string" }), &["f"]),
            body(json!({ "type": "string", "format": "uuid" }), &["f"]),
        );
        assert!(
            added.ends_with(
                "format \"uuid\" added (BACKWARD: records on the topics may not match it)"
            ),
            "{added}"
        );
        assert!(
            removed.contains("format \"uuid\" removed (FORWARD:"),
            "{removed}"
        );
    }

    #[test]
    fn an_enum_narrowed_breaks_backward_and_widened_forward() {
        let field = |values: Value| body(json!({ "type": "string", "enum": values }), &["f"]);
        let (narrowed, widened) = both_ways(field(json!(["a", "b"])), field(json!(["a"])));
        assert_eq!(narrowed, "E v1: field f: values \"b\" no longer allowed (BACKWARD: records on the topics may not match it)");
        assert!(
            widened.contains("values \"b\" newly allowed (FORWARD:"),
            "{widened}"
        );
        let (constant, free) = both_ways(
            body(json!({ "type": "string" }), &["f"]),
            body(json!({ "type": "string", "const": "x" }), &["f"]),
        );
        assert!(
            constant.contains("values restricted to \"x\" (BACKWARD:"),
            "{constant}"
        );
        assert!(
            free.contains("restriction to \"x\" removed (FORWARD:"),
            "{free}"
        );
    }

    #[test]
    fn nested_objects_and_array_items_are_checked_by_path() {
        let lines = |quantity: Value| {
            json!({
                "type": "object",
                "properties": { "items": { "type": "array", "items": {
                    "type": "object",
                    "properties": { "quantity": quantity },
                    "required": ["quantity"],
                }}},
                "required": ["items"],
            })
        };
        let (a, b) = both_ways(
            lines(json!({ "type": "integer", "minimum": 1 })),
            lines(json!({ "type": "integer", "minimum": 0 })),
        );
        assert_eq!(a, "E v1: field items[].quantity: minimum lowered from 1 to 0 (FORWARD: consumers of the published version refuse new records)");
        assert!(
            b.starts_with("E v1: field items[].quantity: minimum raised"),
            "{b}"
        );
    }

    #[test]
    fn a_keyword_the_checker_does_not_know_fails_closed() {
        let (a, b) = both_ways(
            json!({ "type": "object" }),
            json!({ "type": "object", "additionalProperties": false }),
        );
        assert_eq!(a, "E v1: field (body): additionalProperties changed from none to false (BACKWARD and FORWARD)");
        assert!(b.contains("from false to none"), "{b}");
    }
}
