package com.mcpmeter.proxy.http;

import com.mcpmeter.proxy.config.Cidr;
import jakarta.servlet.http.HttpServletRequest;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.util.Enumeration;
import java.util.List;
import java.util.Optional;

/**
 * Who sent a request, for per-address throttling: the socket's peer, unless that peer is one of
 * TRUSTED_PROXIES; then the nearest {@code X-Forwarded-For} entry that is not itself a trusted
 * proxy (entries further left were written by whoever the client is, and prove nothing). An IPv6
 * client is named by its /64, since one subscriber usually holds a whole /64.
 */
final class ClientAddress {
    private static final String FORWARDED_FOR = "X-Forwarded-For";

    private ClientAddress() {}

    static String of(HttpServletRequest request, List<Cidr> trustedProxies) {
        Enumeration<String> headers = request.getHeaders(FORWARDED_FOR);
        return of(
                request.getRemoteAddr(),
                headers == null ? List.of() : java.util.Collections.list(headers),
                trustedProxies);
    }

    /**
     * The same rule for a request seen outside the servlet (the access log's).
     *
     * @param forwardedFor every X-Forwarded-For header of the request, in order
     */
    static String of(String peerAddress, List<String> forwardedFor, List<Cidr> trustedProxies) {
        Optional<InetAddress> peer = literal(peerAddress);
        if (peer.isEmpty()) {
            return peerAddress;
        }
        InetAddress client = peer.get();
        if (trusted(client, trustedProxies)) {
            client = forwardedFor(forwardedFor, trustedProxies).orElse(client);
        }
        return name(client);
    }

    /** The rightmost X-Forwarded-For address that is not a trusted proxy (all headers, in order). */
    private static Optional<InetAddress> forwardedFor(List<String> headers, List<Cidr> trustedProxies) {
        List<String> hops = new java.util.ArrayList<>();
        for (String header : headers) {
            for (String hop : header.split(",")) {
                hops.add(hop.strip());
            }
        }
        for (int i = hops.size() - 1; i >= 0; i--) {
            Optional<InetAddress> hop = literal(hops.get(i));
            if (hop.isEmpty()) {
                return Optional.empty(); // garbage where an address should be: trust nothing further left
            }
            if (!trusted(hop.get(), trustedProxies)) {
                return hop;
            }
        }
        return Optional.empty();
    }

    private static boolean trusted(InetAddress address, List<Cidr> trustedProxies) {
        for (Cidr block : trustedProxies) {
            if (block.contains(address)) {
                return true;
            }
        }
        return false;
    }

    private static String name(InetAddress address) {
        if (address instanceof Inet6Address) {
            byte[] bytes = address.getAddress();
            java.util.Arrays.fill(bytes, 8, 16, (byte) 0);
            try {
                return InetAddress.getByAddress(bytes).getHostAddress() + "/64";
            } catch (java.net.UnknownHostException e) {
                throw new IllegalStateException("16 bytes are an IPv6 address", e);
            }
        }
        return address.getHostAddress();
    }

    /** Address literals only (brackets allowed around IPv6): nothing is ever looked up by name. */
    private static Optional<InetAddress> literal(String text) {
        if (text == null || text.isEmpty()) {
            return Optional.empty();
        }
        String bare = text.startsWith("[") && text.endsWith("]") ? text.substring(1, text.length() - 1) : text;
        try {
            return Optional.of(InetAddress.ofLiteral(bare));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
