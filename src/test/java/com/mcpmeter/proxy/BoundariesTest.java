package com.mcpmeter.proxy;

import static com.tngtech.archunit.base.DescribedPredicate.not;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAnyPackage;
import static com.tngtech.archunit.core.domain.properties.HasName.Predicates.nameMatching;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/**
 * Package boundaries (STYLE.md, habit 2), read from the bytecode of the main classes: imports,
 * fully-qualified names, field and parameter types, calls and annotations all count, in every
 * package including the root one. Each rule names where a library may be used rather than where it
 * may not, so a new package starts out with none of them.
 */
@AnalyzeClasses(packages = "com.mcpmeter.proxy", importOptions = ImportOption.DoNotIncludeTests.class)
class BoundariesTest {
    private static final String ROOT = "com.mcpmeter.proxy";
    private static final String HTTP = "com.mcpmeter.proxy.http..";
    private static final String STORE = "com.mcpmeter.proxy.store..";
    private static final String METER = "com.mcpmeter.proxy.meter..";
    private static final String CONFIG = "com.mcpmeter.proxy.config..";
    private static final String DEMO = "com.mcpmeter.proxy.demo..";
    private static final String ADMIN = "com.mcpmeter.proxy.admin..";
    private static final String METRICS = "com.mcpmeter.proxy.metrics..";
    private static final String DEMO_SEEDING = "com.mcpmeter.proxy.demo.";
    /** The demo upstream's classes (server, HTTP handler, JSON-RPC dispatcher) and their nested classes. */
    private static final String DEMO_UPSTREAM =
            "com\\.mcpmeter\\.proxy\\.demo\\.Demo(Upstream|HttpHandler|Dispatcher)(\\$.*)?";

    private static final String[] JETTY_AND_SERVLET = {"org.eclipse.jetty..", "jakarta.servlet.."};
    /** JDBC and its pool and driver, and the Redis client with the Netty underneath it. */
    private static final String[] STORAGE = {
        "java.sql..", "javax.sql..", "com.zaxxer.hikari..", "com.mysql..", "io.lettuce..", "io.netty.."
    };

    @ArchTest
    static final ArchRule onlyTheHttpEdgeSpeaksJettyAndServlet = noClasses()
            .that()
            .resideOutsideOfPackages(HTTP, DEMO)
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(JETTY_AND_SERVLET)
            .because("the servlet only translates between HTTP and the pipeline; the demo upstream is a"
                    + " stand-alone MCP server, not part of the proxy");

    @ArchTest
    static final ArchRule onlyTheStoreSpeaksJdbcAndRedis = noClasses()
            .that()
            .resideOutsideOfPackages(STORE)
            .and()
            .doNotHaveFullyQualifiedName(DEMO_SEEDING + "Seeder")
            .and()
            .doNotHaveFullyQualifiedName(DEMO_SEEDING + "Schema")
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(STORAGE)
            .because("SQL, pools and Redis connections stay behind the store's classes (the admin CLI too);"
                    + " known exceptions: the demo and test seeding (demo.Seeder, demo.Schema)");

    @ArchTest
    static final ArchRule meteringLogicSpeaksNeitherHttpNorStorage = noClasses()
            .that()
            .resideInAPackage(METER)
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(HTTP, STORE, "org.eclipse.jetty..", "jakarta.servlet..", "io.micrometer..")
            .because("metering decisions are plain Java over the interfaces meter declares"
                    + " (Ledger, KeyDirectory, ...), which store implements and metrics observe from outside");

    @ArchTest
    static final ArchRule metricsObserveFromOutside = noClasses()
            .that()
            .resideInAPackage(METRICS)
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(HTTP, STORE, "org.eclipse.jetty..", "jakarta.servlet..")
            .because("metering logic reports through its own MetricsTracker; the metrics package only"
                    + " turns those reports into Micrometer meters");

    @ArchTest
    static final ArchRule configurationIsPlainValues = noClasses()
            .that()
            .resideInAPackage(CONFIG)
            .should()
            .dependOnClassesThat()
            .resideInAnyPackage(
                    HTTP, STORE, METER, "org.eclipse.jetty..", "jakarta.servlet..", "io.micrometer..", "picocli..")
            .because("configuration is one immutable record tree read from the environment");

    @ArchTest
    static final ArchRule theHttpEdgeReachesStorageOnlyThroughMeter = noClasses()
            .that()
            .resideInAPackage(HTTP)
            .should()
            .dependOnClassesThat()
            .resideInAPackage(STORE)
            .because("the edge hands calls to the pipeline; only the root package wires store into it");

    @ArchTest
    static final ArchRule theDemoUpstreamKnowsNothingOfTheProxy = noClasses()
            .that()
            .haveNameMatching(DEMO_UPSTREAM)
            .should()
            .dependOnClassesThat(resideInAnyPackage(ROOT + "..")
                    .and(not(nameMatching(DEMO_UPSTREAM)))
                    .or(resideInAnyPackage(STORAGE)))
            .because("it stands in for a publisher's server, which sees the proxy only over HTTP");

    @ArchTest
    static final ArchRule onlyTheAdminCliSpeaksPicocli = noClasses()
            .that()
            .resideOutsideOfPackages(ROOT, ADMIN)
            .should()
            .dependOnClassesThat()
            .resideInAPackage("picocli..")
            .because("command lines are parsed at the entry points");

    @ArchTest
    static final ArchRule onlyTheEdgesRecordMetrics = noClasses()
            .that()
            .resideOutsideOfPackages(ROOT, HTTP, STORE, METRICS, ADMIN)
            .should()
            .dependOnClassesThat()
            .resideInAPackage("io.micrometer..")
            .because("metering logic stays free of instrumentation; the edges and the store observe it");

    @ArchTest
    static final ArchRule nothingDependsOnTheEntryPoints = noClasses()
            .that()
            .resideOutsideOfPackage(ROOT)
            .should()
            .dependOnClassesThat()
            .resideInAPackage(ROOT)
            .because("the root package wires the others together, so it sits on top of them");

    @ArchTest
    static final ArchRule packagesFormNoCycles =
            slices().matching("com.mcpmeter.proxy.(*)..").should().beFreeOfCycles();
}
