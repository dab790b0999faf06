//! The tools' work on the engine: bollard calls, and the reference server's result shapes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, ContainerCreateResponse, HostConfig, MountType, NetworkCreateRequest,
    PortBinding as EnginePort, RestartPolicy, VolumeCreateRequest,
};
use bollard::query_parameters::{
    BuildImageOptions, CreateContainerOptions, CreateImageOptions, ListContainersOptions, ListImagesOptions,
    ListNetworksOptions, ListVolumesOptions, LogsOptions, PushImageOptions, RemoveContainerOptions, RemoveImageOptions,
    RemoveVolumeOptions, StatsOptions, StopContainerOptions, WaitContainerOptions,
};
use futures_util::{StreamExt, TryStreamExt};
use mcp_core::protocol::{ResourceContents, ResourceTemplate};
use mcp_core::registry::ResourceProvider;
use mcp_core::{ToolContext, ToolError};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use super::safety::{CREATED_BY, CREATED_LABEL, Refusal, Rule, Safety, is_host_path};
use crate::{
    BuildImageArgs, ContainerSpec, CreateNetworkArgs, CreateVolumeArgs, LabelFilters, ListImagesArgs, PortBinding,
    SimpleContainerArgs, Tail, split_command,
};

/// The most log lines one call returns, whatever `tail` asks for (the last ones).
const MAX_LOG_LINES: usize = 10_000;
/// The most log text one call returns (the end of it), whatever `tail` asks for.
const MAX_LOG_BYTES: usize = 4 * 1024 * 1024;
/// The least time between two progress notifications of one log read.
const LOG_PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// The most log text one call's progress notifications carry in all.
const MAX_LOG_PROGRESS_BYTES: usize = 1024 * 1024;
/// The largest build context sent to the engine.
const MAX_CONTEXT_BYTES: usize = 256 * 1024 * 1024;

/// The sockets tried, in order, when neither the configuration nor `DOCKER_HOST` names the engine.
fn usual_sockets() -> Vec<PathBuf> {
    let mut sockets = vec![PathBuf::from("/var/run/docker.sock")];
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        sockets.push(PathBuf::from(runtime).join("podman/podman.sock"));
    }
    sockets.push(PathBuf::from("/run/podman/podman.sock"));
    sockets
}

/// Where the engine is: `configured`, else `DOCKER_HOST`, else the first of Docker's and
/// Podman's usual sockets that exists; `None` when there is none.
pub fn locate_engine(configured: Option<&str>) -> Option<String> {
    if let Some(host) = configured.filter(|h| !h.is_empty()) {
        return Some(host.to_owned());
    }
    if let Some(host) = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()) {
        return Some(host);
    }
    usual_sockets().into_iter().find(|s| s.exists()).map(|s| format!("unix://{}", s.display()))
}

/// How long the engine has to answer the first request (the version negotiation). A socket
/// that accepts connections but never answers would otherwise hold every call for bollard's
/// 120 s request timeout.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// One engine, reached on first use, and the rules every call passes.
pub(crate) struct Engine {
    host: Option<String>,
    pub(crate) safety: Safety,
    /// The client once the engine has answered; a failed attempt leaves it empty, so the next
    /// call tries again.
    client: OnceCell<bollard::Docker>,
    answer_timeout: Duration,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("host", &self.host.as_deref().map(mcp_core::config::display_url))
            .field("safety", &self.safety)
            .field("connected", &self.client.initialized())
            .finish()
    }
}

impl Engine {
    pub(crate) fn new(host: Option<String>, safety: Safety) -> Self {
        Self { host, safety, client: OnceCell::new(), answer_timeout: ANSWER_TIMEOUT }
    }

    /// The connected client, its API version negotiated with the engine.
    pub(crate) async fn docker(&self) -> Result<&bollard::Docker, ToolError> {
        self.client
            .get_or_try_init(|| async {
                let host = locate_engine(self.host.as_deref()).ok_or_else(|| {
                    let tried: Vec<String> = usual_sockets().iter().map(|s| s.display().to_string()).collect();
                    ToolError::msg(format!(
                        "no Docker engine found: DOCKER_HOST is not set and none of {} exists",
                        tried.join(", ")
                    ))
                })?;
                let shown = mcp_core::config::display_url(&host);
                let unreachable =
                    |e: BollardError| ToolError::msg(format!("cannot reach the Docker engine at {shown}: {e}"));
                let client = bollard::Docker::connect_with_host(&host).map_err(unreachable)?;
                let seconds = self.answer_timeout.as_secs_f64();
                tokio::time::timeout(self.answer_timeout, client.negotiate_version())
                    .await
                    .map_err(|_| {
                        ToolError::msg(format!(
                            "the Docker engine at {shown} did not answer within {seconds} s (it accepts connections \
                             but sends nothing back: is the engine hung, or is something else listening there?)"
                        ))
                    })?
                    .map_err(unreachable)
            })
            .await
    }

    fn refused(&self, refusal: Refusal) -> ToolError {
        tracing::info!(rule = refusal.rule.name(), "docker call refused");
        ToolError::msg(refusal)
    }

    pub(crate) async fn list_containers(&self, all: bool, filters: Option<LabelFilters>) -> Result<Value, ToolError> {
        let docker = self.docker().await?;
        let options =
            ListContainersOptions { all, filters: label_filters(filters.and_then(|f| f.label)), ..Default::default() };
        let listed = settled(|| docker.list_containers(Some(options.clone()))).await.map_err(engine_error)?;
        // Each container and each image among them is inspected once, a few at a time: one
        // request after another, a list of many containers took as many round trips again.
        let ids: Vec<String> = listed.into_iter().filter_map(|c| c.id).collect();
        let inspected: Vec<Option<Value>> = futures_util::stream::iter(ids)
            .map(|id| async move { self.inspect_found(&id).await.map_err(|e| about(e, "inspecting", &id)) })
            .buffered(INSPECTIONS_AT_ONCE)
            .try_collect()
            .await?;
        let mut image_ids: Vec<String> = inspected.iter().flatten().map(|v| text(&v["Image"])).collect();
        image_ids.sort_unstable();
        image_ids.dedup();
        let images: HashMap<String, Value> = futures_util::stream::iter(image_ids)
            .map(|image| async move {
                let dict = self.image_of(&image).await;
                (image, dict)
            })
            .buffer_unordered(INSPECTIONS_AT_ONCE)
            .collect()
            .await;
        // A container removed between the list and its inspection is no longer there to describe.
        let result: Vec<Value> =
            inspected.iter().flatten().map(|v| describe_container(v, images.get(&text(&v["Image"])))).collect();
        Ok(json!({ "result": result }))
    }

    /// The engine's request for `spec`, restarted as `restart` says (never, when `None`), once
    /// every rule has passed.
    fn container_body(
        &self,
        spec: &ContainerSpec,
        restart: Option<RestartPolicy>,
    ) -> Result<ContainerCreateBody, ToolError> {
        self.safety.check_container(spec).map_err(|r| self.refused(r))?;
        let words = |field: &str, line: &Option<String>| -> Result<Option<Vec<String>>, ToolError> {
            line.as_deref()
                .map(|l| split_command(l).map_err(|e| ToolError::msg(format!("invalid `{field}`: {e}"))))
                .transpose()
        };
        let mut binds = Vec::new();
        let mut host_sources = Vec::new();
        for (source, target, mode) in spec.volumes.as_ref().map(crate::Volumes::mounts).unwrap_or_default() {
            // Host paths are handed to the engine as resolved when checked. The engine resolves
            // them again when it starts the container (following symlinks), so they are checked
            // once more just before every start we make (`start_checked`).
            let source = if is_host_path(&source) {
                let resolved = self.safety.check_host_path(&source, "bind mount").map_err(|r| self.refused(r))?;
                host_sources.push(resolved.clone());
                resolved.display().to_string()
            } else {
                source
            };
            binds.push(match mode {
                Some(mode) => format!("{source}:{target}:{mode}"),
                None => format!("{source}:{target}"),
            });
        }
        let policy = restart.as_ref().and_then(|r| r.name).map(|name| name.to_string());
        self.safety.check_restart(policy.as_deref(), &host_sources).map_err(|r| self.refused(r))?;
        let mut port_bindings = HashMap::new();
        for (port, binding) in spec.ports.clone().unwrap_or_default() {
            let port = if port.contains('/') { port } else { format!("{port}/tcp") };
            let hosts = match binding {
                None => None,
                Some(PortBinding::Port(p)) => Some(vec![host_port(None, p)]),
                Some(PortBinding::Ports(ps)) => Some(ps.into_iter().map(|p| host_port(None, p)).collect()),
                Some(PortBinding::Address(ip, p)) => Some(vec![host_port(Some(ip), p)]),
            };
            port_bindings.insert(port, hosts);
        }
        let limits = self.safety.limits;
        let network_mode = if self.safety.block_network {
            Some("none".to_owned())
        } else {
            spec.network_mode.clone().or_else(|| spec.network.clone())
        };
        let host_config = HostConfig {
            binds: (!binds.is_empty()).then_some(binds),
            port_bindings: (!port_bindings.is_empty()).then(|| port_bindings.clone()),
            network_mode,
            auto_remove: Some(spec.auto_remove),
            privileged: Some(false),
            memory: Some(spec.mem_limit.unwrap_or(limits.memory_bytes)),
            nano_cpus: Some(spec.nano_cpus.unwrap_or(limits.nano_cpus)),
            pids_limit: Some(spec.pids_limit.unwrap_or(limits.pids)),
            security_opt: Some(vec!["no-new-privileges".to_owned()]),
            cap_drop: spec.cap_drop.clone().filter(|caps| !caps.is_empty()),
            readonly_rootfs: spec.read_only,
            restart_policy: restart,
            ..Default::default()
        };
        let env: Option<Vec<String>> =
            spec.environment.as_ref().map(|env| env.iter().map(|(k, v)| format!("{k}={v}")).collect());
        // Marks the container as ours: its bind sources are held to what was checked here at
        // every start (`start_checked`).
        let mut labels = spec.labels.as_ref().map(crate::Labels::to_map).unwrap_or_default();
        labels.insert(CREATED_LABEL.to_owned(), CREATED_BY.to_owned());
        Ok(ContainerCreateBody {
            image: Some(spec.image.clone()),
            env,
            cmd: words("command", &spec.command)?,
            entrypoint: words("entrypoint", &spec.entrypoint)?,
            labels: Some(labels.into_iter().collect()),
            user: spec.user.clone(),
            exposed_ports: (!port_bindings.is_empty()).then(|| port_bindings.keys().cloned().collect()),
            host_config: Some(host_config),
            ..Default::default()
        })
    }

    /// Creates `spec`'s container, restarted as `restart` says (never, when `None`); its ID.
    ///
    /// The engine's request runs to its end even when the call is dropped meanwhile (cancelled,
    /// timed out): dropping it half-way would leave a container the engine made whose ID no
    /// one got. An unnamed container whose call is gone by then is removed; a named one is the
    /// caller's to find by its name.
    async fn create(&self, spec: &ContainerSpec, restart: Option<RestartPolicy>) -> Result<String, ToolError> {
        let body = self.container_body(spec, restart)?;
        let docker = self.docker().await?.clone();
        let options = CreateContainerOptions { name: spec.name.clone(), ..Default::default() };
        let unnamed = spec.name.is_none();
        let (answer, created) = tokio::sync::oneshot::channel();
        let request = docker.clone();
        tokio::spawn(async move {
            let outcome = request.create_container(Some(options), body).await;
            if let Err(Ok(created)) = answer.send(outcome)
                && unnamed
            {
                remove_unanswered(&request, &created.id).await;
            }
        });
        let mut creating = Creating { created, docker, unnamed };
        let created = (&mut creating.created)
            .await
            .map_err(|_| ToolError::msg("the engine's create request ended without an answer (its task failed)"))?;
        Ok(created.map_err(engine_error)?.id)
    }

    pub(crate) async fn create_container(&self, spec: &ContainerSpec) -> Result<Value, ToolError> {
        let id = self.create(spec, None).await?;
        // Until the answer gives its ID, an unnamed container is known to no one (as in a run).
        let on_drop = if spec.name.is_none() { Unanswered::Remove } else { Unanswered::Keep };
        let unanswered = RemoveUnlessAnswered { docker: self.docker().await?.clone(), id: id.clone(), on_drop };
        let dict = self.container_dict(&id).await;
        unanswered.answered();
        dict.map_err(|e| ToolError::msg(format!("created container {id}, but could not describe it: {e}")))
    }

    pub(crate) async fn run_container(&self, spec: &ContainerSpec, cx: &ToolContext) -> Result<Value, ToolError> {
        self.run_restarting(spec, None, cx).await
    }

    /// [`Self::run_container`], with a restart policy (a Compose service's `restart:`, which the
    /// reference server's arguments do not have).
    pub(crate) async fn run_restarting(
        &self,
        spec: &ContainerSpec,
        restart: Option<RestartPolicy>,
        cx: &ToolContext,
    ) -> Result<Value, ToolError> {
        // A foreground run reads the logs and the exit code after the container exits; had the
        // engine removed it by then (`auto_remove`), both would be lost. So the engine is not
        // asked to, and the container is removed here once they are read.
        let remove_after = spec.auto_remove && !spec.detach;
        let id = if remove_after {
            self.create(&ContainerSpec { auto_remove: false, ..spec.clone() }, restart).await?
        } else {
            self.create(spec, restart).await?
        };
        let docker = self.docker().await?;
        // A container without a name is known to the caller only by the id the answer gives: a
        // call cancelled or timed out from here on (while it starts, runs or is described) must
        // not leave it where no one knows of it. A named one (and so a recreated one) is the
        // caller's to find and keep; a foreground one with `auto_remove` is removed once it
        // exits, as the engine would have.
        let on_drop = if spec.name.is_none() {
            Unanswered::Remove
        } else if remove_after {
            Unanswered::RemoveOnExit
        } else {
            Unanswered::Keep
        };
        let mut unanswered = RemoveUnlessAnswered { docker: docker.clone(), id: id.clone(), on_drop };
        if let Err(e) = self.start_checked(&id).await {
            // A container that cannot start is not left behind, even by a call dropped meanwhile.
            unanswered.on_drop = Unanswered::Remove;
            let _ =
                docker.remove_container(&id, Some(RemoveContainerOptions { force: true, ..Default::default() })).await;
            unanswered.answered();
            return Err(e);
        }
        if spec.detach {
            let dict = self.container_dict(&id).await;
            unanswered.answered();
            return dict;
        }
        let mut wait = docker.wait_container(&id, None::<WaitContainerOptions>);
        let mut exit_code = None;
        while let Some(outcome) = wait.next().await {
            match outcome {
                Ok(status) => exit_code = Some(status.status_code),
                // A non-zero exit is reported by bollard as an error carrying the code.
                Err(BollardError::DockerContainerWaitError { code, .. }) => exit_code = Some(code),
                Err(e) => return Err(engine_error(e)),
            }
        }
        if exit_code.is_none() {
            // The wait ended without the exit, so the container may still run: it is left to
            // the guard (which removes one with `auto_remove` only once it has exited).
            return Err(ToolError::msg(format!("the engine's wait for container {id} ended before it exited")));
        }
        let logs = self.log_lines(&id, Tail::All, cx).await;
        let mut dict = self.container_dict(&id).await.unwrap_or_else(|_| json!({ "id": id }));
        if remove_after {
            // Removed whether or not its logs could be read: the caller asked for that.
            unanswered.answered();
            let options = RemoveContainerOptions { force: true, ..Default::default() };
            if let Err(e) = docker.remove_container(&id, Some(options)).await {
                tracing::warn!(container = %id, "could not remove an auto_remove container after its run: {e}");
            }
        } else if logs.is_ok() {
            unanswered.answered();
        }
        dict["exit_code"] = json!(exit_code);
        dict["logs"] = json!(logs?);
        Ok(dict)
    }

    pub(crate) async fn recreate_container(&self, spec: &ContainerSpec, cx: &ToolContext) -> Result<Value, ToolError> {
        let target = spec.container_id.clone().or_else(|| spec.name.clone()).ok_or_else(|| {
            ToolError::msg("recreate_container needs `container_id` (or `name`) of the container to replace")
        })?;
        // The new container must pass every rule before the old one is touched.
        self.container_body(spec, None)?;
        let docker = self.docker().await?;
        let old = self.inspect(&target).await?;
        let old_name = text(&old["Name"]).trim_start_matches('/').to_owned();
        docker.stop_container(&target, None::<StopContainerOptions>).await.map_err(engine_error)?;
        docker
            .remove_container(&target, Some(RemoveContainerOptions { force: true, ..Default::default() }))
            .await
            .map_err(engine_error)?;
        let mut spec = spec.clone();
        if spec.name.is_none() && !old_name.is_empty() {
            spec.name = Some(old_name);
        }
        self.run_container(&spec, cx).await
    }

    pub(crate) async fn start_container(&self, id: &str) -> Result<Value, ToolError> {
        self.start_checked(id).await?;
        self.container_dict(id).await
    }

    /// Starts container `id` once its bind mounts pass the host-path rule as the engine holds
    /// them now. The engine resolves a bind source again when it starts a container, following
    /// symlinks: a path checked when this server created the container may since have been
    /// swapped for a symlink (by any container with the allowed root mounted writable), so
    /// each source of a container labelled as ours must still resolve to itself under an
    /// allowed root; any other container's sources must resolve to somewhere under an allowed
    /// root (see [`Safety::check_bind_at_start`]). A restart policy must not let the engine
    /// resolve a swappable one again later. What is left is the moment between this inspection
    /// and the engine's start (see docs/docker.md).
    async fn start_checked(&self, id: &str) -> Result<(), ToolError> {
        let docker = self.docker().await?;
        let inspected = settled(|| docker.inspect_container(id, None)).await.map_err(engine_error)?;
        let host_config = inspected.host_config.unwrap_or_default();
        let mut sources: Vec<String> = Vec::new();
        for bind in host_config.binds.iter().flatten() {
            // `SOURCE:TARGET[:OPTIONS]`; a source without a `/` names a volume.
            sources.push(bind.split_once(':').map_or(bind.as_str(), |(source, _)| source).to_owned());
        }
        let bind_mounts = host_config.mounts.iter().flatten().filter(|m| m.typ == Some(MountType::BIND));
        sources.extend(bind_mounts.filter_map(|m| m.source.clone()));
        let mount_points = inspected.mounts.iter().flatten().filter(|m| m.typ.as_deref() == Some("bind"));
        sources.extend(mount_points.filter_map(|m| m.source.clone()));
        let not_started = |refusal: Refusal| {
            tracing::info!(rule = refusal.rule.name(), container = id, "docker start refused");
            ToolError::msg(format!(
                "refused by safety rule `{}`: {}; the container was not started",
                refusal.rule, refusal.detail
            ))
        };
        let created_here =
            inspected.config.as_ref().and_then(|c| c.labels.as_ref()).is_some_and(|l| l.contains_key(CREATED_LABEL));
        let mut host_paths: Vec<PathBuf> = Vec::new();
        for source in &sources {
            host_paths.extend(self.safety.check_bind_at_start(source, created_here).map_err(not_started)?);
        }
        let policy = host_config.restart_policy.and_then(|r| r.name).map(|name| name.to_string());
        self.safety.check_restart(policy.as_deref(), &host_paths).map_err(not_started)?;
        docker.start_container(id, None).await.map_err(engine_error)
    }

    pub(crate) async fn stop_container(&self, id: &str) -> Result<Value, ToolError> {
        self.docker().await?.stop_container(id, None::<StopContainerOptions>).await.map_err(engine_error)?;
        self.container_dict(id).await
    }

    pub(crate) async fn remove_container(&self, id: &str, force: bool) -> Result<Value, ToolError> {
        let mut dict = self.container_dict(id).await?;
        let options = RemoveContainerOptions { force, ..Default::default() };
        self.docker().await?.remove_container(id, Some(options)).await.map_err(engine_error)?;
        dict["status"] = json!("removed");
        Ok(dict)
    }

    pub(crate) async fn fetch_logs(&self, id: &str, tail: Tail, cx: &ToolContext) -> Result<Value, ToolError> {
        Ok(json!({ "logs": self.log_lines(id, tail, cx).await? }))
    }

    /// A container's log lines (stdout and stderr), each reported as progress as it arrives.
    async fn log_lines(&self, id: &str, tail: Tail, cx: &ToolContext) -> Result<Vec<String>, ToolError> {
        let tail = match tail {
            Tail::All => "all".to_owned(),
            Tail::Lines(n) => n.to_string(),
        };
        let options = LogsOptions { stdout: true, stderr: true, tail, ..Default::default() };
        let mut stream = self.docker().await?.logs(id, Some(options));
        let mut kept = LogTail::default();
        let mut progress = LogProgress::default();
        while let Some(chunk) = stream.next().await {
            let piece = chunk.map_err(engine_error)?.into_bytes();
            if let Some((read, message)) = progress.push(&piece, Instant::now()) {
                cx.progress(read, None, message).await;
            }
            kept.push(&piece);
        }
        if let Some((read, message)) = progress.finish() {
            cx.progress(read, None, message).await;
        }
        Ok(kept.into_lines())
    }

    pub(crate) async fn list_images(&self, args: &ListImagesArgs) -> Result<Value, ToolError> {
        let mut filters: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(name) = &args.name {
            filters.insert("reference".into(), vec![name.clone()]);
        }
        if let Some(f) = &args.filters {
            if let Some(dangling) = f.dangling {
                filters.insert("dangling".into(), vec![dangling.to_string()]);
            }
            if let Some(labels) = &f.label {
                filters.insert("label".into(), labels.clone());
            }
        }
        let options = ListImagesOptions { all: args.all, filters: Some(filters), ..Default::default() };
        let listed = self.docker().await?.list_images(Some(options)).await.map_err(engine_error)?;
        let mut result = Vec::with_capacity(listed.len());
        for image in &listed {
            result.push(self.image_dict(&image.id).await?);
        }
        Ok(json!({ "result": result }))
    }

    pub(crate) async fn pull_image(&self, repo: &str, tag: Option<&str>, cx: &ToolContext) -> Result<Value, ToolError> {
        let tag = tag.unwrap_or("latest");
        let reference = format!("{repo}:{tag}");
        self.safety.check_image(&reference).map_err(|r| self.refused(r))?;
        let docker = self.docker().await?;
        let options =
            CreateImageOptions { from_image: Some(repo.to_owned()), tag: Some(tag.to_owned()), ..Default::default() };
        let mut stream = docker.create_image(Some(options), None, None);
        let mut step = 0u64;
        while let Some(info) = stream.next().await {
            let info = info.map_err(|e| about(engine_error(e), "pulling", &reference))?;
            step += 1;
            if let Some(status) = info.status {
                cx.progress(step as f64, None, Some(status)).await;
            }
        }
        self.image_dict(&reference).await
    }

    pub(crate) async fn push_image(&self, repo: &str, tag: Option<&str>, cx: &ToolContext) -> Result<Value, ToolError> {
        let tag = tag.unwrap_or("latest");
        let reference = format!("{repo}:{tag}");
        self.safety.check_image(&reference).map_err(|r| self.refused(r))?;
        let docker = self.docker().await?;
        let options = PushImageOptions { tag: Some(tag.to_owned()), ..Default::default() };
        // No credentials are sent: only the engine's own, if it keeps any, can reach the registry.
        let mut stream = docker.push_image(repo, Some(options), None);
        let (mut step, mut digest) = (0u64, None);
        while let Some(info) = stream.next().await {
            let info = info.map_err(|e| about(engine_error(e), "pushing", &reference))?;
            step += 1;
            if let Some(status) = info.status {
                // The registry's answer ends with `<tag>: digest: sha256:... size: N`.
                if let Some(found) = status.split_whitespace().find(|w| w.starts_with("sha256:")) {
                    digest = Some(found.to_owned());
                }
                cx.progress(step as f64, None, Some(status)).await;
            }
        }
        tracing::debug!(repository = repo, tag, digest = ?digest, "pushed");
        Ok(json!({ "status": "pushed", "repository": repo, "tag": tag, "digest": digest }))
    }

    pub(crate) async fn build_image(&self, args: &BuildImageArgs, cx: &ToolContext) -> Result<Value, ToolError> {
        if self.safety.allowed_images.is_some() {
            return Err(self.refused(Refusal {
                rule: Rule::ImageAllowlist,
                detail: "images cannot be built while an image allowlist is set (what a build pulls is not checked)"
                    .into(),
            }));
        }
        let context = self.safety.check_host_path(&args.path, "build context").map_err(|r| self.refused(r))?;
        let archive = tokio::task::spawn_blocking(move || context_archive(&context))
            .await
            .map_err(|e| ToolError::msg(format!("packing the build context failed: {e}")))??;
        let options = BuildImageOptions {
            dockerfile: args.dockerfile.clone().unwrap_or_else(|| "Dockerfile".into()),
            t: Some(args.tag.clone()),
            rm: true,
            ..Default::default()
        };
        let docker = self.docker().await?;
        // A build's RUN steps are containers too: with networking blocked they get none.
        let options = BuildImageOptions {
            networkmode: if self.safety.block_network { Some(self.no_build_network().await?.to_owned()) } else { None },
            ..options
        };
        let mut stream = docker.build_image(options, None, Some(bollard::body_full(archive.into())));
        let (mut step, mut logs) = (0u64, Vec::new());
        while let Some(info) = stream.next().await {
            let info = info.map_err(engine_error)?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(ToolError::msg(format!("the build of `{}` failed: {detail}", args.tag)));
            }
            if let Some(line) = info.stream.or(info.status) {
                step += 1;
                cx.progress(step as f64, None, Some(line.trim_end().to_owned())).await;
                logs.push(json!({ "stream": line }));
            }
        }
        Ok(json!({ "image": self.image_dict(&args.tag).await?, "logs": logs }))
    }

    /// The build network mode that gives RUN steps no network. Docker takes `none`. Podman's
    /// compatible API reads the parameter as buildah's network policy, ignores `none`, and by
    /// default runs RUN steps in the host's network namespace; there it is `NetworkDisabled`
    /// (a new namespace with loopback only).
    async fn no_build_network(&self) -> Result<&'static str, ToolError> {
        let version = self.docker().await?.version().await.map_err(engine_error)?;
        let podman = version.components.iter().flatten().any(|c| c.name.starts_with("Podman"));
        Ok(if podman { "NetworkDisabled" } else { "none" })
    }

    pub(crate) async fn remove_image(&self, image: &str, force: bool) -> Result<Value, ToolError> {
        let options = RemoveImageOptions { force, ..Default::default() };
        self.docker().await?.remove_image(image, Some(options), None).await.map_err(engine_error)?;
        Ok(json!({ "status": "removed", "image": image }))
    }

    pub(crate) async fn list_networks(&self, filters: Option<LabelFilters>) -> Result<Value, ToolError> {
        let options = ListNetworksOptions { filters: label_filters(filters.and_then(|f| f.label)) };
        let listed = self.docker().await?.list_networks(Some(options)).await.map_err(engine_error)?;
        let result: Vec<Value> = listed.iter().map(|n| network_dict(&to_json(n))).collect();
        Ok(json!({ "result": result }))
    }

    pub(crate) async fn create_network(&self, args: &CreateNetworkArgs) -> Result<Value, ToolError> {
        if self.safety.block_network {
            return Err(self.refused(Refusal { rule: Rule::NetworkBlocked, detail: "cannot create networks".into() }));
        }
        let driver = args.driver.clone().unwrap_or_else(|| "bridge".into());
        if driver == "host" {
            return Err(
                self.refused(Refusal { rule: Rule::NoHostNetwork, detail: "cannot create a host network".into() })
            );
        }
        let request = NetworkCreateRequest {
            name: args.name.clone(),
            driver: Some(driver),
            internal: Some(args.internal),
            labels: args.labels.as_ref().map(|l| l.clone().into_iter().collect()),
            ..Default::default()
        };
        let docker = self.docker().await?;
        let created = docker.create_network(request).await.map_err(engine_error)?;
        let inspected = docker.inspect_network(&created.id, None).await.map_err(engine_error)?;
        Ok(network_dict(&to_json(&inspected)))
    }

    pub(crate) async fn remove_network(&self, id: &str) -> Result<Value, ToolError> {
        let docker = self.docker().await?;
        let inspected = docker.inspect_network(id, None).await.map_err(engine_error)?;
        docker.remove_network(id).await.map_err(engine_error)?;
        Ok(network_dict(&to_json(&inspected)))
    }

    pub(crate) async fn list_volumes(&self) -> Result<Value, ToolError> {
        let listed = self.docker().await?.list_volumes(None::<ListVolumesOptions>).await.map_err(engine_error)?;
        let result: Vec<Value> = listed.volumes.unwrap_or_default().iter().map(|v| volume_dict(&to_json(v))).collect();
        Ok(json!({ "result": result }))
    }

    pub(crate) async fn create_volume(&self, args: &CreateVolumeArgs) -> Result<Value, ToolError> {
        let request = VolumeCreateRequest {
            name: Some(args.name.clone()),
            driver: Some(args.driver.clone().unwrap_or_else(|| "local".into())),
            labels: args.labels.as_ref().map(|l| l.clone().into_iter().collect()),
            ..Default::default()
        };
        let created = self.docker().await?.create_volume(request).await.map_err(engine_error)?;
        Ok(volume_dict(&to_json(&created)))
    }

    pub(crate) async fn remove_volume(&self, name: &str, force: bool) -> Result<Value, ToolError> {
        let docker = self.docker().await?;
        let inspected = docker.inspect_volume(name).await.map_err(engine_error)?;
        docker.remove_volume(name, Some(RemoveVolumeOptions { force })).await.map_err(engine_error)?;
        Ok(volume_dict(&to_json(&inspected)))
    }

    /// `docker-mcp`'s `create-container`: a started container, described in a sentence.
    pub(crate) async fn create_simple(
        &self,
        args: &SimpleContainerArgs,
        cx: &ToolContext,
    ) -> Result<String, ToolError> {
        let mut ports = std::collections::BTreeMap::new();
        for (container, host) in args.ports.clone().unwrap_or_default() {
            let host: u16 = host
                .parse()
                .map_err(|_| ToolError::msg(format!("invalid host port {host:?} for container port {container}")))?;
            ports.insert(container, Some(PortBinding::Port(host)));
        }
        let spec = ContainerSpec {
            name: args.name.clone(),
            environment: args.environment.clone(),
            ports: (!ports.is_empty()).then_some(ports),
            ..ContainerSpec::new(args.image.clone())
        };
        let dict = self.run_container(&spec, cx).await?;
        Ok(format!("Created container '{}' (ID: {})", text(&dict["name"]), text(&dict["id"])))
    }

    /// `docker-mcp`'s `get-logs`: the last 100 lines, with a heading.
    pub(crate) async fn get_logs_text(&self, name: &str, cx: &ToolContext) -> Result<String, ToolError> {
        let lines = self.log_lines(name, Tail::Lines(100), cx).await?;
        Ok(format!("Logs for container '{name}':\n{}", lines.join("\n")))
    }

    /// `docker-mcp`'s `list-containers`: every container, one per line.
    pub(crate) async fn list_containers_text(&self) -> Result<String, ToolError> {
        let listed = self.list_containers(true, None).await?;
        let rows = listed["result"].as_array().cloned().unwrap_or_default();
        if rows.is_empty() {
            return Ok("No containers found".into());
        }
        let lines: Vec<String> = rows
            .iter()
            .map(|c| {
                format!(
                    "{} ({}): {} [{}]",
                    text(&c["name"]),
                    text(&c["short_id"]),
                    text(&c["config"]["image"]),
                    text(&c["status"])
                )
            })
            .collect();
        Ok(format!("Containers:\n{}", lines.join("\n")))
    }

    /// A container as the reference server describes it, from the engine's inspection.
    pub(crate) async fn container_dict(&self, id: &str) -> Result<Value, ToolError> {
        self.container_dict_found(id).await?.ok_or_else(|| no_such_container(id))
    }

    /// [`Self::container_dict`], or `None` when the engine has no such container.
    async fn container_dict_found(&self, id: &str) -> Result<Option<Value>, ToolError> {
        let Some(v) = self.inspect_found(id).await? else { return Ok(None) };
        let image = self.image_of(&text(&v["Image"])).await;
        Ok(Some(describe_container(&v, Some(&image))))
    }

    /// The image a container was made from, described as the reference server nests it in the
    /// container's description: `null` when it has none or it cannot be inspected (removed
    /// since, say).
    async fn image_of(&self, image_id: &str) -> Value {
        if image_id.is_empty() {
            return Value::Null;
        }
        self.image_dict(image_id).await.unwrap_or(Value::Null)
    }

    /// A container's inspection as JSON. Podman can report a state Docker's API does not have
    /// (`stopped`, while a container's exit is being cleaned up), which bollard's typed answer
    /// refuses; the container's summary from the list stands in for it then.
    async fn inspect(&self, id: &str) -> Result<Value, ToolError> {
        self.inspect_found(id).await?.ok_or_else(|| no_such_container(id))
    }

    /// The engine's description of container `id`, or `None` when it has no such container.
    async fn inspect_found(&self, id: &str) -> Result<Option<Value>, ToolError> {
        let docker = self.docker().await?;
        match settled(|| docker.inspect_container(id, None)).await {
            Ok(inspected) => Ok(Some(to_json(&inspected))),
            Err(e) if is_gone(&e) => Ok(None),
            Err(BollardError::JsonDataError { .. } | BollardError::JsonSerdeError { .. }) => {
                let options = ListContainersOptions { all: true, ..Default::default() };
                let listed = settled(|| docker.list_containers(Some(options.clone()))).await.map_err(engine_error)?;
                let found = listed.iter().map(to_json).find(|c| {
                    text(&c["Id"]).starts_with(id)
                        || c["Names"]
                            .as_array()
                            .is_some_and(|n| n.iter().any(|n| text(n).trim_start_matches('/') == id))
                });
                let Some(c) = found else { return Ok(None) };
                let name = c["Names"].get(0).map(text).unwrap_or_default();
                Ok(Some(json!({
                    "Id": c["Id"], "Name": name, "Image": c["ImageID"], "Created": c["Created"],
                    "Config": {"Image": c["Image"], "Labels": c["Labels"]},
                    "State": {"Status": c["State"]}, "Mounts": c["Mounts"],
                })))
            }
            Err(e) => Err(engine_error(e)),
        }
    }

    async fn image_dict(&self, reference: &str) -> Result<Value, ToolError> {
        let inspected = self.docker().await?.inspect_image(reference).await.map_err(engine_error)?;
        Ok(image_dict(&to_json(&inspected)))
    }

    /// One round of a container's stats.
    async fn stats(&self, id: &str) -> Result<Value, ToolError> {
        let options = StatsOptions { stream: false, one_shot: true };
        let mut stream = self.docker().await?.stats(id, Some(options));
        match stream.next().await {
            Some(stats) => Ok(to_json(&stats.map_err(engine_error)?)),
            None => Err(ToolError::msg(format!("the engine sent no stats for container {id}"))),
        }
    }
}

/// A container as the reference server describes it, from the engine's inspection `v` and the
/// description of its image.
fn describe_container(v: &Value, image: Option<&Value>) -> Value {
    let full_id = text(&v["Id"]);
    let networks: Vec<&String> =
        v["NetworkSettings"]["Networks"].as_object().map(|n| n.keys().collect()).unwrap_or_default();
    json!({
        "id": full_id,
        "name": text(&v["Name"]).trim_start_matches('/'),
        "short_id": short(&full_id),
        "image": image.unwrap_or(&Value::Null),
        "status": v["State"]["Status"],
        "labels": v["Config"]["Labels"],
        "ports": or_empty(&v["NetworkSettings"]["Ports"]),
        "created": v["Created"],
        "state": v["State"],
        "restart_count": v["RestartCount"],
        "networks": networks,
        "mounts": v["Mounts"],
        "config": {
            "hostname": v["Config"]["Hostname"],
            "user": v["Config"]["User"],
            "image": v["Config"]["Image"],
        },
    })
}

/// The build context as a tar archive, symlinks kept as links (never followed out of it).
fn context_archive(dir: &std::path::Path) -> Result<Vec<u8>, ToolError> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder
        .append_dir_all(".", dir)
        .map_err(|e| ToolError::msg(format!("cannot read the build context {}: {e}", dir.display())))?;
    let archive = builder.into_inner().map_err(|e| ToolError::msg(format!("cannot pack the build context: {e}")))?;
    if archive.len() > MAX_CONTEXT_BYTES {
        return Err(ToolError::msg(format!("the build context is larger than {MAX_CONTEXT_BYTES} bytes")));
    }
    Ok(archive)
}

fn host_port(ip: Option<String>, port: u16) -> EnginePort {
    EnginePort { host_ip: ip, host_port: Some(port.to_string()) }
}

fn label_filters(labels: Option<Vec<String>>) -> Option<HashMap<String, Vec<String>>> {
    labels.map(|l| HashMap::from([("label".to_owned(), l)]))
}

/// Runs `request` again (for about two seconds) while its answer does not decode: Podman
/// reports a container whose exit is being cleaned up as `stopped`, a state Docker's API (and
/// so bollard's typed answer) does not have, for a moment.
async fn settled<T, F, Fut>(mut request: F) -> Result<T, BollardError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BollardError>>,
{
    let mut attempts = 0;
    loop {
        match request().await {
            Err(BollardError::JsonDataError { .. }) if attempts < 40 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            outcome => return outcome,
        }
    }
}

/// The engine's error as the tool's: its status and message, as the engine said them.
/// The engine has no container by that name or id: Docker answers 404; Podman answers 500 "no
/// such container" for one removed while it was being inspected.
fn is_gone(error: &BollardError) -> bool {
    match error {
        BollardError::DockerResponseServerError { status_code: 404, .. } => true,
        BollardError::DockerResponseServerError { status_code: 500, message } => message.contains("no such container"),
        _ => false,
    }
}

fn no_such_container(id: &str) -> ToolError {
    ToolError::msg(format!("Docker engine error 404: no such container: {id}"))
}

pub(crate) fn engine_error(error: BollardError) -> ToolError {
    match error {
        BollardError::DockerResponseServerError { status_code, message } => {
            ToolError::msg(format!("Docker engine error {status_code}: {message}"))
        }
        other => ToolError::msg(format!("Docker engine error: {other}")),
    }
}

/// `error` with the image it concerns, unless the engine's message already names it.
fn about(error: ToolError, doing: &str, reference: &str) -> ToolError {
    let message = error.to_string();
    if message.contains(reference) { error } else { ToolError::msg(format!("{message} ({doing} `{reference}`)")) }
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Docker's short form of an ID: 12 characters, after the `sha256:` an image ID keeps.
fn short(id: &str) -> String {
    match id.strip_prefix("sha256:") {
        Some(hex) => format!("sha256:{}", hex.chars().take(12).collect::<String>()),
        None => id.chars().take(12).collect(),
    }
}

fn or_empty(value: &Value) -> Value {
    if value.is_null() { json!({}) } else { value.clone() }
}

fn image_dict(v: &Value) -> Value {
    let id = text(&v["Id"]);
    let tags: Vec<Value> = v["RepoTags"]
        .as_array()
        .map(|t| t.iter().filter(|t| t.as_str() != Some("<none>:<none>")).cloned().collect())
        .unwrap_or_default();
    json!({
        "id": id,
        "tags": tags,
        "short_id": short(&id),
        "labels": v["Config"]["Labels"],
        "repo_tags": v["RepoTags"],
        "repo_digests": v["RepoDigests"],
        "created": v["Created"],
        "size": v["Size"],
    })
}

/// A network as the reference server describes it, from the engine's answer.
pub(crate) fn network_json<T: Serialize>(network: &T) -> Value {
    network_dict(&to_json(network))
}

/// A volume as the reference server describes it, from the engine's answer.
pub(crate) fn volume_json<T: Serialize>(volume: &T) -> Value {
    volume_dict(&to_json(volume))
}

fn network_dict(v: &Value) -> Value {
    let id = text(&v["Id"]);
    json!({
        "id": id,
        "name": v["Name"],
        "short_id": short(&id),
        "driver": v["Driver"],
        "scope": v["Scope"],
        "created": v["Created"],
        "labels": v["Labels"],
    })
}

fn volume_dict(v: &Value) -> Value {
    let name = text(&v["Name"]);
    json!({
        "id": name,
        "name": name,
        "short_id": short(&name),
        "labels": v["Labels"],
        "mountpoint": v["Mountpoint"],
        "created": v["CreatedAt"],
        "driver": v["Driver"],
        "scope": v["Scope"],
    })
}

/// A container's logs and stats as resources: `docker://containers/{id}/logs` (the last 100
/// lines) and `docker://containers/{id}/stats` (one round, as the engine's JSON).
#[derive(Debug)]
pub(crate) struct ContainerResources(pub(crate) Arc<Engine>);

const LOGS_TEMPLATE: &str = "docker://containers/{id}/logs";
const STATS_TEMPLATE: &str = "docker://containers/{id}/stats";

#[async_trait]
impl ResourceProvider for ContainerResources {
    fn resources(&self) -> Vec<mcp_core::protocol::Resource> {
        Vec::new()
    }

    fn templates(&self) -> Vec<ResourceTemplate> {
        let mut logs = ResourceTemplate::new(LOGS_TEMPLATE, "container-logs");
        logs.description = Some("The last 100 lines a container printed (stdout and stderr)".into());
        logs.mime_type = Some("text/plain".into());
        let mut stats = ResourceTemplate::new(STATS_TEMPLATE, "container-stats");
        stats.description = Some("A container's CPU, memory, network and I/O statistics, one sample".into());
        stats.mime_type = Some("application/json".into());
        vec![logs, stats]
    }

    async fn read(&self, uri: &str) -> Option<Result<Vec<ResourceContents>, ToolError>> {
        let rest = uri.strip_prefix("docker://containers/")?;
        let (id, kind) = rest.rsplit_once('/')?;
        if id.is_empty() || id.contains('/') {
            return None;
        }
        // The id goes into the engine's path, as a tool's does.
        if let Err(e) = super::names::object_name("id", "container name or ID", id) {
            return Some(Err(e));
        }
        let outcome = match kind {
            "logs" => self
                .0
                .log_lines(id, Tail::Lines(100), &ToolContext::detached())
                .await
                .map(|lines| ResourceContents::text(uri, Some("text/plain".into()), lines.join("\n"))),
            "stats" => self
                .0
                .stats(id)
                .await
                .map(|s| ResourceContents::text(uri, Some("application/json".into()), s.to_string())),
            _ => return None,
        };
        Some(outcome.map(|c| vec![c]))
    }
}

/// What becomes of a foreground run's container when the call ends before its answer (it was
/// cancelled, timed out, or failed while waiting).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unanswered {
    /// A named container is the caller's to find and keep.
    Keep,
    /// An unnamed one is known to no one: removed at once (force: it may still run).
    Remove,
    /// A named one with `auto_remove`: removed once it has exited (or if it never started), as
    /// the engine would have; never while it runs.
    RemoveOnExit,
}

/// Deals with a foreground run's container as [`Unanswered`] says when dropped before
/// [`Self::answered`].
struct RemoveUnlessAnswered {
    docker: bollard::Docker,
    id: String,
    on_drop: Unanswered,
}

impl RemoveUnlessAnswered {
    fn answered(mut self) {
        self.on_drop = Unanswered::Keep;
    }
}

impl Drop for RemoveUnlessAnswered {
    fn drop(&mut self) {
        let on_drop = self.on_drop;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        if on_drop == Unanswered::Keep {
            return;
        }
        let (docker, id) = (self.docker.clone(), std::mem::take(&mut self.id));
        runtime.spawn(async move {
            if on_drop == Unanswered::RemoveOnExit {
                let wait = || {
                    let (docker, id) = (docker.clone(), id.clone());
                    async move {
                        let mut wait = docker.wait_container(&id, None::<WaitContainerOptions>);
                        while wait.next().await.is_some() {}
                    }
                };
                return remove_once_exited(&docker, &id, wait, EXIT_RECHECK).await;
            }
            remove_unanswered(&docker, &id).await;
        });
    }
}

/// The answer of an engine's create request on its way to its call. Dropped before the call
/// took it (the call dropped between the answer's arrival and its next poll), it removes the
/// unnamed container the answer names, which no one else would know of.
struct Creating {
    created: tokio::sync::oneshot::Receiver<Result<ContainerCreateResponse, BollardError>>,
    docker: bollard::Docker,
    unnamed: bool,
}

impl Drop for Creating {
    fn drop(&mut self) {
        self.created.close();
        if let Ok(Ok(created)) = self.created.try_recv()
            && self.unnamed
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let docker = self.docker.clone();
            runtime.spawn(async move { remove_unanswered(&docker, &created.id).await });
        }
    }
}

/// Removes container `id`, which a call no one waits for any more made (force: it may run).
async fn remove_unanswered(docker: &bollard::Docker, id: &str) {
    let options = RemoveContainerOptions { force: true, ..Default::default() };
    if let Err(e) = docker.remove_container(id, Some(options)).await {
        tracing::warn!(container = %id, "could not remove the container of a call no one waits for: {e}");
    }
}

/// How many inspections a container list has in flight at once.
const INSPECTIONS_AT_ONCE: usize = 8;

/// How long [`remove_once_exited`] pauses before it looks at a container again, after a wait
/// that ended while the container still ran or after an engine error.
const EXIT_RECHECK: Duration = Duration::from_secs(1);
/// How many engine errors [`remove_once_exited`] takes before it gives up.
const EXIT_ATTEMPTS: u32 = 30;

/// Removes container `id` once it has exited (or if it never started), as the engine's
/// `auto_remove` would; never while it runs. `wait` waits for it to stop running. A wait can
/// end before that (an engine error, bollard's request timeout), so the container's state is
/// looked at before each removal, and the removal is not forced: one that starts again between
/// the two is refused by the engine, and waited for again.
async fn remove_once_exited<W, F>(docker: &bollard::Docker, id: &str, mut wait: W, recheck: Duration)
where
    W: FnMut() -> F,
    F: Future<Output = ()>,
{
    let mut errors = 0;
    let mut failed = |what: &str, e: BollardError| {
        errors += 1;
        let last = errors >= EXIT_ATTEMPTS;
        if last {
            tracing::warn!(container = %id, "gave up removing an auto_remove container once it exits: {what}: {e}");
        }
        last
    };
    loop {
        match settled(|| docker.inspect_container(id, None)).await {
            Err(e) if is_gone(&e) => return,
            Err(e) => {
                if failed("inspecting it", e) {
                    return;
                }
                tokio::time::sleep(recheck).await;
                continue;
            }
            Ok(inspected) => {
                let state = inspected.state.unwrap_or_default();
                if [state.running, state.paused, state.restarting].contains(&Some(true)) {
                    wait().await;
                    tokio::time::sleep(recheck).await;
                    continue;
                }
            }
        }
        let options = RemoveContainerOptions { force: false, ..Default::default() };
        match docker.remove_container(id, Some(options)).await {
            Ok(()) => return,
            Err(e) if is_gone(&e) => return,
            Err(e) => {
                if failed("removing it", e) {
                    return;
                }
                tokio::time::sleep(recheck).await;
            }
        }
    }
}

/// Log text as progress while it streams in, bounded: at most one notification every
/// [`LOG_PROGRESS_INTERVAL`] (carrying the text since the last one), and no more than
/// [`MAX_LOG_PROGRESS_BYTES`] of text in all, after which they carry the bytes read alone. An
/// engine streams a chatty log in many small chunks; one notification each, with its text, sent
/// many times the (capped) result to the client and slowed the read.
struct LogProgress {
    read: u64,
    last: Option<Instant>,
    pending: String,
    unsent: bool,
    /// How much more text the notifications may carry.
    text_room: usize,
    /// Some text was left out, and the note saying so is yet to be sent.
    cut_unsaid: bool,
    /// The note was sent.
    cut_said: bool,
}

impl Default for LogProgress {
    fn default() -> Self {
        Self {
            read: 0,
            last: None,
            pending: String::new(),
            unsent: false,
            text_room: MAX_LOG_PROGRESS_BYTES,
            cut_unsaid: false,
            cut_said: false,
        }
    }
}

impl LogProgress {
    /// Takes a chunk in; the notification to send now, if one is due: (bytes read, message).
    fn push(&mut self, piece: &[u8], now: Instant) -> Option<(f64, Option<String>)> {
        self.read += piece.len() as u64;
        self.unsent = true;
        if self.text_room > 0 {
            let text = String::from_utf8_lossy(piece);
            let mut end = text.len().min(self.text_room);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            self.pending.push_str(&text[..end]);
            self.text_room -= end;
            if end < text.len() {
                // Nothing more is carried, even a piece that would fit the last few bytes.
                self.text_room = 0;
                self.cut_unsaid = true;
            }
        } else if !piece.is_empty() && !self.cut_said {
            self.cut_unsaid = true;
        }
        let due = self.last.is_none_or(|last| now.duration_since(last) >= LOG_PROGRESS_INTERVAL);
        due.then(|| {
            self.last = Some(now);
            self.take()
        })
    }

    /// What is left to report when the log ends, if anything.
    fn finish(mut self) -> Option<(f64, Option<String>)> {
        self.unsent.then(|| self.take())
    }

    fn take(&mut self) -> (f64, Option<String>) {
        self.unsent = false;
        let mut text = std::mem::take(&mut self.pending).trim_end().to_owned();
        if std::mem::take(&mut self.cut_unsaid) {
            self.cut_said = true;
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!(
                "[progress carries no more log text after {} MiB; the result holds the end of the log]",
                MAX_LOG_PROGRESS_BYTES / (1024 * 1024)
            ));
        }
        (self.read as f64, (!text.is_empty()).then_some(text))
    }
}

/// The end of a log as it streams in, as lines split on every newline (output that ends with
/// one ends with an empty entry, as the reference server's does): at most [`MAX_LOG_LINES`]
/// lines and [`MAX_LOG_BYTES`] bytes, with a first line saying what was left out.
struct LogTail(mcp_core::tail::Tail);

impl Default for LogTail {
    fn default() -> Self {
        LogTail(mcp_core::tail::Tail::new(MAX_LOG_BYTES))
    }
}

impl LogTail {
    fn push(&mut self, piece: &[u8]) {
        self.0.push(piece);
    }

    fn into_lines(self) -> Vec<String> {
        let end = self.0.finish();
        let text = String::from_utf8_lossy(&end.bytes);
        let mut kept: Vec<&str> = text.split('\n').collect();
        let over = kept.len().saturating_sub(MAX_LOG_LINES);
        kept.drain(..over);
        let lines_cut = end.lines_left_out + over as u64;
        let left_out = match (lines_cut, end.mid_line) {
            (0, false) => None,
            (0, true) => Some("the start of the last line".to_owned()),
            (n, false) => Some(format!("{n} earlier lines")),
            (n, true) => Some(format!("{n} earlier lines and the start of the last one")),
        };
        let mut lines = Vec::with_capacity(kept.len() + 1);
        if let Some(left_out) = left_out {
            lines.push(format!(
                "[{left_out} left out: a call returns at most the last {MAX_LOG_LINES} lines and {} MiB of a log]",
                MAX_LOG_BYTES / (1024 * 1024)
            ));
        }
        lines.extend(kept.into_iter().map(str::to_owned));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_keeps_host_ips_and_the_restart_policy() {
        let engine = Engine::new(None, Safety::default());
        let ports = [("5432".to_owned(), Some(PortBinding::Address("127.0.0.1".into(), 5432)))].into();
        let spec = ContainerSpec { ports: Some(ports), ..ContainerSpec::new("postgres") };
        let restart = RestartPolicy {
            name: Some(bollard::models::RestartPolicyNameEnum::ON_FAILURE),
            maximum_retry_count: Some(3),
        };
        let body = engine.container_body(&spec, Some(restart.clone())).expect("allowed");
        let host_config = body.host_config.expect("a host config");
        let bindings = host_config.port_bindings.expect("bindings");
        assert_eq!(bindings["5432/tcp"], Some(vec![host_port(Some("127.0.0.1".into()), 5432)]));
        assert_eq!(bindings["5432/tcp"].as_ref().and_then(|b| b[0].host_ip.as_deref()), Some("127.0.0.1"));
        assert_eq!(host_config.restart_policy, Some(restart));
        let plain = engine.container_body(&ContainerSpec::new("busybox"), None).expect("allowed");
        assert_eq!(plain.host_config.and_then(|h| h.restart_policy), None);
    }

    /// A socket that accepts and never answers fails each call within the answer timeout, and
    /// the failure is not kept: the next call tries the engine again.
    #[tokio::test]
    async fn an_engine_that_never_answers_fails_fast_and_is_tried_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("silent.sock");
        let listener = tokio::net::UnixListener::bind(&socket).expect("binds");
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(stream);
            }
        });
        let mut engine = Engine::new(Some(format!("unix://{}", socket.display())), Safety::default());
        engine.answer_timeout = Duration::from_millis(300);
        for attempt in 1..=2 {
            let started = Instant::now();
            let error = engine.docker().await.expect_err("no answer").message().to_owned();
            assert!(started.elapsed() < Duration::from_secs(5), "attempt {attempt} took {:?}", started.elapsed());
            assert!(error.contains("did not answer within 0.3 s"), "{error}");
            assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), attempt, "attempt {attempt} reached it");
        }
        silent.abort();
    }

    /// The test engine and image (`tests/services.sh`); `None` outside CI when none was started.
    fn test_engine() -> Option<(String, String)> {
        match std::env::var("MCPTK_TEST_DOCKER_HOST") {
            Ok(host) if !host.is_empty() => {
                let image = std::env::var("MCPTK_TEST_DOCKER_IMAGE")
                    .unwrap_or_else(|_| "localhost/mcptk-busybox:test".to_owned());
                Some((host, image))
            }
            _ => {
                let reason = "MCPTK_TEST_DOCKER_HOST is not set: run tests/services.sh to start Podman's API";
                assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
                eprintln!("skipped: {reason}");
                None
            }
        }
    }

    /// A `create_container` call dropped at any point before its answer (cancelled, timed out)
    /// leaves no unnamed container behind: its ID was never given, so no one could remove it.
    #[tokio::test]
    async fn a_create_call_dropped_before_its_answer_leaves_no_unnamed_container() {
        let Some((host, image)) = test_engine() else { return };
        let engine = Engine::new(Some(host), Safety::default());
        let docker = engine.docker().await.expect("the engine answers").clone();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let label = format!("mcptk-unit-dropped-create-{}-{}", std::process::id(), now.as_nanos());
        let spec = ContainerSpec {
            labels: Some(crate::Labels::List(vec![label.clone()])),
            command: Some("true".to_owned()),
            ..ContainerSpec::new(image)
        };
        let ours = || {
            let filters = HashMap::from([("label".to_owned(), vec![label.clone()])]);
            let options = bollard::query_parameters::ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            };
            let docker = docker.clone();
            async move {
                let listed = docker.list_containers(Some(options)).await.expect("lists");
                listed.into_iter().filter_map(|c| c.id).collect::<Vec<_>>()
            }
        };
        // The control: answered, the container stays.
        let answered = engine.create_container(&spec).await.expect("created");
        let id = answered["id"].as_str().expect("an id").to_owned();
        assert_eq!(ours().await, std::slice::from_ref(&id), "{answered}");
        remove_unanswered(&docker, &id).await;
        assert!(ours().await.is_empty());
        // Dropped at points from before the engine's answer to while the answer is made.
        for after_ms in [0, 1, 2, 5, 10, 20, 40, 80] {
            let call = engine.create_container(&spec);
            if let Ok(done) = tokio::time::timeout(Duration::from_millis(after_ms), call).await {
                let id = done.expect("created");
                remove_unanswered(&docker, id["id"].as_str().expect("an id")).await;
            }
        }
        // Left alone for a while: a create the engine finishes late is there to be seen.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut quiet_since = Instant::now();
        let mut left = ours().await;
        while Instant::now() < deadline && (!left.is_empty() || quiet_since.elapsed() < Duration::from_secs(3)) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            left = ours().await;
            if !left.is_empty() {
                quiet_since = Instant::now();
            }
        }
        for id in &left {
            remove_unanswered(&docker, id).await;
        }
        assert!(left.is_empty(), "containers of dropped calls are left behind: {left:?}");
    }

    /// A wait that ends while the container still runs (an engine error, bollard's request
    /// timeout) does not get it removed: it is removed only once it has exited.
    #[tokio::test]
    async fn an_auto_remove_container_is_removed_only_once_it_has_exited() {
        let Some((host, image)) = test_engine() else { return };
        let engine = Engine::new(Some(host), Safety::default());
        let docker = engine.docker().await.expect("the engine answers").clone();
        let name = format!("mcptk-unit-remove-on-exit-{}", std::process::id());
        let body = ContainerCreateBody {
            image: Some(image),
            cmd: Some(vec!["sleep".into(), "600".into()]),
            ..Default::default()
        };
        let options = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
        docker.create_container(Some(options), body).await.expect("created");
        docker.start_container(&name, None).await.expect("started");
        // Every wait ends at once, as a timed-out one does.
        let remover = tokio::spawn({
            let (docker, name) = (docker.clone(), name.clone());
            async move { remove_once_exited(&docker, &name, || async {}, Duration::from_millis(100)).await }
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        let running = settled(|| docker.inspect_container(&name, None))
            .await
            .map(|i| i.state.and_then(|s| s.running))
            .map_err(|e| e.to_string());
        if running != Ok(Some(true)) {
            let options = RemoveContainerOptions { force: true, ..Default::default() };
            let _ = docker.remove_container(&name, Some(options)).await;
        }
        assert_eq!(running, Ok(Some(true)), "removed or stopped while it ran");
        assert!(!remover.is_finished(), "gave up while the container ran");
        docker.kill_container(&name, None::<bollard::query_parameters::KillContainerOptions>).await.expect("killed");
        let finished = tokio::time::timeout(Duration::from_secs(180), remover).await;
        let gone = matches!(settled(|| docker.inspect_container(&name, None)).await, Err(ref e) if is_gone(e));
        if !gone {
            let options = RemoveContainerOptions { force: true, ..Default::default() };
            let _ = docker.remove_container(&name, Some(options)).await;
        }
        assert!(finished.is_ok(), "not removed within 180 s of its exit");
        assert!(gone, "the container is still there after it exited");
    }

    #[test]
    fn log_progress_is_rate_limited_and_stops_carrying_text_after_a_mebibyte() {
        let mut progress = LogProgress::default();
        let start = Instant::now();
        let chunk = "x".repeat(1023) + "\n";
        let mut sent = Vec::new();
        // 10 MiB in 1 KiB chunks, 10 000 chunks over 2 s: one notification per 100 ms at most.
        for i in 0..10_240u32 {
            let now = start + Duration::from_micros(u64::from(i) * 200);
            sent.extend(progress.push(chunk.as_bytes(), now));
        }
        sent.extend(progress.finish());
        assert!(sent.len() <= 2_048 / 100 + 2, "{} notifications", sent.len());
        assert_eq!(sent.last().map(|(read, _)| *read), Some(10_240.0 * 1024.0), "the last one has the total");
        let text: usize = sent.iter().filter_map(|(_, m)| m.as_ref()).map(String::len).sum();
        assert!(text <= MAX_LOG_PROGRESS_BYTES + 200, "{text} bytes of text");
        let notes = sent.iter().filter_map(|(_, m)| m.as_deref()).filter(|m| m.contains("no more log text")).count();
        assert_eq!(notes, 1, "what was left out is said once");
        assert!(sent.iter().rev().take(3).all(|(_, m)| m.is_none()), "later ones carry the count alone");

        // A short log: its first chunk goes out at once, the rest when it ends.
        let mut progress = LogProgress::default();
        assert_eq!(progress.push(b"one\n", start), Some((4.0, Some("one".into()))));
        assert_eq!(progress.push(b"two\n", start), None);
        assert_eq!(progress.push(b"three\n", start), None);
        assert_eq!(progress.finish(), Some((14.0, Some("two\nthree".into()))));
    }

    fn tail_of(pieces: &[&str]) -> Vec<String> {
        let mut tail = LogTail::default();
        for piece in pieces {
            tail.push(piece.as_bytes());
        }
        tail.into_lines()
    }

    #[test]
    fn a_short_log_is_split_on_every_newline_across_chunks() {
        assert_eq!(tail_of(&["one\ntw", "o\n", "three"]), ["one", "two", "three"]);
        assert_eq!(tail_of(&["42\n"]), ["42", ""]);
        assert_eq!(tail_of(&[]), [""]);
    }

    #[test]
    fn a_long_log_keeps_its_last_lines_and_says_how_many_were_left_out() {
        let text: String = (1..=MAX_LOG_LINES + 500).map(|n| format!("{n}\n")).collect();
        let lines = tail_of(&[&text]);
        assert_eq!(lines.len(), MAX_LOG_LINES + 1, "a note, then the last lines");
        assert!(lines[0].starts_with("[501 earlier lines left out"), "{}", lines[0]);
        assert_eq!(lines[1], "502");
        assert_eq!(lines[lines.len() - 2], (MAX_LOG_LINES + 500).to_string());
        assert_eq!(lines[lines.len() - 1], "");
    }

    #[test]
    fn a_huge_log_is_bounded_in_bytes_while_it_streams() {
        let line = "x".repeat(1023) + "\n";
        let chunk = line.repeat(64);
        let mut tail = LogTail::default();
        for _ in 0..200 {
            tail.push(chunk.as_bytes());
            assert!(tail.0.held() <= 2 * MAX_LOG_BYTES, "the held text stays bounded");
        }
        let lines = tail.into_lines();
        // Joined by the newlines between them: the last 4 MiB of the log, from a whole line.
        let kept = lines[1..].iter().map(|l| l.len() + 1).sum::<usize>() - 1;
        assert!(kept <= MAX_LOG_BYTES && kept > MAX_LOG_BYTES - 1024, "{kept}");
        let left_out = 200 * 64 - (lines.len() - 2);
        assert_eq!(
            lines[0],
            format!(
                "[{left_out} earlier lines left out: a call returns at most the last 10000 lines and 4 MiB of a log]"
            )
        );
    }

    #[test]
    fn one_endless_line_keeps_its_end() {
        let mut tail = LogTail::default();
        let chunk = "é".repeat(16 * 1024);
        for _ in 0..400 {
            tail.push(chunk.as_bytes());
            assert!(tail.0.held() <= 2 * MAX_LOG_BYTES);
        }
        tail.push(b"!");
        let lines = tail.into_lines();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("[the start of the last line left out"), "{}", lines[0]);
        assert!(lines[1].len() <= MAX_LOG_BYTES && lines[1].ends_with("é!"));
    }
}
