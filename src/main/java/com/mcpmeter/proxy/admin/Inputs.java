package com.mcpmeter.proxy.admin;

import com.mcpmeter.proxy.meter.Money;
import java.math.BigDecimal;
import java.net.URI;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The operator's typed values, checked before anything reaches the store. Every method throws
 * {@link IllegalArgumentException} with a message that names the value and says what is expected;
 * the command turns it into a usage error (exit 2).
 */
final class Inputs {
    /** A listing slug as the proxy routes it (SPEC §2 step 2). */
    private static final Pattern SLUG = Pattern.compile("[a-z0-9][a-z0-9-]{0,63}");

    private static final Pattern EMAIL = Pattern.compile("[^\\s@]+@[^\\s@]+");
    /** An HTTP field name (RFC 9110 token). */
    private static final Pattern HEADER_NAME = Pattern.compile("[!#$%&'*+.^_`|~0-9A-Za-z-]+");

    private static final Pattern INTEGER = Pattern.compile("-?[0-9]{1,19}");
    /** Dollars with at most six decimals: exactly a whole number of µ¢. */
    private static final Pattern DOLLARS = Pattern.compile("(-?)\\$([0-9]{1,13})(?:\\.([0-9]{1,6}))?");

    private static final long MICRO_CENTS_PER_DOLLAR = 100 * Money.MICRO_CENTS_PER_CENT;
    private static final int MAX_TEXT = 255;

    private Inputs() {}

    static String slug(String text) {
        if (!SLUG.matcher(text).matches()) {
            throw new IllegalArgumentException("listing slug '" + text + "' must be 1-64 of a-z, 0-9 and '-', starting"
                    + " with a letter or digit");
        }
        return text;
    }

    static String email(String text) {
        if (text.length() > MAX_TEXT || !EMAIL.matcher(text).matches()) {
            throw new IllegalArgumentException("'" + text + "' is not an e-mail address");
        }
        return text.toLowerCase(Locale.ROOT);
    }

    /** Free text stored in a 255-character column: no control characters. */
    static String text(String what, String text) {
        if (text.isBlank() || text.length() > MAX_TEXT || text.chars().anyMatch(Character::isISOControl)) {
            throw new IllegalArgumentException(
                    what + " must be 1-" + MAX_TEXT + " characters without control" + " characters");
        }
        return text;
    }

    /**
     * An amount of money: whole µ¢ ({@code 2500}) or dollars with up to six decimals ({@code $0.0025}
     * is 2,500 µ¢; 1 USD = 1,000,000 µ¢). Negative only where {@code signed}.
     */
    static long amount(String text, boolean signed) {
        String t = text.strip().replace("_", "").replace(",", "");
        long value;
        var dollars = DOLLARS.matcher(t);
        try {
            if (INTEGER.matcher(t).matches()) {
                value = Long.parseLong(t);
            } else if (dollars.matches()) {
                BigDecimal amount =
                        new BigDecimal(dollars.group(2) + "." + (dollars.group(3) == null ? "0" : dollars.group(3)));
                value = amount.multiply(BigDecimal.valueOf(MICRO_CENTS_PER_DOLLAR))
                        .longValueExact();
                value = dollars.group(1).isEmpty() ? value : -value;
            } else {
                throw new IllegalArgumentException(
                        "amount '" + text + "' must be whole µ¢ (2500) or dollars ($0.0025)");
            }
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("amount '" + text + "' is out of range");
        }
        if (value < 0 && !signed) {
            throw new IllegalArgumentException("amount '" + text + "' must not be negative");
        }
        return value;
    }

    /** A price a listing may charge: 0 (free) up to {@link Money#MAX_PRICE_MICRO_CENTS}. */
    static long price(String text) {
        long price = amount(text, false);
        if (!Money.validPrice(price)) {
            throw new IllegalArgumentException(
                    "price '" + text + "' must be at most " + Money.MAX_PRICE_MICRO_CENTS + " µ¢ ($1,000,000)");
        }
        return price;
    }

    /** {@code tool=price} pairs; a tool named twice is a mistake, not an override. */
    static Map<String, Long> toolPrices(List<String> pairs) {
        Map<String, Long> prices = new LinkedHashMap<>();
        for (String pair : pairs) {
            int eq = pair.lastIndexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("tool price '" + pair + "' must be TOOL=AMOUNT, e.g. forecast=5000");
            }
            String tool = text("tool name", pair.substring(0, eq));
            if (prices.put(tool, price(pair.substring(eq + 1))) != null) {
                throw new IllegalArgumentException("tool '" + tool + "' is priced twice");
            }
        }
        return prices;
    }

    /**
     * Publisher headers, {@code Name: value}, sent to the upstream with every call. A name must be a
     * field-name token and a value may hold no CR, LF or NUL: nothing typed here can add a header
     * line of its own.
     */
    static Map<String, String> headers(List<String> lines) {
        Map<String, String> headers = new LinkedHashMap<>();
        for (String line : lines) {
            int colon = line.indexOf(':');
            String name = colon < 0 ? line : line.substring(0, colon).strip();
            if (colon <= 0 || !HEADER_NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("header '" + name + "' must be 'Name: value' with a token name");
            }
            String value = line.substring(colon + 1).strip();
            if (value.chars().anyMatch(ch -> ch == '\r' || ch == '\n' || ch == 0)) {
                throw new IllegalArgumentException("the value of header " + name + " must not hold CR, LF or NUL");
            }
            boolean twice = headers.keySet().stream().anyMatch(known -> known.equalsIgnoreCase(name));
            if (twice) {
                throw new IllegalArgumentException("header " + name + " is given twice");
            }
            headers.put(name, value);
        }
        return headers;
    }

    /** An absolute http(s) URL with a host; where it points is checked by the proxy at call time. */
    static String upstreamUrl(String text) {
        try {
            URI uri = new URI(text.strip());
            String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
            if ((scheme.equals("http") || scheme.equals("https"))
                    && uri.getHost() != null
                    && text.length() <= MAX_TEXT) {
                return uri.toString();
            }
        } catch (java.net.URISyntaxException e) {
            // reported below
        }
        throw new IllegalArgumentException("upstream '" + text + "' must be an http:// or https:// URL with a host");
    }

    static int range(String what, int value, int min, int max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(what + " must be " + min + ".." + max + ", got " + value);
        }
        return value;
    }

    /** The start of a range: an ISO-8601 instant, or a UTC date meaning its first moment. */
    static Instant from(String text) {
        return time(text, false);
    }

    /** The end of a range (exclusive): an ISO-8601 instant, or a UTC date meaning that whole day is in. */
    static Instant to(String text) {
        return time(text, true);
    }

    private static Instant time(String text, boolean endOfDay) {
        try {
            if (text.length() == 10) {
                LocalDate day = LocalDate.parse(text);
                return (endOfDay ? day.plusDays(1) : day)
                        .atStartOfDay(ZoneOffset.UTC)
                        .toInstant();
            }
            return Instant.parse(text);
        } catch (DateTimeException e) {
            throw new IllegalArgumentException("'" + text + "' must be a date (2026-12-01, UTC) or an ISO-8601 instant"
                    + " (2026-12-01T10:00:00Z)");
        }
    }
}
