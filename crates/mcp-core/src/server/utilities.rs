//! Server utilities: `completion/complete`, `logging/setLevel` (handshake era), and pagination
//! by offset cursors for every list.

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use super::era::Framing;
use super::{Connection, ServerInner, empty_result, parse_params};
use crate::protocol::*;
use crate::transport::connection::Peer;

/// The most values a completion answers with (the protocol's bound).
const MAX_COMPLETION_VALUES: usize = 100;

impl Connection {
    /// `completion/complete`, offered only with a [`Completer`](super::Completer).
    pub(super) async fn complete(
        &self,
        peer: Peer,
        params: JsonObject,
        cancel: CancellationToken,
        framing: Framing,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let s = &self.server;
        let Some(completer) = &s.completer else {
            return Err(ErrorObject::method_not_found(methods::COMPLETE));
        };
        let mut p: CompleteParams = parse_params(params)?;
        let capabilities = self.client_capabilities(p.meta.as_ref());
        let cx = self
            .request_context(peer, p.meta.take(), cancel)
            .with_client_capabilities(capabilities, framing == Framing::Modern);
        let mut completion = completer(p, cx).await?;
        // The protocol's bound, whatever the completer made.
        if completion.values.len() > MAX_COMPLETION_VALUES {
            completion.values.truncate(MAX_COMPLETION_VALUES);
            completion.has_more = Some(true);
        }
        s.finish(CompleteResult { envelope: Default::default(), completion }, framing)
    }

    /// `logging/setLevel`: the least severe level this connection's client wants.
    pub(super) fn set_level(&self, params: JsonObject) -> Result<Box<RawValue>, ErrorObject> {
        let p: SetLevelParams = parse_params(params)?;
        self.session().log_level = Some(p.level);
        Ok(empty_result())
    }
}

impl ServerInner {
    /// One page of `items` after `cursor` (an offset we issued), each item shaped by `shape`.
    /// Only the page's items are shaped (cloned), so listing every page of a long list costs
    /// linear time overall, not quadratic.
    pub(super) fn page<I: Iterator, T>(
        &self,
        mut items: I,
        cursor: Option<&str>,
        shape: impl FnMut(I::Item) -> T,
    ) -> Result<(Vec<T>, Option<String>), ErrorObject> {
        let invalid = |c: &str| ErrorObject::invalid_params(format!("invalid cursor {c:?}"));
        let start = match cursor {
            None => 0,
            Some(c) => c.parse::<usize>().map_err(|_| invalid(c))?,
        };
        for _ in 0..start {
            if items.next().is_none() {
                return Err(invalid(cursor.unwrap_or_default()));
            }
        }
        let page: Vec<T> = items.by_ref().take(self.page_size).map(shape).collect();
        let next = items.next().is_some().then(|| (start + page.len()).to_string());
        Ok((page, next))
    }
}
