// An MCP session through mcp-remote (the stdio bridge desktop hosts use for remote servers), for
// McpRemoteIT. This script is the host: it starts mcp-remote as a child process and speaks stdio
// JSON-RPC to it through the official SDK's StdioClientTransport; mcp-remote speaks HTTP to the
// proxy, with the consumer's key from a header file (never on a command line).
//
//   MCPMETER_KEY=<bearer key> node remote-client.mjs http-only http://127.0.0.1:<port>/<slug>
//   MCPMETER_KEY=<bearer key> node remote-client.mjs sse-only  http://127.0.0.1:<port>/<slug>/sse
//
// Prints ONE JSON line on stdout describing what came back (exit 0), or the error (exit 1).
// mcp-remote's own log goes to stderr.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CallToolResultSchema, McpError } from "@modelcontextprotocol/sdk/types.js";

const [strategy, target] = process.argv.slice(2);
const key = process.env.MCPMETER_KEY;
const deadlineMs = Number(process.env.MCPMETER_CLIENT_DEADLINE_MS ?? 40_000);
if (!["http-only", "sse-only"].includes(strategy) || !target || !key) {
  console.error("usage: MCPMETER_KEY=<key> node remote-client.mjs http-only|sse-only <url>");
  process.exit(2);
}

const report = { ok: false, strategy, steps: [] };
const watchdog = setTimeout(() => {
  console.log(JSON.stringify({ ...report, ok: false, error: `deadline of ${deadlineMs} ms passed` }));
  process.exit(1);
}, deadlineMs);
watchdog.unref();

// mcp-remote keeps OAuth state under MCP_REMOTE_CONFIG_DIR (else ~/.mcp-auth): a directory of our
// own, removed at the end, so that no run sees another's and nothing is left in the home directory.
const scratch = mkdtempSync(join(tmpdir(), "mcpmeter-remote-"));
const headerFile = join(scratch, "headers.txt");
writeFileSync(headerFile, `Authorization: Bearer ${key}\n`, { mode: 0o600 });

const bridge = fileURLToPath(new URL("./node_modules/mcp-remote/dist/proxy.js", import.meta.url));
const transport = new StdioClientTransport({
  command: process.execPath,
  args: [bridge, target, "--transport", strategy, "--header-file", headerFile],
  env: { ...process.env, MCP_REMOTE_CONFIG_DIR: join(scratch, "auth") },
  stderr: "inherit",
});
const client = new Client({ name: "mcpmeter-remote-it", version: "1.0.0" }, { capabilities: {} });

async function step(name, action) {
  try {
    const value = await action();
    report.steps.push({ name, ok: true });
    return value;
  } catch (error) {
    report.steps.push({ name, ok: false, error: String(error?.stack ?? error) });
    throw error;
  }
}

/** What a refused request surfaced as: the class and code the host's SDK saw. */
async function refusal(name, request) {
  try {
    await client.request(request, CallToolResultSchema);
    report.steps.push({ name, ok: false, error: "answered with a result" });
    return { answered: true };
  } catch (error) {
    report.steps.push({ name, ok: true });
    return { mcpError: error instanceof McpError, code: error?.code ?? null, message: String(error?.message ?? error) };
  }
}

const textOf = (result) => (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");

let exitCode = 1;
try {
  await step("initialize", () => client.connect(transport));
  report.server = client.getServerVersion();

  const tools = await step("tools/list", () => client.listTools());
  report.tools = tools.tools.map((t) => t.name);
  report.echoes = [];
  for (const word of ["one", "two"]) {
    const result = await step(`tools/call echo ${word}`, () => client.callTool({ name: "echo", arguments: { message: word } }));
    report.echoes.push(textOf(result));
  }
  const sum = await step("tools/call get-sum", () => client.callTool({ name: "get-sum", arguments: { a: 19, b: 23 } }));
  report.sum = textOf(sum);

  const resources = await step("resources/list", () => client.listResources());
  const first = resources.resources[0];
  const text = await step("resources/read text", () => client.readResource({ uri: first.uri }));
  report.text = { uri: first.uri, length: text.contents.reduce((n, c) => n + (c.text?.length ?? 0), 0) };
  const templates = await step("resources/templates/list", () => client.listResourceTemplates());
  report.templates = templates.resourceTemplates.map((t) => t.uriTemplate);
  const templated = await step("resources/read templated", () =>
    client.readResource({ uri: "demo://resource/dynamic/text/7" }),
  );
  report.templatedText = templated.contents[0]?.text ?? null;
  const blob = await step("resources/read blob", () => client.readResource({ uri: "demo://resource/dynamic/blob/3" }));
  report.blob = blob.contents[0]?.blob === undefined ? null : Buffer.from(blob.contents[0].blob, "base64").toString("utf8");

  const prompts = await step("prompts/list", () => client.listPrompts());
  report.prompts = prompts.prompts.map((p) => p.name);
  const prompt = await step("prompts/get", () =>
    client.getPrompt({ name: "completable-prompt", arguments: { department: "Sales", name: "Eve" } }),
  );
  report.prompt = prompt.messages.map((m) => m.content?.text ?? "").join("\n");

  const departments = await step("completion/complete prompt", () =>
    client.complete({ ref: { type: "ref/prompt", name: "completable-prompt" }, argument: { name: "department", value: "S" } }),
  );
  report.promptCompletion = departments.completion.values;
  const ids = await step("completion/complete resource", () =>
    client.complete({
      ref: { type: "ref/resource", uri: "demo://resource/dynamic/text/{resourceId}" },
      argument: { name: "resourceId", value: "42" },
    }),
  );
  report.resourceCompletion = ids.completion.values;

  // Refused by the proxy for its params (no tool name), and unknown to the server: both must come
  // back to the host as protocol errors of that request, not as a broken connection.
  report.withoutName = await refusal("tools/call without params.name", { method: "tools/call", params: { arguments: {} } });
  report.unknownMethod = await refusal("unknown method", { method: "mcpmeter/no-such-method", params: {} });
  const after = await step("tools/call after the refusals", () => client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } }));
  report.afterRefusals = textOf(after);

  await step("close", () => client.close());
  report.ok = true;
  exitCode = 0;
} catch (error) {
  report.error = String(error?.stack ?? error);
  await client.close().catch(() => {});
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
process.exit(exitCode);
