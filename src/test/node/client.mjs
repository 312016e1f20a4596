// An MCP session driven by the official TypeScript SDK, for McpSdkIT.
//
//   MCPMETER_KEY=<bearer key> node client.mjs streamable http://127.0.0.1:<port>/<slug>
//   MCPMETER_KEY=<bearer key> node client.mjs sse        http://127.0.0.1:<port>/<slug>/sse
//
// Runs one scripted session against server-everything behind the proxy and prints ONE JSON line on
// stdout describing what happened (exit 0), or the error (exit 1). Diagnostics go to stderr.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { CreateMessageRequestSchema, ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const [transportName, target] = process.argv.slice(2);
const key = process.env.MCPMETER_KEY;
const echoCount = Number(process.env.MCPMETER_ECHO_CALLS ?? 3);
const longSteps = Number(process.env.MCPMETER_LONG_STEPS ?? 4);
const longSeconds = Number(process.env.MCPMETER_LONG_SECONDS ?? 2);
const deadlineMs = Number(process.env.MCPMETER_CLIENT_DEADLINE_MS ?? 40_000);

if (!["streamable", "sse"].includes(transportName) || !target || !key) {
  console.error("usage: MCPMETER_KEY=<key> node client.mjs streamable|sse <url>");
  process.exit(2);
}

const started = performance.now();
const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
const since = (from, to = elapsed()) => Math.round((to - from) * 10) / 10;

// Nothing here may hang the Java test: give up loudly well before it would.
const watchdog = setTimeout(() => {
  console.error(`client gave up after ${deadlineMs} ms`);
  console.log(JSON.stringify({ ok: false, error: `deadline of ${deadlineMs} ms passed`, report }));
  process.exit(1);
}, deadlineMs);
watchdog.unref();

const auth = { Authorization: `Bearer ${key}` };

/** Every HTTP exchange the SDK makes, with what the proxy said about it in its headers. */
const exchanges = [];
/** Exchanges whose HTTP answer has not arrived yet (see "await in-flight HTTP" below). */
const inFlight = new Set();

function rpcSummary(body) {
  if (typeof body !== "string") {
    return [];
  }
  try {
    const parsed = JSON.parse(body);
    return (Array.isArray(parsed) ? parsed : [parsed]).map((m) =>
      m.method === undefined
        ? `response:${m.id}`
        : m.method === "tools/call"
          ? `tools/call:${m.params?.name}`
          : m.method,
    );
  } catch {
    return ["<unparsed>"];
  }
}

/** The SDK's fetch: records each exchange; the headers (Authorization too) are the SDK's own. */
async function recordingFetch(url, init = {}) {
  const entry = {
    at: elapsed(),
    http: init.method ?? "GET",
    path: new URL(url).pathname + new URL(url).search,
    rpc: rpcSummary(init.body),
  };
  exchanges.push(entry);
  const pending = fetch(url, init);
  // A GET opens a stream: its headers may wait for the first event, so nothing waits for it here.
  const tracked = entry.http !== "GET";
  if (tracked) {
    inFlight.add(pending);
  }
  let response;
  try {
    response = await pending;
  } finally {
    inFlight.delete(pending);
  }
  entry.headersAt = elapsed();
  entry.status = response.status;
  entry.billed = response.headers.get("x-mcpmeter-billed");
  entry.balance = response.headers.get("x-mcpmeter-balance");
  entry.requestId = response.headers.get("x-mcpmeter-request-id");
  if (response.status >= 400) {
    console.error(`${entry.http} ${entry.path} ${JSON.stringify(entry.rpc)} -> ${response.status}`);
  }
  return response;
}

function makeTransport() {
  const url = new URL(target);
  if (transportName === "streamable") {
    return new StreamableHTTPClientTransport(url, {
      requestInit: { headers: auth },
      fetch: recordingFetch,
      reconnectionOptions: {
        initialReconnectionDelay: 200,
        maxReconnectionDelay: 1000,
        reconnectionDelayGrowFactor: 1.5,
        maxRetries: 2,
      },
    });
  }
  return new SSEClientTransport(url, {
    requestInit: { headers: auth },
    fetch: recordingFetch,
    // The request that opens the stream goes through the EventSource's fetch, which adds the key too.
    eventSourceInit: {
      fetch: (input, init = {}) => {
        const headers = new Headers(init.headers);
        headers.set("Authorization", auth.Authorization);
        return recordingFetch(input, { ...init, headers });
      },
    },
  });
}

const report = {
  ok: false,
  transport: transportName,
  steps: [],
  calls: [],
  errors: [],
};

function textOf(result) {
  return (result.content ?? [])
    .filter((c) => c.type === "text")
    .map((c) => c.text)
    .join("\n");
}

/** One step of the script; a failing step is recorded and ends the session. */
async function step(name, action) {
  const at = elapsed();
  try {
    const value = await action();
    report.steps.push({ name, ok: true, at, ms: Math.round(elapsed() - at) });
    return value;
  } catch (error) {
    report.steps.push({ name, ok: false, at, ms: Math.round(elapsed() - at), error: String(error?.stack ?? error) });
    throw error;
  }
}

async function callTool(client, name, args, options) {
  const at = elapsed();
  const result = await client.callTool({ name, arguments: args }, undefined, options);
  const call = { tool: name, at, doneAt: elapsed(), isError: result.isError === true, text: textOf(result) };
  report.calls.push(call);
  if (call.isError) {
    throw new Error(`tool ${name} answered isError: ${call.text}`);
  }
  return call;
}

const client = new Client(
  { name: "mcpmeter-sdk-it", version: "1.0.0" },
  { capabilities: { sampling: {} } },
);

const samplingNonce = `nonce-${Math.random().toString(36).slice(2, 10)}`;
report.sampling = { nonce: samplingNonce, requests: 0 };
client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
  report.sampling.requests += 1;
  const asked = request.params.messages.map((m) => (m.content?.type === "text" ? m.content.text : "")).join(" ");
  report.sampling.asked = asked;
  return {
    model: "mcpmeter-test-model",
    role: "assistant",
    stopReason: "endTurn",
    content: { type: "text", text: `sampled answer to [${asked}]` },
  };
});

let toolListChanged;
const toolListChangedOnce = new Promise((resolve) => (toolListChanged = resolve));
client.setNotificationHandler(ToolListChangedNotificationSchema, () => toolListChanged());

// The SDK's Protocol runs notification handlers a microtask later but settles responses at once,
// so when the last progress notification and the result arrive in one chunk (the legacy SSE
// client parses a whole chunk synchronously) it reports that progress as "for an unknown token".
// That happens talking to server-everything directly too; it is kept apart from real errors.
const unknownProgressToken = "Received a progress notification for an unknown token";
report.sdkQuirks = [];
let closing = false;
client.onerror = (error) => {
  const message = String(error?.message ?? error);
  if (message.startsWith(unknownProgressToken)) {
    report.sdkQuirks.push(message);
  } else if (!closing) {
    report.errors.push(message);
  }
};

/** Progress notifications as they reach the transport, before the SDK's Protocol handles them. */
const progressOnTheWire = [];
function tapProgress(transport) {
  const deliver = transport.onmessage;
  transport.onmessage = (message, extra) => {
    if (message.method === "notifications/progress") {
      progressOnTheWire.push({ ...message.params, at: elapsed() });
    }
    deliver?.(message, extra);
  };
}

let exitCode = 1;
try {
  const transport = makeTransport();
  await step("initialize", () => client.connect(transport));
  tapProgress(transport);
  report.server = client.getServerVersion();
  report.protocolVersion = transport.protocolVersion ?? null;
  report.sessionId = transport.sessionId ?? null;

  let tools = await step("tools/list", () => client.listTools());
  if (!tools.tools.some((t) => t.name === "trigger-sampling-request")) {
    // server-everything adds its sampling tool once the session is initialized and says so.
    await step("await tools/list_changed", () =>
      Promise.race([
        toolListChangedOnce,
        new Promise((_, reject) => setTimeout(() => reject(new Error("no tools/list_changed within 5 s")), 5000)),
      ]),
    );
    tools = await step("tools/list again", () => client.listTools());
  }
  report.tools = tools.tools.map((t) => t.name);

  report.echoes = [];
  for (let i = 1; i <= echoCount; i++) {
    const call = await step(`tools/call echo ${i}`, () => callTool(client, "echo", { message: `hello ${i}` }));
    report.echoes.push(call.text);
  }

  const sum = await step("tools/call get-sum", () => callTool(client, "get-sum", { a: 19, b: 23 }));
  report.sum = sum.text;

  report.progressCallbacks = [];
  const longStart = elapsed();
  const long = await step("tools/call trigger-long-running-operation", () =>
    callTool(
      client,
      "trigger-long-running-operation",
      { duration: longSeconds, steps: longSteps },
      {
        timeout: 30_000,
        resetTimeoutOnProgress: true,
        onprogress: (p) => report.progressCallbacks.push({ progress: p.progress, total: p.total, at: since(longStart) }),
      },
    ),
  );
  report.progress = progressOnTheWire.map((p) => ({ progress: p.progress, total: p.total, at: since(longStart, p.at) }));
  report.longRunning = { steps: longSteps, seconds: longSeconds, resultAt: since(longStart, long.doneAt), text: long.text };

  const sampled = await step("tools/call trigger-sampling-request", () =>
    callTool(client, "trigger-sampling-request", { prompt: `say ${samplingNonce}`, maxTokens: 20 }),
  );
  report.sampling.text = sampled.text;

  const resources = await step("resources/list", () => client.listResources());
  report.resources = { count: resources.resources.length };
  if (resources.resources.length > 0) {
    const uri = resources.resources[0].uri;
    const read = await step("resources/read", () => client.readResource({ uri }));
    report.resources.read = {
      uri,
      contents: read.contents.length,
      textLength: read.contents.reduce((n, c) => n + (c.text?.length ?? 0), 0),
    };
  }

  const prompts = await step("prompts/list", () => client.listPrompts());
  report.prompts = { count: prompts.prompts.length, names: prompts.prompts.map((p) => p.name) };
  const prompt = await step("prompts/get", () => client.getPrompt({ name: "simple-prompt" }));
  report.prompts.text = prompt.messages.map((m) => (m.content?.type === "text" ? m.content.text : "")).join("\n");

  // With legacy SSE the answer comes on the stream and may overtake the 202 of the POST that asked
  // for it; closing the transport would abort that POST. Let every POST get its HTTP answer first.
  await step("await in-flight HTTP", () =>
    Promise.race([
      Promise.allSettled([...inFlight]).then(() => undefined),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`${inFlight.size} HTTP requests still open after 5 s`)), 5000)),
    ]),
  );

  closing = true;
  if (transportName === "streamable") {
    await step("terminate session", () => transport.terminateSession());
  }
  await step("close", () => client.close());
  report.ok = report.errors.length === 0;
  exitCode = report.ok ? 0 : 1;
} catch (error) {
  report.error = String(error?.stack ?? error);
  console.error(report.error);
  closing = true;
  await client.close().catch(() => {});
}

report.exchanges = exchanges;
report.totalMs = Math.round(elapsed());
console.log(JSON.stringify(report));
process.exit(exitCode);
