package com.mcpmeter.proxy.admin;

import com.mcpmeter.proxy.store.KeyAdmin;
import com.mcpmeter.proxy.store.KeyAdmin.Revoked;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code key create|revoke|list}. A key's token is printed once, by create, and stored only as its
 * SHA-256 and its first 16 characters; a revocation is published to the running instances.
 */
@Command(
        name = "key",
        description = "Create, revoke and list consumers' API keys.",
        subcommands = {KeyCommand.Create.class, KeyCommand.Revoke.class, KeyCommand.ListKeys.class})
final class KeyCommand extends Group {
    private static final Pattern ID = Pattern.compile("[0-9]{1,19}");
    private static final Pattern TOKEN = Pattern.compile("mcpm_(live|test)_[A-Za-z0-9_-]{8,200}");
    private static final Pattern PREFIX = Pattern.compile("mcpm_[A-Za-z0-9_-]{1,11}");

    @Command(
            name = "create",
            description = "Create a key for a consumer's project (both made if new); prints the" + " token once.")
    static final class Create extends AdminCall {
        @Option(names = "--consumer", required = true, paramLabel = "EMAIL", description = "The consumer's e-mail.")
        String consumer;

        @Option(
                names = "--project",
                paramLabel = "NAME",
                defaultValue = "default",
                description = "The consumer's project the key bills (default: ${DEFAULT-VALUE}).")
        String project;

        @Option(names = "--name", paramLabel = "TEXT", description = "A label for the key.")
        @Nullable
        String name;

        @Option(names = "--test", description = "A mcpm_test_ key instead of mcpm_live_.")
        boolean test;

        @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
        Create(AdminContext context) {
            super(context);
        }

        @Override
        public Integer call() {
            String email = Inputs.email(consumer);
            String projectName = Inputs.text("--project", project);
            String label = name == null ? null : Inputs.text("--name", name);
            KeyAdmin.Created key = new KeyAdmin(context.database()).create(email, projectName, label, test);
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("id", key.id());
            result.put("token", key.token());
            result.put("prefix", key.prefix());
            result.put("consumer", email);
            result.put("user_id", key.userId());
            result.put("user_created", key.userCreated());
            result.put("project", key.projectSlug());
            result.put("project_id", key.projectId());
            result.put("project_created", key.projectCreated());
            context.result(
                    output.json,
                    result,
                    "key " + key.id() + " for " + email + ", project " + key.projectSlug()
                            + (key.projectCreated() ? " (new)" : "") + ":\n" + key.token()
                            + "\nThis token is shown once; only its hash is stored.");
            return ExitCode.OK.code;
        }
    }

    @Command(name = "revoke", description = "Revoke a key, on every running instance within a second.")
    static final class Revoke extends AdminCall {
        @Parameters(
                paramLabel = "KEY",
                description = "The key's id (see 'key list'), its whole token, or a prefix only" + " it has.")
        String key;

        @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
        Revoke(AdminContext context) {
            super(context);
        }

        @Override
        public Integer call() {
            KeyAdmin.Selector which = selector(key);
            Revoked revoked = new KeyAdmin(context.database()).revoke(which);
            Map<String, Object> result = new LinkedHashMap<>();
            return switch (revoked) {
                case Revoked.NoSuchKey _ -> {
                    context.err.println("no key matches " + shown(key));
                    yield ExitCode.FINDING.code;
                }
                case Revoked.Ambiguous ambiguous -> {
                    context.err.println(ambiguous.matching() + " keys start with " + shown(key)
                            + ": name one by its id (see 'key list')");
                    yield ExitCode.FINDING.code;
                }
                case Revoked.AlreadyRevoked already -> {
                    result.put("id", already.id());
                    result.put("prefix", already.prefix());
                    result.put("revoked_at", already.at().toString());
                    result.put("changed", false);
                    context.result(
                            output.json,
                            result,
                            "key " + already.id() + " (" + already.prefix() + ") was already revoked at "
                                    + already.at());
                    yield ExitCode.OK.code;
                }
                case Revoked.Done done -> {
                    result.put("id", done.id());
                    result.put("prefix", done.prefix());
                    result.put("changed", true);
                    result.put(
                            "instances_told", context.announce(invalidations -> invalidations.keyChanged(done.hash())));
                    context.result(output.json, result, "revoked key " + done.id() + " (" + done.prefix() + ")");
                    yield ExitCode.OK.code;
                }
            };
        }

        static KeyAdmin.Selector selector(String key) {
            if (ID.matcher(key).matches()) {
                return new KeyAdmin.Selector.ById(Long.parseLong(key));
            }
            if (key.length() > KeyAdmin.PREFIX_LENGTH && TOKEN.matcher(key).matches()) {
                return new KeyAdmin.Selector.ByToken(key);
            }
            if (PREFIX.matcher(key).matches()
                    || key.length() == KeyAdmin.PREFIX_LENGTH
                            && TOKEN.matcher(key).matches()) {
                return new KeyAdmin.Selector.ByPrefix(key);
            }
            throw new IllegalArgumentException("KEY must be a key id, a whole mcpm_live_/mcpm_test_ token, or the start"
                    + " of one (at most " + KeyAdmin.PREFIX_LENGTH + " characters)");
        }

        /** A whole token is a secret: never echo more than its stored prefix. */
        private static String shown(String key) {
            return key.length() > KeyAdmin.PREFIX_LENGTH ? key.substring(0, KeyAdmin.PREFIX_LENGTH) + "…" : key;
        }
    }

    @Command(name = "list", description = "List keys (prefix only; tokens are never stored).")
    static final class ListKeys extends AdminCall {
        @Option(names = "--consumer", paramLabel = "EMAIL", description = "Only this consumer's keys.")
        @Nullable
        String consumer;

        @Option(names = "--all", description = "Revoked keys too.")
        boolean all;

        @SuppressWarnings("NullAway.Init") // picocli sets the options before call()
        ListKeys(AdminContext context) {
            super(context);
        }

        @Override
        public Integer call() {
            Optional<String> email = Optional.ofNullable(consumer).map(Inputs::email);
            List<KeyAdmin.Key> keys = new KeyAdmin(context.database()).list(email, all);
            for (KeyAdmin.Key k : keys) {
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("id", k.id());
                row.put("prefix", k.prefix());
                row.put("consumer", k.consumer());
                row.put("project", k.project());
                row.put("name", k.name().orElse(null));
                row.put("env", k.env());
                row.put("created_at", k.createdAt().toString());
                row.put("last_used_at", k.lastUsedAt().map(Instant::toString).orElse(null));
                row.put("revoked_at", k.revokedAt().map(Instant::toString).orElse(null));
                context.result(
                        output.json,
                        row,
                        String.format(
                                "%-6d %-16s %-30s %-24s %-4s %s%s",
                                k.id(),
                                k.prefix(),
                                k.consumer(),
                                k.project(),
                                k.env(),
                                k.name().orElse("-"),
                                k.revokedAt().map(at -> "  revoked " + at).orElse("")));
            }
            if (!output.json) {
                context.out.println(keys.size() + " key(s)");
            }
            return ExitCode.OK.code;
        }
    }
}
