//! The `meta-data` file.

use crate::error::{Field, Problem, ValidationError, ValidationErrors, collect};
use crate::yaml::{self, Node};

/// Comment line written before an `instance-id` this crate appends to user meta-data, so the
/// user's own text can be recovered exactly (see [`MetaData::from_drive_text`]).
pub const APPENDED_MARKER: &str =
    "# instance-id appended by terraform-provider-xenapi (cloud_init.instance_id)";

/// The `meta-data` file of the drive.
///
/// Without `user_text` the file is generated:
/// ```yaml
/// instance-id: "6a1c0a4e-8a4b-4c39-9a6e-2f0a0b9d7c11"
/// local-hostname: web-1
/// ```
///
/// With `user_text` (the user's own `meta_data`), that text is written verbatim, with one
/// rule: the file must carry an `instance-id` (cloud-init falls back to `nocloud`, and
/// cloudbase-init keys its plugin state by it). If the user's YAML mapping has an
/// `instance-id` key, the text is used unchanged and the user's id wins over `instance_id`.
/// Otherwise [`APPENDED_MARKER`] and `instance-id: <instance_id>` are appended as the last
/// lines. If plain appending would not give a YAML mapping with the original keys plus
/// `instance-id` (a flow mapping `{...}`, an explicit end marker `...`), the mapping is
/// re-serialized with `instance-id` added instead (comments and formatting are then lost).
/// `local_hostname` is not added to user text: whoever writes meta-data owns the hostname.
///
/// `instance-id` semantics: cloud-init and cloudbase-init treat a new instance id as a new
/// machine and run every per-instance step again (users, passwords, SSH host keys, runcmd,
/// network). Keeping the id (the default is the VM UUID) while rebuilding the drive means a
/// changed user-data is mostly not applied to an existing VM; changing the id re-provisions it
/// in place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaData {
    /// `instance-id` (the provider's default is the VM UUID).
    pub instance_id: String,
    /// `local-hostname` (the provider passes the VM's `name_label`); omitted when `None`.
    pub local_hostname: Option<String>,
    /// The user's own meta-data text, used verbatim (see the type docs).
    pub user_text: Option<String>,
}

fn check_single_line(field: Field, value: &str, errors: &mut Vec<ValidationError>) {
    if value.trim().is_empty() {
        errors.push(ValidationError::new(field, Problem::Empty));
    } else if value.chars().any(char::is_control) {
        errors.push(ValidationError::new(field, Problem::NotSingleLine));
    }
}

fn yaml_type_name(v: &serde_norway::Value) -> String {
    match v {
        serde_norway::Value::Null => "null",
        serde_norway::Value::Bool(_) => "a boolean",
        serde_norway::Value::Number(_) => "a number",
        serde_norway::Value::String(_) => "a string",
        serde_norway::Value::Sequence(_) => "a list",
        serde_norway::Value::Mapping(_) => "a mapping",
        serde_norway::Value::Tagged(_) => "a tagged value",
    }
    .to_owned()
}

/// Parses user meta-data: must be YAML whose document is a mapping (or empty).
fn parse_user(text: &str) -> Result<serde_norway::Mapping, Problem> {
    let value: serde_norway::Value =
        serde_norway::from_str(text).map_err(|e| Problem::InvalidYaml {
            reason: e.to_string(),
        })?;
    match value {
        serde_norway::Value::Null => Ok(serde_norway::Mapping::new()),
        serde_norway::Value::Mapping(m) => Ok(m),
        other => Err(Problem::WrongType {
            expected: "a YAML mapping",
            found: yaml_type_name(&other),
        }),
    }
}

/// Plan-time check of a user's meta-data text: valid YAML, and a mapping.
pub fn validate_meta_data_text(text: &str) -> Result<(), ValidationError> {
    parse_user(text)
        .map(|_| ())
        .map_err(|p| ValidationError::new(Field::MetaData, p))
}

impl MetaData {
    /// Validates the fields (plan-time helper): a non-empty single-line instance id and
    /// hostname, and user text that is a YAML mapping.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        check_single_line(Field::InstanceId, &self.instance_id, &mut errors);
        if let Some(h) = &self.local_hostname {
            check_single_line(Field::MetaData, h, &mut errors);
        }
        if let Some(t) = &self.user_text
            && let Err(e) = validate_meta_data_text(t)
        {
            errors.push(e);
        }
        collect(errors)
    }

    /// The file content (see the type docs for the rules).
    pub fn to_text(&self) -> Result<String, ValidationErrors> {
        self.validate()?;
        let Some(user) = &self.user_text else {
            let mut doc = vec![("instance-id".to_owned(), Node::str(&self.instance_id))];
            if let Some(h) = &self.local_hostname {
                doc.push(("local-hostname".to_owned(), Node::str(h)));
            }
            return Ok(yaml::to_string(&Node::Map(doc)));
        };
        let map = parse_user(user)
            .map_err(|p| ValidationErrors(vec![ValidationError::new(Field::MetaData, p)]))?;
        let key = serde_norway::Value::String("instance-id".to_owned());
        if map.contains_key(&key) {
            return Ok(user.clone());
        }
        let id_line = yaml::to_string(&Node::Map(vec![(
            "instance-id".to_owned(),
            Node::str(&self.instance_id),
        )]));
        let mut appended = user.clone();
        if !appended.is_empty() && !appended.ends_with('\n') {
            appended.push('\n');
        }
        appended.push_str(APPENDED_MARKER);
        appended.push('\n');
        appended.push_str(&id_line);
        let mut expected = map.clone();
        expected.insert(key, serde_norway::Value::String(self.instance_id.clone()));
        if parse_user(&appended).ok().as_ref() == Some(&expected) {
            return Ok(appended);
        }
        // Fallback: re-serialize the mapping with instance-id added.
        let mut text =
            serde_norway::to_string(&serde_norway::Value::Mapping(map)).map_err(|e| {
                ValidationErrors(vec![ValidationError::new(
                    Field::MetaData,
                    Problem::InvalidYaml {
                        reason: e.to_string(),
                    },
                )])
            })?;
        if text.trim() == "{}" {
            text.clear();
        }
        text.push_str(APPENDED_MARKER);
        text.push('\n');
        text.push_str(&id_line);
        Ok(text)
    }

    /// Recovers the meta-data inputs from a drive's `meta-data` file (import).
    ///
    /// * Text this crate generated (exactly `instance-id` and optionally `local-hostname`,
    ///   rendered as [`MetaData::to_text`] renders them) gives `user_text = None`.
    /// * Text ending in [`APPENDED_MARKER`] + `instance-id` line gives the user's text
    ///   before the marker and that id. When the user's text had no final newline, one was
    ///   added before the marker, so the recovered text ends with a newline (its rendering
    ///   is identical).
    /// * Anything else is user text used verbatim; `instance_id` is its `instance-id` value
    ///   (empty if it has none).
    pub fn from_drive_text(text: &str) -> MetaData {
        let map = parse_user(text).unwrap_or_default();
        let get = |k: &str| {
            map.get(serde_norway::Value::String(k.to_owned()))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let instance_id = get("instance-id").unwrap_or_default();
        let generated = MetaData {
            instance_id: instance_id.clone(),
            local_hostname: get("local-hostname"),
            user_text: None,
        };
        if generated.to_text().ok().as_deref() == Some(text) {
            return generated;
        }
        let marker = format!("{APPENDED_MARKER}\n");
        if let Some(pos) = text.rfind(&marker) {
            let user = &text[..pos];
            let candidate = MetaData {
                instance_id: instance_id.clone(),
                local_hostname: None,
                user_text: Some(user.to_owned()),
            };
            if candidate.to_text().ok().as_deref() == Some(text) {
                return candidate;
            }
            // The user's text lost its missing final newline when we appended one.
            if let Some(stripped) = user.strip_suffix('\n') {
                let candidate = MetaData {
                    user_text: Some(stripped.to_owned()),
                    ..candidate
                };
                if candidate.to_text().ok().as_deref() == Some(text) {
                    return candidate;
                }
            }
        }
        MetaData {
            instance_id,
            local_hostname: None,
            user_text: Some(text.to_owned()),
        }
    }
}
