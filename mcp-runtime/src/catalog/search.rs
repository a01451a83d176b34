//! Search over a large catalog ([`crate::McpServer::tool_search`]): `tools/list` lists a search
//! tool and a call-by-name tool (and the tools the app chose to keep listed) instead of every
//! tool; the search ranks tools by BM25 over their names, titles and descriptions. Every tool
//! stays callable directly, with its scopes and visibility.

use std::collections::HashMap;

use super::tool::Tool;
use serde_json::json;
use std::sync::Arc;

/// How a server offers search over its tools (see [`crate::McpServer::tool_search`]).
#[derive(Clone, Debug)]
pub struct ToolSearch {
    pub(crate) listed: Vec<String>,
    pub(crate) search_name: String,
    pub(crate) call_name: String,
    pub(crate) max_results: usize,
}

impl Default for ToolSearch {
    fn default() -> Self {
        Self {
            listed: Vec::new(),
            search_name: "search_tools".into(),
            call_name: "call_tool".into(),
            max_results: 50,
        }
    }
}

impl ToolSearch {
    /// Search with the tools `search_tools` and `call_tool`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps these tools listed beside the two (the few every caller needs).
    #[must_use]
    pub fn always_list<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.listed.extend(names.into_iter().map(Into::into));
        self
    }

    /// The names of the two tools (default `search_tools` and `call_tool`).
    #[must_use]
    pub fn names(mut self, search: impl Into<String>, call: impl Into<String>) -> Self {
        self.search_name = search.into();
        self.call_name = call.into();
        self
    }

    /// The most results one search returns (default 50).
    #[must_use]
    pub fn max_results(mut self, max: usize) -> Self {
        self.max_results = max.max(1);
        self
    }

    /// The two tools. Their calls are answered by the core (the search over the caller's
    /// tools, and the named tool's call through the whole request path).
    pub(crate) fn tools(&self) -> [Tool; 2] {
        let search = Tool::new(self.search_name.clone(), |_, _| async { "" })
            .description(
                "Find the tools of this server for a task: ranked by how well their names and \
                 descriptions match the query. Call one with the call tool, with the arguments \
                 its input schema describes.",
            )
            .input_schema(json!({
                "type": "object",
                "required": ["query"],
                "properties": {
                    "query": {"type": "string", "description": "What the tool should do, in a few words."},
                    "limit": {"type": "integer", "minimum": 1, "description": "How many tools to return (default 10)."}
                }
            }))
            .annotations(super::ToolAnnotations {
                read_only: Some(true),
                ..super::ToolAnnotations::default()
            });
        let call = Tool::new(self.call_name.clone(), |_, _| async { "" })
            .description("Call a tool of this server by its name, with its arguments.")
            .input_schema(json!({
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "description": "The tool's name, as the search gave it."},
                    "arguments": {"type": "object", "description": "The tool's arguments."}
                }
            }));
        let mut search = search;
        search.meta_tool = Some(MetaTool::Search);
        let mut call = call;
        call.meta_tool = Some(MetaTool::Call);
        [search, call]
    }
}

/// What a tool of the search is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MetaTool {
    /// Ranks the caller's tools for a query.
    Search,
    /// Calls a tool by its name.
    Call,
}

/// A BM25 index of a snapshot's tools (built on the first search of a snapshot).
pub(crate) struct Index {
    /// term → (tool's index in the snapshot, how often the term occurs in it)
    postings: HashMap<String, Vec<(u32, u16)>>,
    /// Each tool's length in terms.
    lengths: Vec<u32>,
    average: f64,
}

/// The terms of a text: lowercased runs of letters and digits, split at `_`, `-`, `.` and
/// case changes (`listProjects` is `list`, `projects`).
fn terms(text: &str, out: &mut Vec<String>) {
    let mut word = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            word.extend(c.to_lowercase());
        } else {
            prev_lower = false;
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
}

impl Index {
    pub(crate) fn new(tools: &[Arc<Tool>]) -> Self {
        let mut postings: HashMap<String, Vec<(u32, u16)>> = HashMap::new();
        let mut lengths = Vec::with_capacity(tools.len());
        let mut words = Vec::new();
        for (i, t) in tools.iter().enumerate() {
            words.clear();
            // The name counts twice: it says most about a tool.
            terms(&t.name, &mut words);
            terms(&t.name, &mut words);
            if let Some(title) = &t.title {
                terms(title, &mut words);
            }
            if let Some(d) = &t.description {
                terms(d, &mut words);
            }
            lengths.push(words.len() as u32);
            let mut counts: HashMap<&str, u16> = HashMap::new();
            for w in &words {
                *counts.entry(w).or_default() += 1;
            }
            for (w, n) in counts {
                postings
                    .entry(w.to_owned())
                    .or_default()
                    .push((i as u32, n));
            }
        }
        let average = if lengths.is_empty() {
            1.0
        } else {
            lengths.iter().map(|&l| f64::from(l)).sum::<f64>() / lengths.len() as f64
        };
        Self {
            postings,
            lengths,
            average: average.max(1.0),
        }
    }

    /// The best `want` tools matching `query`, best first, with their scores: the scores in a
    /// dense table (no hashing per posting), and only the best `want` of them sorted.
    pub(crate) fn search(&self, query: &str, want: usize) -> Vec<(usize, f64)> {
        let (k1, b) = (1.2, 0.75);
        let n = self.lengths.len() as f64;
        let mut words = Vec::new();
        terms(query, &mut words);
        words.sort_unstable();
        words.dedup();
        let mut scores = vec![0.0f64; self.lengths.len()];
        let mut touched: Vec<u32> = Vec::new();
        for w in &words {
            let Some(list) = self.postings.get(w) else {
                continue;
            };
            let df = list.len() as f64;
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for &(doc, tf) in list {
                let tf = f64::from(tf);
                let len = f64::from(self.lengths[doc as usize]);
                let score = idf * tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * len / self.average));
                let slot = &mut scores[doc as usize];
                if *slot == 0.0 {
                    touched.push(doc);
                }
                *slot += score;
            }
        }
        let mut ranked: Vec<(usize, f64)> = touched
            .into_iter()
            .map(|d| (d as usize, scores[d as usize]))
            .collect();
        let order = |a: &(usize, f64), b: &(usize, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if want < ranked.len() {
            ranked.select_nth_unstable_by(want, order);
            ranked.truncate(want);
        }
        ranked.sort_unstable_by(order);
        ranked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_names_and_words() {
        let mut out = Vec::new();
        terms("list_projects listProjects crm.v2-export", &mut out);
        assert_eq!(
            out,
            [
                "list", "projects", "list", "projects", "crm", "v2", "export"
            ]
        );
    }

    #[test]
    fn the_best_match_ranks_first() {
        let tools: Vec<Arc<Tool>> = [
            ("send_email", "Send an email message to a person."),
            ("list_projects", "List the projects of the caller."),
            ("create_project", "Create a project."),
        ]
        .into_iter()
        .map(|(n, d)| Arc::new(Tool::new(n, |_, _| async { "" }).description(d)))
        .collect();
        let index = Index::new(&tools);
        let ranked = index.search("list my projects", 10);
        assert_eq!(ranked[0].0, 1);
        assert_eq!(index.search("email", 10)[0].0, 0);
        assert!(index.search("nothing like it", 10).is_empty());
    }
}
