//! Skills: the `io.modelcontextprotocol/skills` extension (SEP-2640, as the `ext-skills`
//! repository's stable text has it). A skill is a folder: a `SKILL.md` (YAML frontmatter with
//! its `name` and `description`, then instructions) and the files beside it. A server lists its
//! skills with `skills/list`, gives one with `skills/get` (its frontmatter and a manifest of its
//! files: URI, SHA-256 digest, size), and serves each file as a `skill://` resource; the
//! folders are read with `resources/directory/read`.
//!
//! Skills come from a folder embedded at build time
//! ([`include_skills!`](crate::include_skills)) or from code ([`Skill::new`]), and are given to
//! a server with [`McpServer::skills`](crate::McpServer::skills). A skill that breaks a rule of
//! the extension (its name, its description, its files' paths, 512 files or 16 MiB) is a build
//! error.

use super::resource::Resource;
use crate::content::ResourceContents;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The extension's identifier, in `capabilities.extensions`.
pub(crate) const EXTENSION: &str = "io.modelcontextprotocol/skills";
/// The most files a skill may have, its `SKILL.md` counted.
pub(crate) const MAX_FILES: usize = 512;
/// The most bytes a skill's files may add up to.
pub(crate) const MAX_BYTES: usize = 16 * 1024 * 1024;
/// The MIME type of a folder in `resources/directory/read`.
pub(crate) const DIRECTORY_MIME_TYPE: &str = "inode/directory";
const SKILL_MD: &str = "SKILL.md";

/// A skill: its `SKILL.md` and the files beside it, served under
/// `skill://<path>/<name>/…`.
///
/// ```
/// use mcp_runtime::catalog::Skill;
///
/// let skill = Skill::new(
///     "release-notes",
///     "Write release notes from the merged changes",
///     "List the merged changes with `list_changes`, then group them by area.",
/// )
/// .file("templates/notes.md", "## Added\n\n## Fixed\n");
/// assert_eq!(skill.uri(), "skill://release-notes/SKILL.md");
/// ```
#[derive(Clone, Debug)]
pub struct Skill {
    /// The folder below `skill://`: organising segments, then the skill's name.
    path: String,
    name: String,
    frontmatter: Map<String, Value>,
    /// The files, by path inside the folder (`SKILL.md`, `examples/a.md`).
    files: BTreeMap<String, Bytes>,
    pub(crate) scopes: Vec<String>,
    problems: Vec<String>,
}

impl Skill {
    /// A skill written in code: its `SKILL.md` is the frontmatter (`name`, `description`)
    /// followed by `instructions` (Markdown).
    pub fn new(name: &str, description: &str, instructions: &str) -> Self {
        let text = format!(
            "---\nname: {}\ndescription: {}\n---\n\n{}\n",
            json!(name),
            json!(description),
            instructions.trim_end()
        );
        let mut skill = Self::parsed(name.to_owned(), &text);
        skill
            .files
            .insert(SKILL_MD.to_owned(), Bytes::from(text.into_bytes()));
        skill
    }

    /// The skills of a folder's files, given as paths relative to it with their bytes (what
    /// [`include_skills!`](crate::include_skills) gives): each folder holding a `SKILL.md` is
    /// a skill, with every file below it (a skill inside another is listed in both, as the
    /// extension has it).
    pub fn from_files(files: &[(&str, &'static [u8])]) -> Vec<Self> {
        let mut skills = Vec::new();
        for (path, bytes) in files {
            let Some(folder) = path
                .strip_suffix(SKILL_MD)
                .filter(|f| f.is_empty() || f.ends_with('/'))
            else {
                continue;
            };
            let folder = folder.trim_end_matches('/');
            let name = folder.rsplit('/').next().unwrap_or_default().to_owned();
            let text = String::from_utf8_lossy(bytes);
            let mut skill = Self::parsed(name, &text);
            skill.path = folder.to_owned();
            if folder.is_empty() {
                skill.problems.push(
                    "a SKILL.md at the top of the skills folder has no folder of its own: put \
                     it in a folder named after the skill"
                        .into(),
                );
            }
            let prefix = format!("{folder}/");
            for (other, other_bytes) in files {
                if let Some(rest) = other.strip_prefix(&prefix) {
                    skill
                        .files
                        .insert(rest.to_owned(), Bytes::from_static(other_bytes));
                }
            }
            skills.push(skill);
        }
        skills
    }

    /// A skill whose `SKILL.md` is `text`, in a folder named `name`.
    fn parsed(name: String, text: &str) -> Self {
        let mut problems = Vec::new();
        let frontmatter = match frontmatter(text) {
            Ok(f) => f,
            Err(p) => {
                problems.push(format!("its SKILL.md {p}"));
                Map::new()
            }
        };
        Self {
            path: name.clone(),
            name,
            frontmatter,
            files: BTreeMap::new(),
            scopes: Vec::new(),
            problems,
        }
    }

    /// Adds a file beside `SKILL.md`, at `path` inside the skill's folder (`templates/a.md`).
    #[must_use]
    pub fn file(mut self, path: &str, bytes: impl Into<Bytes>) -> Self {
        self.files.insert(path.to_owned(), bytes.into());
        self
    }

    /// Puts the skill under organising folders: `under("crm")` serves
    /// `skill://crm/<name>/SKILL.md`.
    #[must_use]
    pub fn under(mut self, folders: &str) -> Self {
        let folders = folders.trim_matches('/');
        if !folders.is_empty() {
            self.path = format!("{folders}/{}", self.path);
        }
        self
    }

    /// Requires these scopes of callers: others do not see the skill or read its files.
    #[must_use]
    pub fn require_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The skill's name (its folder's).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URI of its `SKILL.md`.
    pub fn uri(&self) -> String {
        format!("skill://{}/{SKILL_MD}", self.path)
    }

    /// The URI of a file of the skill.
    fn file_uri(&self, path: &str) -> String {
        format!("skill://{}/{path}", self.path)
    }

    /// What breaks the extension's rules, one sentence each.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = self.problems.clone();
        let name = self.frontmatter.get("name").and_then(Value::as_str);
        match name {
            None if self.problems.is_empty() => {
                problems.push("its frontmatter has no `name`".into());
            }
            None => {}
            Some(n) if n != self.name => problems.push(format!(
                "its frontmatter names it `{}`, but its folder is `{}`: they must be the same",
                crate::bounds::shown(n),
                crate::bounds::shown(&self.name)
            )),
            Some(n) if !valid_name(n) => problems.push(format!(
                "its name `{}` must be 1 to 64 lowercase letters and digits, with single \
                 hyphens between them",
                crate::bounds::shown(n)
            )),
            Some(_) => {}
        }
        match self.frontmatter.get("description") {
            Some(Value::String(d)) if !d.is_empty() && d.chars().count() <= 1024 => {}
            None if !self.problems.is_empty() => {}
            _ => problems.push("its `description` must be a string of 1 to 1024 characters".into()),
        }
        match self.frontmatter.get("compatibility") {
            None => {}
            Some(Value::String(c)) if !c.is_empty() && c.chars().count() <= 500 => {}
            _ => {
                problems.push("its `compatibility` must be a string of 1 to 500 characters".into())
            }
        }
        match self.frontmatter.get("metadata") {
            None => {}
            Some(Value::Object(m)) if m.values().all(Value::is_string) => {}
            _ => problems.push("its `metadata` must map names to strings".into()),
        }
        if !self.files.contains_key(SKILL_MD) && self.problems.is_empty() {
            problems.push("it has no SKILL.md".into());
        }
        for path in self.files.keys() {
            if !valid_file_path(path) {
                problems.push(format!(
                    "its file `{}` has a path that is not a plain relative path of letters, \
                     digits, `.`, `-`, `_` and `/` (no empty, `.` or `..` segment)",
                    crate::bounds::shown(path)
                ));
            }
        }
        if !self.path.split('/').all(valid_segment) {
            problems.push(format!(
                "its folder `{}` is not a plain path of letters, digits, `.`, `-` and `_`",
                crate::bounds::shown(&self.path)
            ));
        }
        if self.files.len() > MAX_FILES {
            problems.push(format!(
                "it has {} files; a skill may have {MAX_FILES}",
                self.files.len()
            ));
        }
        let bytes: usize = self.files.values().map(Bytes::len).sum();
        if bytes > MAX_BYTES {
            problems.push(format!(
                "its files add up to {bytes} bytes; a skill may have {MAX_BYTES}"
            ));
        }
        problems
    }

    /// The skill as `skills/list` and `skills/get` give it: its URI, frontmatter and the
    /// manifest of its files.
    fn entry(&self) -> Value {
        let resources: Vec<Value> = self
            .files
            .iter()
            .map(|(path, bytes)| {
                let mut digest = String::from("sha256:");
                crate::protocol::push_hex(&Sha256::digest(bytes), &mut digest);
                json!({ "uri": self.file_uri(path), "digest": digest, "size": bytes.len() })
            })
            .collect();
        json!({
            "uri": self.uri(),
            "frontmatter": self.frontmatter,
            "resources": resources,
        })
    }

    /// Each file as a resource (only `SKILL.md` listed), at its `skill://` URI: the bytes as
    /// they are, as text when they are UTF-8, else as a blob.
    pub(crate) fn resources(&self) -> Vec<Resource> {
        self.files
            .iter()
            .map(|(path, bytes)| {
                let uri = self.file_uri(path);
                let mime = mime_type(path);
                let file = bytes.clone();
                let read_uri = uri.clone();
                let name = path.rsplit('/').next().unwrap_or(path).to_owned();
                let mut resource = Resource::new(uri, name, move |_, _| {
                    let contents = match std::str::from_utf8(&file) {
                        Ok(text) => ResourceContents::text(&read_uri, Some(mime), text),
                        Err(_) => ResourceContents::blob(&read_uri, Some(mime), &file),
                    };
                    std::future::ready(contents)
                })
                .mime_type(mime)
                .size(bytes.len() as u64)
                .require_scopes(self.scopes.clone());
                if path == SKILL_MD {
                    resource.name = self.name.clone();
                    if let Some(d) = self.frontmatter.get("description").and_then(Value::as_str) {
                        resource = resource.description(d);
                    }
                } else {
                    resource.listed = false;
                }
                resource
            })
            .collect()
    }
}

/// `name` is 1 to 64 of `a-z`, `0-9`, with single hyphens between them.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.split('-').all(|part| {
            !part.is_empty() && part.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9'))
        })
}

fn valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn valid_file_path(path: &str) -> bool {
    path.split('/').all(valid_segment)
}

/// The MIME type of a skill file, by its extension.
fn mime_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "md" | "markdown" => "text/markdown",
        "txt" => "text/plain",
        "json" => "application/json",
        "yaml" | "yml" => "application/yaml",
        "py" => "text/x-python",
        "sh" => "application/x-sh",
        "js" | "mjs" => "text/javascript",
        "ts" => "text/x-typescript",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "sql" => "application/sql",
        "toml" => "application/toml",
        "xml" => "application/xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// The frontmatter of a `SKILL.md`: the YAML mapping between its first two `---` lines, as
/// JSON (YAML 1.2 core schema: `yes` stays a string, `1.0` is a number).
fn frontmatter(text: &str) -> Result<Map<String, Value>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    if lines.next().map(str::trim_end) != Some("---") {
        return Err("does not start with a `---` line (its YAML frontmatter)".into());
    }
    let mut yaml = String::new();
    let mut closed = false;
    for line in lines {
        if line.trim_end() == "---" {
            closed = true;
            break;
        }
        yaml.push_str(line);
    }
    if !closed {
        return Err("has no `---` line closing its frontmatter".into());
    }
    plain_yaml(&yaml)?;
    let docs = yaml_rust2::YamlLoader::load_from_str(&yaml)
        .map_err(|e| format!("has frontmatter that is not YAML: {e}"))?;
    match docs.into_iter().next().map(to_json) {
        Some(Ok(Value::Object(map))) => Ok(map),
        Some(Err(e)) => Err(format!("has frontmatter that cannot be JSON: {e}")),
        _ => Err("has frontmatter that is not a mapping".into()),
    }
}

/// Refuses what clients' frontmatter parsers refuse: anchors, aliases, tags, nesting deeper
/// than 32.
fn plain_yaml(yaml: &str) -> Result<(), String> {
    use yaml_rust2::parser::{Event, Parser};
    let mut parser = Parser::new_from_str(yaml);
    let mut depth = 0usize;
    loop {
        let (event, _) = parser
            .next_token()
            .map_err(|e| format!("has frontmatter that is not YAML: {e}"))?;
        let (anchor, tagged) = match &event {
            Event::StreamEnd => return Ok(()),
            Event::Alias(_) => (1, false),
            Event::Scalar(_, _, anchor, tag) => (*anchor, tag.is_some()),
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                depth += 1;
                (*anchor, tag.is_some())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                depth = depth.saturating_sub(1);
                (0, false)
            }
            _ => (0, false),
        };
        if anchor != 0 || tagged {
            return Err(
                "has frontmatter with anchors, aliases or tags, which clients refuse".into(),
            );
        }
        if depth > 32 {
            return Err("has frontmatter nested deeper than 32 levels".into());
        }
    }
}

fn to_json(yaml: yaml_rust2::Yaml) -> Result<Value, String> {
    use yaml_rust2::Yaml;
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => json!(i),
        Yaml::Real(r) => {
            let f: f64 = r.parse().map_err(|_| format!("`{r}` is not a number"))?;
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| format!("`{r}` is not a finite number"))?
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Array(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Yaml::Hash(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let Yaml::String(key) = k else {
                    return Err("a key is not a string".into());
                };
                if out.insert(key.clone(), to_json(v)?).is_some() {
                    return Err(format!("`{key}` is given twice"));
                }
            }
            Value::Object(out)
        }
        Yaml::Alias(_) => return Err("aliases are not allowed".into()),
        Yaml::BadValue => return Err("a value cannot be read".into()),
    })
}

/// Whether a caller holding `held` (`None`: scopes do not apply) sees what needs `needed`.
fn sees(held: Option<&[String]>, needed: &[String]) -> bool {
    held.is_none_or(|h| crate::protocol::scopes_cover(h, needed))
}

/// The skills of a server, as its requests read them.
#[derive(Debug, Default)]
pub(crate) struct Skills {
    skills: Vec<Listed>,
}

#[derive(Debug)]
struct Listed {
    uri: String,
    scopes: Vec<String>,
    entry: Value,
    /// The folders of the skill (its own and those inside it, each by URI without a trailing
    /// slash) with their direct children.
    folders: BTreeMap<String, BTreeSet<Child>>,
}

/// A folder's child: its URI, and for a file its MIME type and size.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Child {
    uri: String,
    file: Option<(&'static str, usize)>,
}

impl Skills {
    /// The index of `skills`, each checked by then.
    pub(crate) fn new(skills: &[Skill]) -> Self {
        let mut listed: Vec<Listed> = skills
            .iter()
            .map(|skill| {
                let root = format!("skill://{}", skill.path);
                let mut folders: BTreeMap<String, BTreeSet<Child>> = BTreeMap::new();
                folders.entry(root.clone()).or_default();
                for (path, bytes) in &skill.files {
                    let mut folder = root.clone();
                    let mut segments = path.split('/').peekable();
                    while let Some(segment) = segments.next() {
                        let here = format!("{folder}/{segment}");
                        let child = Child {
                            uri: here.clone(),
                            file: segments
                                .peek()
                                .is_none()
                                .then(|| (mime_type(path), bytes.len())),
                        };
                        folders.entry(folder.clone()).or_default().insert(child);
                        folder = here;
                    }
                }
                Listed {
                    uri: skill.uri(),
                    scopes: skill.scopes.clone(),
                    entry: skill.entry(),
                    folders,
                }
            })
            .collect();
        listed.sort_by(|a, b| a.uri.cmp(&b.uri));
        Self { skills: listed }
    }

    /// The entries a caller holding `scopes` may see (every one when scopes do not apply).
    pub(crate) fn list(&self, scopes: Option<&[String]>) -> Vec<&Value> {
        self.skills
            .iter()
            .filter(|s| sees(scopes, &s.scopes))
            .map(|s| &s.entry)
            .collect()
    }

    /// The skill whose `SKILL.md` is at `uri`: its entry and the scopes it needs.
    pub(crate) fn get(&self, uri: &str) -> Option<(&Value, &[String])> {
        self.skills
            .iter()
            .find(|s| s.uri == uri)
            .map(|s| (&s.entry, &s.scopes[..]))
    }

    /// The direct children of the folder at `uri` a caller holding `scopes` may see, as
    /// resources; `None` when no skill it may see has that folder.
    pub(crate) fn directory(&self, uri: &str, scopes: Option<&[String]>) -> Option<Vec<Value>> {
        let uri = uri.trim_end_matches('/');
        let mut children = BTreeSet::new();
        let mut found = false;
        for skill in &self.skills {
            if !sees(scopes, &skill.scopes) {
                continue;
            }
            if let Some(c) = skill.folders.get(uri) {
                found = true;
                children.extend(c.iter());
            }
        }
        found.then(|| {
            children
                .into_iter()
                .map(|child| {
                    let name = child.uri.rsplit('/').next().unwrap_or(&child.uri);
                    match child.file {
                        None => json!({
                            "uri": child.uri,
                            "name": name,
                            "mimeType": DIRECTORY_MIME_TYPE,
                        }),
                        Some((mime, size)) => json!({
                            "uri": child.uri,
                            "name": name,
                            "mimeType": mime,
                            "size": size,
                        }),
                    }
                })
                .collect()
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.skills.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontmatter_is_read_as_yaml_1_2() {
        let f = frontmatter(
            "---\nname: refunds\ndescription: \"Process: refunds\"\nversion: 1.0\nflag: yes\n\
             when: 2024-01-02\nmetadata:\n  owner: billing\n---\n# Body\n",
        )
        .unwrap();
        assert_eq!(f["name"], "refunds");
        assert_eq!(f["description"], "Process: refunds");
        assert_eq!(f["version"], json!(1.0));
        assert_eq!(f["flag"], "yes");
        assert_eq!(f["when"], "2024-01-02");
        assert_eq!(f["metadata"], json!({ "owner": "billing" }));
        assert!(frontmatter("# no frontmatter").is_err());
        assert!(frontmatter("---\nname: x\n").is_err());
        assert!(frontmatter("---\na: &x 1\nb: *x\n---\n").is_err());
        assert!(frontmatter("---\na: !!str 1\n---\n").is_err());
        assert!(frontmatter("---\n- a\n---\n").is_err());
    }

    #[test]
    fn the_rules_of_the_extension_are_build_problems() {
        assert!(
            Skill::new("refunds", "Process refunds", "Do it.")
                .problems()
                .is_empty()
        );
        assert!(!Skill::new("Refunds", "x", "").problems().is_empty());
        assert!(!Skill::new("a--b", "x", "").problems().is_empty());
        assert!(!Skill::new("ok", "", "").problems().is_empty());
        assert!(
            !Skill::new("ok", "x", "")
                .file("../x", "y")
                .problems()
                .is_empty()
        );
        let big = Skill::new("ok", "x", "").file("big.bin", vec![0u8; MAX_BYTES]);
        assert!(big.problems().iter().any(|p| p.contains("bytes")));
        let from = Skill::from_files(&[
            (
                "crm/projects/SKILL.md",
                b"---\nname: projects\ndescription: d\n---\n",
            ),
            ("crm/projects/examples/a.md", b"a"),
            ("wrong/SKILL.md", b"---\nname: other\ndescription: d\n---\n"),
            ("README.md", b"not a skill"),
        ]);
        assert_eq!(from.len(), 2);
        assert!(from[0].problems().is_empty(), "{:?}", from[0].problems());
        assert_eq!(from[0].uri(), "skill://crm/projects/SKILL.md");
        assert_eq!(from[0].files.len(), 2);
        assert!(from[1].problems()[0].contains("folder is `wrong`"));
    }

    #[test]
    fn folders_list_their_direct_children() {
        let skill = Skill::new("a", "d", "")
            .file("x/one.md", "1")
            .file("x/y/two.bin", vec![0xffu8])
            .under("org");
        let skills = Skills::new(&[skill]);
        let root = skills.directory("skill://org/a", None).unwrap();
        let names: Vec<&str> = root.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["SKILL.md", "x"]);
        let x = skills.directory("skill://org/a/x/", None).unwrap();
        assert_eq!(x[0]["name"], "one.md");
        assert_eq!(x[1]["mimeType"], DIRECTORY_MIME_TYPE);
        assert!(skills.directory("skill://org/a/SKILL.md", None).is_none());
        let entry = skills.get("skill://org/a/SKILL.md").unwrap().0;
        let digests: Vec<&str> = entry["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["digest"].as_str().unwrap())
            .collect();
        assert!(digests.iter().all(|d| d.len() == 7 + 64), "{digests:?}");
    }
}
