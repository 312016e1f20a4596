package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** SPEC §2 "MCP request headers (SEP-2243)", checked through {@link InspectBody} as the proxy runs it. */
class McpHeadersTest {
    private static final String READ = """
            {"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///notes/a.txt"}}""";
    private static final String PROMPT = """
            {"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"summarise","arguments":{}}}""";
    private static final String CALL_ADD = """
            {"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add","arguments":{}}}""";
    private static final String CALL_WEATHER = """
            {"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"météo-東京","arguments":{}}}""";
    private static final String LIST = """
            {"jsonrpc":"2.0","id":5,"method":"tools/list"}""";

    private static String sentinel(String value) {
        return "=?base64?" + Base64.getEncoder().encodeToString(value.getBytes(StandardCharsets.UTF_8)) + "?=";
    }

    private static Verdict<InspectBody.Inspected> inspect(String body, String mcpMethod, String mcpName)
            throws Exception {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        var request = new CallRequest(
                "r",
                "POST",
                "/s",
                Optional.empty(),
                Optional.of("Bearer x"),
                Optional.empty(),
                Optional.of("application/json"),
                Optional.ofNullable(mcpMethod),
                Optional.ofNullable(mcpName),
                Optional.empty(),
                "test",
                limit -> Optional.of(bytes),
                "127.0.0.1");
        return new InspectBody(1 << 20, 50).apply(request);
    }

    private static void assertAgree(String body, String mcpMethod, String mcpName) throws Exception {
        var verdict = inspect(body, mcpMethod, mcpName);
        assertInstanceOf(Verdict.Pass.class, verdict, () -> mcpMethod + " / " + mcpName + " → " + verdict);
    }

    private static void assertMismatch(String body, String mcpMethod, String mcpName) throws Exception {
        var verdict = inspect(body, mcpMethod, mcpName);
        var fail = assertInstanceOf(Verdict.Fail.class, verdict, () -> mcpMethod + " / " + mcpName + " → " + verdict);
        assertEquals(Rejection.HEADER_MISMATCH, fail.rejection());
    }

    @Test
    void resourcesReadIsNamedByItsUri() throws Exception {
        assertAgree(READ, "resources/read", "file:///notes/a.txt");
        assertAgree(READ, null, "file:///notes/a.txt");
        assertMismatch(READ, "resources/read", "file:///notes/b.txt");
        assertMismatch(READ, "resources/read", "a.txt");
    }

    @Test
    void promptsGetIsNamedByItsName() throws Exception {
        assertAgree(PROMPT, "prompts/get", "summarise");
        assertMismatch(PROMPT, "prompts/get", "translate");
        assertMismatch(PROMPT, "tools/call", "summarise");
    }

    @Test
    void aBase64SentinelIsDecodedAsUtf8First() throws Exception {
        assertAgree(CALL_WEATHER, "tools/call", sentinel("météo-東京"));
        assertAgree(READ, "resources/read", sentinel("file:///notes/a.txt"));
        assertAgree(PROMPT, "prompts/get", sentinel("summarise"));
    }

    @Test
    void aSentinelNamingAnotherToolIsAMismatch() throws Exception {
        assertMismatch(CALL_ADD, "tools/call", sentinel("echo"));
        assertMismatch(CALL_WEATHER, "tools/call", sentinel("météo-Paris"));
        // the sentinel itself, undecoded, is not the name either
        assertMismatch(CALL_ADD, "tools/call", sentinel("add").replace("=?base64?", "=?b64?"));
    }

    @Test
    void aMalformedSentinelIsAMismatch() throws Exception {
        assertMismatch(CALL_ADD, "tools/call", "=?base64?***?=");
        assertMismatch(CALL_ADD, "tools/call", "=?base64?YWRk"); // unterminated
        assertMismatch(CALL_ADD, "tools/call", "=?base64?YW?="); // truncated base64
        assertMismatch(CALL_ADD, "tools/call", "=?base64?/w==?="); // 0xFF: not UTF-8
    }

    @Test
    void aToolCallNamedByAUriOrAPromptNameIsAMismatch() throws Exception {
        assertAgree(CALL_ADD, "tools/call", "add");
        assertMismatch(CALL_ADD, "tools/call", "file:///notes/a.txt");
        assertMismatch(CALL_ADD, "tools/call", "summarise");
        assertMismatch(CALL_ADD, "tools/call", sentinel("summarise"));
        assertMismatch(CALL_ADD, "tools/call", "");
    }

    @Test
    void theMethodHeaderMustEqualTheBodysMethod() throws Exception {
        assertAgree(LIST, "tools/list", null);
        assertMismatch(LIST, "tools/call", null);
        assertMismatch(READ, "prompts/get", "file:///notes/a.txt");
    }

    @Test
    void anMcpNameOnAMethodWithoutANameIsIgnored() throws Exception {
        // Nothing is priced or checked by it: the body is what is priced and forwarded.
        assertAgree(LIST, "tools/list", "add");
    }

    @Test
    void aBatchKeepsTodaysRule() throws Exception {
        String batch = "[" + CALL_ADD + "," + LIST + "]";
        assertMismatch(batch, "tools/call", null);
        assertAgree(batch, null, "add");
        assertMismatch(batch, null, "echo");
        assertMismatch("[" + CALL_ADD + "," + CALL_WEATHER + "]", null, "add");
    }
}
