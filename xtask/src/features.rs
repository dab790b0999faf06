//! `cargo xtask features`: every feature of the umbrella crate builds on its own, and with none.
//! (The same check as `cargo hack --each-feature`, without installing it.) All features together
//! are built by the tests.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::steps::Steps;

/// The crate whose features are checked one by one.
const UMBRELLA: &str = "mcp-toolkit";

/// The feature names of the `[features]` table of the manifest at `path`.
pub fn feature_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_features = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_features = line == "[features]";
            continue;
        }
        if !in_features || line.starts_with('#') {
            continue;
        }
        if let Some((name, _)) = line.split_once('=') {
            let name = name.trim();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// Checks the umbrella with no features, then with each feature alone (`default` and `full`
/// included), stopping at the first that does not build and naming it.
pub fn run(root: &Path) -> Result<()> {
    let manifest_path = root.join("crates").join(UMBRELLA).join("Cargo.toml");
    let manifest =
        std::fs::read_to_string(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    let features = feature_names(&manifest);
    if features.is_empty() {
        bail!("{} declares no features", manifest_path.display());
    }
    let mut sets: Vec<Option<&str>> = vec![None];
    sets.extend(features.iter().map(|f| Some(f.as_str())));
    let mut steps = Steps::new("features");
    let result = sets.into_iter().try_for_each(|set| {
        let what = set.map_or("no features".to_owned(), |f| format!("only `{f}`"));
        steps.run(&format!("{UMBRELLA} with {what}"), || {
            let mut command = Command::new("cargo");
            command.args(["check", "--locked", "--quiet", "-p", UMBRELLA, "--no-default-features"]);
            if let Some(feature) = set {
                command.args(["--features", feature]);
            }
            let status = command.status().context("cannot run cargo check")?;
            if !status.success() {
                bail!("{UMBRELLA} does not build with {what} ({status})");
            }
            Ok(())
        })
    });
    eprintln!("xtask features: times\n{}", steps.report());
    result?;
    eprintln!("xtask features: every feature of {UMBRELLA} builds alone");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_names_come_from_the_features_table_only() {
        let manifest = "[package]\nname = \"x\"\n\n[features]\n# comment\ndefault = [\"stdio\"]\nfs = [\"dep:mcp-fs\"]\n\
                        http-client = [\"mcp-core/http-client\"]\n\n[dependencies]\nserde = \"1\"\n";
        assert_eq!(feature_names(manifest), ["default", "fs", "http-client"]);
    }
}
