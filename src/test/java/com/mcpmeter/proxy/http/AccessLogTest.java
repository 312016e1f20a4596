package com.mcpmeter.proxy.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.mcpmeter.proxy.meter.Admission;
import com.mcpmeter.proxy.meter.Call;
import com.mcpmeter.proxy.meter.CallRequest;
import com.mcpmeter.proxy.meter.Charge;
import com.mcpmeter.proxy.meter.Consumer;
import com.mcpmeter.proxy.meter.JsonRpcMessage;
import com.mcpmeter.proxy.meter.Ledger;
import com.mcpmeter.proxy.meter.Listing;
import com.mcpmeter.proxy.meter.Principal;
import com.mcpmeter.proxy.meter.Project;
import com.mcpmeter.proxy.meter.UpstreamOutcome;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.time.YearMonth;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * An admitted call's line is written once, when both its response has completed and its
 * settlement is known, in whichever order they come; a request the pipeline never saw still gets
 * its line. A real Jetty server on loopback completes the responses.
 */
class AccessLogTest {
    private static final Listing LISTING = new Listing(
            7,
            1,
            "weather",
            Listing.Status.LIVE,
            Optional.of(URI.create("http://127.0.0.1:1/mcp")),
            "streamable",
            Map.of(),
            0,
            OptionalInt.empty(),
            OptionalInt.empty(),
            OptionalInt.empty(),
            500,
            Map.of(),
            2000);
    private static final Consumer CONSUMER = new Consumer(
            new Principal(11, "active", OptionalLong.of(12), OptionalLong.of(13), Optional.empty()),
            new Project(12, 11, OptionalLong.empty()));

    private final AccessLog access = new AccessLog(List.of());
    private final ListAppender<ILoggingEvent> lines = new ListAppender<>();
    /** What the handler does before it completes the response (the servlet's part). */
    private final AtomicReference<Runnable> beforeAnswer = new AtomicReference<>(() -> {});
    /** Released once Jetty has handed a completed response to the access log. */
    private final Semaphore responsesLogged = new Semaphore(0);

    private Server server;
    private int port;

    @BeforeEach
    void start() throws Exception {
        lines.start();
        ((Logger) LoggerFactory.getLogger(AccessLog.LOGGER)).addAppender(lines);
        server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        server.addConnector(connector);
        server.setRequestLog((request, response) -> {
            access.log(request, response);
            responsesLogged.release();
        });
        server.setHandler(new Handler.Abstract() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                String id = request.getHeaders().get("Test-Request-Id");
                if (id != null) {
                    response.getHeaders().put(MeterHeaders.REQUEST_ID, id);
                }
                beforeAnswer.get().run();
                response.setStatus(200);
                callback.succeeded();
                return true;
            }
        });
        server.start();
        port = connector.getLocalPort();
    }

    @AfterEach
    void stop() throws Exception {
        server.stop();
        ((Logger) LoggerFactory.getLogger(AccessLog.LOGGER)).detachAppender(lines);
    }

    private void get(String path, String requestId) throws Exception {
        var request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path));
        if (requestId != null) {
            request.header("Test-Request-Id", requestId);
        }
        HttpClient.newHttpClient().send(request.build(), HttpResponse.BodyHandlers.discarding());
    }

    /** The RequestLog runs once the response is complete, which the client may see a moment before. */
    private Map<String, String> onlyLine() throws Exception {
        assertTrue(!lines.list.isEmpty() || responsesLogged.tryAcquire(5, TimeUnit.SECONDS), "a response logged");
        assertEquals(1, lines.list.size(), lines.list.toString());
        return lines.list.getFirst().getKeyValuePairs().stream()
                .collect(Collectors.toMap(p -> p.key, p -> String.valueOf(p.value)));
    }

    private static Call admitted(String requestId) {
        CallRequest request = new CallRequest(
                requestId,
                "POST",
                "/weather",
                Optional.empty(),
                Optional.empty(),
                Optional.empty(),
                Optional.of("application/json"),
                Optional.empty(),
                Optional.empty(),
                Optional.empty(),
                "",
                limit -> Optional.of(new byte[0]),
                "192.0.2.1");
        Ledger.UsageRow usage = new Ledger.UsageRow(
                requestId, 11, 12, 7, OptionalLong.of(13), "forecast", "", "", Instant.EPOCH, 500, 2000);
        return new Call(
                request,
                CONSUMER,
                LISTING,
                URI.create("http://127.0.0.1:1/mcp"),
                JsonRpcMessage.NONE,
                new byte[0],
                new Charge(List.of(), 500, OptionalLong.of(99), 1_000),
                usage,
                YearMonth.of(2026, 12),
                Duration.ofSeconds(5),
                Optional.empty(),
                TestCalls.RATE);
    }

    private void admit(Call call) {
        access.admission(
                call.request(), Optional.of(CONSUMER), Optional.of(LISTING), new Admission.Admitted(call), 1_500_000);
    }

    private static UpstreamOutcome failed() {
        return new UpstreamOutcome(UpstreamOutcome.Kind.CONNECT_FAILED, 0, Set.of(), Set.of(), 0);
    }

    @Test
    void aCallSettledBeforeItsAnswerIsWrittenWhenTheAnswerCompletes() throws Exception {
        Call call = admitted("req-settled-first");
        admit(call);
        beforeAnswer.set(() -> access.settled(call, failed(), 500, 40));
        get("/weather", "req-settled-first");

        Map<String, String> line = onlyLine();
        assertEquals("req-settled-first", line.get("request_id"));
        assertEquals("200", line.get("status"));
        assertEquals("upstream_failed", line.get("code"));
        assertEquals("0", line.get("billed_micro_cents"));
        assertEquals("500", line.get("refunded_micro_cents"));
        assertEquals("192.0.2.1", line.get("client"), "the address the pipeline was given");
        assertEquals("13", line.get("key_id"));
        assertEquals("weather", line.get("listing"));
        assertEquals("1500", line.get("admission_us"));
    }

    @Test
    void aCallAnsweredBeforeItSettlesIsWrittenWhenItSettles() throws Exception {
        Call call = admitted("req-answered-first");
        admit(call);
        get("/weather", "req-answered-first");
        assertTrue(responsesLogged.tryAcquire(5, TimeUnit.SECONDS), "Jetty logged the completed response");
        assertTrue(lines.list.isEmpty(), "no line before the settlement: " + lines.list);

        access.settled(call, new UpstreamOutcome(UpstreamOutcome.Kind.COMPLETED, 200, Set.of(), Set.of(), 10), 0, 40);

        Map<String, String> line = onlyLine();
        assertEquals("ok", line.get("code"));
        assertEquals("500", line.get("billed_micro_cents"));
        assertEquals("0", line.get("refunded_micro_cents"));
    }

    @Test
    void aRequestThePipelineNeverSawGetsALineOfItsOwn() throws Exception {
        get("/health", null);

        Map<String, String> line = onlyLine();
        assertEquals("health", line.get("route"));
        assertEquals("127.0.0.1", line.get("client"));
        assertEquals("200", line.get("status"));
        assertTrue(!line.containsKey("request_id") && !line.containsKey("listing"), line.toString());
    }
}
