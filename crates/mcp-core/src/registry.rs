//! Resources, prompts, and the link-time registry through which crates contribute them and tools.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::protocol::{GetPromptResult, Prompt, Resource, ResourceContents, ResourceTemplate};
use crate::tool::{Tool, ToolError, ToolSet};

/// A source of resources: lists them and reads the ones it owns.
#[async_trait]
pub trait ResourceProvider: Send + Sync + 'static {
    /// The concrete resources it offers.
    fn resources(&self) -> Vec<Resource>;
    /// The URI templates it offers.
    fn templates(&self) -> Vec<ResourceTemplate> {
        Vec::new()
    }
    /// Reads `uri`; `None` when the URI is not this provider's.
    async fn read(&self, uri: &str) -> Option<Result<Vec<ResourceContents>, ToolError>>;

    /// The resources `principal` is offered. By default, [`ResourceProvider::resources`].
    fn resources_for(&self, principal: &str) -> Vec<Resource> {
        let _ = principal;
        self.resources()
    }

    /// The templates `principal` is offered. By default, [`ResourceProvider::templates`].
    fn templates_for(&self, principal: &str) -> Vec<ResourceTemplate> {
        let _ = principal;
        self.templates()
    }

    /// Reads `uri` for the request `cx` (its caller, its cancellation). By default,
    /// [`ResourceProvider::read`].
    async fn read_with(&self, uri: &str, cx: &crate::ToolContext) -> Option<Result<Vec<ResourceContents>, ToolError>> {
        let _ = cx;
        self.read(uri).await
    }

    /// A client asks to be told when `uri` changes (`resources/subscribe`, or a
    /// `subscriptions/listen` stream that names it), by the request `cx`: `None` when the URI is
    /// not this provider's (the next is asked; when none claims it, the subscription is taken as
    /// it is); `Some(Err)` refuses it, and the client is told why. Asked for each subscription,
    /// whoever else holds one to the same URI. By default, `None`.
    async fn subscribe(&self, uri: &str, cx: &crate::ToolContext) -> Option<Result<(), ToolError>> {
        let _ = (uri, cx);
        None
    }

    /// The last subscription to `uri` ended: unsubscribed, or its connection or stream ended.
    /// A subscription counts while it is being asked for, so a refused one that was the only
    /// one ends this way too.
    fn unsubscribed(&self, uri: &str) {
        let _ = uri;
    }

    /// Whether an update of `uri` still goes to a subscriber whose caller is `principal`, asked
    /// as each update is sent (what decided the subscription, a policy say, may have changed
    /// since it was taken): `None` when the URI is not this provider's (the next is asked; when
    /// none claims it, the update goes). A subscriber refused here stays subscribed, and hears
    /// of the resource again once this says yes. By default, `None`.
    fn update_reaches(&self, uri: &str, principal: &str) -> Option<bool> {
        let _ = (uri, principal);
        None
    }
}

/// A fixed text resource.
#[derive(Debug, Clone)]
pub struct TextResource {
    resource: Resource,
    text: String,
}

impl TextResource {
    /// A resource at `uri` named `name` with the given MIME type and text.
    pub fn new(
        uri: impl Into<String>,
        name: impl Into<String>,
        mime_type: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        let text = text.into();
        let resource = Resource {
            uri: uri.into(),
            name: name.into(),
            title: None,
            description: None,
            mime_type: Some(mime_type.into()),
            size: Some(text.len() as u64),
            annotations: None,
            icons: None,
            meta: None,
        };
        Self { resource, text }
    }
}

#[async_trait]
impl ResourceProvider for TextResource {
    fn resources(&self) -> Vec<Resource> {
        vec![self.resource.clone()]
    }

    async fn read(&self, uri: &str) -> Option<Result<Vec<ResourceContents>, ToolError>> {
        (uri == self.resource.uri)
            .then(|| Ok(vec![ResourceContents::text(uri, self.resource.mime_type.clone(), self.text.clone())]))
    }
}

/// A prompt template.
#[async_trait]
pub trait PromptProvider: Send + Sync + 'static {
    /// Its definition.
    fn definition(&self) -> &Prompt;
    /// Renders it with the given arguments.
    async fn get(&self, arguments: BTreeMap<String, String>) -> Result<GetPromptResult, ToolError>;

    /// Renders it with the request's context too (answers to input it asked for, the client's
    /// capabilities). By default, [`PromptProvider::get`].
    async fn get_with(
        &self,
        arguments: BTreeMap<String, String>,
        cx: &crate::ToolContext,
    ) -> Result<GetPromptResult, ToolError> {
        let _ = cx;
        self.get(arguments).await
    }
}

/// Prompts that change while the server runs, and differ by caller: a gateway's, relayed from
/// the servers behind it. Asked after the registry's own prompts.
#[async_trait]
pub trait PromptSource: Send + Sync + 'static {
    /// The prompts `principal` is offered now.
    fn prompts_for(&self, principal: &str) -> Vec<Prompt>;

    /// Renders the prompt `name` for the request `cx`; `None` when no prompt of this source has
    /// that name.
    async fn get(
        &self,
        name: &str,
        arguments: BTreeMap<String, String>,
        cx: &crate::ToolContext,
    ) -> Option<Result<GetPromptResult, ToolError>>;
}

/// A prompt rendered by an async function. See [`prompt`].
pub struct FnPrompt<F> {
    definition: Prompt,
    function: F,
}

impl<F> fmt::Debug for FnPrompt<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnPrompt").field("name", &self.definition.name).finish_non_exhaustive()
    }
}

/// A prompt from its definition and a rendering function; required arguments are checked first.
pub fn prompt<F, Fut>(definition: Prompt, function: F) -> FnPrompt<F>
where
    F: Fn(BTreeMap<String, String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<GetPromptResult, ToolError>> + Send + 'static,
{
    FnPrompt { definition, function }
}

#[async_trait]
impl<F, Fut> PromptProvider for FnPrompt<F>
where
    F: Fn(BTreeMap<String, String>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<GetPromptResult, ToolError>> + Send + 'static,
{
    fn definition(&self) -> &Prompt {
        &self.definition
    }

    async fn get(&self, arguments: BTreeMap<String, String>) -> Result<GetPromptResult, ToolError> {
        for arg in self.definition.arguments.iter().flatten() {
            if arg.required == Some(true) && !arguments.contains_key(&arg.name) {
                return Err(ToolError::msg(format!("prompt `{}` needs argument `{}`", self.definition.name, arg.name)));
            }
        }
        (self.function)(arguments).await
    }
}

/// Everything a server can serve: tools, resources, prompts.
#[derive(Clone, Default)]
pub struct Registry {
    /// Tools.
    pub tools: ToolSet,
    /// Resource providers, asked in order.
    pub resources: Vec<Arc<dyn ResourceProvider>>,
    /// Prompts by name.
    pub prompts: BTreeMap<String, Arc<dyn PromptProvider>>,
    /// Prompts that change while serving, asked in order after `prompts`.
    pub prompt_sources: Vec<Arc<dyn PromptSource>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("tools", &self.tools)
            .field("resources", &self.resources.len())
            .field("prompts", &self.prompts.keys().collect::<Vec<_>>())
            .field("prompt_sources", &self.prompt_sources.len())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything contributed by the crates linked into this program through [`register!`](crate::register).
    pub fn linked() -> Self {
        let mut registry = Self::new();
        let mut registrations: Vec<&Registration> = inventory::iter::<Registration>.into_iter().collect();
        // Link order is unspecified; sort so tool order is stable from build to build.
        registrations.sort_by_key(|r| r.module);
        for registration in registrations {
            (registration.register)(&mut registry);
        }
        registry
    }

    /// Adds a tool.
    pub fn tool(&mut self, tool: impl Tool) -> &mut Self {
        self.tools.add(tool);
        self
    }

    /// Adds a resource provider.
    pub fn resource(&mut self, provider: impl ResourceProvider) -> &mut Self {
        self.resources.push(Arc::new(provider));
        self
    }

    /// Adds a prompt.
    pub fn prompt(&mut self, prompt: impl PromptProvider) -> &mut Self {
        self.prompts.insert(prompt.definition().name.clone(), Arc::new(prompt));
        self
    }

    /// Adds a source of prompts that change while serving.
    pub fn prompt_source(&mut self, source: impl PromptSource) -> &mut Self {
        self.prompt_sources.push(Arc::new(source));
        self
    }
}

/// A crate's contribution to [`Registry::linked`]. Submit one with [`register!`](crate::register).
#[derive(Debug)]
pub struct Registration {
    /// The module that registered (for ordering and diagnostics).
    pub module: &'static str,
    /// Adds the crate's tools, resources and prompts.
    pub register: fn(&mut Registry),
}

inventory::collect!(Registration);

/// Contributes tools, resources and prompts to every program this crate is linked into.
///
/// ```
/// fn tools(registry: &mut mcp_core::Registry) {
///     // registry.tool(...);
/// }
/// mcp_core::register!(tools);
/// ```
#[macro_export]
macro_rules! register {
    ($register:path) => {
        $crate::__private::inventory::submit! {
            $crate::Registration { module: ::core::module_path!(), register: $register }
        }
    };
}
