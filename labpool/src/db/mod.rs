//! The lab pool's object database: tables of records keyed by `OpaqueRef:<uuid>`, reference
//! links kept consistent both ways, a generation counter for `event.from`, VDI contents and
//! the simulated guests' private state.

pub mod schema;

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, codes};
use crate::guest::GuestState;
use crate::value::{NULL_REF, Record, Value};

/// One stored object.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Obj {
    /// The record.
    pub rec: Record,
    /// Generation at which the object was created.
    pub created: u64,
    /// Generation of the last modification.
    pub modified: u64,
}

/// A deleted object, kept so `event.from` can report `del`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tomb {
    /// Class.
    pub class: String,
    /// Ref.
    pub r#ref: String,
    /// Generation at which it was created.
    pub created: u64,
    /// Generation at which it was deleted.
    pub deleted: u64,
}

/// An event as `event.from` reports it.
#[derive(Clone, Debug)]
pub struct Event {
    /// Generation of the change.
    pub id: u64,
    /// Class (lower case on the wire).
    pub class: String,
    /// `add`, `mod` or `del`.
    pub operation: &'static str,
    /// Object ref.
    pub r#ref: String,
    /// Full record (absent for `del`).
    pub snapshot: Option<Record>,
}

const MAX_TOMBSTONES: usize = 20_000;

/// The database.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Db {
    /// Class -> ref -> object.
    pub tables: BTreeMap<String, BTreeMap<String, Obj>>,
    /// Current generation.
    pub generation: u64,
    /// Generation of the last message created (second part of event tokens).
    pub message_generation: u64,
    /// Deleted objects.
    pub tombstones: VecDeque<Tomb>,
    /// VDI contents by VDI ref (only the bytes written; the rest reads as zeros).
    pub vdi_data: BTreeMap<String, Vec<u8>>,
    /// Simulated guests by VM ref.
    pub guests: BTreeMap<String, GuestState>,
    /// DHCP leases: MAC (lower case) -> IPv4 address.
    pub leases: BTreeMap<String, String>,
}

/// A fresh `OpaqueRef:<uuid>`.
pub fn new_ref() -> String {
    format!("OpaqueRef:{}", uuid::Uuid::new_v4())
}

/// A fresh UUID string.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Reads a string field ("" if absent or not a string).
pub fn rs<'a>(rec: &'a Record, field: &str) -> &'a str {
    rec.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Reads an int field (0 if absent).
pub fn ri(rec: &Record, field: &str) -> i64 {
    match rec.get(field) {
        Some(Value::Int(i)) => *i,
        _ => 0,
    }
}

/// Reads a bool field (false if absent).
pub fn rb(rec: &Record, field: &str) -> bool {
    matches!(rec.get(field), Some(Value::Bool(true)))
}

/// Reads a string map field (empty if absent).
pub fn rmap(rec: &Record, field: &str) -> BTreeMap<String, String> {
    match rec.get(field) {
        Some(Value::Map(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Reads a string set field (empty if absent).
pub fn rset(rec: &Record, field: &str) -> Vec<String> {
    match rec.get(field) {
        Some(Value::Set(s)) => s
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// `HANDLE_INVALID [class; ref]`.
pub fn handle_invalid(class: &str, r: &str) -> ApiError {
    ApiError::new(codes::HANDLE_INVALID, [class, r])
}

impl Db {
    fn bump(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Whether the object exists.
    pub fn exists(&self, class: &str, r: &str) -> bool {
        self.tables.get(class).is_some_and(|t| t.contains_key(r))
    }

    /// The record, or `HANDLE_INVALID`.
    pub fn get(&self, class: &str, r: &str) -> ApiResult<&Record> {
        self.tables
            .get(class)
            .and_then(|t| t.get(r))
            .map(|o| &o.rec)
            .ok_or_else(|| handle_invalid(class, r))
    }

    /// A copy of the record, or `HANDLE_INVALID`.
    pub fn record(&self, class: &str, r: &str) -> ApiResult<Record> {
        self.get(class, r).cloned()
    }

    /// Iterates the objects of a class.
    pub fn all(&self, class: &str) -> impl Iterator<Item = (&String, &Record)> {
        self.tables
            .get(class)
            .into_iter()
            .flat_map(|t| t.iter().map(|(r, o)| (r, &o.rec)))
    }

    /// Refs of the objects of a class matching a predicate.
    pub fn find(&self, class: &str, pred: impl Fn(&Record) -> bool) -> Vec<String> {
        self.all(class)
            .filter(|(_, rec)| pred(rec))
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// The ref of the object with this uuid.
    pub fn by_uuid(&self, class: &str, uuid: &str) -> Option<String> {
        self.all(class)
            .find(|(_, rec)| rs(rec, "uuid") == uuid)
            .map(|(r, _)| r.clone())
    }

    /// Creates an object; fills defaults for missing fields, sets `uuid` if empty, and keeps
    /// reference links consistent.
    pub fn create(&mut self, class: &str, r: &str, mut rec: Record) -> String {
        for f in schema::fields(class) {
            rec.entry(f.name.to_string()).or_insert(f.default);
        }
        if rs(&rec, "uuid").is_empty() {
            rec.insert("uuid".into(), Value::s(new_uuid()));
        }
        let g = self.bump();
        let links: Vec<(&str, String)> = schema::LINKS
            .iter()
            .filter(|(c, ..)| *c == class)
            .map(|(_, f, ..)| (*f, rs(&rec, f).to_string()))
            .collect();
        self.tables.entry(class.to_string()).or_default().insert(
            r.to_string(),
            Obj {
                rec,
                created: g,
                modified: g,
            },
        );
        for (field, parent) in links {
            self.link(class, field, r, &parent, true);
        }
        r.to_string()
    }

    fn link(&mut self, class: &str, field: &str, child: &str, parent: &str, add: bool) {
        if parent.is_empty() || parent == NULL_REF {
            return;
        }
        let Some((_, _, pclass, pfield)) = schema::LINKS
            .iter()
            .find(|(c, f, ..)| *c == class && *f == field)
        else {
            return;
        };
        let g = self.bump();
        if let Some(obj) = self.tables.get_mut(*pclass).and_then(|t| t.get_mut(parent)) {
            let entry = obj
                .rec
                .entry(pfield.to_string())
                .or_insert_with(Value::empty_set);
            if let Value::Set(items) = entry {
                items.retain(|v| v.as_str() != Some(child));
                if add {
                    items.push(Value::s(child));
                }
            }
            obj.modified = g;
        }
    }

    /// Sets one field (keeps reference links consistent).
    pub fn set(&mut self, class: &str, r: &str, field: &str, value: Value) -> ApiResult<()> {
        let old = {
            let obj = self
                .tables
                .get_mut(class)
                .and_then(|t| t.get_mut(r))
                .ok_or_else(|| handle_invalid(class, r))?;
            obj.rec.insert(field.to_string(), value.clone())
        };
        let g = self.bump();
        if let Some(obj) = self.tables.get_mut(class).and_then(|t| t.get_mut(r)) {
            obj.modified = g;
        }
        if schema::LINKS
            .iter()
            .any(|(c, f, ..)| *c == class && *f == field)
        {
            if let Some(Value::Str(old)) = old {
                self.link(class, field, r, &old, false);
            }
            if let Value::Str(new) = &value {
                self.link(class, field, r, new, true);
            }
        }
        Ok(())
    }

    /// Mutates a record in place (do not use for link fields).
    pub fn update<T>(
        &mut self,
        class: &str,
        r: &str,
        f: impl FnOnce(&mut Record) -> T,
    ) -> ApiResult<T> {
        let g = self.generation + 1;
        let obj = self
            .tables
            .get_mut(class)
            .and_then(|t| t.get_mut(r))
            .ok_or_else(|| handle_invalid(class, r))?;
        let out = f(&mut obj.rec);
        obj.modified = g;
        self.generation = g;
        Ok(out)
    }

    /// Marks an object modified (an event without a change).
    pub fn touch(&mut self, class: &str, r: &str) {
        let _ = self.update(class, r, |_| ());
    }

    /// Deletes an object (keeps reference links consistent).
    pub fn destroy(&mut self, class: &str, r: &str) -> ApiResult<Record> {
        let obj = self
            .tables
            .get_mut(class)
            .and_then(|t| t.remove(r))
            .ok_or_else(|| handle_invalid(class, r))?;
        for (c, f, ..) in schema::LINKS {
            if *c == class {
                let parent = rs(&obj.rec, f).to_string();
                self.link(class, f, r, &parent, false);
            }
        }
        let g = self.bump();
        self.tombstones.push_back(Tomb {
            class: class.to_string(),
            r#ref: r.to_string(),
            created: obj.created,
            deleted: g,
        });
        while self.tombstones.len() > MAX_TOMBSTONES {
            self.tombstones.pop_front();
        }
        if class == "VDI" {
            self.vdi_data.remove(r);
        }
        Ok(obj.rec)
    }

    /// Changes since generation `since` for the classes accepted by `wanted`, coalesced per
    /// object.
    pub fn events_since(&self, since: u64, wanted: &dyn Fn(&str, &str) -> bool) -> Vec<Event> {
        let mut out = Vec::new();
        for (class, table) in &self.tables {
            for (r, obj) in table {
                if obj.modified > since && wanted(class, r) {
                    out.push(Event {
                        id: obj.modified,
                        class: class.clone(),
                        operation: if obj.created > since { "add" } else { "mod" },
                        r#ref: r.clone(),
                        snapshot: Some(obj.rec.clone()),
                    });
                }
            }
        }
        for t in &self.tombstones {
            if t.deleted > since && t.created <= since && wanted(&t.class, &t.r#ref) {
                out.push(Event {
                    id: t.deleted,
                    class: t.class.clone(),
                    operation: "del",
                    r#ref: t.r#ref.clone(),
                    snapshot: None,
                });
            }
        }
        out.sort_by_key(|e| e.id);
        out
    }

    /// Number of objects per class (for `valid_ref_counts`).
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.tables
            .iter()
            .map(|(c, t)| (c.to_lowercase(), t.len()))
            .collect()
    }

    /// The bytes of a VDI, zero-extended to `len`.
    pub fn vdi_bytes(&self, vdi: &str, len: usize) -> Vec<u8> {
        let mut v = self.vdi_data.get(vdi).cloned().unwrap_or_default();
        v.resize(len, 0);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_kept_both_ways_and_events_coalesce() {
        let mut db = Db::default();
        let vm = db.create("VM", &new_ref(), Record::new());
        let net = db.create("network", &new_ref(), Record::new());
        let start = db.generation;
        let mut vif = Record::new();
        vif.insert("VM".into(), Value::s(&vm));
        vif.insert("network".into(), Value::s(&net));
        let vif = db.create("VIF", &new_ref(), vif);
        assert_eq!(rset(db.get("VM", &vm).unwrap(), "VIFs"), vec![vif.clone()]);
        assert_eq!(
            rset(db.get("network", &net).unwrap(), "VIFs"),
            vec![vif.clone()]
        );
        let ev = db.events_since(start, &|_, _| true);
        let ops: Vec<_> = ev.iter().map(|e| (e.class.as_str(), e.operation)).collect();
        assert!(ops.contains(&("VIF", "add")));
        assert!(ops.contains(&("VM", "mod")));
        let mid = db.generation;
        db.destroy("VIF", &vif).unwrap();
        assert!(rset(db.get("VM", &vm).unwrap(), "VIFs").is_empty());
        let ev = db.events_since(mid, &|_, _| true);
        assert!(ev.iter().any(|e| e.class == "VIF" && e.operation == "del"));
        assert_eq!(
            db.get("VIF", &vif).unwrap_err(),
            ApiError::new(codes::HANDLE_INVALID, ["VIF", vif.as_str()])
        );
    }
}
