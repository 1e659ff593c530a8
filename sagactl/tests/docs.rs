//! The documentation's relative links lead somewhere, and the front page stays short.
//!
//! Reads README.md, docs/*.md and k8s/README.md. A link to a file must name one
//! that exists (relative to the page); a `#anchor` must name a heading of its
//! target page, by GitHub's rule, or a reader lands at the top of the page.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Most lines README.md may have: past that, the front page is a manual again.
const README_MAX_LINES: usize = 250;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sagactl sits in the workspace")
        .to_path_buf()
}

/// The pages whose links are checked.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![root.join("README.md"), root.join("k8s/README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("docs/ is readable").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The lines of `text` outside fenced code blocks, with their numbers: a `#`
/// or `[x](y)` inside a fence is code, not a heading or a link.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut in_fence = false;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence {
            lines.push((i + 1, line));
        }
    }
    lines
}

/// GitHub's anchor for a heading: lowercase, punctuation other than `-` and
/// `_` dropped, each space a `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor of a page; a repeated heading gets `-1`, `-2`, ... as on GitHub.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    prose_lines(text)
        .into_iter()
        .filter_map(|(_, line)| {
            let hashes = line.chars().take_while(|c| *c == '#').count();
            let rest = &line[hashes..];
            ((1..=6).contains(&hashes) && rest.starts_with(' ')).then(|| anchor(rest))
        })
        .map(|base| {
            let count = seen.entry(base.clone()).or_insert(0);
            let name = match *count {
                0 => base,
                n => format!("{base}-{n}"),
            };
            *count += 1;
            name
        })
        .collect()
}

/// The targets of inline links and images (`[text](target)`, `![alt](target)`)
/// and of reference definitions (`[name]: target`), with their line numbers.
/// Code spans are skipped: `[x](y)` in backticks is an example, not a link.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in prose_lines(text) {
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        let definition = prose
            .trim_start()
            .strip_prefix('[')
            .and_then(|rest| rest.split_once(']'))
            .and_then(|(_, after)| after.strip_prefix(':'));
        if let Some(target) = definition {
            found.push((number, target.trim().to_string()));
            continue;
        }
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or("");
            found.push((number, target.to_string()));
            rest = &after[end..];
        }
    }
    found
}

/// Every relative link of `page` that leads nowhere, as `page:line: target (why)`.
fn broken_links(page: &Path) -> Vec<String> {
    let text = fs::read_to_string(page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    let dir = page.parent().expect("a page sits in a directory");
    let mut broken = Vec::new();
    for (line, target) in links(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, fragment) = target.split_once('#').unwrap_or((&target, ""));
        let file_path = if file.is_empty() {
            page.to_path_buf()
        } else {
            dir.join(file)
        };
        let why = if target.is_empty() {
            Some("empty link".to_string())
        } else if !file_path.exists() {
            Some("no such file".to_string())
        } else if fragment.is_empty() {
            None
        } else if file_path.extension().is_none_or(|ext| ext != "md") {
            Some("an anchor into a file that is not markdown".to_string())
        } else {
            let target_text = fs::read_to_string(&file_path).unwrap_or_default();
            (!anchors(&target_text).iter().any(|a| a == fragment))
                .then(|| format!("no heading #{fragment} in {}", file_path.display()))
        };
        if let Some(why) = why {
            broken.push(format!("{}:{line}: {target} ({why})", page.display()));
        }
    }
    broken
}

#[test]
fn every_relative_link_in_the_docs_leads_to_an_existing_file_and_heading() {
    let broken: Vec<String> = pages(&repository())
        .iter()
        .flat_map(|page| broken_links(page))
        .collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_stays_a_short_front_page() {
    let text = fs::read_to_string(repository().join("README.md")).unwrap();
    let lines = text.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, more than {README_MAX_LINES}: move the detail into docs/"
    );
}

#[test]
fn a_heading_anchor_follows_githubs_rule() {
    assert_eq!(
        anchor("Performance (`make bench`)"),
        "performance-make-bench"
    );
    assert_eq!(anchor("Kafka: topics and tools"), "kafka-topics-and-tools");
    assert_eq!(anchor("Order → billing"), "order--billing");
    assert_eq!(anchor("snake_case and dash-ed"), "snake_case-and-dash-ed");
    assert_eq!(
        anchors("# A\n```sh\n# not a heading\n```\n## A\n#nope"),
        ["a", "a-1"]
    );
}

#[test]
fn a_missing_file_or_heading_is_reported_with_its_line() {
    let dir = std::env::temp_dir().join(format!("sagactl-docs-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("other.md"), "# Other page\n\n## Real heading\n").unwrap();
    let page = dir.join("page.md");
    fs::write(
        &page,
        "# Page\n\
         [ok](other.md#real-heading) and [self](#page)\n\
         [gone](missing.md) and [lost](other.md#no-such-heading)\n\
         `[code](not-a-link.md)` and <https://example.com> [web](https://example.com/x)\n\
         ```\n[fenced](also-not-a-link.md)\n```\n\
         [ref]: missing-too.md\n",
    )
    .unwrap();
    let broken = broken_links(&page);
    fs::remove_dir_all(&dir).unwrap();
    let prefix = format!("{}:", page.display());
    let reported: Vec<&str> = broken
        .iter()
        .filter_map(|line| line.strip_prefix(&prefix))
        .collect();
    assert_eq!(
        reported.len(),
        3,
        "expected three broken links, got:\n{}",
        broken.join("\n")
    );
    assert!(reported[0].starts_with("3: missing.md (no such file"));
    assert!(reported[1].starts_with("3: other.md#no-such-heading (no heading"));
    assert!(reported[2].starts_with("8: missing-too.md (no such file"));
}
