// Requests refused for their content, sent by the official 1.x SDK client over streamable HTTP
// (the session protocol), for McpRemoteIT: how each refusal surfaced in the SDK.
//
//   MCPMETER_KEY=<bearer key> node refusals.mjs http://127.0.0.1:<port>/<slug>
//
// Prints ONE JSON line: {ok, refusals: {<name>: {mcpError, code, status, error}}, after}. A refusal
// is a protocol error when the SDK raised McpError for that request (the call failed, the session
// did not); ok is false only when something else broke.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema, McpError } from "@modelcontextprotocol/sdk/types.js";

const target = process.argv[2];
const key = process.env.MCPMETER_KEY;
if (!target || !key) {
  console.error("usage: MCPMETER_KEY=<key> node refusals.mjs <url>");
  process.exit(2);
}

/** HTTP status and the proxy's code word of the last POST, to say what the SDK was given. */
let last = null;
async function recordingFetch(url, init = {}) {
  const response = await fetch(url, init);
  if ((init.method ?? "GET") === "POST") {
    last = { status: response.status, error: response.headers.get("x-mcpmeter-error") };
  }
  return response;
}

const client = new Client({ name: "mcpmeter-refusals", version: "1.0.0" }, { capabilities: {} });

async function refusal(request) {
  last = null;
  try {
    await client.request(request, CallToolResultSchema, { timeout: 15_000 });
    return { answered: true, ...last };
  } catch (error) {
    return { mcpError: error instanceof McpError, code: error?.code ?? null, name: error?.constructor?.name ?? null,
      message: String(error?.message ?? error), ...last };
  }
}

const line = { ok: false };
try {
  const transport = new StreamableHTTPClientTransport(new URL(target), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
    fetch: recordingFetch,
  });
  await client.connect(transport);
  line.refusals = {
    withoutName: await refusal({ method: "tools/call", params: { arguments: {} } }),
    unknownMethod: await refusal({ method: "mcpmeter/no-such-method", params: {} }),
  };
  const after = await client.callTool({ name: "get-sum", arguments: { a: 2, b: 3 } });
  line.after = (after.content ?? []).map((c) => c.text ?? "").join("");
  await transport.terminateSession().catch(() => {});
  line.ok = true;
} catch (error) {
  line.error = { name: error?.constructor?.name ?? null, message: String(error?.message ?? error), code: error?.code ?? null };
} finally {
  await client.close().catch(() => {});
}
console.log(JSON.stringify(line));
process.exit(line.ok ? 0 : 1);
