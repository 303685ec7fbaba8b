//! The OpenAI chat-completions wire format, as far as the copilot uses it:
//! the request (messages and tools) and the assistant's turn in the answer.
//! Parsing takes nothing on trust: any shape it does not know is an error,
//! never a panic.

use serde_json::{Value, json};

/// The most tool calls of one turn that are kept (the rest are ignored).
const MAX_TOOL_CALLS: usize = 8;
/// The answer's length the model is asked to stay within.
const MAX_TOKENS: u64 = 800;

/// One tool call the model asked for: its arguments are still unchecked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCall {
    pub(crate) id: String,
    pub(crate) name: String,
    /// As sent: a JSON text (OpenAI) or already an object (some servers).
    pub(crate) arguments: Value,
}

/// The assistant's turn: text, tool calls, or both.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Turn {
    pub(crate) content: Option<String>,
    pub(crate) tool_calls: Vec<ToolCall>,
}

/// Whether the model may call tools in this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    Auto,
    /// The last round: an answer in words.
    None,
}

/// The request body of `POST /chat/completions`.
pub(crate) fn request(model: &str, messages: &[Value], tools: &Value, choice: ToolChoice) -> Value {
    let mut body = json!({
        "model": model,
        "messages": messages,
        "temperature": 0.2,
        "max_tokens": MAX_TOKENS,
        "stream": false,
    });
    if tools.as_array().is_some_and(|t| !t.is_empty()) {
        body["tools"] = tools.clone();
        body["tool_choice"] = json!(match choice {
            ToolChoice::Auto => "auto",
            ToolChoice::None => "none",
        });
    }
    body
}

pub(crate) fn system(text: &str) -> Value {
    json!({ "role": "system", "content": text })
}

pub(crate) fn user(text: &str) -> Value {
    json!({ "role": "user", "content": text })
}

/// The model's own turn, echoed back so that tool results follow their calls.
pub(crate) fn assistant(turn: &Turn) -> Value {
    let calls: Vec<Value> = turn
        .tool_calls
        .iter()
        .map(|call| {
            let arguments = match &call.arguments {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            json!({
                "id": call.id,
                "type": "function",
                "function": { "name": call.name, "arguments": arguments },
            })
        })
        .collect();
    let mut message = json!({ "role": "assistant", "content": turn.content });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    message
}

/// A tool's answer to the call `id`.
pub(crate) fn tool_result(id: &str, content: &str) -> Value {
    json!({ "role": "tool", "tool_call_id": id, "content": content })
}

/// A message's text: a string, or (some servers) a list of `{"type": "text", "text"}` parts.
fn text_of(content: Option<&Value>) -> Option<String> {
    let text = match content? {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => return None,
    };
    Some(text).filter(|t| !t.trim().is_empty())
}

/// The assistant's turn in a chat-completions answer.
pub(crate) fn parse_turn(body: &[u8]) -> Result<Turn, String> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|_| "the answer is not JSON".to_owned())?;
    let message = answer
        .pointer("/choices/0/message")
        .filter(|m| m.is_object())
        .ok_or("the answer has no choices[0].message")?;
    let content = text_of(message.get("content"));
    let tool_calls: Vec<ToolCall> = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .take(MAX_TOOL_CALLS)
        .enumerate()
        .map(|(index, call)| {
            let function = call.get("function");
            ToolCall {
                id: call
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty() && id.len() <= 128)
                    .map_or_else(|| format!("call_{index}"), str::to_owned),
                name: function
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                arguments: function
                    .and_then(|f| f.get("arguments"))
                    .cloned()
                    .unwrap_or(Value::Null),
            }
        })
        .collect();
    if content.is_none() && tool_calls.is_empty() {
        return Err("the answer is empty".into());
    }
    Ok(Turn {
        content,
        tool_calls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_and_tool_calls() {
        let body = json!({"choices": [{"message": {"role": "assistant", "content": null,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "docker_status", "arguments": "{}"}},
            {"function": {"name": "compose_logs", "arguments": {"service": "sonarr"}}}
        ]}}]});
        let turn = parse_turn(body.to_string().as_bytes()).unwrap();
        assert_eq!(turn.content, None);
        assert_eq!(turn.tool_calls.len(), 2);
        assert_eq!(turn.tool_calls[0].id, "c1");
        assert_eq!(turn.tool_calls[0].arguments, json!("{}"));
        assert_eq!(turn.tool_calls[1].id, "call_1", "a missing id is made up");
        assert_eq!(turn.tool_calls[1].arguments, json!({"service": "sonarr"}));

        let text =
            json!({"choices": [{"message": {"content": [{"type": "text", "text": "All good."}]}}]});
        let turn = parse_turn(text.to_string().as_bytes()).unwrap();
        assert_eq!(turn.content.as_deref(), Some("All good."));
    }

    #[test]
    fn garbage_is_an_error() {
        for body in [
            &b"<html>502 Bad Gateway</html>"[..],
            b"",
            b"{}",
            br#"{"choices": []}"#,
            br#"{"choices": [{"message": "hi"}]}"#,
            br#"{"choices": [{"message": {"content": "   "}}]}"#,
            br#"{"choices": [{"message": {"content": 42}}]}"#,
        ] {
            assert!(
                parse_turn(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn many_tool_calls_are_cut() {
        let calls: Vec<Value> = (0..50)
            .map(|_| json!({"function": {"name": "docker_status", "arguments": "{}"}}))
            .collect();
        let body = json!({"choices": [{"message": {"tool_calls": calls}}]});
        let turn = parse_turn(body.to_string().as_bytes()).unwrap();
        assert_eq!(turn.tool_calls.len(), MAX_TOOL_CALLS);
    }

    #[test]
    fn the_request_offers_tools_until_the_last_round() {
        let tools = json!([{"type": "function", "function": {"name": "x"}}]);
        let messages = [system("s"), user("u")];
        let body = request("m", &messages, &tools, ToolChoice::Auto);
        assert_eq!(body["model"], "m");
        assert_eq!(body["tool_choice"], "auto");
        assert_eq!(body["messages"][1], json!({"role": "user", "content": "u"}));
        assert_eq!(body["stream"], false);
        let last = request("m", &messages, &tools, ToolChoice::None);
        assert_eq!(last["tool_choice"], "none");
        let none = request("m", &messages, &json!([]), ToolChoice::Auto);
        assert!(none.get("tools").is_none());

        let turn = Turn {
            content: None,
            tool_calls: vec![ToolCall {
                id: "c1".into(),
                name: "compose_logs".into(),
                arguments: json!({"service": "sonarr"}),
            }],
        };
        let echoed = assistant(&turn);
        assert_eq!(
            echoed["tool_calls"][0]["function"]["arguments"],
            r#"{"service":"sonarr"}"#
        );
        assert_eq!(
            tool_result("c1", "data")["tool_call_id"],
            "c1",
            "a result answers its call"
        );
    }
}
