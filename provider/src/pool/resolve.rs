//! "UUID or unique name_label" lookups with ambiguity errors that list the
//! candidates.
//!
//! Rule: a query shaped like a UUID is first looked up as a UUID (one
//! `get_by_uuid` + one `get_record`, or the batched snapshot); if no object
//! has that UUID, or the query is not UUID-shaped, it is matched exactly
//! against `name_label` (one `get_by_name_label` + one `get_record` per
//! match). Only objects the `accept` filter admits count (e.g. templates for
//! `template`). No match is an error listing what exists; several matches is
//! an error listing every match.

use xapi::{
    HostRecord, HostRef, NetworkRecord, NetworkRef, Ref, SrRecord, SrRef, VdiRecord, VdiRef,
    VmRecord, VmRef,
};

use super::{Cached, Candidate, Pool, PoolError};

/// True for the canonical textual UUID form (8-4-4-4-12 hex digits).
pub fn looks_like_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Candidates (UUID and name) of these records, sorted by name then UUID.
pub fn candidates<'a, C: Cached>(
    records: impl IntoIterator<Item = &'a C::Record>,
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = records
        .into_iter()
        .map(|r| Candidate {
            uuid: C::uuid(r).to_string(),
            name_label: C::name_label(r).to_string(),
        })
        .collect();
    out.sort_by(|a, b| (&a.name_label, &a.uuid).cmp(&(&b.name_label, &b.uuid)));
    out
}

/// The filter for templates usable as a clone source.
pub fn is_template(vm: &VmRecord) -> bool {
    vm.is_a_template && !vm.is_a_snapshot && !vm.is_control_domain
}

impl Pool {
    /// Resolves `query` (UUID or exact `name_label`) to exactly one object of
    /// class `C` that `accept` admits. `kind` names it in messages.
    pub async fn resolve<C: Cached>(
        &self,
        kind: &'static str,
        query: &str,
        accept: impl Fn(&C::Record) -> bool,
    ) -> Result<(Ref<C>, C::Record), PoolError> {
        let query_trimmed = query.trim();
        if looks_like_uuid(query_trimmed)
            && let Some((r, record)) = self.by_uuid::<C>(query_trimmed).await?
            && accept(&record)
        {
            return Ok((r, record));
        }
        let mut matches: Vec<(Ref<C>, C::Record)> = self
            .by_name::<C>(query)
            .await?
            .into_iter()
            .filter(|(_, record)| accept(record))
            .collect();
        match matches.len() {
            1 => Ok(matches.remove(0)),
            0 => {
                // Error path only: list what exists (one batched read).
                let all = self.all::<C>().await?;
                Err(PoolError::NotFound {
                    kind,
                    query: query.to_string(),
                    candidates: candidates::<C>(all.values().filter(|r| accept(r))),
                })
            }
            _ => Err(PoolError::Ambiguous {
                kind,
                query: query.to_string(),
                candidates: candidates::<C>(matches.iter().map(|(_, r)| r)),
            }),
        }
    }

    /// A template (not a snapshot) by UUID or unique name.
    pub async fn resolve_template(&self, query: &str) -> Result<(VmRef, VmRecord), PoolError> {
        self.resolve::<xapi::Vm>("template", query, is_template)
            .await
    }

    /// A network by UUID or unique name.
    pub async fn resolve_network(
        &self,
        query: &str,
    ) -> Result<(NetworkRef, NetworkRecord), PoolError> {
        self.resolve::<xapi::Network>("network", query, |_| true)
            .await
    }

    /// A storage repository by UUID or unique name.
    pub async fn resolve_sr(&self, query: &str) -> Result<(SrRef, SrRecord), PoolError> {
        self.resolve::<xapi::Sr>("SR", query, |_| true).await
    }

    /// A host by UUID or unique name.
    pub async fn resolve_host(&self, query: &str) -> Result<(HostRef, HostRecord), PoolError> {
        self.resolve::<xapi::Host>("host", query, |_| true).await
    }

    /// A VDI (not a snapshot) by UUID or unique name, e.g. an ISO for `cdrom`.
    pub async fn resolve_vdi(&self, query: &str) -> Result<(VdiRef, VdiRecord), PoolError> {
        self.resolve::<xapi::Vdi>("VDI", query, |v| !v.is_a_snapshot)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        assert!(looks_like_uuid("8c3bfa0e-4fd5-4c9b-9e7d-0d2b7d1f2a3b"));
        assert!(looks_like_uuid("8C3BFA0E-4FD5-4C9B-9E7D-0D2B7D1F2A3B"));
        assert!(!looks_like_uuid("8c3bfa0e4fd54c9b9e7d0d2b7d1f2a3b"));
        assert!(!looks_like_uuid("ubuntu-22.04-template"));
        assert!(!looks_like_uuid("8c3bfa0e-4fd5-4c9b-9e7d-0d2b7d1f2a3g"));
        assert!(!looks_like_uuid(""));
    }

    #[test]
    fn template_filter() {
        let mut vm = VmRecord {
            is_a_template: true,
            ..VmRecord::default()
        };
        assert!(is_template(&vm));
        vm.is_a_snapshot = true;
        assert!(!is_template(&vm));
        vm.is_a_snapshot = false;
        vm.is_a_template = false;
        assert!(!is_template(&vm));
    }

    #[test]
    fn ambiguity_lists_candidates_sorted() {
        let a = VmRecord {
            uuid: "b".into(),
            name_label: "x".into(),
            ..VmRecord::default()
        };
        let b = VmRecord {
            uuid: "a".into(),
            name_label: "x".into(),
            ..VmRecord::default()
        };
        let c = candidates::<xapi::Vm>([&a, &b]);
        let err = PoolError::Ambiguous {
            kind: "template",
            query: "x".into(),
            candidates: c,
        };
        assert_eq!(
            err.to_string(),
            "2 templates match \"x\": \"x\" (a), \"x\" (b). Use the UUID (or a unique name) \
             to choose one"
        );
    }
}
