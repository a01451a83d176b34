//! What a client sends that is not a request: responses to the server's questions, and
//! notifications (`notifications/cancelled` of a running request). One rule for every
//! transport; each says what the outcome means on its wire (an HTTP status, a log line, a
//! message forwarded to the instance that asked or runs the request).

use super::peer::Peer;
use crate::protocol::RequestId;
use serde_json::Value;

/// What became of a response or a notification of the client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Routed {
    /// A response, delivered to the question waiting for it.
    Answered,
    /// A response whose id is none this server gives its questions (`mcp-q-…`).
    NotAQuestion,
    /// A response to a question nobody here waits for (asked on another instance, already
    /// answered, or timed out).
    NotWaiting,
    /// `notifications/cancelled` of a request running here: it was cancelled.
    Cancelled,
    /// `notifications/cancelled` of a request not running here (it ended, or runs on another
    /// instance).
    NotRunning(RequestId),
    /// Another notification, or a cancellation that names no request: nothing to do.
    Noted,
}

/// Whether a client's response answers an id that can be one of this runtime's questions.
pub(crate) fn could_be_question(id: &RequestId) -> bool {
    matches!(id, RequestId::String(q) if crate::call::ask::could_be_question_id(q))
}

/// Routes a response of the client to the question of `peer` it answers.
pub(crate) fn response(
    peer: Option<&Peer>,
    id: &RequestId,
    result: Result<Value, Value>,
) -> Routed {
    if !could_be_question(id) {
        return Routed::NotAQuestion;
    }
    if peer.is_some_and(|p| p.answer(id, result)) {
        Routed::Answered
    } else {
        Routed::NotWaiting
    }
}

/// Routes a notification of the client: `notifications/cancelled` reaches the request it
/// names through `cancel` (the client's running requests), which says whether it ran here.
pub(crate) fn notification(
    method: &str,
    params: Option<&Value>,
    cancel: impl FnOnce(&RequestId) -> bool,
) -> Routed {
    if method != "notifications/cancelled" {
        return Routed::Noted;
    }
    let Some(id) = cancelled_id(params) else {
        return Routed::Noted;
    };
    if cancel(&id) {
        Routed::Cancelled
    } else {
        Routed::NotRunning(id)
    }
}

/// The `requestId` of `notifications/cancelled`.
fn cancelled_id(params: Option<&Value>) -> Option<RequestId> {
    serde_json::from_value(params?.get("requestId")?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cancellations_reach_the_request_they_name() {
        let params = json!({"requestId": 7, "reason": "user"});
        let mut seen = None;
        let routed = notification("notifications/cancelled", Some(&params), |id| {
            seen = Some(id.clone());
            true
        });
        assert_eq!(routed, Routed::Cancelled);
        assert_eq!(seen, Some(RequestId::Number(7)));
        assert_eq!(
            notification("notifications/cancelled", Some(&params), |_| false),
            Routed::NotRunning(RequestId::Number(7))
        );
        assert_eq!(
            notification("notifications/cancelled", Some(&json!({})), |_| true),
            Routed::Noted
        );
        assert_eq!(
            notification("notifications/initialized", None, |_| true),
            Routed::Noted
        );
    }

    #[test]
    fn only_question_ids_are_answers() {
        let id = RequestId::String("made-up".into());
        assert_eq!(response(None, &id, Ok(json!({}))), Routed::NotAQuestion);
        let id = RequestId::String("mcp-q-0123abcd-1".into());
        assert_eq!(response(None, &id, Ok(json!({}))), Routed::NotWaiting);
    }
}
