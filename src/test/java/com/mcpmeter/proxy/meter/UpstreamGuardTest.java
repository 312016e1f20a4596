package com.mcpmeter.proxy.meter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.mcpmeter.proxy.config.Cidr;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class UpstreamGuardTest {

    private static InetAddress ip(String literal) {
        return Cidr.literal(literal).orElseThrow(() -> new AssertionError("not a literal: " + literal));
    }

    /** A resolver over a fixed table, counting lookups. */
    private static final class Table implements UpstreamGuard.Resolver {
        final Map<String, List<String>> names;
        final AtomicInteger lookups = new AtomicInteger();

        Table(Map<String, List<String>> names) {
            this.names = names;
        }

        @Override
        public InetAddress[] resolve(String host) throws UnknownHostException {
            lookups.incrementAndGet();
            List<String> found = names.get(host);
            if (found == null) {
                throw new UnknownHostException(host);
            }
            return found.stream().map(UpstreamGuardTest::ip).toArray(InetAddress[]::new);
        }
    }

    private static UpstreamGuard guard(Table dns, String... allowed) {
        return new UpstreamGuard(List.of(allowed).stream().map(Cidr::parse).toList(), dns, Clock.systemUTC());
    }

    private static Rejection refusal(UpstreamGuard guard, String url) {
        var vetting = guard.vet(URI.create(url));
        return vetting instanceof UpstreamGuard.Vetting.Refused(Rejection r, String reason) ? r : null;
    }

    @Test
    void classifiesEveryInternalRange() {
        for (String internal : List.of(
                "127.0.0.1",
                "127.255.0.9",
                "10.0.0.1",
                "172.16.0.1",
                "172.31.255.255",
                "192.168.0.1",
                "100.64.0.1",
                "100.127.255.255",
                "169.254.169.254",
                "0.0.0.0",
                "224.0.0.1",
                "255.255.255.255",
                "::1",
                "::",
                "fe80::1",
                "fd00::1",
                "fd00:ec2::254",
                "fc00::1",
                "ff02::1",
                "::ffff:127.0.0.1",
                "::ffff:10.0.0.1",
                "::127.0.0.1",
                "64:ff9b::a9fe:a9fe",
                "2002:7f00:1::1")) {
            assertTrue(UpstreamGuard.isInternal(ip(internal)), internal);
        }
        for (String external : List.of(
                "1.1.1.1",
                "8.8.8.8",
                "172.32.0.1",
                "100.128.0.1",
                "169.253.0.1",
                "2606:4700::1111",
                "::ffff:8.8.8.8",
                "2002:0808:0808::1")) {
            assertFalse(UpstreamGuard.isInternal(ip(external)), external);
        }
    }

    @Test
    void readsOnlyCanonicalIpLiterals() {
        for (String odd : List.of(
                "127.1",
                "2130706433",
                "0x7f.1",
                "0177.0.0.1",
                "127.0.0.01",
                "1.2.3.256",
                "1.2.3",
                "[127.0.0.1]",
                "fe80::1%eth0",
                "::g")) {
            assertTrue(Cidr.literal(odd).isEmpty(), odd);
        }
        for (String host : List.of("2130706433", "0x7f.1", "127.1", "a.0x10", "bad_host", "-a.com", "")) {
            assertFalse(UpstreamGuard.isHostName(host), host);
        }
        for (String host : List.of("example.com", "mcp.example.com.", "a-b.c9", "localhost", "x1")) {
            assertTrue(UpstreamGuard.isHostName(host), host);
        }
    }

    @Test
    void refusesInternalAddressesHoweverSpelled() {
        Table dns = new Table(Map.of(
                "localhost",
                List.of("127.0.0.1"),
                "mixed.example",
                List.of("8.8.8.8", "10.0.0.1"),
                "public.example",
                List.of("8.8.8.8")));
        UpstreamGuard guard = guard(dns);
        for (String url : List.of(
                "http://127.0.0.1:3306/",
                "http://[::1]:6379/",
                "http://localhost/x",
                "http://[::ffff:127.0.0.1]/",
                "http://169.254.169.254/latest",
                "http://[fd00:ec2::254]/",
                "http://0.0.0.0/",
                "http://mixed.example/")) {
            assertEquals(Rejection.UPSTREAM_FORBIDDEN, refusal(guard, url), url);
        }
        for (String url : List.of("http://2130706433/", "http://0x7f.1/", "http://127.1:3012/x")) {
            assertEquals(Rejection.UPSTREAM_INVALID, refusal(guard, url), url);
        }
        assertEquals(Rejection.UPSTREAM_FAILED, refusal(guard, "http://nowhere.example/"));
        var allowed = guard.vet(URI.create("https://public.example/mcp"));
        assertEquals(
                List.of(ip("8.8.8.8")),
                assertInstanceOf(UpstreamGuard.Vetting.Allowed.class, allowed).addresses());
    }

    @Test
    void allowedNetworksLetInternalUpstreamsThroughButNeverTheProxyItself() {
        UpstreamGuard guard =
                guard(new Table(Map.of("localhost", List.of("127.0.0.1", "::1"))), "127.0.0.0/8", "::1/128");
        guard.listeningOn(ip("127.0.0.1"), 3010);
        guard.publicUrl(URI.create("https://proxy.example"));
        assertInstanceOf(UpstreamGuard.Vetting.Allowed.class, guard.vet(URI.create("http://127.0.0.1:3011/")));
        assertInstanceOf(UpstreamGuard.Vetting.Allowed.class, guard.vet(URI.create("http://localhost:3011/")));
        assertEquals(Rejection.UPSTREAM_FORBIDDEN, refusal(guard, "http://10.0.0.1/"), "only what is listed");
        assertEquals(Rejection.UPSTREAM_FORBIDDEN, refusal(guard, "http://127.0.0.1:3010/other"));
        assertEquals(Rejection.UPSTREAM_FORBIDDEN, refusal(guard, "http://localhost:3010/other"));
        assertEquals(Rejection.UPSTREAM_FORBIDDEN, refusal(guard, "https://PROXY.example/slug"));
    }

    @Test
    void aWildcardListenerIsEveryLocalAddress() {
        UpstreamGuard guard = guard(new Table(Map.of()), "0.0.0.0/0", "::/0");
        guard.listeningOn(ip("0.0.0.0"), 3010);
        assertEquals(Rejection.UPSTREAM_FORBIDDEN, refusal(guard, "http://127.0.0.1:3010/"));
        assertEquals(Rejection.UPSTREAM_FORBIDDEN, refusal(guard, "http://[::1]:3010/"));
        assertInstanceOf(UpstreamGuard.Vetting.Allowed.class, guard.vet(URI.create("http://127.0.0.1:3011/")));
    }

    @Test
    void resolvesOnceAndConnectsToWhatWasVetted() {
        Table dns = new Table(Map.of("public.example", List.of("8.8.8.8")));
        UpstreamGuard guard = guard(dns);
        var admitted = guard.vet(URI.create("http://public.example/"));
        var connecting = guard.vet("public.example", 80);
        assertEquals(admitted, connecting);
        assertEquals(1, dns.lookups.get(), "the connection reuses the vetted answer, no second lookup");
    }
}
