package com.mcpmeter.proxy.admin;

import com.mcpmeter.proxy.store.SchemaMigration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code migrate [--check]}: creates the database and its tables, or upgrades them to this build's
 * schema.sql; running it again changes nothing. {@code --check} only tells (exit 1 when outdated).
 */
@Command(name = "migrate", description = "Create or upgrade the database schema (idempotent).")
final class MigrateCommand extends AdminCall {
    @Option(names = "--check", description = "Change nothing; exit 1 if the schema is older than this build needs.")
    boolean check;

    @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
    MigrateCommand(AdminContext context) {
        super(context);
    }

    @Override
    public Integer call() {
        var database = context.databaseConfig();
        Map<String, @Nullable Object> result = new LinkedHashMap<>();
        result.put("database", database.name());
        result.put("required_version", SchemaMigration.VERSION);
        if (check) {
            OptionalInt installed = SchemaMigration.installed(database);
            boolean current = installed.isPresent() && installed.getAsInt() >= SchemaMigration.VERSION;
            result.put("version", installed.isPresent() ? installed.getAsInt() : null);
            result.put("current", current);
            context.result(
                    output.json,
                    result,
                    current
                            ? "database " + database.name() + " is at schema version " + installed.getAsInt()
                                    + ": current"
                            : SchemaMigration.outdated(database).orElse("outdated"));
            return current ? ExitCode.OK.code : ExitCode.FINDING.code;
        }
        SchemaMigration.Migration migration = SchemaMigration.migrate(database);
        result.put(
                "version_before",
                migration.before().isPresent() ? migration.before().getAsInt() : null);
        result.put("version", migration.after());
        result.put("changed", migration.changed());
        context.result(
                output.json,
                result,
                migration.changed()
                        ? "database " + database.name() + " migrated from "
                                + (migration.before().isPresent()
                                        ? "schema version " + migration.before().getAsInt()
                                        : "no recorded schema")
                                + " to version "
                                + migration.after()
                        : "database " + database.name() + " already at schema version " + migration.after()
                                + ": nothing to do");
        return ExitCode.OK.code;
    }
}
