//! `mcptk completions SHELL` and `mcptk man`: generated from the command-line definition itself,
//! so they never disagree with it.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::output::{self, Exit};

/// Options of `mcptk completions`.
#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell, elvish.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
    /// Write the script into this folder (under the shell's usual file name) instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Options of `mcptk man`.
#[derive(clap::Args)]
pub struct ManArgs {
    /// Write one page per command (`mcptk.1`, `mcptk-serve.1`, ...) into this folder instead of
    /// printing the main page on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Prints or writes the completion script for `args.shell`.
pub fn completions(args: &CompletionsArgs, mut cmd: clap::Command) -> anyhow::Result<Exit> {
    match &args.out {
        None => {
            // Generated whole first: the generator panics when its writer fails (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut cmd, "mcptk", &mut script);
            std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create the folder `{}`", dir.display()))?;
            let path = clap_complete::generate_to(args.shell, &mut cmd, "mcptk", dir)
                .with_context(|| format!("cannot write into `{}`", dir.display()))?;
            output::note("wrote", &path.display().to_string());
        }
    }
    Ok(Exit::Ok)
}

/// Prints the manual page, or writes one per command.
pub fn man(args: &ManArgs, cmd: clap::Command) -> anyhow::Result<Exit> {
    match &args.out {
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout().lock())?,
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create the folder `{}`", dir.display()))?;
            clap_mangen::generate_to(cmd, dir).with_context(|| format!("cannot write into `{}`", dir.display()))?;
            output::note("wrote", &format!("manual pages into `{}`", dir.display()));
        }
    }
    Ok(Exit::Ok)
}
