//! Import files read as a stream of records: a JSON array of objects, or CSV with a
//! header line. Only one record is held at a time, so a file of any size is read in
//! bounded memory.

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::marker::PhantomData;
use std::path::Path;

use anyhow::Context;
use serde::de::{DeserializeOwned, Error as _, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer as _};

/// One watch as written in an import file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CatalogRecord {
    pub folder: String,
    pub code: Option<String>,
    pub brand: Option<String>,
    pub factory: Option<String>,
    pub gender: Option<String>,
    pub case_material: Option<String>,
    pub mechanism: Option<MechanismRecord>,
    #[serde(default)]
    pub integrated_bracelet: bool,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MechanismRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub stones: Option<i32>,
    #[serde(default)]
    pub functions: Vec<String>,
}

/// A CSV row: lists (`functions`, `aliases`) are separated by `;`.
#[derive(Debug, Deserialize)]
struct CsvRow {
    folder: String,
    code: Option<String>,
    brand: Option<String>,
    factory: Option<String>,
    gender: Option<String>,
    case_material: Option<String>,
    mechanism: Option<String>,
    mechanism_type: Option<String>,
    stones: Option<i32>,
    functions: Option<String>,
    integrated_bracelet: Option<bool>,
    start_release: Option<i32>,
    end_release: Option<i32>,
    aliases: Option<String>,
}

fn split_list(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl From<CsvRow> for CatalogRecord {
    fn from(row: CsvRow) -> Self {
        let mechanism = non_empty(row.mechanism).map(|name| MechanismRecord {
            name,
            kind: non_empty(row.mechanism_type),
            stones: row.stones,
            functions: split_list(row.functions),
        });
        CatalogRecord {
            folder: row.folder.trim().to_owned(),
            code: non_empty(row.code),
            brand: non_empty(row.brand),
            factory: non_empty(row.factory),
            gender: non_empty(row.gender),
            case_material: non_empty(row.case_material),
            mechanism,
            integrated_bracelet: row.integrated_bracelet.unwrap_or(false),
            start_release: row.start_release,
            end_release: row.end_release,
            aliases: split_list(row.aliases),
        }
    }
}

/// A record, or why it could not be read, labelled for the summary.
pub type ParsedRecord = (String, Result<CatalogRecord, String>);

/// The layout of an import file, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    pub fn of(path: &Path) -> anyhow::Result<Self> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        match extension.as_str() {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            _ => anyhow::bail!("expected a .json or .csv file"),
        }
    }
}

const READ_BUFFER: usize = 256 * 1024;

fn open(path: &Path) -> anyhow::Result<BufReader<File>> {
    let file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(BufReader::with_capacity(READ_BUFFER, file))
}

/// How many records the file holds, read without keeping any. A JSON file that is not
/// a well-formed array fails here, before anything is written.
pub fn count_records(path: &Path, format: Format) -> anyhow::Result<u64> {
    let reader = open(path)?;
    let mut count = 0;
    match format {
        Format::Json => each_json_element::<IgnoredAny>(reader, |_| {
            count += 1;
            true
        })?,
        Format::Csv => {
            let mut reader = csv_reader(reader);
            for row in reader.byte_records() {
                match row {
                    Err(err) if err.is_io_error() => {
                        return Err(err).with_context(|| format!("reading {}", path.display()));
                    }
                    // a malformed row is still a record, rejected when it is read
                    _ => count += 1,
                }
            }
        }
    }
    Ok(count)
}

/// Hands each record of the file to `sink`, in order, until the file ends or `sink`
/// returns `false`.
pub fn read_records(
    path: &Path,
    format: Format,
    sink: impl FnMut(ParsedRecord) -> bool,
) -> anyhow::Result<()> {
    let reader = open(path)?;
    match format {
        Format::Json => json_records(reader, sink),
        Format::Csv => csv_records(reader, sink),
    }
}

/// The records of a JSON array, each labelled by its folder (or its position when it
/// has none).
pub fn json_records(
    reader: impl Read,
    mut sink: impl FnMut(ParsedRecord) -> bool,
) -> anyhow::Result<()> {
    let mut index = 0;
    each_json_element::<serde_json::Value>(reader, |value| {
        index += 1;
        let label = value
            .get("folder")
            .and_then(|f| f.as_str())
            .map_or_else(|| format!("record {index}"), str::to_owned);
        sink((
            label,
            serde_json::from_value(value).map_err(|err| err.to_string()),
        ))
    })
}

/// The records of a CSV file, labelled by line.
pub fn csv_records(
    reader: impl Read,
    mut sink: impl FnMut(ParsedRecord) -> bool,
) -> anyhow::Result<()> {
    let mut reader = csv_reader(reader);
    for (index, row) in reader.deserialize::<CsvRow>().enumerate() {
        // line 1 is the header
        let label = format!("line {}", index + 2);
        let record = match row {
            Ok(row) => Ok(CatalogRecord::from(row)),
            Err(err) if err.is_io_error() => return Err(err).context("reading the CSV file"),
            Err(err) => Err(err.to_string()),
        };
        if !sink((label, record)) {
            break;
        }
    }
    Ok(())
}

fn csv_reader<R: Read>(reader: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(reader)
}

/// Whole JSON text at once (small inputs and tests).
pub fn parse_json(text: &str) -> anyhow::Result<Vec<ParsedRecord>> {
    let mut records = Vec::new();
    json_records(text.as_bytes(), |record| {
        records.push(record);
        true
    })?;
    Ok(records)
}

/// Whole CSV text at once (small inputs and tests).
pub fn parse_csv(text: &str) -> anyhow::Result<Vec<ParsedRecord>> {
    let mut records = Vec::new();
    csv_records(text.as_bytes(), |record| {
        records.push(record);
        true
    })?;
    Ok(records)
}

/// Reads a JSON array one element at a time, handing each to `each`; stops early when
/// `each` returns `false`.
fn each_json_element<T: DeserializeOwned>(
    reader: impl Read,
    each: impl FnMut(T) -> bool,
) -> anyhow::Result<()> {
    let stopped = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let visitor = Elements {
        each,
        stopped: &stopped,
        element: PhantomData,
    };
    match deserializer.deserialize_seq(visitor) {
        Ok(()) => deserializer.end().context("the file is not a JSON array"),
        Err(_) if stopped.get() => Ok(()),
        Err(err) => Err(err).context("the file is not a JSON array"),
    }
}

struct Elements<'s, T, F> {
    each: F,
    stopped: &'s Cell<bool>,
    element: PhantomData<T>,
}

impl<'de, T: DeserializeOwned, F: FnMut(T) -> bool> Visitor<'de> for Elements<'_, T, F> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(element) = seq.next_element::<T>()? {
            if !(self.each)(element) {
                self.stopped.set(true);
                return Err(A::Error::custom("reading stopped"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_records() {
        let text = "folder,code,brand,factory,gender,case_material,mechanism,mechanism_type,stones,functions,integrated_bracelet,start_release,end_release,aliases\n\
                    vostok_1,420059,Восток,ЧЧЗ,мужские,сталь,2416Б,автоподзавод,31,календарь;будильник,false,1985,1991,Амфибия; Amphibia\n\
                    bad,,,,,,,,many,,,,,\n";
        let records = parse_csv(text).unwrap();
        assert_eq!(records.len(), 2);
        let (label, record) = &records[0];
        assert_eq!(label, "line 2");
        let record = record.as_ref().unwrap();
        assert_eq!(record.brand.as_deref(), Some("Восток"));
        assert_eq!(record.aliases, vec!["Амфибия", "Amphibia"]);
        let mechanism = record.mechanism.as_ref().unwrap();
        assert_eq!(mechanism.functions, vec!["календарь", "будильник"]);
        assert_eq!(mechanism.stones, Some(31));
        assert_eq!(record.code.as_deref(), Some("420059"));
        assert!(records[1].1.is_err(), "stones must be a number");
    }

    #[test]
    fn json_records_are_labelled_by_folder() {
        let records = parse_json(
            r#"[{"folder": "a", "aliases": ["x"]}, {"folder": "b", "colour": "red"}, {"code": 5}]"#,
        )
        .unwrap();
        assert_eq!(records[0].0, "a");
        assert!(records[0].1.is_ok());
        assert_eq!(records[1].0, "b");
        assert!(records[1].1.as_ref().unwrap_err().contains("colour"));
        assert_eq!(records[2].0, "record 3");
        assert!(parse_json("{}").is_err());
        assert!(parse_json("[{\"folder\": \"a\"}] trailing").is_err());
        assert!(parse_json("[]").unwrap().is_empty());
    }

    #[test]
    fn reading_stops_when_the_sink_says_so() {
        let mut seen = Vec::new();
        json_records(
            r#"[{"folder": "a"}, {"folder": "b"}, {"folder": "c"}]"#.as_bytes(),
            |(label, _)| {
                seen.push(label);
                seen.len() < 2
            },
        )
        .unwrap();
        assert_eq!(seen, ["a", "b"]);
    }

    #[test]
    fn counting_checks_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(&good, r#"[{"folder": "a"}, {"anything": [1, 2]}, 3]"#).unwrap();
        assert_eq!(count_records(&good, Format::Json).unwrap(), 3);
        let cut = dir.path().join("cut.json");
        std::fs::write(&cut, r#"[{"folder": "a"}, {"folder": "#).unwrap();
        assert!(count_records(&cut, Format::Json).is_err());
        let csv = dir.path().join("rows.csv");
        std::fs::write(&csv, "folder,code\na,1\nb\nc,3\n").unwrap();
        assert_eq!(count_records(&csv, Format::Csv).unwrap(), 3);
        let mut labels = Vec::new();
        read_records(&csv, Format::Csv, |(label, _)| {
            labels.push(label);
            true
        })
        .unwrap();
        assert_eq!(labels, ["line 2", "line 3", "line 4"]);
    }

    #[test]
    fn the_sample_catalog_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        for (name, format) in [("catalog.json", Format::Json), ("catalog.csv", Format::Csv)] {
            let path = root.join(name);
            assert_eq!(Format::of(&path).unwrap(), format);
            let mut records = Vec::new();
            read_records(&path, format, |record| {
                records.push(record);
                true
            })
            .unwrap();
            assert!(!records.is_empty());
            assert_eq!(count_records(&path, format).unwrap(), records.len() as u64);
            assert!(records.iter().all(|(_, record)| record.is_ok()), "{name}");
        }
        assert!(Format::of(Path::new("catalog.txt")).is_err());
    }
}
