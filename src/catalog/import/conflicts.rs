//! Records that define one mechanism (a factory's calibre) differently. The first
//! definition met is the one written; each later one that differs is reported, so that a
//! file which disagrees with itself does not pass unnoticed.

use std::collections::{BTreeSet, HashMap};

use super::records::{CatalogRecord, MechanismRecord};

/// A mechanism's identity in a file: its factory and its name, in lower case.
type MechanismKey = (String, String);

/// What a record says of a mechanism, compared without regard to case or order.
#[derive(Debug, PartialEq, Eq)]
struct Definition {
    kind: Option<String>,
    stones: Option<i32>,
    functions: BTreeSet<String>,
}

impl Definition {
    fn of(record: &MechanismRecord) -> Self {
        Self {
            kind: record
                .kind
                .as_deref()
                .map(fold)
                .filter(|kind| !kind.is_empty()),
            stones: record.stones,
            functions: record
                .functions
                .iter()
                .map(|name| fold(name))
                .filter(|name| !name.is_empty())
                .collect(),
        }
    }

    fn describe(&self) -> String {
        let functions: Vec<&str> = self.functions.iter().map(String::as_str).collect();
        format!(
            "type {}, stones {}, functions [{}]",
            self.kind.as_deref().unwrap_or("none"),
            self.stones.map_or("none".to_owned(), |s| s.to_string()),
            functions.join(", ")
        )
    }
}

fn fold(text: &str) -> String {
    text.trim().to_lowercase()
}

/// The first definition of each mechanism met so far, with the record that gave it.
#[derive(Default)]
pub(super) struct MechanismDefinitions {
    first: HashMap<MechanismKey, (String, Definition)>,
}

impl MechanismDefinitions {
    /// A warning when `record` defines its mechanism unlike an earlier record did.
    pub(super) fn check(&mut self, label: &str, record: &CatalogRecord) -> Option<String> {
        let mechanism = record.mechanism.as_ref()?;
        let key = (
            record.factory.as_deref().map(fold).unwrap_or_default(),
            fold(&mechanism.name),
        );
        let definition = Definition::of(mechanism);
        match self.first.get(&key) {
            None => {
                self.first.insert(key, (label.to_owned(), definition));
                None
            }
            Some((_, first)) if *first == definition => None,
            Some((first_label, first)) => Some(format!(
                "mechanism {} is defined twice: {first_label} says {}; {label} says {} \
                 (the first is kept)",
                mechanism.name.trim(),
                first.describe(),
                definition.describe()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(folder: &str, functions: &[&str], stones: Option<i32>) -> CatalogRecord {
        CatalogRecord {
            folder: folder.into(),
            code: None,
            brand: None,
            factory: Some("ПЧЗ".into()),
            gender: None,
            case_material: None,
            mechanism: Some(MechanismRecord {
                name: "2623.Н".into(),
                kind: Some("механические".into()),
                stones,
                functions: functions.iter().map(|f| f.to_string()).collect(),
            }),
            integrated_bracelet: false,
            start_release: None,
            end_release: None,
            aliases: Vec::new(),
        }
    }

    #[test]
    fn a_different_definition_is_reported_with_both_records() {
        let mut definitions = MechanismDefinitions::default();
        assert_eq!(
            definitions.check("a", &record("a", &["24-часовая"], Some(19))),
            None
        );
        // the same in another case and order
        assert_eq!(
            definitions.check("b", &record("b", &[" 24-ЧАСОВАЯ "], Some(19))),
            None
        );
        let warning = definitions
            .check(
                "c",
                &record("c", &["24-часовая", "мировое время"], Some(19)),
            )
            .expect("a warning");
        assert!(warning.contains("2623.Н"), "{warning}");
        assert!(warning.contains("a says"), "{warning}");
        assert!(warning.contains("c says"), "{warning}");
        assert!(warning.contains("мировое время"), "{warning}");
        assert!(
            definitions
                .check("d", &record("d", &["24-часовая"], Some(17)))
                .is_some()
        );
    }
}
