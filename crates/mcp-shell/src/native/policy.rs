//! What may run: allowlisted executables resolved at start, argv checked against chaining,
//! redirection and option injection, working directories and path arguments confined to the roots.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// Programs that run other programs or code: refused unless named in `allow_interpreters`.
pub const INTERPRETERS: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "zsh",
    "ksh",
    "csh",
    "tcsh",
    "fish",
    "ash",
    "busybox",
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "deno",
    "bun",
    "php",
    "lua",
    "tclsh",
    "wish",
    "awk",
    "gawk",
    "mawk",
    "nawk",
    "env",
    "xargs",
    "nice",
    "nohup",
    "timeout",
    "stdbuf",
    "setsid",
    "sudo",
    "doas",
    "su",
    "runuser",
    "chroot",
    "strace",
    "ltrace",
    "gdb",
    "watch",
    "script",
    "expect",
    "osascript",
    "pwsh",
    "powershell",
    "cmd",
];

/// Why an option is refused, as a refusal explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    /// It runs a program of the caller's choosing.
    Runs,
    /// It writes a file the caller names, from a program otherwise used to read.
    Writes,
    /// It points the program at configuration a caller could have written, whose settings
    /// name programs to run.
    Configures,
    /// It follows symlinks while walking a tree, to what a link inside the roots points to
    /// outside them.
    FollowsLinks,
    /// It reads or writes paths named somewhere no check sees: a list of names read from a
    /// file or stdin, an archive's member names.
    UncheckedNames,
}

impl Risk {
    fn explain(self) -> &'static str {
        match self {
            Risk::Runs => "it can run a program of the caller's choosing",
            Risk::Writes => "it writes a file the caller names",
            Risk::Configures => {
                "it points the program at configuration a caller could have written, which can name programs to run"
            }
            Risk::FollowsLinks => {
                "it follows symlinks while walking a tree, which can lead outside the allowed directories"
            }
            Risk::UncheckedNames => {
                "the paths it reads or writes come from a file, stdin or an archive's member names, which are never checked against the allowed directories"
            }
        }
    }
}

/// Where on a command line a refused option counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Anywhere.
    Anywhere,
    /// Before the program's subcommand only (a global option: `git -c`).
    BeforeSubcommand,
    /// After one of these subcommands only (`git rebase -x`, while `git cherry-pick -x` only
    /// notes where a commit came from).
    With(Vec<String>),
}

/// An option refused for a program (see [`default_denied_options`]). `--opt` also covers
/// `--opt=...` and every abbreviation GNU getopt would take for it; `-o` counts anywhere in a
/// cluster of one-letter options (`-uo F`, `-oF`); other single-dash options (`-exec`) match
/// exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedOption {
    pub option: String,
    pub risk: Risk,
    pub scope: Scope,
}

/// Programs that write the paths their input names (archive extractors, `patch`): no check of
/// their arguments can tell where they write, so they are refused unless allowed by name in
/// `allow_interpreters`, and then run unconfined as interpreters do. (`tar` is allowed: it is
/// refused the options that extract.)
pub const UNCHECKED_WRITERS: &[&str] = &["unzip", "cpio", "bsdcpio", "7z", "7za", "7zr", "pax", "bsdtar", "patch"];

/// Options that make common tools run commands, write files or reach paths of the caller's
/// choosing (the argument-injection class of CVE-2025-68144), refused by default, by program.
pub fn default_denied_options() -> BTreeMap<String, Vec<DeniedOption>> {
    use Risk::*;
    let anywhere = || Scope::Anywhere;
    let with = |subcommands: &[&str]| Scope::With(subcommands.iter().map(|s| (*s).to_owned()).collect());
    let table: Vec<(&str, Risk, Scope, &[&str])> = vec![
        (
            "git",
            Runs,
            anywhere(),
            &[
                "--upload-pack",
                "--receive-pack",
                "--exec",
                "--exec-path",
                "--ext-diff",
                "--textconv",
                "--open-files-in-pager",
            ],
        ),
        // `git clone -u CMD` and `git ls-remote -u CMD` run CMD (`git add -u` stages tracked files).
        ("git", Runs, with(&["clone", "ls-remote"]), &["-u"]),
        // `git rebase -x CMD` runs CMD after each commit.
        ("git", Runs, with(&["rebase"]), &["-x"]),
        // `git grep -O[PAGER]` opens the matching files in PAGER.
        ("git", Runs, with(&["grep"]), &["-O"]),
        ("git", Writes, anywhere(), &["--output"]),
        ("git", Writes, with(&["format-patch", "archive"]), &["-o", "--output-directory"]),
        // A repository or setting of the caller's making, whose configuration names programs.
        ("git", Configures, Scope::BeforeSubcommand, &["-c", "--git-dir", "--work-tree"]),
        ("git", Configures, with(&["clone"]), &["-c"]),
        // `--separate-git-dir` puts a repository's configuration where no `.git` names it.
        ("git", Configures, anywhere(), &["--config-env", "--template", "--separate-git-dir"]),
        ("find", Runs, anywhere(), &["-exec", "-execdir", "-ok", "-okdir"]),
        ("find", Writes, anywhere(), &["-delete", "-fprint", "-fprint0", "-fprintf", "-fls"]),
        ("find", FollowsLinks, anywhere(), &["-L", "-follow"]),
        ("find", UncheckedNames, anywhere(), &["-files0-from"]),
        // ripgrep 14's `--hostname-bin CMD` runs CMD to name the host in hyperlinks.
        ("rg", Runs, anywhere(), &["--pre", "--pre-glob", "--search-zip", "-z", "--hostname-bin"]),
        ("rg", FollowsLinks, anywhere(), &["-L", "--follow"]),
        ("grep", FollowsLinks, anywhere(), &["-R", "--dereference-recursive"]),
        ("ls", FollowsLinks, anywhere(), &["-L", "--dereference"]),
        ("du", FollowsLinks, anywhere(), &["-L", "--dereference"]),
        ("du", UncheckedNames, anywhere(), &["--files0-from"]),
        ("stat", FollowsLinks, anywhere(), &["-L", "--dereference"]),
        ("tree", FollowsLinks, anywhere(), &["-l"]),
        ("tree", Writes, anywhere(), &["-o"]),
        // `-F` follows a name that may later become a symlink leading out.
        ("tail", FollowsLinks, anywhere(), &["-F", "--retry"]),
        ("wc", UncheckedNames, anywhere(), &["--files0-from"]),
        ("cp", FollowsLinks, anywhere(), &["-L", "--dereference"]),
        ("chown", FollowsLinks, anywhere(), &["-L"]),
        ("chgrp", FollowsLinks, anywhere(), &["-L"]),
        (
            "tar",
            Runs,
            anywhere(),
            &[
                "--to-command",
                "--use-compress-program",
                "-I",
                "--checkpoint-action",
                "--info-script",
                "-F",
                "--new-volume-script",
                "--rmt-command",
                "--rsh-command",
            ],
        ),
        ("tar", FollowsLinks, anywhere(), &["-h", "--dereference"]),
        // Extracting writes, and comparing reads, the paths an archive's members name: an
        // absolute one with `-P`, one through a symlink already inside the roots, or a
        // repository's `.git/config`. Creating and listing archives stay.
        (
            "tar",
            UncheckedNames,
            anywhere(),
            &["-x", "--extract", "--get", "-d", "--diff", "--compare", "-P", "--absolute-names", "-T", "--files-from"],
        ),
        ("curl", Runs, anywhere(), &["-K", "--config"]),
        ("curl", Writes, anywhere(), &["-o", "--output", "-O", "--remote-name", "--output-dir", "-D", "--dump-header"]),
        ("curl", UncheckedNames, anywhere(), &["-T", "--upload-file"]),
        ("wget", Runs, anywhere(), &["--use-askpass", "-e", "--execute"]),
        ("wget", Writes, anywhere(), &["-O", "--output-document", "-o", "--output-file", "-P", "--directory-prefix"]),
        ("rsync", Runs, anywhere(), &["-e", "--rsh", "--rsync-path"]),
        ("rsync", FollowsLinks, anywhere(), &["-L", "--copy-links", "--copy-unsafe-links", "-k", "--copy-dirlinks"]),
        ("ssh", Runs, anywhere(), &["-o", "-F", "-L", "-R", "-D", "-W", "-J", "-S"]),
        ("scp", Runs, anywhere(), &["-o", "-F", "-S"]),
        ("zip", Runs, anywhere(), &["-T", "-TT", "--unzip-command"]),
        // Scripts' own `e`, `w` and `r` commands are refused by `--sandbox`, which sed always gets.
        ("sed", Writes, anywhere(), &["-i", "--in-place"]),
        ("sort", Runs, anywhere(), &["--compress-program"]),
        ("sort", Writes, anywhere(), &["-o", "--output"]),
        ("sort", UncheckedNames, anywhere(), &["--files0-from"]),
        ("less", Writes, anywhere(), &["-o", "--log-file", "-O", "--LOG-FILE"]),
        ("man", Runs, anywhere(), &["-P", "--pager", "-H", "--html"]),
        ("npm", Runs, anywhere(), &["--script-shell", "--node-options"]),
        ("cargo", Configures, anywhere(), &["--config", "-Z"]),
        ("make", Runs, anywhere(), &["-f", "--file", "--makefile", "-C", "--directory", "--eval", "-E"]),
    ];
    let mut denied: BTreeMap<String, Vec<DeniedOption>> = BTreeMap::new();
    for (program, risk, scope, options) in table {
        denied.entry(program.to_owned()).or_default().extend(options.iter().map(|option| DeniedOption {
            option: (*option).to_owned(),
            risk,
            scope: scope.clone(),
        }));
    }
    denied
}

/// Options that are a refused option's prefix and an option in their own right, which GNU
/// getopt takes by their exact name before any abbreviation: `git diff --text` is not
/// `--textconv`, `tar --checkpoint=100` not `--checkpoint-action`.
const EXACT_OPTIONS: &[(&str, &[&str])] = &[("git", &["--text"]), ("tar", &["--checkpoint"])];

/// Subcommands refused by default because running programs or rewriting what later commands run
/// is what they do: `git config` can name an alias, hook path or fsmonitor that the next `git`
/// command executes.
pub fn default_denied_subcommands() -> BTreeMap<String, Vec<String>> {
    let git = [
        "config",
        "filter-branch",
        "bisect",
        "submodule",
        "difftool",
        "mergetool",
        "daemon",
        "instaweb",
        "hook",
        "credential",
        "credential-store",
        "credential-cache",
        "credential-netrc",
        "credential-libsecret",
        "credential-osxkeychain",
        "credential-manager",
        "send-email",
        "web--browse",
    ];
    BTreeMap::from([("git".to_owned(), git.map(str::to_owned).to_vec())])
}

/// Arguments a program always gets first, whatever the caller passes: GNU sed's `--sandbox`
/// refuses the script commands that run programs (`e`, `s///e`) or open files (`r`, `w`).
fn forced_arguments(program: &str) -> &'static [&'static str] {
    match program {
        "sed" => &["--sandbox"],
        // Both follow symlinks while walking a tree by default, to what a link inside the
        // roots points to outside them: zip then stores the link itself, diff compares links
        // as links.
        "zip" => &["-y"],
        "diff" => &["--no-dereference"],
        // Programs named by a repository's own configuration do not run: no fsmonitor, no
        // hooks, no repository found by walking into a bare one a caller wrote (whose
        // configuration is the caller's). The operator's credential helper stays, for push and
        // fetch; the subcommands that print what it stores are refused.
        "git" => {
            &["-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "safe.bareRepository=explicit"]
        }
        _ => &[],
    }
}

/// Programs that only read: a server whose allowlist holds nothing else says so in its tools'
/// annotations. (Their writing and executing options are in [`default_denied_options`].)
pub const READ_ONLY: &[&str] = &[
    "ls",
    "cat",
    "head",
    "tail",
    "wc",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "stat",
    "du",
    "df",
    "pwd",
    "diff",
    "cmp",
    "nl",
    "tac",
    "cut",
    "comm",
    "basename",
    "dirname",
    "realpath",
    "readlink",
    "md5sum",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "b2sum",
    "cksum",
    "strings",
    "od",
    "uname",
    "whoami",
    "id",
    "echo",
    "printf",
    "true",
    "false",
    // Always sandboxed (no `w`, `r`, `e`), and `-i` is refused.
    "sed",
];

/// Arguments meant to chain or redirect through a shell, which never runs here: refused so the
/// model learns at once that they do nothing, and so no downstream tool re-reads them as shell.
const CHAINING: &[(&str, &str)] = &[
    (";", "`;` (command chaining)"),
    ("&&", "`&&` (command chaining)"),
    ("||", "`||` (command chaining)"),
    ("|", "`|` (pipe)"),
    ("`", "a backtick (command substitution)"),
    ("$(", "`$(` (command substitution)"),
    ("\n", "a newline (command chaining)"),
    ("\r", "a carriage return"),
    ("\0", "a NUL byte"),
];

/// Device files any command may name: they hold no data of anyone's.
const DEVICES: &[&str] =
    &["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/stdin", "/dev/stdout", "/dev/stderr"];

/// Why nothing but reading may name a repository's `.git`: its configuration, hooks and the
/// `gitdir:` a `.git` file points to name the programs git runs.
const GIT_DIRECTORY: &str =
    "a repository's configuration and hooks there name programs that git runs (use git's own subcommands)";

const REDIRECTIONS: &[&str] = &[">", ">>", "<", "<<", "<<<", "2>", "2>>", "&>", "&>>", "2>&1", ">&2", "&"];

/// Settings of the native shell server. Every field has a safe default except the allowlist.
#[derive(Debug, Clone)]
pub struct ShellConfig {
    /// Program names that may run (bare names, looked up in `PATH` once at start).
    pub allow: Vec<String>,
    /// Shells and interpreters (see [`INTERPRETERS`]) that may run; they are refused otherwise.
    pub allow_interpreters: Vec<String>,
    /// Directories commands may run in (and beneath). The first is the default.
    pub roots: Vec<PathBuf>,
    /// Default timeout (30 s) and the most a caller may ask for (10 min).
    pub timeout: std::time::Duration,
    /// The most a caller may ask for.
    pub max_timeout: std::time::Duration,
    /// Bytes kept of each of stdout and stderr (1 MiB); the rest is counted and dropped.
    pub max_output_bytes: usize,
    /// Environment variables passed through to commands; everything else is removed.
    pub env_allow: Vec<String>,
    /// Options refused per program (see [`default_denied_options`]).
    pub denied_options: BTreeMap<String, Vec<DeniedOption>>,
    /// Subcommands refused per program (see [`default_denied_subcommands`]).
    pub denied_subcommands: BTreeMap<String, Vec<String>>,
    /// The `PATH` searched for allowed programs (default: this process's `PATH`).
    pub search_path: Option<String>,
}

impl Default for ShellConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            allow_interpreters: Vec::new(),
            roots: Vec::new(),
            timeout: std::time::Duration::from_secs(30),
            max_timeout: std::time::Duration::from_secs(600),
            max_output_bytes: 1024 * 1024,
            env_allow: ["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "USER", "LOGNAME", "TMPDIR"]
                .map(str::to_owned)
                .to_vec(),
            denied_options: default_denied_options(),
            denied_subcommands: default_denied_subcommands(),
            search_path: None,
        }
    }
}

/// The checked policy: programs resolved to absolute paths, roots canonical.
#[derive(Debug)]
pub struct Policy {
    pub(crate) programs: BTreeMap<String, PathBuf>,
    pub(crate) roots: Vec<PathBuf>,
    pub(crate) config: ShellConfig,
}

impl Policy {
    /// Resolves every allowed program and root, failing on the first that does not exist.
    pub fn new(config: ShellConfig) -> Result<Policy> {
        let interpreters: BTreeSet<&str> = INTERPRETERS.iter().copied().collect();
        let unchecked: BTreeSet<&str> = UNCHECKED_WRITERS.iter().copied().collect();
        let search = config.search_path.clone().or_else(|| std::env::var("PATH").ok()).unwrap_or_default();
        let mut programs = BTreeMap::new();
        let allowed_interpreters: BTreeSet<&str> = config.allow_interpreters.iter().map(String::as_str).collect();
        for name in config.allow.iter().chain(&config.allow_interpreters) {
            check_bare_name(name).map_err(|e| Error::Config(e.to_string()))?;
            if interpreters.contains(name.as_str()) && !allowed_interpreters.contains(name.as_str()) {
                return Err(Error::Config(format!(
                    "`{name}` is a shell or interpreter that can run anything; if that is intended, allow it as an interpreter (`--allow-interpreter {name}`, or `allow_interpreters` in a configuration)"
                )));
            }
            if unchecked.contains(name.as_str()) && !allowed_interpreters.contains(name.as_str()) {
                return Err(Error::Config(format!(
                    "`{name}` writes the paths its input names, which nothing can check (an archive member can lead out of the roots through a symlink, or write a repository's `.git/config`); if that is intended, allow it as an interpreter, unconfined (`--allow-interpreter {name}`, or `allow_interpreters` in a configuration)"
                )));
            }
            let path = find_in_path(name, &search)
                .ok_or_else(|| Error::Config(format!("allowed command `{name}` was not found in PATH")))?;
            programs.insert(name.clone(), path);
        }
        if programs.is_empty() {
            return Err(Error::Config("no command is allowed; name at least one".into()));
        }
        let mut roots = Vec::new();
        for root in &config.roots {
            let canonical =
                root.canonicalize().map_err(|e| Error::Config(format!("root `{}`: {e}", root.display())))?;
            if !canonical.is_dir() {
                return Err(Error::Config(format!("root `{}` is not a directory", root.display())));
            }
            roots.push(canonical);
        }
        if roots.is_empty() {
            return Err(Error::Config("no working directory is allowed; name at least one root".into()));
        }
        Ok(Policy { programs, roots, config })
    }

    /// The absolute program for `argv`, after every check on its arguments.
    pub fn check(&self, argv: &[String]) -> Result<PathBuf> {
        let Some(name) = argv.first() else {
            return Err(Error::Refused("the command is empty".into()));
        };
        check_bare_name(name)?;
        let program = self.programs.get(name).ok_or_else(|| {
            let allowed: Vec<&str> = self.programs.keys().map(String::as_str).collect();
            Error::Refused(format!("`{name}` is not an allowed command (allowed: {})", allowed.join(", ")))
        })?;
        // An interpreter the operator allowed by name exists to run scripts: its arguments are
        // scripts, so shell syntax in them is expected rather than an injection.
        if self.is_interpreter(name) {
            return Ok(program.clone());
        }
        let denied = self.config.denied_options.get(name.as_str()).map(Vec::as_slice).unwrap_or_default();
        let exact = EXACT_OPTIONS.iter().find(|(program, _)| program == name).map_or(&[][..], |(_, options)| *options);
        let sub = subcommand(name, argv);
        for (i, arg) in argv.iter().enumerate().skip(1) {
            for (needle, what) in CHAINING {
                if arg.contains(needle) {
                    return Err(Error::Refused(format!(
                        "argument {i} contains {what}; commands run without a shell, one at a time"
                    )));
                }
            }
            if REDIRECTIONS.contains(&arg.as_str()) {
                return Err(Error::Refused(format!(
                    "argument {i} is the redirection `{arg}`; commands run without a shell, so pass input as stdin instead"
                )));
            }
            // Every argument is checked, `--` included: `find -- . -exec` still executes, and
            // a file name that looks like a refused option is rare enough to rename.
            // tar's first argument is an option cluster even without its dash (`tar xIf`).
            let bundled = (name == "tar" && i == 1 && !arg.starts_with('-')).then(|| format!("-{arg}"));
            let given = bundled.as_deref().unwrap_or(arg);
            let applies = |denied: &&DeniedOption| match &denied.scope {
                Scope::Anywhere => true,
                Scope::BeforeSubcommand => sub.is_none_or(|(at, _)| i < at),
                Scope::With(subcommands) => sub.is_some_and(|(at, sub)| i > at && subcommands.iter().any(|s| s == sub)),
            };
            // The first refused option the argument spells, from its left: in `-ccore.pager=x`
            // that is `-c`, not the `-o` of its value.
            let refused = denied
                .iter()
                .filter(applies)
                .filter_map(|denied| option_at(given, &denied.option, exact).map(|at| (at, denied)))
                .min_by_key(|(at, _)| *at);
            if let Some((_, denied)) = refused {
                let option = &denied.option;
                return Err(Error::Refused(format!(
                    "argument {i} (`{arg}`) is option `{option}` of `{name}`, which is refused: {}{}",
                    denied.risk.explain(),
                    if option.len() == 2 && given.len() > 2 && !given.starts_with("--") {
                        " (one-letter options count anywhere in a cluster; pass a value as its own argument)"
                    } else {
                        ""
                    }
                )));
            }
        }
        if let Some(denied) = self.config.denied_subcommands.get(name.as_str())
            && let Some((_, sub)) = sub
            && denied.iter().any(|d| d == sub)
        {
            return Err(Error::Refused(format!(
                "`{name} {sub}` is refused: it can set or run programs that later commands execute"
            )));
        }
        Ok(program.clone())
    }

    /// The arguments to run: the program's forced arguments (see [`forced_arguments`]) first.
    pub(crate) fn arguments<'a>(&self, argv: &'a [String]) -> impl Iterator<Item = &'a str> + use<'a> {
        let name = argv.first().map(String::as_str).unwrap_or_default();
        let forced = if self.is_interpreter(name) { &[][..] } else { forced_arguments(name) };
        forced.iter().copied().chain(argv.iter().skip(1).map(String::as_str))
    }

    /// True if every allowed program only reads (see [`READ_ONLY`]).
    pub fn read_only(&self) -> bool {
        self.programs.keys().all(|name| READ_ONLY.contains(&name.as_str()))
    }

    fn is_interpreter(&self, name: &str) -> bool {
        self.config.allow_interpreters.iter().any(|i| i == name)
    }

    /// Refuses an argument naming a path outside the roots, resolved against `directory`: an
    /// absolute path, one whose `..` climbs out, or one that leads out through a symlink (even
    /// one that does not exist yet: `link_out/new`). Values count too (`--file=/etc/x`,
    /// `if=/etc/x`, `-f/etc/x`, `-nf/etc/x`). `git -C` and `tar -C` move where later arguments
    /// are resolved, and each move is checked in turn. A program that only reads (see
    /// [`READ_ONLY`]) may name what does not exist (a pattern such as `/^#/d` or `/api/v1`): it
    /// can neither read nor create it. Any other program may neither run in nor name a path in a
    /// `.git` directory (see [`GIT_DIRECTORY`]). Interpreters allowed by name are not checked:
    /// they reach any path through their scripts anyway.
    pub fn confine_arguments(&self, argv: &[String], directory: &Path) -> Result<()> {
        let name = argv.first().map(String::as_str).unwrap_or_default();
        if self.is_interpreter(name) {
            return Ok(());
        }
        let reads_only = READ_ONLY.contains(&name);
        if !reads_only && self.in_git_directory(directory) {
            return Err(Error::Refused(format!(
                "the directory `{}` is inside a `.git` directory, where only commands that only read may run: {GIT_DIRECTORY}",
                directory.display()
            )));
        }
        let moves = matches!(name, "git" | "tar");
        // git's `-C` moves only before its subcommand; after it, `-C` is an option of the
        // subcommand (`git diff -C`: find copies), and what follows is no directory.
        let sub_at = if name == "git" { subcommand(name, argv).map(|(at, _)| at) } else { None };
        let mut here = directory.to_path_buf();
        let mut args = argv.iter().enumerate().skip(1);
        while let Some((i, arg)) = args.next() {
            // `-C DIR` (`--directory DIR`, `--directory=DIR`, `-CDIR`): where the rest is resolved.
            let moved_to = match arg.as_str() {
                _ if !moves || sub_at.is_some_and(|at| i > at) => None,
                "-C" | "--directory" => args.next().map(|(_, v)| v.as_str()),
                _ => arg.strip_prefix("--directory=").or_else(|| arg.strip_prefix("-C").filter(|v| !v.is_empty())),
            };
            if let Some(target) = moved_to {
                let next = resolve(&here.join(target));
                if !self.inside(&next) {
                    return Err(self.outside(i, arg, target));
                }
                if self.in_git_directory(&next) || written_in_git(target) {
                    return Err(self.in_git(i, arg, target));
                }
                here = next;
                continue;
            }
            for candidate in path_candidates(arg) {
                if candidate.is_empty() || DEVICES.contains(&candidate) {
                    continue;
                }
                if !reads_only && written_in_git(candidate) {
                    return Err(self.in_git(i, arg, candidate));
                }
                // Checked where it would be resolved after the moves and where it would be
                // before them: tar opens its `-f` archive (and `-X`, `-g`, `--index-file`)
                // from where it started, whatever `-C` says.
                let bases = if here == directory { &[directory][..] } else { &[directory, here.as_path()][..] };
                for base in bases {
                    let joined = base.join(candidate);
                    if reads_only && std::fs::symlink_metadata(&joined).is_err() {
                        continue;
                    }
                    let resolved = resolve(&joined);
                    if !self.inside(&resolved) {
                        return Err(self.outside(i, arg, candidate));
                    }
                    if !reads_only && self.in_git_directory(&resolved) {
                        return Err(self.in_git(i, arg, candidate));
                    }
                }
            }
        }
        Ok(())
    }

    fn outside(&self, i: usize, arg: &str, candidate: &str) -> Error {
        let part = if candidate == arg { String::new() } else { format!(" names `{candidate}`, which") };
        Error::Refused(format!(
            "argument {i} (`{arg}`){part} is a path outside the allowed directories ({}); commands may only name paths inside them",
            self.listed_roots()
        ))
    }

    fn in_git(&self, i: usize, arg: &str, candidate: &str) -> Error {
        let part = if candidate == arg { String::new() } else { format!(" names `{candidate}`, which") };
        Error::Refused(format!(
            "argument {i} (`{arg}`){part} is a path inside a `.git` directory, which only commands that only read may name: {GIT_DIRECTORY}"
        ))
    }

    /// Whether a resolved path inside the roots lies in (or is) a `.git` directory or file
    /// below its root, in any case (`.GIT` is the same directory on a case-insensitive file system).
    fn in_git_directory(&self, resolved: &Path) -> bool {
        let below = self.roots.iter().find_map(|root| resolved.strip_prefix(root).ok());
        below.and_then(Path::to_str).is_some_and(written_in_git)
    }

    /// The roots, as refusals name them.
    fn listed_roots(&self) -> String {
        self.roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
    }

    fn inside(&self, resolved: &Path) -> bool {
        self.roots.iter().any(|root| resolved.starts_with(root))
    }

    /// The canonical working directory for a requested one (default: the first root).
    pub fn directory(&self, requested: Option<&str>) -> Result<PathBuf> {
        let Some(requested) = requested.filter(|d| !d.is_empty()) else {
            return Ok(self.roots[0].clone());
        };
        if requested.starts_with('-') {
            return Err(Error::Refused(format!("the directory `{requested}` begins with `-`; give a path")));
        }
        if requested.contains('\0') {
            return Err(Error::Refused("the directory contains a NUL byte".into()));
        }
        let path = Path::new(requested);
        let absolute = if path.is_absolute() { path.to_path_buf() } else { self.roots[0].join(path) };
        let canonical = absolute.canonicalize().map_err(|e| Error::Refused(format!("directory `{requested}`: {e}")))?;
        // Component-wise comparison of canonical paths: symlinks are already resolved, and
        // `/data/allowed_secret` does not start with `/data/allowed`.
        if !self.inside(&canonical) {
            return Err(Error::Refused(format!(
                "directory `{requested}` is outside the allowed directories ({})",
                self.listed_roots()
            )));
        }
        if !canonical.is_dir() {
            return Err(Error::Refused(format!("`{requested}` is not a directory")));
        }
        Ok(canonical)
    }

    /// The environment commands get: only the allowed variables that are set.
    pub(crate) fn environment(&self) -> Vec<(String, String)> {
        self.config.env_allow.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v))).collect()
    }
}

/// A program name must be bare: no path, no quoting, no whitespace, not an option.
fn check_bare_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::Refused("the command name is empty".into()));
    }
    if name.contains('/') {
        return Err(Error::Refused(format!("`{name}` is path-qualified; name the allowed command without a path")));
    }
    if name.starts_with('-') {
        return Err(Error::Refused(format!("the command name `{name}` begins with `-`")));
    }
    if name.chars().any(|c| c.is_whitespace() || "'\"`$\\;&|<>(){}*?[]!~".contains(c)) {
        return Err(Error::Refused(format!("the command name `{name}` contains quoting or shell syntax")));
    }
    Ok(())
}

fn find_in_path(name: &str, search: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    search.split(':').filter(|d| !d.is_empty()).find_map(|dir| {
        let candidate = Path::new(dir).join(name);
        let meta = std::fs::metadata(&candidate).ok()?;
        (meta.is_file() && meta.permissions().mode() & 0o111 != 0)
            .then(|| candidate.canonicalize().unwrap_or(candidate))
    })
}

/// Where in `arg` the refused `option` is spelled, if it is: `arg` is it, abbreviates it or
/// bundles it. Long options (`--output`) match with a value (`--output=F`) and by any prefix GNU
/// getopt would take for them (`--outp`), unless the prefix is itself one of the program's
/// `exact` options; one-letter options (`-o`) match anywhere in a cluster (`-uo F`, `-ofile`),
/// at their letter; other single-dash options (`-exec`) match exactly.
fn option_at(arg: &str, option: &str, exact: &[&str]) -> Option<usize> {
    if let Some(long) = option.strip_prefix("--") {
        let given = arg.strip_prefix("--")?;
        let given = given.split_once('=').map_or(given, |(name, _)| name);
        let abbreviates = !given.is_empty() && long.starts_with(given);
        let other = given != long && exact.iter().any(|e| e.strip_prefix("--") == Some(given));
        return (abbreviates && !other).then_some(0);
    }
    let letters = arg.strip_prefix('-').filter(|rest| !rest.starts_with('-'))?;
    match option.strip_prefix('-').filter(|o| o.chars().count() == 1).and_then(|o| o.chars().next()) {
        Some(letter) => letters.find(letter).map(|at| at + 1),
        None => (arg == option).then_some(0),
    }
}

/// The subcommand of a program that has them, and where it is: the first word that is neither
/// an option nor the value of a global option that takes one.
fn subcommand<'a>(program: &str, argv: &'a [String]) -> Option<(usize, &'a str)> {
    let takes_value: &[&str] = match program {
        "git" => {
            &["-C", "-c", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--config-env", "--attr-source"]
        }
        _ => &[],
    };
    let mut words = argv.iter().enumerate().skip(1);
    while let Some((at, word)) = words.next() {
        if takes_value.contains(&word.as_str()) {
            words.next();
        } else if !word.starts_with('-') {
            return Some((at, word));
        }
    }
    None
}

/// Whether a path as written names a `.git` directory or file (in any case), whatever it
/// resolves to: `x/.git` may be a symlink to a repository directory by another name.
fn written_in_git(candidate: &str) -> bool {
    Path::new(candidate)
        .components()
        .any(|c| matches!(c, Component::Normal(n) if n.to_str().is_some_and(|n| n.eq_ignore_ascii_case(".git"))))
}

/// Where an argument may name a path: itself, the value after its first `=`, and in a cluster
/// of one-letter options the value attached to any of them (`-f/etc/x`, `-nf../x`: from the
/// first `/` or `.` on). A lone `/` attached to an option is a delimiter (`cut -d/`), not the
/// root directory.
fn path_candidates(arg: &str) -> impl Iterator<Item = &str> {
    let value = arg.split_once('=').map(|(_, v)| v);
    let cluster = arg.strip_prefix('-').filter(|r| !r.starts_with('-')).unwrap_or_default();
    let attached = ['/', '.']
        .into_iter()
        .filter_map(move |c| cluster.find(c).map(|at| &cluster[at..]))
        .filter(|v| *v != "/" && *v != ".");
    std::iter::once(arg).chain(value).chain(attached)
}

/// `path` made absolute and free of symlinks as far as it exists, the rest applied lexically.
fn resolve(path: &Path) -> PathBuf {
    let parts: Vec<Component<'_>> = path.components().collect();
    for existing in (1..=parts.len()).rev() {
        let prefix: PathBuf = parts[..existing].iter().collect();
        if let Ok(mut resolved) = prefix.canonicalize() {
            for part in &parts[existing..] {
                match part {
                    Component::ParentDir => {
                        resolved.pop();
                    }
                    Component::Normal(name) => resolved.push(name),
                    _ => {}
                }
            }
            return resolved;
        }
    }
    path.to_path_buf()
}

/// Splits a command line into arguments the way a POSIX shell would tokenize words (single and
/// double quotes, backslash escapes), refusing everything a shell would treat as syntax.
pub fn split_command_line(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let syntax = |c: char| {
        Error::Refused(format!("the command line contains `{c}`, which needs a shell; commands run without one"))
    };
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(Error::Refused("unterminated single quote".into())),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(Error::Refused("unterminated double quote".into())),
                        },
                        Some(c @ ('`' | '$')) => return Err(syntax(c)),
                        Some(c) => word.push(c),
                        None => return Err(Error::Refused("unterminated double quote".into())),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(Error::Refused("a trailing backslash".into())),
                }
            }
            ';' | '&' | '|' | '`' | '$' | '<' | '>' | '(' | ')' | '\n' | '\r' | '*' | '?' | '{' | '}' | '~' | '#' => {
                return Err(syntax(c));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_like_a_shell_without_running_one() {
        let check = |line: &str, expect: std::result::Result<&[&str], &str>| {
            let got = split_command_line(line).map_err(|e| e.to_string());
            match (got, expect) {
                (Ok(words), Ok(expected)) => assert_eq!(words, expected, "{line}"),
                (Err(message), Err(needle)) => assert!(message.contains(needle), "{line}: {message}"),
                (got, expected) => panic!("{line}: got {got:?}, expected {expected:?}"),
            }
        };
        check("ls -la", Ok(&["ls", "-la"]));
        check("  git   log  --oneline ", Ok(&["git", "log", "--oneline"]));
        check("echo 'a b' \"c d\" e\\ f", Ok(&["echo", "a b", "c d", "e f"]));
        check("echo 'semi;colon'", Ok(&["echo", "semi;colon"]));
        check("echo \"\\\"q\\\"\"", Ok(&["echo", "\"q\""]));
        check("ls; rm -rf /", Err("`;`"));
        check("ls && rm x", Err("`&`"));
        check("cat x | sh", Err("`|`"));
        check("echo `id`", Err("contains ```"));
        check("echo $(id)", Err("`$`"));
        check("echo \"$(id)\"", Err("`$`"));
        check("ls > out", Err("`>`"));
        check("ls\nrm x", Err("`\n`"));
        check("echo 'open", Err("unterminated"));
    }
}
