package com.mcpmeter.proxy.config;

import java.net.InetAddress;
import java.util.Arrays;

/**
 * An address block written as {@code 10.0.0.0/8}, {@code ::1/128} or a bare address (a block of
 * one). Literals only: parsing never looks a name up.
 */
public record Cidr(byte[] network, int prefixLength) {

    public Cidr {
        network = network.clone();
    }

    @Override
    public byte[] network() {
        return network.clone();
    }

    /** @throws IllegalArgumentException when {@code text} is not an address literal with an optional valid prefix */
    public static Cidr parse(String text) {
        String trimmed = text.strip();
        int slash = trimmed.indexOf('/');
        String address = slash < 0 ? trimmed : trimmed.substring(0, slash);
        byte[] bytes = InetAddress.ofLiteral(address).getAddress();
        int bits = bytes.length * 8;
        int prefix = bits;
        if (slash >= 0) {
            try {
                prefix = Integer.parseInt(trimmed.substring(slash + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("not a prefix length: " + trimmed);
            }
            if (prefix < 0 || prefix > bits) {
                throw new IllegalArgumentException("prefix length out of range: " + trimmed);
            }
        }
        return new Cidr(masked(bytes, prefix), prefix);
    }

    public boolean contains(InetAddress address) {
        byte[] bytes = address.getAddress();
        return bytes.length == network.length && Arrays.equals(masked(bytes, prefixLength), network);
    }

    private static byte[] masked(byte[] bytes, int prefix) {
        byte[] out = bytes.clone();
        for (int i = 0; i < out.length; i++) {
            int keep = Math.clamp(prefix - i * 8L, 0, 8);
            out[i] &= (byte) (0xff << (8 - keep));
        }
        return out;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Cidr c && c.prefixLength == prefixLength && Arrays.equals(c.network, network);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(network) + prefixLength;
    }

    @Override
    public String toString() {
        try {
            return InetAddress.getByAddress(network).getHostAddress() + "/" + prefixLength;
        } catch (java.net.UnknownHostException e) {
            throw new IllegalStateException(e);
        }
    }
}
