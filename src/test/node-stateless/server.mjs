// A publisher's MCP server speaking the stateless 2026-07-28 revision (no initialize, no session)
// through the official 2.x SDK's per-request handler, on loopback only.
//
//   node server.mjs <port>        (or PORT=<port>; 0 picks a free port)
//
// Prints one line `{"listening":<port>}` on stdout once it accepts connections, then one JSON line
// per HTTP request it receives, {"seen":{...}} (HTTP method, JSON-RPC id and method, tool name, the
// Mcp-* and Authorization headers), so a test can check what reached the publisher. Tools: `echo`,
// `add`, `count` (sends progress notifications first, so the SDK answers over SSE) and `fail`
// (always throws, which the SDK answers as a result with isError: true).
import { createServer } from 'node:http';
import { createMcpHandler, fromJsonSchema, McpServer } from '@modelcontextprotocol/server';
import { localhostHostValidation, toNodeHandler } from '@modelcontextprotocol/node';

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);

function newServer() {
    const server = new McpServer({ name: 'mcpmeter-stateless-test', version: '1.0.0' });
    server.registerTool(
        'echo',
        {
            description: 'Echoes the message back',
            inputSchema: fromJsonSchema({
                type: 'object',
                properties: { message: { type: 'string' } },
                required: ['message']
            })
        },
        async ({ message }) => ({ content: [{ type: 'text', text: `echo: ${message}` }] })
    );
    server.registerTool(
        'add',
        {
            description: 'Adds two numbers',
            inputSchema: fromJsonSchema({
                type: 'object',
                properties: { a: { type: 'number' }, b: { type: 'number' } },
                required: ['a', 'b']
            })
        },
        async ({ a, b }) => ({
            content: [{ type: 'text', text: String(a + b) }],
            structuredContent: { sum: a + b }
        })
    );
    server.registerTool(
        'count',
        {
            description: 'Reports progress up to n, then answers; the answer becomes an SSE stream',
            inputSchema: fromJsonSchema({
                type: 'object',
                properties: { n: { type: 'integer', minimum: 1, maximum: 10 } },
                required: ['n']
            })
        },
        async ({ n }, ctx) => {
            const progressToken = ctx.mcpReq._meta?.progressToken;
            for (let i = 1; i <= n && progressToken !== undefined; i++) {
                await ctx.mcpReq.notify({
                    method: 'notifications/progress',
                    params: { progressToken, progress: i, total: n }
                });
            }
            return { content: [{ type: 'text', text: `counted to ${n}` }] };
        }
    );
    server.registerTool(
        'fail',
        { description: 'Always fails' },
        async () => {
            throw new Error('fail always fails');
        }
    );
    return server;
}

const handler = createMcpHandler(() => newServer(), {
    onerror: (error) => process.stderr.write(`mcp handler error: ${error?.stack ?? error}\n`)
});
const serve = toNodeHandler(handler, {
    onerror: (error) => process.stderr.write(`node adapter error: ${error?.stack ?? error}\n`)
});
const validateHost = localhostHostValidation();

function header(req, name) {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(', ') : (value ?? null);
}

const http = createServer(async (req, res) => {
    // Read the body here for the log line.
    const chunks = [];
    for await (const chunk of req) {
        chunks.push(chunk);
    }
    const raw = Buffer.concat(chunks);
    const text = raw.toString('utf8');
    let parsed;
    try {
        parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
        parsed = undefined;
    }
    process.stdout.write(
        JSON.stringify({
            seen: {
                method: req.method,
                id: parsed?.id ?? null,
                host: header(req, 'host'),
                mcpMethod: header(req, 'mcp-method'),
                mcpName: header(req, 'mcp-name'),
                protocolVersion: header(req, 'mcp-protocol-version'),
                sessionId: header(req, 'mcp-session-id'),
                authorization: header(req, 'authorization'),
                bodyMethod: parsed?.method ?? null,
                bodyTool: parsed?.params?.name ?? null,
                metaProtocolVersion: parsed?.params?._meta?.['io.modelcontextprotocol/protocolVersion'] ?? null
            }
        }) + '\n'
    );
    if (!validateHost(req, res)) {
        return;
    }
    // The SDK reads the body itself from this replay of the bytes already read above.
    const replay = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        async *[Symbol.asyncIterator]() {
            if (raw.length > 0) {
                yield raw;
            }
        }
    };
    try {
        await serve(replay, res);
    } catch (error) {
        process.stderr.write(`request failed: ${error?.stack ?? error}\n`);
        if (!res.headersSent) {
            res.writeHead(500, { 'content-type': 'text/plain' });
        }
        res.end();
    }
});

http.listen(port, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ listening: http.address().port }) + '\n');
});

function stop() {
    http.close();
    handler.close().finally(() => process.exit(0));
    http.closeAllConnections?.();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
