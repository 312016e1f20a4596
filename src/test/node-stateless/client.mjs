// An MCP client from the official 2.x SDK, pinned to the stateless 2026-07-28 revision, talking to
// a URL (the proxy) with the consumer's key in an extra Authorization header.
//
//   MCPMETER_KEY=mcpm_test_... node client.mjs http://127.0.0.1:<port>/<slug>
//
// Connects (which sends server/discover: there is no initialize and no session), lists the tools,
// makes a few tools/call requests, and prints ONE JSON line with what happened. Every HTTP
// exchange is also recorded (method, status, the Mcp-* and X-Mcpmeter-* headers, and the
// JSON-RPC method) so that a failure can be explained from the output alone. Exit code 0 when every
// step succeeded, 1 otherwise (the line then carries `error`).
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const url = process.argv[2];
const key = process.env.MCPMETER_KEY;
if (!url || !key) {
    process.stderr.write('usage: MCPMETER_KEY=<key> node client.mjs <url>\n');
    process.exit(2);
}

const exchanges = [];

/** fetch, recording each exchange; bodies of refusals are kept so failures explain themselves. */
async function recordingFetch(input, init) {
    const request = new Request(input, init);
    const requestBody = init?.body !== undefined && typeof init.body === 'string' ? init.body : null;
    let rpc = null;
    try {
        rpc = requestBody ? JSON.parse(requestBody) : null;
    } catch {
        rpc = null;
    }
    const response = await fetch(input, init);
    const entry = {
        method: request.method,
        rpcMethod: rpc?.method ?? null,
        tool: rpc?.params?.name ?? null,
        sent: {
            mcpMethod: request.headers.get('mcp-method'),
            mcpName: request.headers.get('mcp-name'),
            protocolVersion: request.headers.get('mcp-protocol-version'),
            sessionId: request.headers.get('mcp-session-id'),
            authorization: request.headers.has('authorization'),
            contentType: request.headers.get('content-type'),
            accept: request.headers.get('accept')
        },
        status: response.status,
        contentType: response.headers.get('content-type'),
        billed: response.headers.get('x-mcpmeter-billed'),
        balance: response.headers.get('x-mcpmeter-balance'),
        requestId: response.headers.get('x-mcpmeter-request-id')
    };
    if (!response.ok) {
        entry.body = await response.clone().text();
    }
    exchanges.push(entry);
    return response;
}

const steps = [];
let client;
let failure = null;

async function step(name, run) {
    const result = await run();
    steps.push({ step: name, ok: true, result });
    return result;
}

function text(result) {
    return (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('');
}

try {
    client = new Client(
        { name: 'mcpmeter-stateless-client', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: '2026-07-28' } } }
    );
    const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${key}` } },
        fetch: recordingFetch
    });
    await step('connect', async () => {
        await client.connect(transport, { timeout: 15000 });
        return {
            era: client.getProtocolEra(),
            protocolVersion: client.getNegotiatedProtocolVersion(),
            server: client.getServerVersion() ?? null,
            supportedVersions: client.getDiscoverResult()?.supportedVersions ?? null
        };
    });
    await step('tools/list', async () => {
        const { tools } = await client.listTools(undefined, { timeout: 15000 });
        return tools.map((t) => t.name).sort();
    });
    await step('tools/call echo', async () => text(await client.callTool({ name: 'echo', arguments: { message: 'hello' } }, { timeout: 15000 })));
    await step('tools/call add', async () => {
        const result = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } }, { timeout: 15000 });
        return { text: text(result), structured: result.structuredContent ?? null };
    });
    await step('tools/call echo again', async () => text(await client.callTool({ name: 'echo', arguments: { message: 'again' } }, { timeout: 15000 })));
    await step('tools/call count', async () => {
        const progress = [];
        const result = await client.callTool(
            { name: 'count', arguments: { n: 3 } },
            { timeout: 15000, onprogress: (p) => progress.push(p.progress) }
        );
        return { text: text(result), progress };
    });
    await step('tools/call fail', async () => {
        const result = await client.callTool({ name: 'fail', arguments: {} }, { timeout: 15000 });
        return { isError: result.isError === true, text: text(result) };
    });
    // An unknown tool is a JSON-RPC error from the server; the step succeeds when it is refused so.
    await step('tools/call nope', async () => {
        try {
            const result = await client.callTool({ name: 'nope', arguments: {} }, { timeout: 15000 });
            throw new Error(`calling an unknown tool answered a result: ${JSON.stringify(result)}`);
        } catch (error) {
            if (error?.code !== -32602) {
                throw error;
            }
            return { rejected: true, code: error.code, message: String(error.message) };
        }
    });
} catch (error) {
    failure = {
        name: error?.name ?? null,
        message: String(error?.message ?? error),
        code: error?.code ?? null,
        data: error?.data ?? null
    };
} finally {
    try {
        await client?.close();
    } catch {
        // closing a stateless connection sends nothing that matters here
    }
}

const line = { ok: failure === null, steps, exchanges };
if (failure !== null) {
    line.error = failure;
}
process.stdout.write(JSON.stringify(line) + '\n');
process.exit(failure === null ? 0 : 1);
