package com.mcpmeter.proxy.config;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;

/**
 * An IPv4 or IPv6 network, {@code address/prefix}. Immutable. Also the one strict reader of IP
 * literals in the proxy: {@link #literal} accepts only the canonical forms, so that {@code 127.1},
 * {@code 2130706433}, {@code 0x7f.1} or {@code 0177.0.0.1} never mean one thing to a check and
 * another to the resolver that connects.
 */
public final class Cidr {
    private static final java.util.regex.Pattern IPV6_TEXT = java.util.regex.Pattern.compile("[0-9a-f:.]{2,45}");
    private static final java.util.regex.Pattern OCTET = java.util.regex.Pattern.compile("0|[1-9][0-9]{0,2}");
    private static final java.util.regex.Pattern PREFIX = java.util.regex.Pattern.compile("[0-9]{1,3}");
    private final byte[] network;
    private final int prefix;

    private Cidr(byte[] network, int prefix) {
        this.network = network;
        this.prefix = prefix;
    }

    /**
     * @param text {@code 10.0.0.0/8}, {@code ::1/128}; a bare address is a network of one
     * @throws IllegalArgumentException saying what is wrong
     */
    public static Cidr parse(String text) {
        int slash = text.indexOf('/');
        String address = slash < 0 ? text : text.substring(0, slash);
        InetAddress parsed = literal(address)
                .orElseThrow(() -> new IllegalArgumentException("not an IP address: '" + address + "'"));
        byte[] bytes = parsed.getAddress();
        int bits = bytes.length * 8;
        int prefix = bits;
        if (slash >= 0) {
            String length = text.substring(slash + 1);
            if (!PREFIX.matcher(length).matches() || Integer.parseInt(length) > bits) {
                throw new IllegalArgumentException("prefix length must be 0-" + bits + ", got '" + length + "'");
            }
            prefix = Integer.parseInt(length);
        }
        return new Cidr(mask(bytes, prefix), prefix);
    }

    public int prefixLength() {
        return prefix;
    }

    /** Whether {@code address} lies in this network (IPv4 and IPv6 networks never contain each other). */
    public boolean contains(InetAddress address) {
        byte[] bytes = address.getAddress();
        return bytes.length == network.length && Arrays.equals(mask(bytes, prefix), network);
    }

    private static byte[] mask(byte[] bytes, int prefix) {
        byte[] masked = bytes.clone();
        for (int i = 0; i < masked.length; i++) {
            int keep = Math.max(0, Math.min(8, prefix - i * 8));
            masked[i] &= (byte) (0xff << (8 - keep));
        }
        return masked;
    }

    /**
     * An IP literal in canonical form, or empty: IPv4 as four decimal numbers 0-255 without leading
     * zeros; IPv6 as RFC 4291 text (with or without brackets, no zone). Never a DNS lookup.
     */
    public static Optional<InetAddress> literal(String text) {
        String s = text.startsWith("[") && text.endsWith("]") ? text.substring(1, text.length() - 1) : text;
        try {
            if (s.indexOf(':') >= 0) {
                if (!IPV6_TEXT.matcher(s.toLowerCase(Locale.ROOT)).matches()) {
                    return Optional.empty();
                }
                return Optional.of(InetAddress.getByName(s)); // a literal with ':' is parsed, not looked up
            }
            if (text.startsWith("[")) {
                return Optional.empty();
            }
            String[] parts = s.split("\\.", -1);
            if (parts.length != 4) {
                return Optional.empty();
            }
            byte[] bytes = new byte[4];
            for (int i = 0; i < 4; i++) {
                if (!OCTET.matcher(parts[i]).matches() || Integer.parseInt(parts[i]) > 255) {
                    return Optional.empty();
                }
                bytes[i] = (byte) Integer.parseInt(parts[i]);
            }
            return Optional.of(InetAddress.getByAddress(bytes));
        } catch (UnknownHostException e) {
            return Optional.empty();
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Cidr c && c.prefix == prefix && Arrays.equals(c.network, network);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(network) + prefix;
    }

    /** The network in canonical form ({@code 10.1.2.3/8} reads back as {@code 10.0.0.0/8}). */
    @Override
    public String toString() {
        try {
            return InetAddress.getByAddress(network).getHostAddress() + "/" + prefix;
        } catch (UnknownHostException e) {
            throw new IllegalStateException("4 or 16 bytes are an address", e);
        }
    }
}
