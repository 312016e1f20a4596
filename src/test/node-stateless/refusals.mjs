// Requests the proxy or the server refuses, sent by the official 2.x SDK client on the stateless
// 2026-07-28 revision, for StatelessMcpIT: how each refusal surfaced in the SDK.
//
//   MCPMETER_KEY=mcpm_test_... node refusals.mjs http://127.0.0.1:<port>/<slug>
//
// Prints ONE JSON line: {ok, refusals: {<name>: {protocolError, code, status, error}}, after}. A
// refusal is a protocol error when the SDK raised its ProtocolError for that request (the call
// failed, the connection did not); ok is false only when something else broke.
import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { z } from 'zod';

const url = process.argv[2];
const key = process.env.MCPMETER_KEY;
if (!url || !key) {
    process.stderr.write('usage: MCPMETER_KEY=<key> node refusals.mjs <url>\n');
    process.exit(2);
}

/** HTTP status and the proxy's code word of the last exchange, to say what the SDK was given. */
let last = null;
async function recordingFetch(input, init) {
    const response = await fetch(input, init);
    last = { status: response.status, error: response.headers.get('x-mcpmeter-error') };
    return response;
}

async function refusal(client, request, schema) {
    last = null;
    try {
        await client.request(request, schema, { timeout: 15000 });
        return { answered: true, ...last };
    } catch (error) {
        return { protocolError: error instanceof ProtocolError, code: error?.code ?? null, name: error?.name ?? null,
            message: String(error?.message ?? error), ...last };
    }
}

const line = { ok: false };
let client;
try {
    client = new Client(
        { name: 'mcpmeter-stateless-refusals', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: '2026-07-28' } } }
    );
    const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${key}` } },
        fetch: recordingFetch
    });
    await client.connect(transport, { timeout: 15000 });
    line.era = client.getProtocolEra();
    line.refusals = {
        withoutName: await refusal(client, { method: 'tools/call', params: { arguments: {} } }, z.any()),
        unknownMethod: await refusal(client, { method: 'mcpmeter/no-such-method', params: {} }, z.any())
    };
    const after = await client.callTool({ name: 'echo', arguments: { message: 'after' } }, { timeout: 15000 });
    line.after = (after.content ?? []).map((c) => c.text ?? '').join('');
    line.ok = true;
} catch (error) {
    line.error = { name: error?.name ?? null, message: String(error?.message ?? error), code: error?.code ?? null };
} finally {
    await client?.close().catch(() => {});
}
process.stdout.write(JSON.stringify(line) + '\n');
process.exit(line.ok ? 0 : 1);
