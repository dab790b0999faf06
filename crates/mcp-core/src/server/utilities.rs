//! Server utilities: `completion/complete`, `logging/setLevel` (handshake era), and pagination
//! by offset cursors for every list.

use serde_json::Value;

use super::era::Framing;
use super::{Connection, ServerInner, empty_result, parse_params};
use crate::protocol::*;

impl Connection {
    /// `completion/complete`, offered only with a [`Completer`](super::Completer).
    pub(super) fn complete(&self, params: JsonObject, framing: Framing) -> Result<Value, ErrorObject> {
        let s = &self.server;
        let Some(completer) = &s.completer else {
            return Err(ErrorObject::method_not_found(methods::COMPLETE));
        };
        let p: CompleteParams = parse_params(params)?;
        s.finish(CompleteResult { envelope: Default::default(), completion: completer(&p) }, framing)
    }

    /// `logging/setLevel`: the least severe level this connection's client wants.
    pub(super) fn set_level(&self, params: JsonObject) -> Result<Value, ErrorObject> {
        let p: SetLevelParams = parse_params(params)?;
        self.session().log_level = Some(p.level);
        Ok(empty_result())
    }
}

impl ServerInner {
    /// One page of `items` after `cursor` (an offset we issued).
    pub(super) fn page<T>(&self, items: Vec<T>, cursor: Option<&str>) -> Result<(Vec<T>, Option<String>), ErrorObject> {
        let start = match cursor {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .ok()
                .filter(|&n| n <= items.len())
                .ok_or_else(|| ErrorObject::invalid_params(format!("invalid cursor {c:?}")))?,
        };
        let end = (start + self.page_size).min(items.len());
        let next = (end < items.len()).then(|| end.to_string());
        Ok((items.into_iter().skip(start).take(end - start).collect(), next))
    }
}
