package com.mcpmeter.proxy.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;

class CidrTest {
    @Test
    void aBlockContainsExactlyItsAddresses() {
        Cidr block = Cidr.parse("10.1.2.3/8");
        assertEquals("10.0.0.0/8", block.toString());
        assertTrue(block.contains(InetAddress.ofLiteral("10.255.0.1")));
        assertFalse(block.contains(InetAddress.ofLiteral("11.0.0.1")));
        assertFalse(block.contains(InetAddress.ofLiteral("2001:db8::a01:203")), "no IPv6 address in an IPv4 block");
    }

    @Test
    void aBareAddressIsABlockOfOne() {
        Cidr one = Cidr.parse("::1");
        assertEquals(128, one.prefixLength());
        assertTrue(one.contains(InetAddress.ofLiteral("0:0:0:0:0:0:0:1")));
        assertFalse(one.contains(InetAddress.ofLiteral("::2")));
    }

    @Test
    void namesAndBadPrefixesAreRefusedWithoutALookup() {
        assertThrows(IllegalArgumentException.class, () -> Cidr.parse("localhost"));
        assertThrows(IllegalArgumentException.class, () -> Cidr.parse("10.0.0.0/33"));
        assertThrows(IllegalArgumentException.class, () -> Cidr.parse("10.0.0.0/x"));
    }
}
