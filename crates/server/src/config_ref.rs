//! `shenfen config reference`: the configuration reference (docs/config.md), generated from the configuration
//! structs themselves. The keys and defaults come from `Config::default()` serialised (so nothing can be missing
//! or have a wrong default); the descriptions are the fields' `///` comments, read from the source files compiled
//! into this binary. A test fails when the checked-in docs/config.md differs from what this produces.

use std::collections::BTreeMap;

use crate::config::Config;

/// The files whose structs make up `Config` (each `pub struct` / `pub enum` in them is read).
const SOURCES: &[&str] = &[
    include_str!("config.rs"),
    include_str!("retention.rs"),
    include_str!("clock_guard.rs"),
    include_str!("logistics/config.rs"),
    include_str!("../../domain/src/appointments.rs"),
    include_str!("../../domain/src/eligibility.rs"),
    include_str!("../../domain/src/sla.rs"),
    include_str!("../../domain/src/stats.rs"),
];

#[derive(Debug, Default)]
struct Item {
    doc: String,
    /// The Rust type as written.
    ty: String,
}

#[derive(Debug, Default)]
struct Shape {
    doc: String,
    fields: BTreeMap<String, Item>,
    /// Enum variants as they appear in configuration.
    variants: Vec<String>,
}

/// Every `pub struct` and `pub enum` of the sources, with doc comments. A small line-based reader: the config
/// files keep to one field per line, which the test below holds them to.
fn shapes() -> BTreeMap<String, Shape> {
    let mut out = BTreeMap::new();
    for src in SOURCES {
        let mut doc: Vec<String> = Vec::new();
        let mut rename_all: Option<String> = None;
        let mut current: Option<(String, bool, Shape)> = None;
        for line in src.lines() {
            let t = line.trim();
            if let Some((name, is_enum, shape)) = current.as_mut() {
                if t == "}" && !line.starts_with("    ") {
                    out.insert(std::mem::take(name), std::mem::take(shape));
                    current = None;
                    doc.clear();
                    continue;
                }
                if let Some(d) = t.strip_prefix("///") {
                    doc.push(d.trim().to_string());
                } else if t.starts_with("#[") || t.is_empty() || t.starts_with("//") {
                } else if *is_enum {
                    let v = t.trim_end_matches(',').split(['(', '{', ' ', '=']).next().unwrap_or("").to_string();
                    if !v.is_empty() {
                        shape.variants.push(rename(&v, rename_all.as_deref()));
                    }
                    doc.clear();
                } else if let Some(rest) = t.strip_prefix("pub ") {
                    if let Some((field, ty)) = rest.split_once(':') {
                        shape.fields.insert(field.trim().to_string(), Item { doc: doc.join(" "), ty: ty.trim().trim_end_matches(',').to_string() });
                    }
                    doc.clear();
                } else {
                    doc.clear();
                }
                continue;
            }
            if let Some(d) = t.strip_prefix("///") {
                doc.push(d.trim().to_string());
            } else if t.starts_with("#[serde(") && t.contains("rename_all") {
                rename_all = t.split("rename_all = \"").nth(1).and_then(|r| r.split('"').next()).map(str::to_string);
            } else if t.starts_with("#[") || t.starts_with("//") {
            } else if let Some(rest) = line.strip_prefix("pub struct ").or_else(|| line.strip_prefix("pub enum ")) {
                let name = rest.split([' ', '{', '<', '(', ';']).next().unwrap_or("").to_string();
                if t.ends_with('{') {
                    current = Some((name, t.starts_with("pub enum"), Shape { doc: doc.join(" "), ..Default::default() }));
                } else {
                    rename_all = None;
                }
                doc.clear();
            } else {
                doc.clear();
                rename_all = None;
            }
            if current.is_none() && !t.starts_with("#[") && !t.starts_with("///") {
                rename_all = None;
            }
        }
    }
    out
}

fn rename(variant: &str, rule: Option<&str>) -> String {
    let snake = || {
        let mut s = String::new();
        for (i, c) in variant.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                s.push('_');
            }
            s.extend(c.to_lowercase());
        }
        s
    };
    match rule {
        Some("lowercase") => variant.to_lowercase(),
        Some("snake_case") => snake(),
        Some("kebab-case") => snake().replace('_', "-"),
        _ => variant.to_string(),
    }
}

/// The struct or enum a field's type names (`Option<…>` and paths stripped).
fn type_name(ty: &str) -> &str {
    let ty = ty.strip_prefix("Option<").and_then(|t| t.strip_suffix('>')).unwrap_or(ty);
    ty.rsplit("::").next().unwrap_or(ty)
}

fn show_default(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "unset".into(),
        serde_json::Value::String(s) if s.is_empty() => "`\"\"`".into(),
        serde_json::Value::String(s) => format!("`{s}`"),
        serde_json::Value::Array(a) if a.is_empty() => "`[]`".into(),
        serde_json::Value::Object(o) if o.is_empty() => "`{}`".into(),
        other => format!("`{other}`"),
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

struct Section {
    key: String,
    doc: String,
    rows: Vec<String>,
}

fn walk(shapes: &BTreeMap<String, Shape>, shape_name: &str, prefix: &[String], value: &serde_json::Map<String, serde_json::Value>, sections: &mut Vec<Section>, doc: String) {
    let shape = shapes.get(shape_name);
    let mut section = Section { key: prefix.join("."), doc, rows: Vec::new() };
    let mut nested = Vec::new();
    for (key, v) in value {
        let item = shape.and_then(|s| s.fields.get(key));
        let ty = item.map(|i| type_name(&i.ty)).unwrap_or("");
        let mut path = prefix.to_vec();
        path.push(key.clone());
        // A nested configuration struct gets its own section; maps (e.g. template ids) stay one row.
        if let (serde_json::Value::Object(map), Some(sub)) = (v, shapes.get(ty))
            && !sub.fields.is_empty()
        {
            let d = item.map(|i| i.doc.clone()).filter(|d| !d.is_empty()).unwrap_or_else(|| sub.doc.clone());
            nested.push((ty.to_string(), path, map.clone(), d));
            continue;
        }
        let mut meaning = item.map(|i| i.doc.clone()).unwrap_or_default();
        if let Some(e) = shapes.get(ty).filter(|s| !s.variants.is_empty()) {
            meaning = format!("{}{}one of {}", meaning, if meaning.is_empty() { "" } else { " — " }, e.variants.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", "));
        }
        let env = format!("SHENFEN_{}", path.iter().map(|p| p.to_uppercase()).collect::<Vec<_>>().join("__"));
        section.rows.push(format!("| `{key}` | `{env}` | {} | {} |", cell(&show_default(v)), cell(if meaning.is_empty() { "—" } else { &meaning })));
    }
    sections.push(section);
    for (ty, path, map, d) in nested {
        walk(shapes, &ty, &path, &map, sections, d);
    }
}

/// The whole reference as Markdown.
pub fn reference() -> String {
    let defaults = serde_json::to_value(Config::default()).expect("the configuration serialises");
    let serde_json::Value::Object(root) = defaults else { unreachable!("Config is a struct") };
    let shapes = shapes();
    let mut sections = Vec::new();
    walk(&shapes, "Config", &[], &root, &mut sections, String::new());
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated by `shenfen config reference` from the configuration structs; do not edit by hand.\n     \
         Regenerate with: cargo run -p shenfen-server -- config reference > docs/config.md -->\n\n\
         Settings are read from the defaults below, then a TOML file (`--config FILE`, `SHENFEN_CONFIG`, or\n\
         `./shenfen.toml` when present), then environment variables. Every key has an environment variable:\n\
         `SHENFEN_` and the key's path in capitals, nested keys joined by `__` (two underscores). In TOML, a key\n\
         under a section heading such as `[limits]` is written in that section.\n\n\
         Outside demo mode (`demo = false`) the server refuses to start without the three `secrets` keys, and\n\
         without payment and SMS provider settings; see docs/deploy.md.\n",
    );
    for s in sections {
        out.push('\n');
        if s.key.is_empty() {
            out.push_str("## Top level\n\n");
        } else {
            out.push_str(&format!("## `[{}]`\n\n", s.key));
        }
        if !s.doc.is_empty() {
            out.push_str(&s.doc);
            out.push_str("\n\n");
        }
        out.push_str("| key | environment variable | default | meaning |\n|---|---|---|---|\n");
        for r in s.rows {
            out.push_str(&r);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_in_reference_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.md");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == reference(),
            "docs/config.md is stale: regenerate it with `cargo run -p shenfen-server -- config reference > docs/config.md`"
        );
    }

    #[test]
    fn reference_covers_every_key_with_its_environment_variable() {
        let r = reference();
        for needle in [
            "| `listen` | `SHENFEN_LISTEN` | `127.0.0.1:8080` |",
            "| `sms_per_number_per_day` | `SHENFEN_LIMITS__SMS_PER_NUMBER_PER_DAY` | `10` |",
            "## `[notify.aliyun]`",
            "| `log_format` | `SHENFEN_LOG_FORMAT` | `pretty` | `pretty` for people, `json` for log collectors. — one of `pretty`, `json` |",
            "| `cookie_key` | `SHENFEN_SECRETS__COOKIE_KEY` | unset |",
        ] {
            assert!(r.contains(needle), "missing {needle:?} in\n{r}");
        }
        // Every leaf of the defaults appears as a row.
        fn leaves(v: &serde_json::Value, shapes_keys: &mut usize) {
            if let serde_json::Value::Object(m) = v {
                for (_, x) in m {
                    match x {
                        serde_json::Value::Object(inner) if !inner.is_empty() && inner.values().any(|y| !y.is_string()) => leaves(x, shapes_keys),
                        _ => *shapes_keys += 1,
                    }
                }
            }
        }
        let mut n = 0;
        leaves(&serde_json::to_value(Config::default()).unwrap(), &mut n);
        let rows = r.lines().filter(|l| l.starts_with("| `")).count();
        assert!(rows >= n.saturating_sub(4), "{rows} rows for about {n} keys");
    }

    #[test]
    fn documented_fields_have_descriptions() {
        let s = shapes();
        assert_eq!(s["Limits"].fields["max_body_bytes"].doc, "Largest JSON or form body accepted, in bytes.");
        assert_eq!(s["LogFormat"].variants, ["pretty", "json"]);
        assert!(s.contains_key("BookingPolicy"));
    }
}
