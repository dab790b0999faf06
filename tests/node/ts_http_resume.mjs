// Drives a Streamable HTTP server with the official TypeScript SDK 1.x client through a "proxy"
// (the transport's `fetch`) that cuts the first SSE answer to a POST right after its first
// message, as an idle-timeout proxy or a network change would. The client then resumes that
// stream with a GET carrying the Last-Event-ID it saw. Prints one JSON object with what it saw.
//
// Usage: node ts_http_resume.mjs URL
//
// Prints {"protocol_version", "result": text, "progress": [numbers], "cuts", "gets":
// [{"last_event_id", "status"}], "gets_after_idle", "echo": text, "errors": [...]}.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url] = process.argv.slice(2);
const out = { protocol_version: null, result: null, progress: [], cuts: 0, gets: [], gets_after_idle: null, echo: null, errors: [] };

/** The response with its SSE body cut (as a reset connection) after its first message. */
function cutAfterFirstMessage(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffer = "";
  let cutNext = false;
  const body = new ReadableStream({
    async pull(controller) {
      if (cutNext) {
        await reader.cancel().catch(() => {});
        controller.error(new TypeError("terminated: cut by the test proxy"));
        return;
      }
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const event = buffer.slice(0, end + 2);
          buffer = buffer.slice(end + 2);
          controller.enqueue(encoder.encode(event));
          // The event is read before the cut (an error drops what is queued).
          if (/^data: \{/m.test(event)) cutNext = true;
          return;
        }
        const { value, done } = await reader.read();
        if (done) {
          if (buffer) controller.enqueue(encoder.encode(buffer));
          controller.close();
          return;
        }
        buffer += decoder.decode(value, { stream: true });
      }
    },
  });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

async function proxy(input, init) {
  const method = init?.method ?? "GET";
  const response = await fetch(input, init);
  if (method === "GET") {
    const headers = new Headers(init?.headers);
    out.gets.push({ last_event_id: headers.get("last-event-id"), status: response.status });
  }
  const sse = (response.headers.get("content-type") ?? "").startsWith("text/event-stream");
  if (method === "POST" && sse && out.cuts === 0) {
    out.cuts += 1;
    return cutAfterFirstMessage(response);
  }
  return response;
}

async function step(name, action) {
  try {
    return await action();
  } catch (error) {
    out.errors.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

const transport = new StreamableHTTPClientTransport(new URL(url), { fetch: proxy });
const setVersion = transport.setProtocolVersion.bind(transport);
transport.setProtocolVersion = (version) => {
  out.protocol_version = version;
  setVersion(version);
};
transport.onerror = (error) => out.errors.push(`transport: ${error?.message ?? error}`);
const client = new Client({ name: "mcptk-tests", version: "1.0.0" });
await step("connect", () => client.connect(transport));
// Transport errors the SDK reports for the cut (and resumes from) are expected; others are not.
const expected = (e) => e.includes("cut by the test proxy") || e.includes("SSE stream disconnected");
if (out.errors.length === 0) {
  const result = await step("tools/call slow", () =>
    client.callTool({ name: "slow", arguments: { steps: 4, delay_ms: 300 } }, undefined, {
      timeout: 30000,
      onprogress: (p) => out.progress.push(p.progress),
    }),
  );
  out.result = (result?.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n") || null;
  // Idle a while: a client whose streams displace each other reconnects about every second.
  const before = out.gets.length;
  await new Promise((resolve) => setTimeout(resolve, 4000));
  out.gets_after_idle = out.gets.length - before;
  const echo = await step("tools/call echo", () => client.callTool({ name: "echo", arguments: { text: "still here" } }));
  out.echo = (echo?.content ?? []).map((c) => c.text).join("\n") || null;
  await step("close", () => client.close());
}
out.errors = out.errors.filter((e) => !expected(e));
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(0);
