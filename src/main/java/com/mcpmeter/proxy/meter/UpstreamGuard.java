package com.mcpmeter.proxy.meter;

import com.mcpmeter.proxy.config.Cidr;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.URI;
import java.net.UnknownHostException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The upstream address guard (SPEC §2a): a publisher's URL may name any host, so before anything
 * is charged or sent its host is resolved once and every address it resolves to is checked
 * against the internal networks (loopback, RFC 1918, CGNAT, link-local and cloud metadata, ULA,
 * multicast, unspecified, reserved, and IPv6 forms that embed such an IPv4 address) and against
 * the proxy's own listen addresses. Networks the operator lists in {@code UPSTREAM_ALLOWED_NETWORKS}
 * pass, except the proxy itself.
 *
 * <p>What was vetted is kept for {@link #CACHE_TTL}, and the HTTP client connects only to the
 * addresses {@link #vet} returns (it never resolves names itself), so a DNS answer that changes
 * between the check and the connection (rebinding) cannot reach an address that was not checked.
 *
 * <p>Thread-safe. Resolution blocks: call it on a virtual thread.
 */
public final class UpstreamGuard {
    static final Duration CACHE_TTL = Duration.ofSeconds(30);
    private static final int CACHE_LIMIT = 10_000;
    private static final Pattern HOST_LABEL = Pattern.compile("[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?");
    /** Last labels that make a host look numeric: {@code 127.1}, {@code 2130706433}, {@code 0x7f}. */
    private static final Pattern NUMERIC_LABEL = Pattern.compile("[0-9]+|0x[0-9a-f]*");

    private static final List<Cidr> INTERNAL = java.util.stream.Stream.of(
                    "0.0.0.0/8", // "this network", 0.0.0.0 included
                    "10.0.0.0/8",
                    "172.16.0.0/12",
                    "192.168.0.0/16", // RFC 1918
                    "100.64.0.0/10", // CGNAT
                    "127.0.0.0/8", // loopback
                    "169.254.0.0/16", // link-local, cloud metadata 169.254.169.254
                    "192.0.0.0/24",
                    "192.0.2.0/24",
                    "198.18.0.0/15",
                    "198.51.100.0/24",
                    "203.0.113.0/24", // special use
                    "224.0.0.0/4", // multicast
                    "240.0.0.0/4", // reserved, broadcast
                    "::/128",
                    "::1/128", // unspecified, loopback
                    "fe80::/10",
                    "fec0::/10", // link-local, old site-local
                    "fc00::/7", // ULA, fd00:ec2::254 (EC2 metadata) included
                    "ff00::/8", // multicast
                    "100::/64",
                    "2001:db8::/32") // discard, documentation
            .map(Cidr::parse)
            .toList();

    /** Resolves a host name to its addresses; the system resolver in production. */
    @FunctionalInterface
    public interface Resolver {
        InetAddress[] resolve(String host) throws UnknownHostException;
    }

    public static final Resolver SYSTEM_DNS = InetAddress::getAllByName;

    /** The guard's answer for one host and port. */
    public sealed interface Vetting {
        /** Connect only to these. */
        record Allowed(List<InetAddress> addresses) implements Vetting {
            public Allowed {
                addresses = List.copyOf(addresses);
            }
        }

        /** @param reason for the operator's log only: it names the host, so clients never see it */
        record Refused(Rejection rejection, String reason) implements Vetting {}
    }

    private record Resolved(List<InetAddress> addresses, Instant expires) {}

    private final List<Cidr> allowed;
    private final Resolver resolver;
    private final Clock clock;
    private final Map<String, Resolved> cache = new ConcurrentHashMap<>();
    private final Set<InetAddressAndPort> self = ConcurrentHashMap.newKeySet();
    private volatile Optional<String> publicAuthority = Optional.empty();

    private record InetAddressAndPort(InetAddress address, int port) {}

    public UpstreamGuard(List<Cidr> allowedNetworks, Resolver resolver, Clock clock) {
        this.allowed = List.copyOf(allowedNetworks);
        this.resolver = resolver;
        this.clock = clock;
    }

    /**
     * The proxy listens here: a connection to it would be a loop, whatever the allowed networks say.
     * A wildcard host stands for every address of this machine.
     */
    public void listeningOn(InetAddress host, int port) {
        if (!host.isAnyLocalAddress()) {
            self.add(new InetAddressAndPort(host, port));
            return;
        }
        for (InetAddress local : localAddresses()) {
            self.add(new InetAddressAndPort(local, port));
        }
    }

    /** The proxy's public URL: an upstream naming the same host and port is the proxy again. */
    public void publicUrl(URI url) {
        publicAuthority = Optional.of(authority(url.getHost(), port(url)));
    }

    /** Vets where a request would go. */
    public Vetting vet(URI target) {
        if (target.getHost() == null) {
            return new Vetting.Refused(Rejection.UPSTREAM_INVALID, "no usable host in " + target.getRawAuthority());
        }
        return vet(target.getHost(), port(target));
    }

    /** @param host a host name or an IP literal (IPv6 with or without brackets) */
    public Vetting vet(String host, int port) {
        String name = host.toLowerCase(Locale.ROOT);
        if (publicAuthority.filter(authority(name, port)::equals).isPresent()) {
            return new Vetting.Refused(
                    Rejection.UPSTREAM_FORBIDDEN, "upstream " + name + ":" + port + " is this proxy");
        }
        List<InetAddress> addresses;
        Optional<InetAddress> literal = Cidr.literal(name);
        if (literal.isPresent()) {
            addresses = List.of(literal.get());
        } else if (!isHostName(name)) {
            return new Vetting.Refused(Rejection.UPSTREAM_INVALID, "upstream host '" + name + "' is not a host name");
        } else {
            try {
                addresses = resolve(name);
            } catch (UnknownHostException e) {
                return new Vetting.Refused(Rejection.UPSTREAM_FAILED, "upstream host " + name + " does not resolve");
            }
        }
        for (InetAddress address : addresses) {
            if (self.contains(new InetAddressAndPort(address, port))) {
                return new Vetting.Refused(
                        Rejection.UPSTREAM_FORBIDDEN,
                        "upstream " + name + ":" + port + " is this proxy (" + address.getHostAddress() + ")");
            }
            if (isInternal(address) && allowed.stream().noneMatch(n -> n.contains(address))) {
                return new Vetting.Refused(
                        Rejection.UPSTREAM_FORBIDDEN,
                        "upstream " + name + " resolves to internal address " + address.getHostAddress());
            }
        }
        return new Vetting.Allowed(addresses);
    }

    /**
     * A name the resolver would read as an IP address in a non-canonical form ({@code 127.1},
     * {@code 2130706433}, {@code 0x7f.1}) is no host name: URL parsers and resolvers disagree on it.
     */
    static boolean isHostName(String host) {
        String name = host.endsWith(".") ? host.substring(0, host.length() - 1) : host;
        if (name.isEmpty() || name.length() > 253) {
            return false;
        }
        String[] labels = name.split("\\.", -1);
        if (NUMERIC_LABEL.matcher(labels[labels.length - 1]).matches()) {
            return false;
        }
        for (String label : labels) {
            if (!HOST_LABEL.matcher(label).matches()) {
                return false;
            }
        }
        return true;
    }

    /** Internal by its own bits, or by the IPv4 address an IPv6 form carries. */
    static boolean isInternal(InetAddress address) {
        if (INTERNAL.stream().anyMatch(n -> n.contains(address))) {
            return true;
        }
        return embeddedIpv4(address).map(UpstreamGuard::isInternal).orElse(false);
    }

    /** IPv4-compatible (::a.b.c.d), IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16). */
    private static Optional<InetAddress> embeddedIpv4(InetAddress address) {
        byte[] b = address.getAddress();
        if (b.length != 16) {
            return Optional.empty();
        }
        int offset = -1;
        if (zero(b, 0, 10) && (b[10] == 0 && b[11] == 0 || b[10] == (byte) 0xff && b[11] == (byte) 0xff)) {
            offset = 12;
        } else if (b[0] == 0 && b[1] == 0x64 && b[2] == (byte) 0xff && b[3] == (byte) 0x9b && zero(b, 4, 12)) {
            offset = 12;
        } else if (b[0] == 0x20 && b[1] == 0x02) {
            offset = 2;
        }
        if (offset < 0) {
            return Optional.empty();
        }
        try {
            return Optional.of(InetAddress.getByAddress(java.util.Arrays.copyOfRange(b, offset, offset + 4)));
        } catch (UnknownHostException e) {
            throw new IllegalStateException("four bytes are an IPv4 address", e);
        }
    }

    private static boolean zero(byte[] b, int from, int to) {
        for (int i = from; i < to; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return true;
    }

    private List<InetAddress> resolve(String name) throws UnknownHostException {
        Instant now = clock.instant();
        Resolved cached = cache.get(name);
        if (cached != null && now.isBefore(cached.expires())) {
            return cached.addresses();
        }
        List<InetAddress> addresses = List.of(resolver.resolve(name));
        if (addresses.isEmpty()) {
            throw new UnknownHostException(name);
        }
        if (cache.size() >= CACHE_LIMIT) {
            cache.clear(); // hosts are few (one per listing); this only bounds a pathological case
        }
        cache.put(name, new Resolved(addresses, now.plus(CACHE_TTL)));
        return addresses;
    }

    private static int port(URI url) {
        if (url.getPort() >= 0) {
            return url.getPort();
        }
        return "https".equalsIgnoreCase(url.getScheme()) ? 443 : 80;
    }

    private static String authority(String host, int port) {
        String h = host.toLowerCase(Locale.ROOT);
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        }
        return h + ":" + port;
    }

    private static List<InetAddress> localAddresses() {
        List<InetAddress> all = new ArrayList<>();
        try {
            for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                all.addAll(Collections.list(nic.getInetAddresses()));
            }
        } catch (SocketException e) {
            throw new IllegalStateException("cannot list this machine's addresses", e);
        }
        try {
            all.add(InetAddress.getByName("0.0.0.0"));
            all.add(InetAddress.getByName("::"));
            all.add(InetAddress.getByName("127.0.0.1"));
            all.add(InetAddress.getByName("::1"));
        } catch (UnknownHostException e) {
            throw new IllegalStateException("literals always parse", e);
        }
        return all;
    }
}
