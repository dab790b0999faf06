// Runs a small plan against a stdio MCP server with the official TypeScript SDK 1.x (the client
// Claude Desktop, Cursor and VS Code embed): list every tool (all pages), then call the planned
// tools, and print one JSON object with what the client saw.
//
// Usage: node ts_client.mjs PLAN COMMAND [ARGS...]
// PLAN is JSON: {"calls": [{"name": "echo", "arguments": {"text": "hi"}}]}, and optionally
// "prompts": [{"name", "arguments"}] to get, "reads": ["uri"] to read and "completes": [{"ref",
// "argument", "context"}] to ask completions for (`completion/complete`'s params), and
// "subscribes": {"uris": [...], "then": "tool", "wait_ms": N} to subscribe to resources, call a
// tool (one that makes the server send updates), and collect the updates for `wait_ms`.
//
// Prints {"client", "protocol_version", "server_name", "tools": [names], "calls": [{"name",
// "is_error", "text", "structured"}], "errors": ["step: message"]}; with "prompts", also
// "prompts": [names] and "got": [{"name", "text"}]; with "reads", also "resources": [uris],
// "templates": [uriTemplates] and "read": [{"uri", "text", "blob"}]; with "completes", also
// "completions": [values] and "completions_capability" (whether the server declared it); with
// "subscribes", also "updated": [uris] in the order they came. The SDK checks every result
// with its own schemas (and structured content against the tool's outputSchema); a step it
// refuses is reported in `errors` and the plan goes on.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const [planText, command, ...args] = process.argv.slice(2);
const plan = JSON.parse(planText);
const out = { client: "ts-sdk-1", protocol_version: null, server_name: null, tools: null, calls: [], errors: [] };

async function step(name, action) {
  try {
    return await action();
  } catch (error) {
    out.errors.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

const transport = new StdioClientTransport({ command, args, stderr: "inherit" });
// The SDK hands the negotiated version to transports that want it (HTTP puts it in a header).
transport.setProtocolVersion = (version) => {
  out.protocol_version = version;
};
const client = new Client({ name: "mcptk-tests", version: "1.0.0" });

await step("connect", () => client.connect(transport));
if (out.errors.length === 0) {
  out.server_name = client.getServerVersion()?.name ?? null;
  out.tools = await step("tools/list", async () => {
    const names = [];
    let cursor;
    for (let page = 0; page < 100; page++) {
      const result = await client.listTools(cursor === undefined ? {} : { cursor });
      names.push(...result.tools.map((t) => t.name));
      cursor = result.nextCursor;
      if (!cursor) return names;
    }
    throw new Error("more than 100 pages of tools");
  });
  for (const call of plan.calls ?? []) {
    const result = await step(`tools/call ${call.name}`, () =>
      client.callTool({ name: call.name, arguments: call.arguments ?? {} }),
    );
    if (result !== undefined) {
      out.calls.push({
        name: call.name,
        is_error: result.isError === true,
        text: (result.content ?? [])
          .filter((c) => c.type === "text")
          .map((c) => c.text)
          .join("\n"),
        structured: result.structuredContent ?? null,
      });
    }
  }
  if (plan.prompts !== undefined) {
    out.prompts = await step("prompts/list", async () => (await client.listPrompts()).prompts.map((p) => p.name));
    out.got = [];
    for (const prompt of plan.prompts) {
      const result = await step(`prompts/get ${prompt.name}`, () =>
        client.getPrompt({ name: prompt.name, arguments: prompt.arguments ?? {} }),
      );
      if (result !== undefined) {
        const text = result.messages.map((m) => (m.content.type === "text" ? m.content.text : "")).join("\n");
        out.got.push({ name: prompt.name, text });
      }
    }
  }
  if (plan.reads !== undefined) {
    out.resources = await step("resources/list", async () => (await client.listResources()).resources.map((r) => r.uri));
    out.templates = await step("resources/templates/list", async () =>
      (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate),
    );
    out.read = [];
    for (const uri of plan.reads) {
      const result = await step(`resources/read ${uri}`, () => client.readResource({ uri }));
      if (result !== undefined) {
        const first = result.contents[0] ?? {};
        out.read.push({ uri, text: first.text ?? null, blob: first.blob ?? null });
      }
    }
  }
  if (plan.completes !== undefined) {
    out.completions_capability = client.getServerCapabilities()?.completions !== undefined;
    out.completions = [];
    for (const params of plan.completes) {
      const result = await step(`completion/complete ${JSON.stringify(params.ref)}`, () => client.complete(params));
      if (result !== undefined) out.completions.push(result.completion.values);
    }
  }
  if (plan.subscribes !== undefined) {
    const { uris, then, wait_ms: waitMs } = plan.subscribes;
    out.updated = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (note) => {
      out.updated.push(note.params.uri);
    });
    for (const uri of uris) {
      await step(`resources/subscribe ${uri}`, () => client.subscribeResource({ uri }));
    }
    if (then !== undefined) {
      await step(`tools/call ${then}`, () => client.callTool({ name: then, arguments: {} }));
    }
    await new Promise((resolve) => setTimeout(resolve, waitMs ?? 1000));
  }
  await step("close", () => client.close());
}
process.stdout.write(JSON.stringify(out) + "\n");
