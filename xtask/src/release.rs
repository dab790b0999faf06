//! `cargo xtask release` and `cargo xtask dist`.
//!
//! The pure parts (version arithmetic, manifest rewriting, the changelog, the publish order) are
//! plain functions with tests at the end; the rest drives git and cargo.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use semver::Version;
use toml_edit::{DocumentMut, Formatted, Item, TableLike, Value};

use crate::run;
use crate::steps::Steps;

const USAGE: &str = "usage: cargo xtask release [--execute] [--bump patch|minor|major|X.Y.Z] [--skip-checks]";

/// The dependency tables of a manifest (also found under `[target.'cfg'.*]`).
const DEPENDENCY_TABLES: &[&str] = &["dependencies", "dev-dependencies", "build-dependencies"];

/// What `--bump` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bump {
    Patch,
    Minor,
    Major,
    To(Version),
}

#[derive(Debug, PartialEq, Eq)]
struct Options {
    execute: bool,
    bump: Bump,
    skip_checks: bool,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options { execute: false, bump: Bump::Patch, skip_checks: false };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--execute" => options.execute = true,
            "--skip-checks" => options.skip_checks = true,
            "--bump" => {
                options.bump = parse_bump(args.next().with_context(|| format!("--bump needs a value; {USAGE}"))?)?
            }
            other => match other.strip_prefix("--bump=") {
                Some(value) => options.bump = parse_bump(value)?,
                None => bail!("unknown argument {other:?}; {USAGE}"),
            },
        }
    }
    if options.execute && options.skip_checks {
        bail!(
            "--execute refuses --skip-checks: a release is published only after its checks \
             (cargo fmt --check, cargo clippy) pass; --skip-checks is for dry runs"
        );
    }
    Ok(options)
}

fn parse_bump(value: &str) -> Result<Bump> {
    Ok(match value {
        "patch" => Bump::Patch,
        "minor" => Bump::Minor,
        "major" => Bump::Major,
        _ => Bump::To(
            Version::parse(value.strip_prefix('v').unwrap_or(value))
                .with_context(|| format!("--bump takes patch, minor, major or a version X.Y.Z, not {value:?}"))?,
        ),
    })
}

/// The version after `current`. A bump of a pre-release releases it when it is of that level
/// already (`patch` of `1.2.3-rc.1` is `1.2.3`, `minor` of `1.3.0-rc.1` is `1.3.0`); an explicit
/// version must come after the current one.
fn next_version(current: &Version, bump: &Bump) -> Result<Version> {
    let pre = !current.pre.is_empty();
    let (major, minor, patch) = (current.major, current.minor, current.patch);
    Ok(match bump {
        Bump::Patch if pre => Version::new(major, minor, patch),
        Bump::Patch => Version::new(major, minor, patch + 1),
        Bump::Minor if pre && patch == 0 => Version::new(major, minor, 0),
        Bump::Minor => Version::new(major, minor + 1, 0),
        Bump::Major if pre && patch == 0 && minor == 0 => Version::new(major, 0, 0),
        Bump::Major => Version::new(major + 1, 0, 0),
        Bump::To(version) => {
            if !version.build.is_empty() {
                bail!("{version}: build metadata (+...) has no place in a release version");
            }
            if version.cmp_precedence(current).is_le() {
                bail!("{version} does not come after the current version {current}");
            }
            version.clone()
        }
    })
}

/// Sets a string value, keeping the whitespace and comments around the old one.
fn set_string(item: &mut Item, text: &str) {
    let decor = item.as_value().map(|value| value.decor().clone()).unwrap_or_default();
    let mut value = Value::String(Formatted::new(text.to_owned()));
    *value.decor_mut() = decor;
    *item = Item::Value(value);
}

/// A dependency's version requirement for the new version: one version with its operator kept
/// (`0.1.0` → `0.2.0`, `=0.1.0` → `=0.2.0`). Anything more involved is refused, not guessed at.
fn rewrite_requirement(requirement: &str, new: &Version) -> Result<String> {
    let trimmed = requirement.trim();
    let (operator, rest) = [">=", "=", "^", "~"]
        .iter()
        .find_map(|op| trimmed.strip_prefix(op).map(|rest| (*op, rest.trim_start())))
        .unwrap_or(("", trimmed));
    let one_version = rest.starts_with(|c: char| c.is_ascii_digit())
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    if !one_version {
        bail!("the requirement {requirement:?} is not one version with an optional =, ^, ~ or >=; change it by hand");
    }
    Ok(format!("{operator}{new}"))
}

/// Rewrites one manifest for the release of `new` (the workspace's one version, `old` before):
/// `[workspace.package] version`; `[package] version` where it is the literal `old`; and the
/// version requirement of every path dependency on a workspace member, in
/// `[workspace.dependencies]` and every dependency table (target-specific ones too), exact pins
/// staying exact. Formatting and comments are kept. Returns the new text and one line per change.
fn rewrite_manifest(
    text: &str,
    members: &BTreeSet<String>,
    old: &Version,
    new: &Version,
) -> Result<(String, Vec<String>)> {
    let mut doc: DocumentMut = text.parse().context("not valid TOML")?;
    let mut changes = Vec::new();
    let new_text = new.to_string();
    if let Some(item) = doc.get_mut("workspace").and_then(|w| w.get_mut("package")).and_then(|p| p.get_mut("version")) {
        let current = item.as_str().context("[workspace.package] version is not a string")?.to_owned();
        if current != new_text {
            set_string(item, &new_text);
            changes.push(format!("[workspace.package] version: {current} -> {new_text}"));
        }
    }
    let old_text = old.to_string();
    let literal = doc.get_mut("package").and_then(|p| p.get_mut("version")).filter(|v| v.as_str() == Some(&old_text));
    if let Some(item) = literal {
        set_string(item, &new_text);
        changes.push(format!("[package] version: {old} -> {new_text}"));
    }
    if let Some(deps) =
        doc.get_mut("workspace").and_then(|w| w.get_mut("dependencies")).and_then(Item::as_table_like_mut)
    {
        rewrite_dependencies(deps, "[workspace.dependencies]", members, new, &mut changes)?;
    }
    for kind in DEPENDENCY_TABLES {
        if let Some(deps) = doc.get_mut(kind).and_then(Item::as_table_like_mut) {
            rewrite_dependencies(deps, &format!("[{kind}]"), members, new, &mut changes)?;
        }
    }
    if let Some(targets) = doc.get_mut("target").and_then(Item::as_table_like_mut) {
        for (cfg, target) in targets.iter_mut() {
            let cfg = cfg.get().to_owned();
            for kind in DEPENDENCY_TABLES {
                if let Some(deps) = target.get_mut(kind).and_then(Item::as_table_like_mut) {
                    rewrite_dependencies(deps, &format!("[target.'{cfg}'.{kind}]"), members, new, &mut changes)?;
                }
            }
        }
    }
    Ok((doc.to_string(), changes))
}

fn rewrite_dependencies(
    deps: &mut dyn TableLike,
    table: &str,
    members: &BTreeSet<String>,
    new: &Version,
    changes: &mut Vec<String>,
) -> Result<()> {
    for (key, dep) in deps.iter_mut() {
        // A bare string is a registry dependency: not one of ours.
        let Some(dep) = dep.as_table_like_mut() else { continue };
        let package = dep.get("package").and_then(Item::as_str).unwrap_or(key.get());
        if !members.contains(package) || !dep.contains_key("path") {
            continue;
        }
        let Some(version) = dep.get_mut("version") else { continue };
        let requirement =
            version.as_str().with_context(|| format!("{table} {}: version is not a string", key.get()))?.to_owned();
        let rewritten = rewrite_requirement(&requirement, new).with_context(|| format!("{table} {}", key.get()))?;
        if rewritten != requirement {
            set_string(version, &rewritten);
            changes.push(format!("{table} {}: {requirement} -> {rewritten}", key.get()));
        }
    }
    Ok(())
}

/// A workspace member, as `cargo metadata` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    name: String,
    version: String,
    manifest: PathBuf,
    publish: bool,
    /// Its normal and build dependencies on other members.
    depends_on: BTreeSet<String>,
    /// Its dev-dependencies on other members that carry a version requirement: crates.io needs
    /// those published first too (path-only ones are left out of the published manifest).
    dev_depends_on: BTreeSet<String>,
}

#[derive(Debug)]
struct Workspace {
    target_dir: PathBuf,
    members: Vec<Member>,
}

/// Reads `cargo metadata --format-version 1 --no-deps`.
fn parse_metadata(json: &str) -> Result<Workspace> {
    let metadata: serde_json::Value = serde_json::from_str(json).context("cargo metadata printed no JSON")?;
    let ids: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .context("cargo metadata has no workspace_members")?
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let packages: Vec<&serde_json::Value> = metadata["packages"]
        .as_array()
        .context("cargo metadata has no packages")?
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| ids.contains(id)))
        .collect();
    let names: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut members = Vec::new();
    for package in packages {
        let name = package["name"].as_str().context("a package without a name")?;
        let on_members = |dev: bool| -> BTreeSet<String> {
            package["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|d| d["path"].is_string())
                .filter(|d| match d["kind"].as_str() {
                    None | Some("normal" | "build") => !dev,
                    // A dev-dependency without a version (`req` "*") is dropped from the package.
                    Some("dev") => dev && d["req"].as_str().is_some_and(|req| req.trim() != "*"),
                    Some(_) => false,
                })
                .filter_map(|d| d["name"].as_str())
                .filter(|d| names.contains(d) && *d != name)
                .map(str::to_owned)
                .collect()
        };
        let (depends_on, dev_depends_on) = (on_members(false), on_members(true));
        members.push(Member {
            name: name.to_owned(),
            version: package["version"].as_str().unwrap_or_default().to_owned(),
            manifest: PathBuf::from(package["manifest_path"].as_str().context("a package without a manifest")?),
            // `publish = false` is an empty list of registries; absent (null) means crates.io.
            publish: package["publish"].as_array().is_none_or(|registries| !registries.is_empty()),
            depends_on,
            dev_depends_on,
        });
    }
    members.sort_by(|a, b| a.name.cmp(&b.name));
    let target_dir = PathBuf::from(metadata["target_directory"].as_str().context("cargo metadata has no target")?);
    Ok(Workspace { target_dir, members })
}

/// Where cargo builds the workspace at `root`.
pub(crate) fn target_dir(root: &Path) -> Result<PathBuf> {
    Ok(workspace(root)?.target_dir)
}

fn workspace(dir: &Path) -> Result<Workspace> {
    let json = output(Command::new("cargo").args(["metadata", "--format-version", "1", "--no-deps"]).current_dir(dir))?;
    parse_metadata(&json)
}

/// The order to publish the publishable members in: each after the members it depends on
/// (normal and build dependencies, and dev-dependencies with a version, which crates.io checks
/// too), ties broken by name.
fn publish_order(members: &[Member]) -> Result<Vec<String>> {
    const PATH_ONLY: &str = "make that dev-dependency path-only (no `version`, not inherited from a \
                             [workspace.dependencies] entry with one), so it is left out of the package";
    let by_name: BTreeMap<&str, &Member> = members.iter().map(|m| (m.name.as_str(), m)).collect();
    let mut pending: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for member in members.iter().filter(|m| m.publish) {
        for dep in &member.depends_on {
            if by_name.get(dep.as_str()).is_some_and(|d| !d.publish) {
                bail!("{} is published but depends on {dep}, which has publish = false", member.name);
            }
        }
        for dep in &member.dev_depends_on {
            if by_name.get(dep.as_str()).is_some_and(|d| !d.publish) {
                bail!(
                    "{} is published with a versioned dev-dependency on {dep}, which has publish = false: {PATH_ONLY}",
                    member.name
                );
            }
        }
        let deps = member
            .depends_on
            .iter()
            .chain(&member.dev_depends_on)
            .map(String::as_str)
            .filter(|d| by_name.contains_key(d))
            .collect();
        pending.insert(&member.name, deps);
    }
    let mut order = Vec::new();
    loop {
        let ready: Vec<&str> = pending.iter().filter(|(_, deps)| deps.is_empty()).map(|(name, _)| *name).collect();
        if ready.is_empty() {
            break;
        }
        for name in ready {
            pending.remove(name);
            for deps in pending.values_mut() {
                deps.remove(name);
            }
            order.push(name.to_owned());
        }
    }
    // Whatever is left waits on something else left: walking its dependencies must come back.
    if let Some(&start) = pending.keys().next() {
        let mut path = vec![start];
        loop {
            let current = path[path.len() - 1];
            let Some(&next) = pending.get(current).and_then(|deps| deps.iter().next()) else { break };
            if let Some(at) = path.iter().position(|n| *n == next) {
                let mut cycle = path[at..].to_vec();
                cycle.push(next);
                // The links that are only dev-dependencies are the ones that can be cut.
                let dev_links: Vec<String> = cycle
                    .windows(2)
                    .filter(|link| by_name.get(link[0]).is_some_and(|m| !m.depends_on.contains(link[1])))
                    .map(|link| format!("{} -> {}", link[0], link[1]))
                    .collect();
                let mut message =
                    format!("the workspace's crates depend on each other in a cycle: {}", cycle.join(" -> "));
                if !dev_links.is_empty() {
                    let _ = write!(
                        message,
                        " (through the versioned dev-dependency {}: {PATH_ONLY})",
                        dev_links.join(", ")
                    );
                }
                bail!(message);
            }
            path.push(next);
        }
        bail!("no publish order for {}", pending.keys().copied().collect::<Vec<_>>().join(", "));
    }
    Ok(order)
}

/// A commit subject's area: the short prefix before the first `": "` (`mcp-core: ...`,
/// `HTTP client: ...`), with the rest of the subject.
fn area(subject: &str) -> Option<(&str, &str)> {
    let (prefix, rest) = subject.split_once(": ")?;
    let (prefix, rest) = (prefix.trim(), rest.trim());
    let short = !prefix.is_empty() && prefix.len() <= 32 && prefix.split_whitespace().count() <= 3;
    (short && !rest.is_empty()).then_some((prefix, rest))
}

/// Commit subjects grouped by area (case-insensitively, named as first written), areas in
/// alphabetical order, subjects without one last under "Other"; each group keeps the given order.
fn group_subjects(subjects: &[String]) -> Vec<(String, Vec<String>)> {
    let mut groups: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for subject in subjects.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let (name, entry) = area(subject).unwrap_or(("Other", subject));
        groups.entry(name.to_lowercase()).or_insert_with(|| (name.to_owned(), Vec::new())).1.push(entry.to_owned());
    }
    let other = groups.remove("other");
    groups.into_values().chain(other).collect()
}

/// The changelog section of a release: the notes kept under "Unreleased", then the commit subjects
/// grouped by area.
fn changelog_section(version: &Version, date: &str, notes: &str, subjects: &[String]) -> String {
    let mut section = format!("## {version} - {date}\n");
    if !notes.trim().is_empty() {
        let _ = write!(section, "\n{}\n", notes.trim());
    }
    let groups = group_subjects(subjects);
    if groups.is_empty() && notes.trim().is_empty() {
        section.push_str("\nNo changes.\n");
    }
    for (name, entries) in groups {
        let _ = write!(section, "\n### {name}\n\n");
        for entry in entries {
            let _ = writeln!(section, "- {entry}");
        }
    }
    section
}

/// A `## ` heading's first word without brackets or a leading `v`: a version, or `Unreleased`.
fn heading_name(line: &str) -> Option<&str> {
    let title = line.strip_prefix("## ")?;
    let first = title.split_whitespace().next()?.trim_matches(|c| c == '[' || c == ']');
    Some(first.strip_prefix('v').filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit())).unwrap_or(first))
}

/// The changelog with a section for `version` above the previous releases (below an
/// `## Unreleased` heading, whose notes move into the new section).
fn roll_changelog(existing: &str, version: &Version, date: &str, subjects: &[String]) -> Result<String> {
    let lines: Vec<&str> = existing.lines().collect();
    let version_text = version.to_string();
    if lines.iter().any(|l| heading_name(l) == Some(version_text.as_str())) {
        bail!("CHANGELOG.md already has a section for {version}");
    }
    let next_heading =
        |from: usize| lines[from..].iter().position(|l| l.starts_with("## ")).map_or(lines.len(), |i| from + i);
    let unreleased = lines.iter().position(|l| heading_name(l).is_some_and(|n| n.eq_ignore_ascii_case("unreleased")));
    let (head, notes, tail) = match unreleased {
        Some(at) => {
            let end = next_heading(at + 1);
            (&lines[..=at], lines[at + 1..end].join("\n"), &lines[end..])
        }
        None => {
            let first = next_heading(0);
            (&lines[..first], String::new(), &lines[first..])
        }
    };
    let mut text = head.join("\n").trim_end().to_owned();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(&changelog_section(version, date, &notes, subjects));
    if !tail.is_empty() {
        text.push('\n');
        text.push_str(tail.join("\n").trim_end());
        text.push('\n');
    }
    Ok(text)
}

const CHANGELOG_HEADER: &str = "# Changelog\n";

/// Days since 1970-01-01 as a (year, month, day) of the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, u32::try_from(month).unwrap_or_default(), u32::try_from(day).unwrap_or_default())
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days(i64::try_from(seconds / 86_400).unwrap_or_default());
    format!("{year:04}-{month:02}-{day:02}")
}

/// Runs a command and returns what it printed, or fails with what it said on stderr.
fn output(command: &mut Command) -> Result<String> {
    let out = command.output().with_context(|| format!("cannot run {command:?}"))?;
    if !out.status.success() {
        bail!("{command:?} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    String::from_utf8(out.stdout).with_context(|| format!("{command:?} printed something other than UTF-8"))
}

fn git<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Result<String> {
    output(Command::new("git").args(args).current_dir(dir))
}

/// Paths `git status` reports: modified, staged, deleted or untracked (and not ignored).
fn dirty_files(dir: &Path) -> Result<Vec<String>> {
    let status = git(dir, &["status", "--porcelain", "--untracked-files=all"])?;
    Ok(status.lines().filter(|l| l.len() > 3).map(|l| l[3..].to_owned()).collect())
}

fn last_release_tag(dir: &Path) -> Option<String> {
    git(dir, &["describe", "--tags", "--abbrev=0", "--match", "v[0-9]*", "HEAD"]).ok().map(|t| t.trim().to_owned())
}

/// Subjects of the commits since `tag` (all commits without one), oldest first, merges left out.
fn commit_subjects(dir: &Path, tag: Option<&str>) -> Result<Vec<String>> {
    let range = tag.map_or_else(|| "HEAD".to_owned(), |tag| format!("{tag}..HEAD"));
    Ok(git(dir, &["log", "--no-merges", "--reverse", "--format=%s", &range])?.lines().map(str::to_owned).collect())
}

/// A temporary `git worktree` of HEAD for a dry run, removed when dropped.
#[derive(Debug)]
struct Worktree {
    repo: PathBuf,
    path: PathBuf,
}

impl Worktree {
    fn add(repo: &Path) -> Result<Self> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("mcptk-release-{}-{nanos}", std::process::id()));
        if path.exists() {
            // Only ever this path: `git worktree prune` would also forget the user's other
            // worktrees whose folders are missing for the moment (an unmounted disk).
            let _ = Self::remove(repo, &path);
            std::fs::remove_dir_all(&path).with_context(|| format!("removing the stale {}", path.display()))?;
        }
        git(repo, &[OsStr::new("worktree"), "add".as_ref(), "--detach".as_ref(), path.as_os_str(), "HEAD".as_ref()])?;
        Ok(Self { repo: repo.to_owned(), path })
    }

    /// `git worktree remove --force` of this one worktree (its record too when its folder is gone).
    fn remove(repo: &Path, path: &Path) -> Result<String> {
        git(repo, &[OsStr::new("worktree"), "remove".as_ref(), "--force".as_ref(), path.as_os_str()])
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        if Self::remove(&self.repo, &self.path).is_err() {
            let _ = std::fs::remove_dir_all(&self.path);
            if let Err(error) = Self::remove(&self.repo, &self.path) {
                eprintln!(
                    "xtask release: could not remove the worktree {}: {error:#}\n\
                     remove it with `git worktree remove --force {}`",
                    self.path.display(),
                    self.path.display()
                );
            }
        }
    }
}

/// Why HEAD may not be what the remote has: `None` when HEAD is its upstream branch (`upstream`
/// is its name and commit, `None` when there is none).
fn upstream_problem(head: &str, upstream: Option<(&str, &str)>) -> Option<String> {
    let short = |commit: &str| commit.trim().chars().take(12).collect::<String>();
    match upstream {
        None => Some(
            "HEAD has no upstream branch (detached, or never pushed with `git push -u`), so nothing shows \
             that what would be published is on the remote"
                .to_owned(),
        ),
        Some((_, commit)) if commit.trim() == head.trim() => None,
        Some((name, commit)) => Some(format!(
            "HEAD ({}) is not its upstream {name} ({}) after `git fetch`: push or pull first, so that what \
             is published is on the remote",
            short(head),
            short(commit)
        )),
    }
}

/// Fetches HEAD's upstream and compares: see [`upstream_problem`].
fn check_upstream(dir: &Path) -> Result<Option<String>> {
    let head = git(dir, &["rev-parse", "--verify", "HEAD"])?;
    let Ok(name) = git(dir, &["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"]) else {
        return Ok(upstream_problem(&head, None));
    };
    if let Err(error) = git(dir, &["fetch", "--quiet"]) {
        return Ok(Some(format!("cannot compare HEAD with its upstream {}: {error:#}", name.trim())));
    }
    let commit = git(dir, &["rev-parse", "--verify", "@{u}"])?;
    Ok(upstream_problem(&head, Some((name.trim(), &commit))))
}

fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base).unwrap_or(path).display().to_string()
}

/// `cargo xtask release`: see the crate documentation.
pub(crate) fn release(root: &Path, args: &[String]) -> Result<()> {
    let options = parse_options(args)?;
    let mut steps = Steps::new("release");
    let mode = if options.execute { "in place" } else { "dry run in a temporary worktree" };
    eprintln!("xtask release: {mode}");

    steps.run("clean git tree", || {
        let dirty = dirty_files(root)?;
        if !dirty.is_empty() {
            bail!("the git tree has uncommitted changes; commit or stash them first: {}", dirty.join(", "));
        }
        Ok(())
    })?;
    let upstream_warning =
        steps.run("HEAD is its upstream (git fetch, git rev-parse @{u})", || match check_upstream(root)? {
            Some(problem) if options.execute => bail!("--execute refuses to publish: {problem}"),
            Some(problem) => {
                eprintln!("xtask release: warning: {problem}; --execute would refuse");
                Ok(Some(problem))
            }
            None => Ok(None),
        })?;
    let (old, new) = steps.run("next version", || {
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
        let doc: DocumentMut = manifest.parse().context("Cargo.toml is not valid TOML")?;
        let current = doc
            .get("workspace")
            .and_then(|w| w.get("package"))
            .and_then(|p| p.get("version"))
            .and_then(Item::as_str)
            .context("Cargo.toml has no [workspace.package] version")?;
        let old = Version::parse(current).with_context(|| format!("[workspace.package] version {current:?}"))?;
        let new = next_version(&old, &options.bump)?;
        if git(root, &["rev-parse", "--quiet", "--verify", &format!("refs/tags/v{new}")]).is_ok() {
            bail!("the tag v{new} exists already");
        }
        eprintln!("xtask release: {old} -> {new}");
        Ok((old, new))
    })?;
    if options.skip_checks {
        eprintln!("xtask release: checks skipped (--skip-checks)");
    } else {
        steps.run("checks (cargo fmt --check, cargo clippy)", crate::checks)?;
    }

    let worktree = if options.execute { None } else { Some(steps.run("temporary worktree", || Worktree::add(root))?) };
    let work = worktree.as_ref().map_or(root, |w| w.path.as_path());
    // The real tree's target directory, so the dry run's builds are warm the next time.
    let target_dir = steps.run("cargo metadata", || workspace(root))?.target_dir;
    let members = steps.run("cargo metadata of the release tree", || workspace(work))?.members;
    let order = steps.run("publish order", || publish_order(&members))?;

    let edited = steps.run("rewrite versions, lock files and changelog", || {
        let result = edit_tree(work, &members, &old, &new);
        if result.is_err() && options.execute {
            restore(root);
        }
        result
    })?;
    let packaged = steps.run("cargo package --workspace --locked (verifies every crate)", || {
        forget_earlier_packaging(&order, &new, &target_dir);
        let profiles = write_profiles_config(work, &target_dir)?;
        let mut command = Command::new("cargo");
        command
            .args(["package", "--workspace", "--locked", "--allow-dirty", "--config"])
            .arg(&profiles)
            .env("CARGO_TARGET_DIR", &target_dir)
            .current_dir(work);
        for member in members.iter().filter(|m| !m.publish) {
            command.args(["--exclude", &member.name]);
        }
        let result = run(&mut command);
        if result.is_err() && options.execute {
            restore(root);
        }
        result?;
        Ok(order.iter().map(|name| target_dir.join("package").join(format!("{name}-{new}.crate"))).collect::<Vec<_>>())
    })?;

    println!("\nrelease v{new} ({mode})\n\nchanged:");
    for line in &edited.changes {
        println!("  {line}");
    }
    println!("\n{}\n", edited.section.trim_end());
    println!("packaged and verified:");
    for path in &packaged {
        println!("  {}", path.display());
    }
    println!("\npublish order: {}", order.join(", "));
    let publish = |name: &str| format!("cargo publish -p {name} --locked --no-verify");

    if !options.execute {
        println!("\nwith --execute: commit \"release v{new}\", tag v{new}, then, in this order:");
        for name in &order {
            println!("  {}", publish(name));
        }
        drop(worktree);
        if let Some(problem) = upstream_warning {
            println!("\nwarning: {problem}; --execute would refuse");
        }
        println!("\nsteps:\n{}", steps.report());
        return Ok(());
    }

    steps.run("commit", || {
        run(Command::new("git")
            .args(["commit", "--all", "--quiet", "-m", &format!("release v{new}")])
            .current_dir(root))
        .inspect_err(|_| restore(root))
    })?;
    steps.run("tag", || {
        run(Command::new("git")
            .args(["tag", "-a", &format!("v{new}"), "-m", &format!("release v{new}")])
            .current_dir(root))
        .context("the release commit is made but not tagged: tag it by hand, or drop it with `git reset --hard HEAD~1`")
    })?;
    // `cargo package` has just verified these very sources; publishing builds nothing again.
    steps.run("cargo publish", || {
        for (i, name) in order.iter().enumerate() {
            let mut command = Command::new("cargo");
            command.args(["publish", "-p", name, "--locked", "--no-verify"]).current_dir(root);
            if let Err(error) = run(&mut command) {
                let rest: Vec<String> = order[i..].iter().map(|n| publish(n)).collect();
                bail!(
                    "{error:#}\npublished: {}\nthe commit and the tag v{new} are local; after fixing the cause, \
                     publish the rest in this order:\n  {}",
                    if i == 0 { "none".to_owned() } else { order[..i].join(", ") },
                    rest.join("\n  ")
                );
            }
        }
        Ok(())
    })?;
    let branch = git(root, &["symbolic-ref", "--short", "--quiet", "HEAD"]).map(|b| b.trim().to_owned());
    println!("\nreleased v{new}: nothing is pushed. To push the commit and the tag:");
    match branch {
        Ok(branch) => println!("  git push --atomic origin {branch} v{new}"),
        Err(_) => println!("  git push origin v{new}   (HEAD is detached: push the commit to its branch too)"),
    }
    println!("\nsteps:\n{}", steps.report());
    Ok(())
}

/// What the release changed in the tree.
#[derive(Debug)]
struct Edited {
    changes: Vec<String>,
    section: String,
}

/// Writes the new version into every manifest, brings the lock files along and rolls the
/// changelog, all in `work`.
fn edit_tree(work: &Path, members: &[Member], old: &Version, new: &Version) -> Result<Edited> {
    let names: BTreeSet<String> = members.iter().map(|m| m.name.clone()).collect();
    let manifests: BTreeSet<PathBuf> =
        std::iter::once(work.join("Cargo.toml")).chain(members.iter().map(|m| m.manifest.clone())).collect();
    let mut changes = Vec::new();
    for manifest in &manifests {
        let shown = relative(manifest, work);
        let text = std::fs::read_to_string(manifest).with_context(|| format!("reading {shown}"))?;
        let (rewritten, changed) = rewrite_manifest(&text, &names, old, new).with_context(|| shown.clone())?;
        if rewritten != text {
            std::fs::write(manifest, rewritten).with_context(|| format!("writing {shown}"))?;
        }
        changes.extend(changed.into_iter().map(|c| format!("{shown}: {c}")));
    }

    // Cargo.lock records the members' versions; lock files of other workspaces in the repository
    // (fuzz/) record those of their path dependencies on ours.
    run(Command::new("cargo").args(["update", "--workspace"]).current_dir(work))?;
    for lock in git(work, &["ls-files", "--", "*Cargo.lock"])?.lines().filter(|l| *l != "Cargo.lock") {
        let manifest = work.join(lock).with_file_name("Cargo.toml");
        if manifest.exists() {
            run(Command::new("cargo")
                .args(["update", "--workspace", "--manifest-path"])
                .arg(&manifest)
                .current_dir(work))?;
        }
    }
    for changed in git(work, &["diff", "--name-only", "--", "*Cargo.lock"])?.lines() {
        changes.push(format!("{changed}: the workspace's crates at {new}"));
    }

    let path = work.join("CHANGELOG.md");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => CHANGELOG_HEADER.to_owned(),
        Err(e) => return Err(e).context("reading CHANGELOG.md"),
    };
    let tag = last_release_tag(work);
    let subjects = commit_subjects(work, tag.as_deref())?;
    let date = today();
    let rolled = roll_changelog(&existing, new, &date, &subjects)?;
    std::fs::write(&path, &rolled).context("writing CHANGELOG.md")?;
    let section = section_of(&rolled, new).to_owned();
    changes.push(match &tag {
        Some(tag) => format!("CHANGELOG.md: a section for {new}, from the {} commit(s) since {tag}", subjects.len()),
        None => format!("CHANGELOG.md: a section for {new}, from all {} commit(s) (no v* tag yet)", subjects.len()),
    });
    Ok(Edited { changes, section })
}

/// The section of `version` in a changelog, up to the next `## ` heading.
fn section_of<'a>(changelog: &'a str, version: &Version) -> &'a str {
    let heading = format!("## {version} ");
    let Some(start) = changelog.find(&heading) else { return "" };
    let end = changelog[start + 3..].find("\n## ").map_or(changelog.len(), |i| start + 3 + i + 1);
    &changelog[start..end]
}

/// Puts back what an `--execute` release changed before its commit (the tree was clean before).
fn restore(root: &Path) {
    eprintln!("xtask release: putting the tree back as it was (git checkout HEAD -- .)");
    if let Err(error) = git(root, &["checkout", "HEAD", "--", "."]) {
        eprintln!("xtask release: could not: {error:#}");
    }
    let _ = git(root, &["clean", "--force", "--quiet", "--", "CHANGELOG.md"]);
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String> {
    let version = output(Command::new("rustc").arg("-vV"))?;
    version
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|t| t.trim().to_owned())
        .context("rustc -vV names no host")
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().fold(String::new(), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// `cargo xtask dist`: the stripped `mcptk` binary for the host (its startup functions placed
/// together, see [`crate::layout`]) with the README, licenses and changelog in
/// `target/dist/mcptk-VERSION-TRIPLE.tar.gz`, and its SHA-256 beside it.
pub(crate) fn dist(root: &Path) -> Result<()> {
    let started = Instant::now();
    let workspace = workspace(root)?;
    let mcptk =
        workspace.members.iter().find(|m| m.name == "mcptk-cli").context("the workspace has no mcptk-cli package")?;
    let triple = host_triple()?;
    crate::layout::build_for_dist(root, &workspace.target_dir)?;
    let binary_name = format!("mcptk{}", std::env::consts::EXE_SUFFIX);
    let binary = workspace.target_dir.join("release").join(&binary_name);

    let out = workspace.target_dir.join("dist");
    let name = format!("mcptk-{}-{triple}", mcptk.version);
    let stage = out.join(&name);
    if stage.exists() {
        std::fs::remove_dir_all(&stage).with_context(|| format!("removing {}", stage.display()))?;
    }
    std::fs::create_dir_all(&stage).with_context(|| format!("creating {}", stage.display()))?;
    let mut files = vec![binary, root.join("README.md"), root.join("CHANGELOG.md")];
    let mut licenses: Vec<PathBuf> = std::fs::read_dir(root)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let upper = path.file_name().unwrap_or_default().to_string_lossy().to_uppercase();
            path.is_file() && ["LICENSE", "LICENCE", "COPYING"].iter().any(|p| upper.starts_with(p))
        })
        .collect();
    licenses.sort();
    files.extend(licenses);
    for file in &files {
        let copy = stage.join(file.file_name().unwrap_or_default());
        std::fs::copy(file, &copy).with_context(|| format!("copying {}", file.display()))?;
    }
    // The copy is stripped, so target/release keeps the binary a debugger can use. `strip` comes
    // with the binutils the linker needs anyway.
    run(Command::new("strip").arg(stage.join(&binary_name)))?;

    let archive = out.join(format!("{name}.tar.gz"));
    run(Command::new("tar").arg("-C").arg(&out).arg("-czf").arg(&archive).arg(&name))?;
    std::fs::remove_dir_all(&stage).with_context(|| format!("removing {}", stage.display()))?;
    let digest = sha256_hex(&std::fs::read(&archive).with_context(|| format!("reading {}", archive.display()))?);
    let checksum = out.join(format!("{name}.tar.gz.sha256"));
    std::fs::write(&checksum, format!("{digest}  {name}.tar.gz\n"))
        .with_context(|| format!("writing {}", checksum.display()))?;
    eprintln!("xtask dist: done in {:.0?}", started.elapsed());
    println!("{}", archive.display());
    println!("{}", checksum.display());
    Ok(())
}

/// The `[profile]` tables of the workspace manifest `manifest` as a cargo configuration file's
/// text (empty when it has none).
fn profiles_config(manifest: &str) -> Result<String> {
    let manifest: DocumentMut = manifest.parse().context("Cargo.toml is not valid TOML")?;
    let mut config = DocumentMut::new();
    if let Some(profiles) = manifest.get("profile") {
        config.insert("profile", profiles.clone());
    }
    Ok(config.to_string())
}

/// Writes the profiles of the workspace at `work` into a configuration file under `target_dir`
/// and returns its path. Cargo verifies each packaged crate as a workspace of its own, whose
/// manifest has no `[profile]` tables, so it would build every dependency again in its default
/// `dev` profile (full debug info), beside the copies the tests built with ours; given as
/// `--config`, our profiles apply there too, and those copies are reused.
fn write_profiles_config(work: &Path, target_dir: &Path) -> Result<PathBuf> {
    let manifest = std::fs::read_to_string(work.join("Cargo.toml")).context("reading Cargo.toml")?;
    let dir = target_dir.join("package");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("workspace-profiles.toml");
    std::fs::write(&path, profiles_config(&manifest)?).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Removes what earlier packaging runs left of our crates at `version`. Cargo verifies each crate
/// against the others through a local registry, and takes a registry crate of a given name and
/// version to never change: it extracts its sources once, and builds it once per target folder.
/// A second run at the same version (every dry run on a machine that keeps its cargo home and
/// target folder) would verify against the first run's sources and build. So the extracted
/// copies go, and the build fingerprints of our crates in `target_dir` (cargo rebuilds what has
/// none; our workspace crates of the same names are rebuilt once, too).
fn forget_earlier_packaging(names: &[String], version: &Version, target_dir: &Path) {
    for profile in ["debug", "release"] {
        let Ok(fingerprints) = std::fs::read_dir(target_dir.join(profile).join(".fingerprint")) else { continue };
        for entry in fingerprints.flatten() {
            let file = entry.file_name();
            let file = file.to_string_lossy();
            let ours = names.iter().any(|name| {
                file.strip_prefix(name.as_str())
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|hash| hash.chars().all(|c| c.is_ascii_hexdigit()))
            });
            if ours && let Err(e) = std::fs::remove_dir_all(entry.path()) {
                eprintln!("xtask release: cannot remove {}: {e}", entry.path().display());
            }
        }
    }
    forget_extracted_sources(names, version);
}

/// The sources cargo extracted of our crates at `version` (it extracts them again from the
/// `.crate` files when needed).
fn forget_extracted_sources(names: &[String], version: &Version) {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")));
    let Some(sources) = home.map(|h| h.join("registry").join("src")) else { return };
    let Ok(registries) = std::fs::read_dir(&sources) else { return };
    for registry in registries.flatten() {
        for name in names {
            let extracted = registry.path().join(format!("{name}-{version}"));
            if extracted.is_dir()
                && let Err(e) = std::fs::remove_dir_all(&extracted)
            {
                eprintln!("xtask release: cannot remove {}: {e}", extracted.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).expect("a version")
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            parse_options(&args(&[])).expect("defaults"),
            Options { execute: false, bump: Bump::Patch, skip_checks: false }
        );
        assert_eq!(
            parse_options(&args(&["--execute", "--bump", "minor"])).expect("all"),
            Options { execute: true, bump: Bump::Minor, skip_checks: false }
        );
        assert!(parse_options(&args(&["--bump", "minor", "--skip-checks"])).expect("a dry run").skip_checks);
        let error = parse_options(&args(&["--execute", "--skip-checks"])).expect_err("no release without checks");
        assert!(error.to_string().contains("--execute refuses --skip-checks"), "{error}");
        assert_eq!(parse_options(&args(&["--bump=v2.0.0"])).expect("explicit").bump, Bump::To(v("2.0.0")));
        assert!(parse_options(&args(&["--bump"])).is_err());
        assert!(parse_options(&args(&["--bump", "sideways"])).is_err());
        assert!(parse_options(&args(&["--publish"])).is_err());
    }

    #[test]
    fn version_bumps() {
        let next = |current: &str, bump: Bump| next_version(&v(current), &bump).expect("a next version").to_string();
        assert_eq!(next("0.1.0", Bump::Patch), "0.1.1");
        assert_eq!(next("0.1.9", Bump::Minor), "0.2.0");
        assert_eq!(next("0.9.3", Bump::Major), "1.0.0");
        assert_eq!(next("1.2.3-rc.1", Bump::Patch), "1.2.3");
        assert_eq!(next("1.3.0-rc.1", Bump::Minor), "1.3.0");
        assert_eq!(next("1.3.1-rc.1", Bump::Minor), "1.4.0");
        assert_eq!(next("2.0.0-alpha", Bump::Major), "2.0.0");
        assert_eq!(next("0.1.0", Bump::To(v("0.3.0-beta.2"))), "0.3.0-beta.2");
        assert_eq!(next("1.0.0-rc.1", Bump::To(v("1.0.0"))), "1.0.0");
        assert!(next_version(&v("0.2.0"), &Bump::To(v("0.2.0"))).is_err());
        assert!(next_version(&v("0.2.0"), &Bump::To(v("0.1.5"))).is_err());
        assert!(next_version(&v("0.2.0"), &Bump::To(v("0.3.0+build.1"))).is_err());
    }

    #[test]
    fn requirements() {
        let new = v("0.2.0");
        for (old, rewritten) in [
            ("0.1.0", "0.2.0"),
            ("=0.1.0", "=0.2.0"),
            ("= 0.1.0", "=0.2.0"),
            ("^0.1", "^0.2.0"),
            ("~0.1.0", "~0.2.0"),
            (">=0.1.0", ">=0.2.0"),
            ("0.1.0-rc.1", "0.2.0"),
        ] {
            assert_eq!(rewrite_requirement(old, &new).expect(old), rewritten);
        }
        for refused in [">=0.1, <0.3", "0.1.*", "*", "", "<0.3"] {
            assert!(rewrite_requirement(refused, &new).is_err(), "{refused}");
        }
    }

    const ROOT: &str = r#"[workspace]
members = ["crates/*"]

[workspace.package]
version = "0.1.0" # the one version
edition = "2024"

[workspace.dependencies]
mcp-core = { path = "crates/mcp-core", version = "0.1.0" }
mcp-fs = { path = "crates/mcp-fs", version = "=0.1.0", default-features = false }
core-renamed = { package = "mcp-core", path = "crates/mcp-core", version = "0.1.0" }
serde = { version = "0.1.0", features = ["derive"] }
anyhow = "1"
"#;

    const ROOT_REWRITTEN: &str = r#"[workspace]
members = ["crates/*"]

[workspace.package]
version = "0.2.0" # the one version
edition = "2024"

[workspace.dependencies]
mcp-core = { path = "crates/mcp-core", version = "0.2.0" }
mcp-fs = { path = "crates/mcp-fs", version = "=0.2.0", default-features = false }
core-renamed = { package = "mcp-core", path = "crates/mcp-core", version = "0.2.0" }
serde = { version = "0.1.0", features = ["derive"] }
anyhow = "1"
"#;

    #[test]
    fn profiles_config_keeps_the_profile_tables_only() {
        let manifest = "[workspace]\nmembers = [\"crates/*\"]\n\n[profile.dev]\ndebug = \"line-tables-only\"\n\n\
                        [profile.dev.package.\"*\"]\ndebug = false\n\n[profile.release]\nlto = \"thin\"\n";
        let config: DocumentMut = profiles_config(manifest).expect("profiles").parse().expect("valid TOML");
        assert_eq!(config.iter().map(|(key, _)| key).collect::<Vec<_>>(), ["profile"]);
        assert_eq!(config["profile"]["dev"]["debug"].as_str(), Some("line-tables-only"));
        assert_eq!(config["profile"]["dev"]["package"]["*"]["debug"].as_bool(), Some(false));
        assert_eq!(config["profile"]["release"]["lto"].as_str(), Some("thin"));
        assert_eq!(profiles_config("[workspace]\n").expect("no profiles"), "");
    }

    #[test]
    fn root_manifest() {
        let (text, changes) =
            rewrite_manifest(ROOT, &names(&["mcp-core", "mcp-fs"]), &v("0.1.0"), &v("0.2.0")).expect("rewritten");
        assert_eq!(text, ROOT_REWRITTEN);
        assert_eq!(
            changes,
            [
                "[workspace.package] version: 0.1.0 -> 0.2.0",
                "[workspace.dependencies] mcp-core: 0.1.0 -> 0.2.0",
                "[workspace.dependencies] mcp-fs: =0.1.0 -> =0.2.0",
                "[workspace.dependencies] core-renamed: 0.1.0 -> 0.2.0",
            ]
        );
    }

    const UMBRELLA: &str = r#"[package]
name = "mcp-toolkit"
version = "0.1.0"
edition.workspace = true

[dependencies]
# Exact pins: the umbrella and its parts move together.
mcp-core = { path = "../mcp-core", version = "=0.1.0" }
mcp-fs = { workspace = true, features = ["native"] }
serde.workspace = true

[dependencies.mcp-sql]
path = "../mcp-sql"
version = "=0.1.0"
optional = true

[dev-dependencies]
mcp-toolkit = { path = ".", features = ["all"] }

[target.'cfg(unix)'.build-dependencies]
mcp-shell = { path = "../mcp-shell", version = "0.1.0" }
"#;

    #[test]
    fn member_manifest_with_exact_pins() {
        let members = names(&["mcp-core", "mcp-fs", "mcp-sql", "mcp-shell", "mcp-toolkit"]);
        let (text, changes) = rewrite_manifest(UMBRELLA, &members, &v("0.1.0"), &v("0.1.1")).expect("rewritten");
        assert_eq!(text, UMBRELLA.replace("0.1.0", "0.1.1"));
        assert_eq!(
            changes,
            [
                "[package] version: 0.1.0 -> 0.1.1",
                "[dependencies] mcp-core: =0.1.0 -> =0.1.1",
                "[dependencies] mcp-sql: =0.1.0 -> =0.1.1",
                "[target.'cfg(unix)'.build-dependencies] mcp-shell: 0.1.0 -> 0.1.1",
            ]
        );
        // A member inheriting the version, or versioned apart, is left alone.
        let inherited = "[package]\nname = \"a\"\nversion.workspace = true\n";
        let apart = "[package]\nname = \"a\"\nversion = \"3.0.0\"\n";
        for text in [inherited, apart] {
            let (same, changes) = rewrite_manifest(text, &members, &v("0.1.0"), &v("0.1.1")).expect("rewritten");
            assert_eq!((same.as_str(), changes.len()), (text, 0));
        }
        let range = "[dependencies]\nmcp-core = { path = \"../mcp-core\", version = \">=0.1, <0.3\" }\n";
        let error = rewrite_manifest(range, &members, &v("0.1.0"), &v("0.1.1")).expect_err("refused");
        assert!(format!("{error:#}").contains("[dependencies] mcp-core"), "{error:#}");
    }

    #[test]
    fn areas_and_groups() {
        assert_eq!(area("mcp-core: a fix"), Some(("mcp-core", "a fix")));
        assert_eq!(area("HTTP client: redirects refused"), Some(("HTTP client", "redirects refused")));
        assert_eq!(area("Handshake-era clients get only object schemas: the SDK rejected them"), None);
        assert_eq!(area("Support http://example.com URLs"), None);
        assert_eq!(area("mcp-core:"), None);
        let subjects: Vec<String> = [
            "mcp-core: one",
            "A subject with no area",
            "Docs: first",
            "mcp-core: two",
            "docs: second",
            "other: spelled out",
            "",
            "ARCHITECTURE: xtask",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let groups = group_subjects(&subjects);
        let expected: Vec<(String, Vec<String>)> = vec![
            ("ARCHITECTURE".into(), vec!["xtask".into()]),
            ("Docs".into(), vec!["first".into(), "second".into()]),
            ("mcp-core".into(), vec!["one".into(), "two".into()]),
            ("Other".into(), vec!["A subject with no area".into(), "spelled out".into()]),
        ];
        assert_eq!(groups, expected);
    }

    #[test]
    fn changelog_with_unreleased_notes() {
        let existing =
            "# Changelog\n\nIntro.\n\n## Unreleased\n\nA hand-written note.\n\n## 0.1.0 - 2026-01-02\n\n- First.\n";
        let subjects = vec!["mcp-fs: faster reads".to_owned(), "Tidy up".to_owned()];
        let rolled = roll_changelog(existing, &v("0.2.0"), "2026-03-04", &subjects).expect("rolled");
        assert_eq!(
            rolled,
            "# Changelog\n\nIntro.\n\n## Unreleased\n\n## 0.2.0 - 2026-03-04\n\nA hand-written note.\n\n\
             ### mcp-fs\n\n- faster reads\n\n### Other\n\n- Tidy up\n\n## 0.1.0 - 2026-01-02\n\n- First.\n"
        );
        let again = roll_changelog(&rolled, &v("0.2.0"), "2026-03-05", &subjects).expect_err("refused");
        assert!(again.to_string().contains("already has a section for 0.2.0"));
        assert_eq!(
            section_of(&rolled, &v("0.2.0")),
            "## 0.2.0 - 2026-03-04\n\nA hand-written note.\n\n### mcp-fs\n\n- faster reads\n\n### Other\n\n- Tidy up\n\n"
        );
        assert_eq!(section_of(&rolled, &v("0.1.0")), "## 0.1.0 - 2026-01-02\n\n- First.\n");
    }

    #[test]
    fn changelog_without_unreleased() {
        let rolled = roll_changelog("# Changelog\n", &v("0.1.1"), "2026-05-06", &[]).expect("rolled");
        assert_eq!(rolled, "# Changelog\n\n## 0.1.1 - 2026-05-06\n\nNo changes.\n");
        let existing = "# Changelog\n\n## [v0.1.1] - 2026-05-06\n\nNo changes.\n";
        let rolled = roll_changelog(existing, &v("0.1.2"), "2026-05-07", &["x: y".to_owned()]).expect("rolled");
        assert_eq!(
            rolled,
            "# Changelog\n\n## 0.1.2 - 2026-05-07\n\n### x\n\n- y\n\n## [v0.1.1] - 2026-05-06\n\nNo changes.\n"
        );
        assert!(roll_changelog(existing, &v("0.1.1"), "2026-05-07", &[]).is_err());
    }

    fn member(name: &str, publish: bool, depends_on: &[&str]) -> Member {
        Member {
            name: name.to_owned(),
            version: "0.1.0".to_owned(),
            manifest: PathBuf::from(format!("/ws/{name}/Cargo.toml")),
            publish,
            depends_on: names(depends_on),
            dev_depends_on: BTreeSet::new(),
        }
    }

    fn with_dev(mut member: Member, dev_depends_on: &[&str]) -> Member {
        member.dev_depends_on = names(dev_depends_on);
        member
    }

    #[test]
    fn order_follows_versioned_dev_dependencies() {
        // mcptk-openai's tests use mcptk-security: crates.io needs it published first.
        let members = [
            with_dev(member("mcptk-openai", true, &["mcptk-core"]), &["mcptk-core", "mcptk-security"]),
            member("mcptk-core", true, &[]),
            member("mcptk-security", true, &["mcptk-core"]),
        ];
        assert_eq!(publish_order(&members).expect("an order"), ["mcptk-core", "mcptk-security", "mcptk-openai"]);

        let cycle = [with_dev(member("a", true, &[]), &["b"]), member("b", true, &["a"])];
        let error = publish_order(&cycle).expect_err("a cycle through a dev-dependency").to_string();
        assert!(error.starts_with("the workspace's crates depend on each other in a cycle: a -> b -> a"), "{error}");
        assert!(error.contains("dev-dependency a -> b"), "{error}");
        assert!(!error.contains("b -> a:"), "{error}");
        assert!(error.contains("path-only"), "{error}");

        let unpublished = [with_dev(member("a", true, &[]), &["fixture"]), member("fixture", false, &[])];
        let error = publish_order(&unpublished).expect_err("refused").to_string();
        assert!(error.contains("dev-dependency on fixture, which has publish = false"), "{error}");
        assert!(error.contains("path-only"), "{error}");
    }

    #[test]
    fn upstream() {
        let head = "0123456789abcdef0123456789abcdef01234567\n";
        assert_eq!(upstream_problem(head, Some(("origin/main", "0123456789abcdef0123456789abcdef01234567"))), None);
        let behind = upstream_problem(head, Some(("origin/main", "fedcba9876543210fedcba9876543210fedcba98\n")))
            .expect("a difference");
        assert!(behind.contains("HEAD (0123456789ab) is not its upstream origin/main (fedcba987654)"), "{behind}");
        assert!(upstream_problem(head, None).expect("no upstream").contains("no upstream"));
    }

    #[test]
    fn order_follows_dependencies() {
        let members = [
            member("mcptk", true, &["mcp-fs", "mcp-core", "mcp-audit"]),
            member("mcp-fs", true, &["mcp-core"]),
            member("mcp-core", true, &[]),
            member("mcp-audit", true, &["mcp-core", "mcp-security"]),
            member("mcp-security", true, &["mcp-core"]),
            member("xtask", false, &[]),
            member("mcp-conformance", false, &["mcp-core"]),
        ];
        assert_eq!(
            publish_order(&members).expect("an order"),
            ["mcp-core", "mcp-fs", "mcp-security", "mcp-audit", "mcptk"]
        );
    }

    #[test]
    fn order_refuses_cycles_and_unpublished_dependencies() {
        let cycle =
            [member("a", true, &["b"]), member("b", true, &["c"]), member("c", true, &["b"]), member("d", true, &[])];
        let error = publish_order(&cycle).expect_err("a cycle");
        assert_eq!(error.to_string(), "the workspace's crates depend on each other in a cycle: b -> c -> b");
        let unpublished = [member("a", true, &["fixture"]), member("fixture", false, &[])];
        let error = publish_order(&unpublished).expect_err("refused");
        assert_eq!(error.to_string(), "a is published but depends on fixture, which has publish = false");
    }

    #[test]
    fn metadata() {
        let json = r#"{
            "workspace_members": ["path+file:///ws/a#0.1.0", "path+file:///ws/b#0.1.0", "path+file:///ws/x#0.1.0"],
            "target_directory": "/ws/target",
            "packages": [
                {"id": "path+file:///ws/a#0.1.0", "name": "a", "version": "0.1.0",
                 "manifest_path": "/ws/a/Cargo.toml", "publish": null, "dependencies": [
                    {"name": "serde", "kind": null},
                    {"name": "b", "kind": null, "path": "/ws/b", "req": "^0.1.0"},
                    {"name": "x", "kind": "dev", "path": "/ws/x", "req": "*"},
                    {"name": "a", "kind": "dev", "path": "/ws/a", "req": "^0.1.0"}]},
                {"id": "path+file:///ws/b#0.1.0", "name": "b", "version": "0.1.0",
                 "manifest_path": "/ws/b/Cargo.toml", "publish": ["crates-io"], "dependencies": [
                    {"name": "x", "kind": "build", "path": "/ws/x", "req": "^0.1.0"},
                    {"name": "a", "kind": "dev", "path": "/ws/a", "req": "^0.1.0"},
                    {"name": "x", "kind": "dev", "path": "/ws/x", "req": "*"}]},
                {"id": "path+file:///ws/x#0.1.0", "name": "x", "version": "0.1.0",
                 "manifest_path": "/ws/x/Cargo.toml", "publish": [], "dependencies": []}
            ]
        }"#;
        let workspace = parse_metadata(json).expect("parsed");
        assert_eq!(workspace.target_dir, PathBuf::from("/ws/target"));
        let summary: Vec<(&str, bool, Vec<&str>)> = workspace
            .members
            .iter()
            .map(|m| (m.name.as_str(), m.publish, m.depends_on.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(summary, [("a", true, vec!["b"]), ("b", true, vec!["x"]), ("x", false, vec![])]);
        // Only versioned dev-dependencies count (and never one on itself).
        let dev: Vec<Vec<&str>> =
            workspace.members.iter().map(|m| m.dev_depends_on.iter().map(String::as_str).collect()).collect();
        assert_eq!(dev, [vec![], vec!["a"], vec![]]);
        assert!(publish_order(&workspace.members).is_err(), "b builds with x, which is not published");
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(today().len(), 10);
    }

    #[test]
    fn checksum() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
