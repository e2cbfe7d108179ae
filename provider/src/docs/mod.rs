//! The documentation generator: registry-format markdown (`docs/index.md`,
//! `docs/resources/<name>.md`, `docs/data-sources/<name>.md`,
//! `docs/functions/<name>.md`) from the schemas' markdown descriptions and the
//! example files under `examples/`, laid out the way the Terraform Registry and
//! `tfplugindocs` expect:
//!
//! - `examples/provider/provider.tf` → the provider page's example;
//! - `examples/resources/<type>/resource.tf`, `import.sh` and
//!   `import-by-string-id.tf` → a resource page's example and Import section;
//! - `examples/data-sources/<type>/data-source.tf`;
//! - `examples/functions/<name>/function.tf`;
//! - `templates/guides/<name>.md` (hand-written guides, next to `examples/`) →
//!   `docs/guides/<name>.md`, copied verbatim (registry guides carry their own
//!   front matter), so that the freshness check covers them and a removed guide
//!   disappears from `docs/`.
//!
//! Page names drop the `xenapi_` prefix (`docs/resources/mac_address.md`). The
//! output depends only on the schemas and the examples (sorted, no dates), so
//! `docs/` can be committed and checked for staleness by regenerating it.

pub mod render;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use schema::Schema;

use crate::catalog::XenapiProvider;
use crate::framework::{FunctionDefinition, Provider};

/// Errors of the docs generator.
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    /// An example file exists but cannot be read.
    #[error("cannot read the example {path}: {source}")]
    ReadExample {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A required example is missing.
    #[error(
        "missing example {path}: every {kind} needs one (the docs show it as its usage example)"
    )]
    MissingExample { path: PathBuf, kind: &'static str },
    /// The output cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the docs are generated from.
#[derive(Debug, Clone)]
pub struct DocSource {
    /// The provider type name (`xenapi`).
    pub provider: String,
    /// The provider block's schema.
    pub provider_schema: Schema,
    /// Managed resources by full type name.
    pub resources: BTreeMap<String, Schema>,
    /// Data sources by full type name.
    pub data_sources: BTreeMap<String, Schema>,
    /// Functions by name.
    pub functions: BTreeMap<String, FunctionDefinition>,
}

impl DocSource {
    /// Everything a provider offers, read through the framework's trait.
    pub fn from_provider(provider: &dyn Provider) -> Self {
        DocSource {
            provider: provider.type_name().to_owned(),
            provider_schema: provider.schema(),
            resources: provider
                .resources()
                .iter()
                .map(|r| (r.type_name().to_owned(), r.schema()))
                .collect(),
            data_sources: provider
                .data_sources()
                .iter()
                .map(|d| (d.type_name().to_owned(), d.schema()))
                .collect(),
            functions: provider
                .functions()
                .iter()
                .map(|f| (f.name().to_owned(), f.definition()))
                .collect(),
        }
    }
}

/// Generates the docs of this provider into `out`, reading examples from the
/// `examples` directory next to it (`docs/` → `examples/`).
pub fn generate_docs(out: &Path) -> Result<(), DocsError> {
    let examples = examples_dir_for(out);
    generate_docs_from(&examples, out)
}

/// The `examples` directory that sits next to the output directory.
pub fn examples_dir_for(out: &Path) -> PathBuf {
    let parent = out
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect::<PathBuf>();
    match parent.parent() {
        Some(p) => p.join("examples"),
        None => PathBuf::from("examples"),
    }
}

/// Generates the docs of this provider into `out` from the given examples.
pub fn generate_docs_from(examples: &Path, out: &Path) -> Result<(), DocsError> {
    let source = DocSource::from_provider(&XenapiProvider::new());
    let pages = render_pages(&source, examples)?;
    write_pages(out, &pages)
}

/// Renders every page: relative path (e.g. `resources/mac_address.md`) → markdown.
pub fn render_pages(
    source: &DocSource,
    examples: &Path,
) -> Result<BTreeMap<PathBuf, String>, DocsError> {
    let mut pages = BTreeMap::new();
    pages.insert(PathBuf::from("index.md"), provider_page(source, examples)?);
    for (type_name, schema) in &source.resources {
        let page = resource_page(source, type_name, schema, examples, Kind::Resource)?;
        pages.insert(
            Path::new("resources").join(format!("{}.md", short_name(source, type_name))),
            page,
        );
    }
    for (type_name, schema) in &source.data_sources {
        let page = resource_page(source, type_name, schema, examples, Kind::DataSource)?;
        pages.insert(
            Path::new("data-sources").join(format!("{}.md", short_name(source, type_name))),
            page,
        );
    }
    for (name, definition) in &source.functions {
        pages.insert(
            Path::new("functions").join(format!("{name}.md")),
            function_page(source, name, definition, examples)?,
        );
    }
    for (name, text) in read_guides(&guides_dir_for(examples))? {
        pages.insert(Path::new("guides").join(name), text);
    }
    Ok(pages)
}

/// The hand-written guides directory that belongs to an examples directory:
/// `templates/guides` next to it.
pub fn guides_dir_for(examples: &Path) -> PathBuf {
    match examples.parent() {
        Some(p) => p.join("templates").join("guides"),
        None => PathBuf::from("templates").join("guides"),
    }
}

/// Every `*.md` guide in `dir` (file name → text, sorted); none when the
/// directory does not exist.
fn read_guides(dir: &Path) -> Result<BTreeMap<PathBuf, String>, DocsError> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(DocsError::ReadExample {
                path: dir.to_owned(),
                source,
            });
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&path).map_err(|source| DocsError::ReadExample {
                path: path.clone(),
                source,
            })?;
            out.insert(PathBuf::from(entry.file_name()), text);
        }
    }
    Ok(out)
}

/// Writes the pages under `out`, and removes markdown files in the generated
/// directories that no page produces any more (a removed resource's page).
pub fn write_pages(out: &Path, pages: &BTreeMap<PathBuf, String>) -> Result<(), DocsError> {
    for sub in ["resources", "data-sources", "functions", "guides"] {
        let dir = out.join(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = Path::new(sub).join(entry.file_name());
            if path.extension().is_some_and(|e| e == "md") && !pages.contains_key(&relative) {
                std::fs::remove_file(&path).map_err(|source| DocsError::Write {
                    path: path.clone(),
                    source,
                })?;
            }
        }
    }
    for (relative, text) in pages {
        let path = out.join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| DocsError::Write {
                path: dir.to_owned(),
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| DocsError::Write { path, source })?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Resource,
    DataSource,
}

fn short_name<'a>(source: &DocSource, type_name: &'a str) -> &'a str {
    type_name
        .strip_prefix(&format!("{}_", source.provider))
        .unwrap_or(type_name)
}

/// Reads an example; `None` when the file does not exist.
fn read_example(path: &Path) -> Result<Option<String>, DocsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim_end().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DocsError::ReadExample {
            path: path.to_owned(),
            source,
        }),
    }
}

fn require_example(path: PathBuf, kind: &'static str) -> Result<String, DocsError> {
    read_example(&path)?.ok_or(DocsError::MissingExample { path, kind })
}

const GENERATED: &str = "# generated by `terraform-provider-xenapi docs`: edit the schema descriptions in provider/src or the files in examples/, not this page";

fn front_matter(title: &str, description: &str) -> String {
    let first_paragraph = description.trim().split("\n\n").next().unwrap_or_default();
    format!(
        "---\n{GENERATED}\npage_title: \"{title}\"\nsubcategory: \"\"\ndescription: |-\n{}\n---\n\n",
        render::front_matter_description(first_paragraph)
    )
}

fn code_block(out: &mut String, language: &str, text: &str) {
    let _ = write!(out, "```{language}\n{text}\n```\n\n");
}

fn provider_page(source: &DocSource, examples: &Path) -> Result<String, DocsError> {
    let name = &source.provider;
    let description = source.provider_schema.block.description.trim();
    let mut out = front_matter(&format!("{name} Provider"), description);
    let _ = write!(
        out,
        "# {name} Provider\n\n{description}\n\n## Example Usage\n\n"
    );
    let example = require_example(examples.join("provider").join("provider.tf"), "provider")?;
    code_block(&mut out, "terraform", &example);
    out.push_str(&render::schema_section(&source.provider_schema.block));
    out.push('\n');
    Ok(out)
}

fn resource_page(
    source: &DocSource,
    type_name: &str,
    schema: &Schema,
    examples: &Path,
    kind: Kind,
) -> Result<String, DocsError> {
    let (label, dir, file, kind_name) = match kind {
        Kind::Resource => ("Resource", "resources", "resource.tf", "resource"),
        Kind::DataSource => (
            "Data Source",
            "data-sources",
            "data-source.tf",
            "data source",
        ),
    };
    let description = schema.block.description.trim();
    let mut out = front_matter(
        &format!(
            "{type_name} {label} - terraform-provider-{}",
            source.provider
        ),
        description,
    );
    let _ = write!(out, "# {type_name} ({label})\n\n");
    if !description.is_empty() {
        let _ = write!(out, "{description}\n\n");
    }
    let example_dir = examples.join(dir).join(type_name);
    out.push_str("## Example Usage\n\n");
    code_block(
        &mut out,
        "terraform",
        &require_example(example_dir.join(file), kind_name)?,
    );
    out.push_str(&render::schema_section(&schema.block));
    out.push('\n');
    if kind == Kind::Resource {
        let import_block = read_example(&example_dir.join("import-by-string-id.tf"))?;
        let import_cli = read_example(&example_dir.join("import.sh"))?;
        if import_block.is_some() || import_cli.is_some() {
            out.push_str("## Import\n\nImport is supported using the following syntax:\n\n");
            if let Some(block) = import_block {
                out.push_str(
                    "In Terraform v1.5.0 and later, the [`import` \
                     block](https://developer.hashicorp.com/terraform/language/import) can be \
                     used with the `id` attribute, for example:\n\n",
                );
                code_block(&mut out, "terraform", &block);
            }
            if let Some(cli) = import_cli {
                out.push_str(
                    "The [`terraform import` \
                     command](https://developer.hashicorp.com/terraform/cli/commands/import) can \
                     be used, for example:\n\n",
                );
                code_block(&mut out, "shell", &cli);
            }
            while out.ends_with("\n\n") {
                out.pop();
            }
        }
    }
    Ok(out)
}

fn function_page(
    source: &DocSource,
    name: &str,
    definition: &FunctionDefinition,
    examples: &Path,
) -> Result<String, DocsError> {
    let mut out = front_matter(
        &format!("{name} function - terraform-provider-{}", source.provider),
        &definition.summary,
    );
    let _ = write!(out, "# function: {name}\n\n");
    let description = definition.description.trim();
    if !description.is_empty() {
        let _ = write!(out, "{description}\n\n");
    }
    if let Some(message) = &definition.deprecation_message {
        let _ = write!(out, "~> **Deprecated:** {}\n\n", message.trim());
    }
    out.push_str("## Example Usage\n\n");
    let example = require_example(
        examples.join("functions").join(name).join("function.tf"),
        "function",
    )?;
    code_block(&mut out, "terraform", &example);
    out.push_str(
        "## Signature\n\n<!-- signature generated by terraform-provider-xenapi docs -->\n",
    );
    code_block(
        &mut out,
        "text",
        &render::function_signature(name, definition),
    );
    out.push_str(
        "## Arguments\n\n<!-- arguments generated by terraform-provider-xenapi docs -->\n",
    );
    out.push_str(&render::function_arguments(definition));
    let _ = write!(
        out,
        "\n## Return Type\n\nThe function returns a `{}`. Call it as \
         `provider::{}::{name}(...)` (Terraform 1.8 and later, OpenTofu 1.7 and later).\n",
        render::signature_type_name(&definition.return_type),
        source.provider
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    fn read_tree(dir: &Path) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let relative = path.strip_prefix(dir).unwrap().to_path_buf();
                    out.insert(relative, std::fs::read_to_string(&path).unwrap_or_default());
                }
            }
        }
        out
    }

    /// The stale-docs check: regenerating `docs/` must give exactly the committed
    /// files. Run with `UPDATE_DOCS=1` (or `terraform-provider-xenapi docs --out
    /// docs/`) to rewrite them.
    #[test]
    fn committed_docs_are_up_to_date() {
        let root = repo_root();
        let committed = root.join("docs");
        if std::env::var_os("UPDATE_DOCS").is_some() {
            generate_docs(&committed).unwrap();
        }
        let tmp = tempfile::tempdir().unwrap();
        generate_docs_from(&root.join("examples"), tmp.path()).unwrap();
        let fresh = read_tree(tmp.path());
        let existing = read_tree(&committed);
        let fresh_names: Vec<_> = fresh.keys().collect();
        let existing_names: Vec<_> = existing.keys().collect();
        assert_eq!(
            fresh_names, existing_names,
            "docs/ is stale: run `terraform-provider-xenapi docs --out docs/` (or \
             UPDATE_DOCS=1 cargo test -p terraform-provider-xenapi docs) and commit"
        );
        for (name, text) in &fresh {
            assert!(
                existing.get(name) == Some(text),
                "docs/{} is stale: run `terraform-provider-xenapi docs --out docs/` (or \
                 UPDATE_DOCS=1 cargo test -p terraform-provider-xenapi docs) and commit \
                 (guides are edited in templates/guides/, not in docs/guides/)",
                name.display()
            );
        }
    }

    #[test]
    fn generation_is_deterministic_and_covers_everything() {
        let root = repo_root();
        let source = DocSource::from_provider(&XenapiProvider::new());
        let a = render_pages(&source, &root.join("examples")).unwrap();
        let b = render_pages(&source, &root.join("examples")).unwrap();
        assert_eq!(a, b);
        assert!(a.contains_key(Path::new("index.md")));
        for type_name in source.resources.keys() {
            let page =
                Path::new("resources").join(format!("{}.md", short_name(&source, type_name)));
            assert!(a.contains_key(&page), "{}", page.display());
        }
        for name in source.functions.keys() {
            assert!(a.contains_key(&Path::new("functions").join(format!("{name}.md"))));
        }
        let mac = &a[Path::new("resources/mac_address.md")];
        assert!(mac.contains("# xenapi_mac_address (Resource)"));
        assert!(mac.contains("## Import"));
        assert!(mac.contains("terraform import xenapi_mac_address.web"));
        let index = &a[Path::new("index.md")];
        assert!(
            index.contains("- `password` (String, Sensitive)"),
            "{index}"
        );
        let function = &a[Path::new("functions/mac_address.md")];
        assert!(function.contains("mac_address(seed string, prefix string...) string"));
        assert!(function.contains("1. `prefix` (Variadic, String)"));
    }

    #[test]
    fn a_missing_example_is_an_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let source = DocSource::from_provider(&XenapiProvider::new());
        let err = render_pages(&source, tmp.path()).unwrap_err();
        assert!(matches!(err, DocsError::MissingExample { .. }));
        assert!(err.to_string().contains("provider.tf"), "{err}");
    }

    #[test]
    fn guides_are_copied_verbatim_and_removed_when_gone() {
        let tmp = tempfile::tempdir().unwrap();
        let examples = tmp.path().join("examples");
        let guides = tmp.path().join("templates/guides");
        std::fs::create_dir_all(&guides).unwrap();
        let text = "---\npage_title: \"A guide\"\nsubcategory: \"Guides\"\n---\n\n# A guide\n";
        std::fs::write(guides.join("a.md"), text).unwrap();
        std::fs::write(guides.join("notes.txt"), "not a guide").unwrap();
        assert_eq!(guides_dir_for(&examples), guides);
        let found = read_guides(&guides).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[Path::new("a.md")], text);
        // A guide whose source is gone is removed from the output.
        let out = tmp.path().join("docs");
        std::fs::create_dir_all(out.join("guides")).unwrap();
        std::fs::write(out.join("guides/old.md"), "old").unwrap();
        let mut pages = BTreeMap::new();
        pages.insert(PathBuf::from("guides/a.md"), text.to_owned());
        write_pages(&out, &pages).unwrap();
        assert!(!out.join("guides/old.md").exists());
        assert_eq!(
            std::fs::read_to_string(out.join("guides/a.md")).unwrap(),
            text
        );
        assert!(read_guides(&tmp.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn stale_pages_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("resources")).unwrap();
        std::fs::write(tmp.path().join("resources/old.md"), "old").unwrap();
        std::fs::write(tmp.path().join("resources/notes.txt"), "keep").unwrap();
        let mut pages = BTreeMap::new();
        pages.insert(PathBuf::from("resources/new.md"), "new".to_owned());
        write_pages(tmp.path(), &pages).unwrap();
        assert!(!tmp.path().join("resources/old.md").exists());
        assert!(tmp.path().join("resources/notes.txt").exists());
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("resources/new.md")).unwrap(),
            "new"
        );
    }

    #[test]
    fn examples_dir_is_next_to_the_output() {
        assert_eq!(
            examples_dir_for(Path::new("docs/")),
            PathBuf::from("examples")
        );
        assert_eq!(
            examples_dir_for(Path::new("./docs")),
            PathBuf::from("examples")
        );
        assert_eq!(
            examples_dir_for(Path::new("/repo/docs")),
            PathBuf::from("/repo/examples")
        );
    }
}
