//! Attribute paths, as carried by diagnostics (`tfplugin6.AttributePath`).

use std::fmt;

/// One step of an [`AttributePath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathStep {
    /// An object attribute or block type name.
    Attribute(String),
    /// A map key.
    ElementKeyString(String),
    /// A list or tuple index.
    ElementKeyInt(i64),
}

/// A path from the root of a schema's object to a nested value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct AttributePath(pub Vec<PathStep>);

impl AttributePath {
    /// The empty path (the whole object).
    pub fn root() -> Self {
        AttributePath(Vec::new())
    }

    /// A path with one attribute step.
    pub fn new(attr: &str) -> Self {
        Self::root().attr(attr)
    }

    /// Appends an attribute step.
    pub fn attr(mut self, name: &str) -> Self {
        self.0.push(PathStep::Attribute(name.to_string()));
        self
    }

    /// Appends a map-key step.
    pub fn key(mut self, key: &str) -> Self {
        self.0.push(PathStep::ElementKeyString(key.to_string()));
        self
    }

    /// Appends a list-index step.
    pub fn index(mut self, i: i64) -> Self {
        self.0.push(PathStep::ElementKeyInt(i));
        self
    }

    /// Appends any step.
    pub fn push(mut self, step: PathStep) -> Self {
        self.0.push(step);
        self
    }

    /// The steps.
    pub fn steps(&self) -> &[PathStep] {
        &self.0
    }

    /// True for the root path.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path without its last step (root stays root).
    pub fn parent(&self) -> AttributePath {
        let mut steps = self.0.clone();
        steps.pop();
        AttributePath(steps)
    }

    /// The path with `other`'s steps appended.
    pub fn join(mut self, other: &AttributePath) -> Self {
        self.0.extend(other.0.iter().cloned());
        self
    }
}

/// Terraform-style rendering: `memory.static_min`, `network_interface[0].mac`,
/// `tags["env"]`; the root path renders as the empty string.
impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Attribute(name) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                }
                PathStep::ElementKeyString(k) => {
                    let lit = serde_json::to_string(k).map_err(|_| fmt::Error)?;
                    write!(f, "[{lit}]")?;
                }
                PathStep::ElementKeyInt(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        assert_eq!(AttributePath::root().to_string(), "");
        assert_eq!(
            AttributePath::root()
                .attr("memory")
                .attr("static_min")
                .to_string(),
            "memory.static_min"
        );
        assert_eq!(
            AttributePath::new("network_interface")
                .index(0)
                .attr("mac")
                .to_string(),
            "network_interface[0].mac"
        );
        assert_eq!(
            AttributePath::new("tags").key("env").to_string(),
            "tags[\"env\"]"
        );
        assert_eq!(
            AttributePath::new("tags").key("a\"b").to_string(),
            "tags[\"a\\\"b\"]"
        );
        let p = AttributePath::new("a").index(1);
        assert_eq!(p.parent(), AttributePath::new("a"));
        assert_eq!(AttributePath::new("x").join(&p).to_string(), "x.a[1]");
    }
}
