//! The workspace's crate rules, checked over `cargo metadata` (see ARCHITECTURE.md, "Crate
//! rules"): which crate may depend on which, what the umbrella pins and offers, what no crate may
//! pull in, and what every published crate declares.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// What each workspace crate may depend on among the others (normal and build dependencies).
/// Tool crates know only `mcp-core`; the order core <- security <- audit is kept; the assembling
/// crates (gateway, umbrella, CLI) may use any. A new crate must be placed here.
/// Names are the published package names (`mcptk-*`; the code calls them `mcp_*`).
const ALLOWED: &[(&str, &[&str])] = &[
    ("mcptk-core", &[]),
    ("mcptk-security", &["mcptk-core"]),
    ("mcptk-audit", &["mcptk-core", "mcptk-security"]),
    ("mcptk-fs", &["mcptk-core"]),
    ("mcptk-shell", &["mcptk-core"]),
    ("mcptk-sql", &["mcptk-core"]),
    ("mcptk-perplexity", &["mcptk-core"]),
    ("mcptk-github", &["mcptk-core"]),
    ("mcptk-k8s", &["mcptk-core"]),
    ("mcptk-docker", &["mcptk-core"]),
    ("mcptk-openai", &["mcptk-core"]),
    ("mcp-conformance", &["mcptk-core"]),
    ("mcptk-gateway", &["*"]),
    ("mcp-toolkit", &["*"]),
    ("mcptk-cli", &["*"]),
    ("xtask", &[]),
];

/// Crates that must never be in the dependency graph: TLS goes through rustls with ring only.
const FORBIDDEN: &[&str] = &["aws-lc-sys", "aws-lc-rs", "openssl-sys", "openssl", "native-tls"];

/// This machine's target triple.
fn host() -> String {
    let rustc = Command::new("rustc").arg("-vV").output().expect("rustc -vV runs");
    String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc names its host")
}

fn metadata() -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // For this platform: the graph users here get, readable without downloading other
    // platforms' crates.
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline", "--all-features", "--filter-platform", &host()])
        .current_dir(&root)
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

fn members(metadata: &Value) -> Vec<&Value> {
    let ids: BTreeSet<&str> =
        metadata["workspace_members"].as_array().expect("members").iter().filter_map(Value::as_str).collect();
    metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter(|p| ids.contains(p["id"].as_str().unwrap_or("")))
        .collect()
}

fn name(package: &Value) -> &str {
    package["name"].as_str().unwrap_or_default()
}

/// `package`'s dependencies on other workspace crates, without dev-dependencies.
fn internal_deps<'a>(package: &'a Value, workspace: &BTreeSet<&str>) -> Vec<&'a Value> {
    package["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter(|d| workspace.contains(d["name"].as_str().unwrap_or("")) && d["kind"].as_str() != Some("dev"))
        .collect()
}

#[test]
fn crates_depend_only_on_what_the_crate_map_allows() {
    let metadata = metadata();
    let members = members(&metadata);
    let workspace: BTreeSet<&str> = members.iter().map(|p| name(p)).collect();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut problems = Vec::new();
    for package in &members {
        let Some(may) = allowed.get(name(package)) else {
            problems.push(format!(
                "`{}` is not in the crate map (ALLOWED in this test, and ARCHITECTURE.md)",
                name(package)
            ));
            continue;
        };
        for dep in internal_deps(package, &workspace) {
            let dep = dep["name"].as_str().unwrap_or_default();
            if !may.contains(&"*") && !may.contains(&dep) {
                problems.push(format!("`{}` depends on `{dep}`, which the crate map does not allow", name(package)));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_crate_pulls_openssl_or_aws_lc() {
    // What cargo builds, every workspace feature on (`cargo tree` applies the feature resolver;
    // `cargo metadata`'s resolve also counts features a weak dependency (`dep?/feature`) names
    // without the dependency being enabled, such as octocrab's `reqwest?/rustls`).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--workspace", "--all-features", "--offline", "-e", "normal,build,dev"])
        .args(["--prefix", "none", "--format", "{p}", "--target", &host()])
        .current_dir(&root)
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    let tree = String::from_utf8_lossy(&output.stdout);
    let names: BTreeSet<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(names.contains("rustls") && names.contains("mcptk-core"), "cargo tree printed the graph: {names:?}");
    let found: Vec<&&str> = FORBIDDEN.iter().filter(|f| names.contains(**f)).collect();
    assert!(found.is_empty(), "with every feature on, the build holds {found:?}: pick the rustls + ring features");
}

#[test]
fn mcp_core_is_lean_by_default_and_tokio_is_shared_without_features() {
    let metadata = metadata();
    let members = members(&metadata);
    let core = members.iter().find(|p| name(p) == "mcptk-core").expect("mcptk-core");
    assert_eq!(core["features"]["default"], serde_json::json!(["stdio"]), "mcp-core's default features");
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml")).expect("root");
    let tokio = manifest.lines().find(|l| l.starts_with("tokio =")).expect("a workspace tokio entry");
    assert!(
        !tokio.contains("features"),
        "the workspace tokio entry carries features; each crate names its own: {tokio}"
    );
}

#[test]
fn the_umbrella_pins_its_parts_exactly_and_offers_each_by_feature() {
    let metadata = metadata();
    let members = members(&metadata);
    let workspace: BTreeSet<&str> = members.iter().map(|p| name(p)).collect();
    let umbrella = members.iter().find(|p| name(p) == "mcp-toolkit").expect("mcp-toolkit");
    let version = umbrella["version"].as_str().expect("version");
    let features = umbrella["features"].as_object().expect("features");
    let full: BTreeSet<&str> = features["full"].as_array().expect("full").iter().filter_map(Value::as_str).collect();
    let mut problems = Vec::new();
    for dep in internal_deps(umbrella, &workspace) {
        let dep_name = dep["name"].as_str().unwrap_or_default();
        // The part's name in the umbrella: its dependency key (`mcp-fs` for `mcptk-fs`).
        let key = dep["rename"].as_str().unwrap_or(dep_name);
        let req = dep["req"].as_str().unwrap_or_default();
        if req != format!("={version}") {
            problems.push(format!("`{dep_name}` is required as `{req}`, not exactly `={version}`"));
        }
        if key == "mcp-core" {
            continue;
        }
        if dep["optional"] != true {
            problems.push(format!("`{dep_name}` is not optional: every part comes by feature"));
        }
        let part = key.trim_start_matches("mcp-");
        if !features.contains_key(part) {
            problems.push(format!("no feature `{part}` for `{dep_name}`"));
        }
    }
    for feature in features.keys().filter(|f| !["default", "full"].contains(&f.as_str())) {
        if !full.contains(feature.as_str()) {
            problems.push(format!("`full` leaves out `{feature}`"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The crate map above names every crate the umbrella offers.
    let mapped: BTreeSet<&str> = ALLOWED.iter().map(|(n, _)| *n).collect();
    assert!(workspace.iter().all(|n| mapped.contains(n)), "a crate is missing from the crate map");
}

#[test]
fn every_published_crate_says_what_it_is_and_under_which_license() {
    let metadata = metadata();
    let mut problems = Vec::new();
    for package in members(&metadata) {
        if package["publish"] == serde_json::json!([]) {
            continue;
        }
        for field in ["description", "license", "repository"] {
            if package[field].as_str().is_none_or(str::is_empty) {
                problems.push(format!("`{}` has no {field}", name(package)));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
