//! The ids, names and image references a caller gives, checked before any reaches the engine.
//!
//! bollard puts them into the Engine API's paths as they are (it formats the path and joins it
//! to the engine's address, encoding nothing), so a container "id" such as
//! `../volumes/prune?filters=...#` would call another endpoint: `POST /volumes/prune`. Every
//! tool's arguments implement [`Names`], and the registration (`add`, `add_text`) checks them
//! before the tool runs; Compose services and resource URIs use the same checks.

use mcp_core::ToolError;

use super::{
    ContainerIdArgs, ContainerNameArgs, ListContainersArgs, ListNetworksArgs, LogsArgs, NetworkIdArgs, NoArgs,
    RemoveContainerArgs, RemoveImageArgs, RemoveVolumeArgs, RepositoryArgs,
};
use crate::{
    BuildImageArgs, ComposeArgs, ContainerSpec, CreateNetworkArgs, CreateVolumeArgs, ListImagesArgs,
    SimpleContainerArgs,
};

/// The most of a refused value a refusal shows.
const SHOWN_CHARS: usize = 100;

/// Arguments that may name engine objects; every tool's arguments implement it.
pub(crate) trait Names {
    /// Every id, name and image reference among the arguments checked; the first that is not
    /// one is the error, naming its argument.
    fn check_names(&self) -> Result<(), ToolError>;
}

/// A container, network or volume id or name: Docker's name grammar,
/// `[A-Za-z0-9][A-Za-z0-9_.-]*` (ids are hex, so they match it too). It cannot be `.` or `..`,
/// nor hold a `/`, `?`, `#` or `%`, so it stays one path segment.
pub(crate) fn object_name(argument: &str, what: &str, value: &str) -> Result<(), ToolError> {
    let why = match value.chars().next() {
        None => "it is empty".to_owned(),
        Some(first) if !first.is_ascii_alphanumeric() => format!("it starts with {first:?}, not a letter or digit"),
        _ => match value.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
            Some(c) => format!("{c:?} is not allowed (only letters, digits, `_`, `.` and `-`)"),
            None => return Ok(()),
        },
    };
    Err(invalid(argument, value, what, &why))
}

/// An image reference (`[registry[:port]/]path[:tag][@digest]`, or an image id): only letters,
/// digits and `._/:@-`, no `..`, no empty or `.` path segment (so no leading or doubled `/`).
/// What could leave the path (`?`, `#`, `%`, white space) is outside the allowed characters. A
/// registry may be an IPv6 address in brackets (`[fd00::1]:5000/app`), as Docker allows.
pub(crate) fn image_reference(argument: &str, value: &str) -> Result<(), ToolError> {
    let what = "image reference";
    // The bracketed host of a registry: an IPv6 address, then a port or the path.
    let path = match value.strip_prefix('[') {
        Some(rest) => {
            let host = rest.split_once(']').filter(|(host, after)| {
                host.parse::<std::net::Ipv6Addr>().is_ok()
                    && (after.starts_with('/') || after.starts_with(':') && after.contains('/'))
            });
            match host {
                Some((_, after)) => after,
                None => {
                    let why = "a registry in brackets must be an IPv6 address followed by a port or a path";
                    return Err(invalid(argument, value, what, why));
                }
            }
        }
        None => value,
    };
    // What follows a bracketed host is checked as if the host were a name.
    let checked = if path.len() == value.len() { value.to_owned() } else { format!("registry{path}") };
    let bad = checked.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | ':' | '@' | '-')));
    let why = if checked.is_empty() {
        "it is empty".to_owned()
    } else if let Some(c) = bad {
        format!("{c:?} is not allowed (only letters, digits and `._/:@-`)")
    } else if checked.contains("..") {
        "it contains `..`".to_owned()
    } else if checked.split('/').any(|segment| segment.is_empty() || segment == ".") {
        "it has an empty or `.` path segment".to_owned()
    } else {
        return Ok(());
    };
    Err(invalid(argument, value, what, &why))
}

/// An image tag: Docker's tag grammar, `[A-Za-z0-9_][A-Za-z0-9_.-]*`.
fn image_tag(argument: &str, value: &str) -> Result<(), ToolError> {
    let why = match value.chars().next() {
        None => "it is empty".to_owned(),
        Some(first) if !(first.is_ascii_alphanumeric() || first == '_') => {
            format!("it starts with {first:?}, not a letter, digit or `_`")
        }
        _ => match value.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
            Some(c) => format!("{c:?} is not allowed (only letters, digits, `_`, `.` and `-`)"),
            None => return Ok(()),
        },
    };
    Err(invalid(argument, value, "image tag", &why))
}

/// The refusal: the argument, its value (cut short), what it should be and why it is not.
fn invalid(argument: &str, value: &str, what: &str, why: &str) -> ToolError {
    let shown: String = value.chars().take(SHOWN_CHARS).collect();
    let more = if shown.len() < value.len() { "..." } else { "" };
    ToolError::msg(format!("invalid argument `{argument}`: {shown:?}{more} is not a valid {what}: {why}"))
}

const CONTAINER: &str = "container name or ID";
const NETWORK: &str = "network name or ID";
const VOLUME: &str = "volume name";

impl Names for ContainerSpec {
    fn check_names(&self) -> Result<(), ToolError> {
        image_reference("image", &self.image)?;
        if let Some(id) = &self.container_id {
            object_name("container_id", CONTAINER, id)?;
        }
        if let Some(name) = &self.name {
            object_name("name", CONTAINER, name)?;
        }
        if let Some(network) = &self.network {
            object_name("network", NETWORK, network)?;
        }
        Ok(())
    }
}

impl Names for SimpleContainerArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        image_reference("image", &self.image)?;
        self.name.as_deref().map_or(Ok(()), |name| object_name("name", CONTAINER, name))
    }
}

impl Names for ContainerIdArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        object_name("container_id", CONTAINER, &self.container_id)
    }
}

impl Names for ContainerNameArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        object_name("container_name", CONTAINER, &self.container_name)
    }
}

impl Names for LogsArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        object_name("container_id", CONTAINER, &self.container_id)
    }
}

impl Names for RemoveContainerArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        object_name("container_id", CONTAINER, &self.container_id)
    }
}

impl Names for RepositoryArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        image_reference("repository", &self.repository)?;
        self.tag.as_deref().map_or(Ok(()), |tag| image_tag("tag", tag))
    }
}

impl Names for BuildImageArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        // The new image is looked up by this reference once it is built.
        image_reference("tag", &self.tag)
    }
}

impl Names for RemoveImageArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        image_reference("image", &self.image)
    }
}

impl Names for CreateNetworkArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        object_name("name", NETWORK, &self.name)
    }
}

impl Names for NetworkIdArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        object_name("network_id", NETWORK, &self.network_id)
    }
}

impl Names for CreateVolumeArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        object_name("name", VOLUME, &self.name)
    }
}

impl Names for RemoveVolumeArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        object_name("volume_name", VOLUME, &self.volume_name)
    }
}

/// The services' names and images are checked as each becomes a container (see `compose`).
impl Names for ComposeArgs {
    fn check_names(&self) -> Result<(), ToolError> {
        Ok(())
    }
}

/// Names nothing: list filters travel in the query string, which bollard encodes.
macro_rules! names_nothing {
    ($($args:ty),*) => {
        $(impl Names for $args {
            fn check_names(&self) -> Result<(), ToolError> {
                Ok(())
            }
        })*
    };
}

names_nothing!(NoArgs, ListContainersArgs, ListNetworksArgs, ListImagesArgs);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_one_path_segment() {
        for good in ["web", "mcptk-it-x-1", "a.b_c-d", "0123456789abcdef", "A"] {
            assert!(object_name("container_id", CONTAINER, good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("../volumes/prune?filters=%7B%22all%22%3A%5B%22true%22%5D%7D#", "starts with '.'"),
            ("../../swarm/leave?force=true#", "starts with '.'"),
            ("web/../../info", "'/' is not allowed"),
            ("web?x=1", "'?' is not allowed"),
            ("web#", "'#' is not allowed"),
            ("web%2F..", "'%' is not allowed"),
            ("a b", "' ' is not allowed"),
            ("/web", "starts with '/'"),
            ("-web", "starts with '-'"),
            ("..", "starts with '.'"),
            ("", "it is empty"),
        ] {
            let message = object_name("container_id", CONTAINER, bad).expect_err(bad).message().to_owned();
            assert!(message.starts_with("invalid argument `container_id`: "), "{bad}: {message}");
            assert!(message.contains("container name or ID") && message.contains(why), "{bad}: {message}");
        }
        let long = format!("{}?", "a".repeat(10_000));
        let message = object_name("volume_name", VOLUME, &long).expect_err("long").message().to_owned();
        assert!(message.len() < 250 && message.contains("a\"..."), "a long value is cut: {message}");
    }

    #[test]
    fn image_references_are_paths_without_dot_segments_or_a_query() {
        for good in [
            "busybox",
            "busybox:1.36",
            "localhost/mcptk-busybox:test",
            "127.0.0.1:5055/tools/busybox",
            "docker.io/library/alpine@sha256:0123abcd",
            "sha256:0123456789abcdef",
            "Registry.Example/x_y/z-w",
            "[::1]:5000/busybox:1.36",
            "[fd00:1::2]/team/app@sha256:0123abcd",
            "[::ffff:10.0.0.1]:5000/app",
        ] {
            assert!(image_reference("image", good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("../../containers/x/kill", "`..`"),
            ("busybox/../../x", "`..`"),
            ("a/./b", "`.` path segment"),
            ("/busybox", "empty"),
            ("a//b", "empty"),
            ("busybox/", "empty"),
            ("busybox?force=1", "'?'"),
            ("busybox#", "'#'"),
            ("busybox%2f", "'%'"),
            ("busy box", "' '"),
            ("", "it is empty"),
            ("[::1]", "IPv6 address followed by a port or a path"),
            ("[::1]:5000", "IPv6 address followed by a port or a path"),
            ("[localhost]:5000/x", "IPv6 address"),
            ("[a:b]/x", "IPv6 address"),
            ("[1:2:3:4:5:6:7:8:9]/x", "IPv6 address"),
            ("[::1::2]/x", "IPv6 address"),
            ("[::1]/../x", "`..`"),
            ("[::1]:5000/x?y", "'?'"),
            ("busy[box]", "'['"),
        ] {
            let message = image_reference("image", bad).expect_err(bad).message().to_owned();
            assert!(message.starts_with("invalid argument `image`: ") && message.contains(why), "{bad}: {message}");
        }
        assert!(image_tag("tag", "1.36-glibc_x").is_ok() && image_tag("tag", "_x").is_ok());
        for bad in ["", ".x", "-x", "a/b", "latest?x", "../x"] {
            assert!(image_tag("tag", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_container_spec_checks_every_name_it_holds() {
        let spec = |value: serde_json::Value| -> ContainerSpec { serde_json::from_value(value).expect("a spec") };
        assert!(
            spec(serde_json::json!({"image": "busybox", "name": "web", "network": "backend"})).check_names().is_ok()
        );
        for (value, argument) in [
            (serde_json::json!({"image": "../x"}), "`image`"),
            (serde_json::json!({"image": "busybox", "name": "../x"}), "`name`"),
            (serde_json::json!({"image": "busybox", "container_id": "x/y"}), "`container_id`"),
            (serde_json::json!({"image": "busybox", "network": "n?x"}), "`network`"),
        ] {
            let message = spec(value).check_names().expect_err(argument).message().to_owned();
            assert!(message.contains(argument), "{argument}: {message}");
        }
    }
}
