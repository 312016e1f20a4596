package com.mcpmeter.proxy.meter;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Optional;

/**
 * The MCP request headers of SEP-2243 (SPEC §2): {@code Mcp-Method} repeats the body's method and
 * {@code Mcp-Name} repeats {@code params.name} of a {@code tools/call} or {@code prompts/get}, or
 * {@code params.uri} of a {@code resources/read}, so that gateways can route without reading the
 * body. The body is what is priced and forwarded, so a header that disagrees with it is refused
 * rather than allowed to mislead anything that routes, logs or bills by the header.
 */
final class McpHeaders {
    /** SEP-2243's marker for a value that is not plain ASCII: {@code =?base64?<base64 of UTF-8>?=}. */
    private static final String SENTINEL_START = "=?base64?";

    private static final String SENTINEL_END = "?=";

    private McpHeaders() {}

    /** The member of {@code params} that {@code Mcp-Name} repeats for {@code method}, if it names one. */
    static Optional<String> nameMember(String method) {
        return switch (method) {
            case JsonRpcMessage.TOOLS_CALL, "prompts/get" -> Optional.of("name");
            case "resources/read" -> Optional.of("uri");
            default -> Optional.empty();
        };
    }

    static boolean agree(Optional<String> mcpMethod, Optional<String> mcpName, JsonRpcMessage message) {
        // A batch has no single method, so an Mcp-Method on one always disagrees.
        if (mcpMethod.isPresent() && !mcpMethod.equals(message.singleMethod())) {
            return false;
        }
        if (mcpName.isEmpty()) {
            return true;
        }
        Optional<String> name = decode(mcpName.get());
        if (name.isEmpty()) {
            return false; // a sentinel that does not decode names nothing the body could agree with
        }
        if (message.batch()) {
            // Headers describe one request; a batch may carry Mcp-Name only for its one tools/call.
            var tools = message.toolCalls();
            return tools.size() == 1 && name.equals(tools.getFirst().toolName());
        }
        boolean named = message.singleMethod().flatMap(McpHeaders::nameMember).isPresent();
        // A method that names nothing (tools/list, ping, …) is not priced or checked by a name, so an
        // Mcp-Name on it can mislead nothing here and is ignored; a named method must match exactly.
        return !named || name.equals(message.singleMcpName());
    }

    /** The header's value, decoded when it is a base64 sentinel; empty when the sentinel is malformed. */
    static Optional<String> decode(String value) {
        if (!value.startsWith(SENTINEL_START)) {
            return Optional.of(value);
        }
        if (!value.endsWith(SENTINEL_END) || value.length() < SENTINEL_START.length() + SENTINEL_END.length()) {
            return Optional.empty();
        }
        String encoded = value.substring(SENTINEL_START.length(), value.length() - SENTINEL_END.length());
        try {
            byte[] bytes = Base64.getDecoder().decode(encoded);
            // Strict UTF-8: a replacement character could make two different byte strings look alike.
            return Optional.of(StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString());
        } catch (IllegalArgumentException | CharacterCodingException e) {
            return Optional.empty();
        }
    }
}
