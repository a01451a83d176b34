//! [`CatalogEdit`]: what [`Server::change`](crate::Server::change) lets a running server do to
//! its tools, resources and prompts, with the list-changed notifications it owes.

use super::prompt::Prompt;
use super::resource::Resource;
use super::tool::Tool;
use super::{Change, Entries};
use std::sync::Arc;

/// What a change at run time does; see [`Server::change`](crate::Server::change).
pub struct CatalogEdit<'a> {
    pub(crate) entries: &'a mut Entries,
    pub(crate) changes: Vec<Change>,
}

impl CatalogEdit<'_> {
    fn mark(&mut self, change: Change) {
        if !self.changes.contains(&change) {
            self.changes.push(change);
        }
    }

    /// Enables or disables the tool named `name`; returns whether there is one.
    pub fn set_tool_enabled(&mut self, name: &str, enabled: bool) -> bool {
        let mut found = false;
        let mut changed = false;
        for (t, on) in &mut self.entries.tools {
            if t.name == name {
                found = true;
                changed |= *on != enabled;
                *on = enabled;
            }
        }
        if changed {
            self.mark(Change::Tools);
        }
        found
    }

    /// Enables or disables the resource (or template) at `uri`; returns whether there is one.
    pub fn set_resource_enabled(&mut self, uri: &str, enabled: bool) -> bool {
        let mut found = false;
        let mut changed = false;
        for (r, on) in &mut self.entries.resources {
            if r.address_str() == uri {
                found = true;
                changed |= *on != enabled;
                *on = enabled;
            }
        }
        if changed {
            self.mark(Change::Resources);
        }
        found
    }

    /// Enables or disables the prompt named `name`; returns whether there is one.
    pub fn set_prompt_enabled(&mut self, name: &str, enabled: bool) -> bool {
        let mut found = false;
        let mut changed = false;
        for (p, on) in &mut self.entries.prompts {
            if p.name == name {
                found = true;
                changed |= *on != enabled;
                *on = enabled;
            }
        }
        if changed {
            self.mark(Change::Prompts);
        }
        found
    }

    /// Enables or disables everything of domain `domain`; returns how many items it has.
    pub fn set_domain_enabled(&mut self, domain: &str, enabled: bool) -> usize {
        self.set_enabled_where(enabled, |domains, _| domains.iter().any(|d| d == domain))
    }

    /// Enables or disables everything tagged `tag` (`#[tool(tags = ["beta"])]`, `Tool::tag`);
    /// returns how many items have the tag.
    pub fn set_tag_enabled(&mut self, tag: &str, enabled: bool) -> usize {
        self.set_enabled_where(enabled, |_, tags| tags.iter().any(|t| t == tag))
    }

    /// Enables or disables every item whose domains and tags pass `matches`; how many did.
    fn set_enabled_where(
        &mut self,
        enabled: bool,
        matches: impl Fn(&[String], &[String]) -> bool,
    ) -> usize {
        let mut n = 0;
        let mut kinds = Vec::new();
        for (t, on) in &mut self.entries.tools {
            if matches(&t.domains, &t.tags) {
                n += 1;
                if *on != enabled {
                    kinds.push(Change::Tools);
                }
                *on = enabled;
            }
        }
        for (r, on) in &mut self.entries.resources {
            if matches(&r.domains, &r.tags) {
                n += 1;
                if *on != enabled {
                    kinds.push(Change::Resources);
                }
                *on = enabled;
            }
        }
        for (p, on) in &mut self.entries.prompts {
            if matches(&p.domains, &p.tags) {
                n += 1;
                if *on != enabled {
                    kinds.push(Change::Prompts);
                }
                *on = enabled;
            }
        }
        for k in kinds {
            self.mark(k);
        }
        n
    }

    /// Adds a tool built at run time (replacing a tool of the same name).
    pub fn add_tool(&mut self, tool: Tool) {
        self.entries.tools.retain(|(t, _)| t.name != tool.name);
        self.entries.tools.push((Arc::new(tool), true));
        self.mark(Change::Tools);
    }

    /// Adds a resource or template built at run time (replacing one at the same URI).
    pub fn add_resource(&mut self, resource: Resource) {
        self.entries
            .resources
            .retain(|(r, _)| r.address_str() != resource.address_str());
        self.entries.resources.push((Arc::new(resource), true));
        self.mark(Change::Resources);
    }

    /// Adds a prompt built at run time (replacing a prompt of the same name).
    pub fn add_prompt(&mut self, prompt: Prompt) {
        self.entries.prompts.retain(|(p, _)| p.name != prompt.name);
        self.entries.prompts.push((Arc::new(prompt), true));
        self.mark(Change::Prompts);
    }

    /// Removes the tool named `name`; returns whether there was one.
    pub fn remove_tool(&mut self, name: &str) -> bool {
        let before = self.entries.tools.len();
        self.entries.tools.retain(|(t, _)| t.name != name);
        let removed = self.entries.tools.len() != before;
        if removed {
            self.mark(Change::Tools);
        }
        removed
    }

    /// Removes the resource (or template) at `uri`; returns whether there was one.
    pub fn remove_resource(&mut self, uri: &str) -> bool {
        let before = self.entries.resources.len();
        self.entries
            .resources
            .retain(|(r, _)| r.address_str() != uri);
        let removed = self.entries.resources.len() != before;
        if removed {
            self.mark(Change::Resources);
        }
        removed
    }

    /// Removes the prompt named `name`; returns whether there was one.
    pub fn remove_prompt(&mut self, name: &str) -> bool {
        let before = self.entries.prompts.len();
        self.entries.prompts.retain(|(p, _)| p.name != name);
        let removed = self.entries.prompts.len() != before;
        if removed {
            self.mark(Change::Prompts);
        }
        removed
    }
}
