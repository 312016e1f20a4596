-- mcpmeter-proxy schema.
--
-- Part 1 is the marketplace's canonical schema (owned by the web app's
-- migrations; see ../shared/reference/canonical-schema.sql), with
-- "IF NOT EXISTS" added so that loading this file twice is harmless.
-- Part 2, at the end, holds the tables the proxy alone owns.

-- ===== Part 1: canonical tables (keep identical to the web app's) =====

CREATE TABLE IF NOT EXISTS `users` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `name` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL,
  `email` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL,
  `handle` varchar(64) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `role` varchar(20) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'consumer',
  `email_verified_at` timestamp NULL DEFAULT NULL,
  `password` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL,
  `remember_token` varchar(100) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `stripe_customer_id` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `stripe_connect_account_id` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `stripe_connect_payouts_enabled` tinyint(1) NOT NULL DEFAULT '0',
  `stripe_connect_details_submitted` tinyint(1) NOT NULL DEFAULT '0',
  `status` varchar(20) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'active',
  `credit_micro_cents` bigint NOT NULL DEFAULT '0',
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `users_email_unique` (`email`),
  UNIQUE KEY `users_handle_unique` (`handle`),
  KEY `users_stripe_customer_id_index` (`stripe_customer_id`),
  KEY `users_stripe_connect_account_id_index` (`stripe_connect_account_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `projects` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `user_id` bigint unsigned NOT NULL,
  `name` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL,
  `slug` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL,
  `spending_cap_cents_per_month` bigint unsigned DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `projects_slug_unique` (`slug`),
  KEY `projects_user_id_index` (`user_id`),
  CONSTRAINT `projects_user_id_foreign` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `api_keys` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `user_id` bigint unsigned NOT NULL,
  `project_id` bigint unsigned NOT NULL,
  `name` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `key_prefix` varchar(16) COLLATE utf8mb4_unicode_ci NOT NULL,
  `key_hash` char(64) COLLATE utf8mb4_unicode_ci NOT NULL,
  `env` enum('live','test') COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'live',
  `last_used_at` timestamp NULL DEFAULT NULL,
  `revoked_at` timestamp NULL DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `api_keys_key_hash_unique` (`key_hash`),
  KEY `api_keys_user_id_foreign` (`user_id`),
  KEY `api_keys_project_id_foreign` (`project_id`),
  KEY `api_keys_key_prefix_index` (`key_prefix`),
  KEY `api_keys_revoked_at_index` (`revoked_at`),
  CONSTRAINT `api_keys_project_id_foreign` FOREIGN KEY (`project_id`) REFERENCES `projects` (`id`) ON DELETE CASCADE,
  CONSTRAINT `api_keys_user_id_foreign` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `mcps` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `publisher_id` bigint unsigned NOT NULL,
  `slug` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL,
  `name` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL,
  `category` varchar(40) COLLATE utf8mb4_unicode_ci NOT NULL,
  `description` text COLLATE utf8mb4_unicode_ci,
  `readme_md` longtext COLLATE utf8mb4_unicode_ci,
  `repo_url` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `homepage_url` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `logo_url` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `logo_emoji` varchar(16) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `upvotes_count` int unsigned NOT NULL DEFAULT '0',
  `cover_url` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `sample_prompts` json DEFAULT NULL,
  `upstream_url` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `upstream_headers` text COLLATE utf8mb4_unicode_ci,
  `transport` enum('http','sse','streamable') COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'streamable',
  `status` enum('draft','review','live','paused','archived') COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'draft',
  `last_seen_at` timestamp NULL DEFAULT NULL,
  `last_status_code` smallint unsigned DEFAULT NULL,
  `consecutive_failures` int unsigned NOT NULL DEFAULT '0',
  `license` varchar(40) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `free_calls_per_consumer` smallint unsigned NOT NULL DEFAULT '0',
  `rate_limit_per_minute` int unsigned DEFAULT NULL,
  `rate_limit_per_day` int unsigned DEFAULT NULL,
  `upstream_timeout_seconds` smallint unsigned DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `mcps_slug_unique` (`slug`),
  KEY `mcps_publisher_id_foreign` (`publisher_id`),
  KEY `mcps_category_index` (`category`),
  KEY `mcps_status_index` (`status`),
  CONSTRAINT `mcps_publisher_id_foreign` FOREIGN KEY (`publisher_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `mcp_tools` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `mcp_id` bigint unsigned NOT NULL,
  `name` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL,
  `description` text COLLATE utf8mb4_unicode_ci,
  `input_schema` json DEFAULT NULL,
  `kind` enum('read','write') COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'read',
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `mcp_tools_mcp_id_name_unique` (`mcp_id`,`name`),
  CONSTRAINT `mcp_tools_mcp_id_foreign` FOREIGN KEY (`mcp_id`) REFERENCES `mcps` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `pricing_rules` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `mcp_id` bigint unsigned NOT NULL,
  `tool_name` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `model` enum('per_call','tiered','free') COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'per_call',
  `price_micro_cents` bigint unsigned NOT NULL DEFAULT '0',
  `tier_config` json DEFAULT NULL,
  `currency` varchar(3) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'USD',
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `pricing_rules_mcp_id_tool_name_unique` (`mcp_id`,`tool_name`),
  CONSTRAINT `pricing_rules_mcp_id_foreign` FOREIGN KEY (`mcp_id`) REFERENCES `mcps` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `usage_events` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `project_id` bigint unsigned NOT NULL,
  `mcp_id` bigint unsigned NOT NULL,
  `api_key_id` bigint unsigned DEFAULT NULL,
  `tool_name` varchar(191) COLLATE utf8mb4_unicode_ci NOT NULL,
  `client` varchar(40) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `user_agent` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `called_at` timestamp NOT NULL,
  `duration_ms` int unsigned NOT NULL,
  `status` smallint unsigned NOT NULL,
  `billed_micro_cents` bigint unsigned NOT NULL DEFAULT '0',
  `publisher_payout_micro_cents` bigint unsigned NOT NULL DEFAULT '0',
  `platform_fee_micro_cents` bigint unsigned NOT NULL DEFAULT '0',
  `request_id` varchar(64) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `aggregated_at` timestamp NULL DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `usage_events_project_id_called_at_index` (`project_id`,`called_at`),
  KEY `usage_events_mcp_id_called_at_index` (`mcp_id`,`called_at`),
  KEY `usage_events_project_id_index` (`project_id`),
  KEY `usage_events_mcp_id_index` (`mcp_id`),
  KEY `usage_events_called_at_index` (`called_at`),
  KEY `usage_events_aggregated_at_index` (`aggregated_at`),
  KEY `idx_usage_events_mcp_client` (`mcp_id`,`client`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `credit_transactions` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `user_id` bigint unsigned NOT NULL,
  `amount_micro_cents` bigint NOT NULL,
  `type` enum('signup_bonus','topup','usage','refund','adjustment','expiry','promo') COLLATE utf8mb4_unicode_ci NOT NULL,
  `reference_type` varchar(40) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `reference_id` bigint unsigned DEFAULT NULL,
  `balance_after_micro_cents` bigint NOT NULL,
  `description` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `metadata` json DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `credit_transactions_user_id_created_at_index` (`user_id`,`created_at`),
  KEY `credit_transactions_reference_type_reference_id_index` (`reference_type`,`reference_id`),
  KEY `credit_transactions_type_index` (`type`),
  CONSTRAINT `credit_transactions_user_id_foreign` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `mcp_consumer_usage` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `mcp_id` bigint unsigned NOT NULL,
  `user_id` bigint unsigned NOT NULL,
  `free_calls_used` int unsigned NOT NULL DEFAULT '0',
  `period_year_month` varchar(7) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `billable_calls` bigint unsigned NOT NULL DEFAULT '0',
  `first_called_at` timestamp NULL DEFAULT NULL,
  `last_called_at` timestamp NULL DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `mcp_consumer_usage_mcp_id_user_id_unique` (`mcp_id`,`user_id`),
  KEY `mcp_consumer_usage_user_id_index` (`user_id`),
  KEY `mcp_consumer_usage_mcp_id_period_year_month_index` (`mcp_id`,`period_year_month`),
  CONSTRAINT `mcp_consumer_usage_mcp_id_foreign` FOREIGN KEY (`mcp_id`) REFERENCES `mcps` (`id`) ON DELETE CASCADE,
  CONSTRAINT `mcp_consumer_usage_user_id_foreign` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `oauth_clients` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `client_id` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL,
  `client_secret_hash` varchar(64) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `name` varchar(191) COLLATE utf8mb4_unicode_ci NOT NULL,
  `redirect_uris` json NOT NULL,
  `client_uri` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `logo_uri` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `grant_types` json DEFAULT NULL,
  `token_endpoint_auth_method` varchar(32) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'none',
  `software_id` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `software_version` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `oauth_clients_client_id_unique` (`client_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `oauth_authorization_codes` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `code_hash` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL,
  `user_id` bigint unsigned NOT NULL,
  `client_id` bigint unsigned NOT NULL,
  `redirect_uri` varchar(1024) COLLATE utf8mb4_unicode_ci NOT NULL,
  `scopes` json NOT NULL,
  `code_challenge` varchar(128) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `code_challenge_method` varchar(16) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `expires_at` timestamp NOT NULL,
  `used_at` timestamp NULL DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `oauth_authorization_codes_code_hash_unique` (`code_hash`),
  KEY `oauth_authorization_codes_user_id_foreign` (`user_id`),
  KEY `oauth_authorization_codes_client_id_foreign` (`client_id`),
  KEY `oauth_authorization_codes_expires_at_index` (`expires_at`),
  CONSTRAINT `oauth_authorization_codes_client_id_foreign` FOREIGN KEY (`client_id`) REFERENCES `oauth_clients` (`id`) ON DELETE CASCADE,
  CONSTRAINT `oauth_authorization_codes_user_id_foreign` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `oauth_access_tokens` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `token_hash` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL,
  `token_prefix` varchar(16) COLLATE utf8mb4_unicode_ci NOT NULL,
  `user_id` bigint unsigned NOT NULL,
  `client_id` bigint unsigned NOT NULL,
  `scopes` json NOT NULL,
  `expires_at` timestamp NOT NULL,
  `revoked_at` timestamp NULL DEFAULT NULL,
  `last_used_at` timestamp NULL DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `oauth_access_tokens_token_hash_unique` (`token_hash`),
  KEY `oauth_access_tokens_user_id_revoked_at_index` (`user_id`,`revoked_at`),
  KEY `oauth_access_tokens_client_id_revoked_at_index` (`client_id`,`revoked_at`),
  CONSTRAINT `oauth_access_tokens_client_id_foreign` FOREIGN KEY (`client_id`) REFERENCES `oauth_clients` (`id`) ON DELETE CASCADE,
  CONSTRAINT `oauth_access_tokens_user_id_foreign` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE IF NOT EXISTS `oauth_refresh_tokens` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `token_hash` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL,
  `access_token_id` bigint unsigned NOT NULL,
  `expires_at` timestamp NOT NULL,
  `revoked_at` timestamp NULL DEFAULT NULL,
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `oauth_refresh_tokens_token_hash_unique` (`token_hash`),
  KEY `oauth_refresh_tokens_access_token_id_foreign` (`access_token_id`),
  CONSTRAINT `oauth_refresh_tokens_access_token_id_foreign` FOREIGN KEY (`access_token_id`) REFERENCES `oauth_access_tokens` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;


-- ===== Part 2: tables owned by mcpmeter-proxy (not in the web app) =====

-- Month-to-date spend per project, so the monthly cap can be checked in the
-- same transaction as the debit. One row per (project, UTC month).
CREATE TABLE IF NOT EXISTS `proxy_project_spend` (
  `project_id` bigint unsigned NOT NULL,
  `period_year_month` char(7) COLLATE utf8mb4_unicode_ci NOT NULL,
  `spent_micro_cents` bigint unsigned NOT NULL DEFAULT '0',
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`project_id`,`period_year_month`),
  CONSTRAINT `proxy_project_spend_project_id_foreign` FOREIGN KEY (`project_id`) REFERENCES `projects` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Platform fee per publisher, in basis points (1000 = founders' 10 %,
-- 2000 = standard 20 %). A publisher without a row pays PLATFORM_FEE_BPS.
CREATE TABLE IF NOT EXISTS `proxy_publisher_settings` (
  `publisher_id` bigint unsigned NOT NULL,
  `platform_fee_bps` smallint unsigned NOT NULL,
  `created_at` timestamp NULL DEFAULT NULL,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`publisher_id`),
  CONSTRAINT `proxy_publisher_settings_publisher_id_foreign` FOREIGN KEY (`publisher_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- What the proxy measured about each call that usage_events has no column
-- for: response bytes and the number of JSON-RPC requests that stayed billed.
-- Keyed by request id, so a usage row replayed from the spool after a MySQL
-- outage is written once (the detail row is claimed first, in the same
-- transaction).
CREATE TABLE IF NOT EXISTS `proxy_usage_details` (
  `request_id` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL,
  `usage_event_id` bigint unsigned NOT NULL,
  `response_bytes` bigint unsigned NOT NULL DEFAULT '0',
  `billed_envelopes` int unsigned NOT NULL DEFAULT '0',
  `created_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`request_id`),
  KEY `proxy_usage_details_usage_event_id_index` (`usage_event_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Calls sent with an Idempotency-Key, per API key and listing (scope
-- 'key:<id>/mcp:<id>') or OAuth user and listing ('user:<id>/mcp:<id>'): a
-- retry is charged once. state 0 = the first call is under way on proxy run
-- instance_id, 1 = delivered (response holds its answer, NULL if too large to
-- keep). A delivered row older than 24 hours no longer holds the key; a row in
-- flight holds it as long as its run's lease (proxy_instances) is alive. Rows
-- written before leases (instance_id NULL) are freed after an hour in flight.
CREATE TABLE IF NOT EXISTS `proxy_idempotency_keys` (
  `scope` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL,
  `idempotency_key` varchar(255) COLLATE utf8mb4_unicode_ci NOT NULL,
  `body_sha256` binary(32) NOT NULL,
  `request_id` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL,
  `instance_id` char(36) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `state` tinyint unsigned NOT NULL DEFAULT '0',
  `status` smallint unsigned DEFAULT NULL,
  `content_type` varchar(255) COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  `response` mediumblob,
  `created_at` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
  `updated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`scope`,`idempotency_key`),
  KEY `proxy_idempotency_keys_created_at_index` (`created_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per call that was given free calls: how many, for which listing,
-- consumer and UTC month, under which allowance. Written in the transaction
-- that takes them from mcp_consumer_usage (and deleted with their return), so
-- reconcile can count a month's free calls without trusting that counter, and
-- tell a lowered allowance from an over-grant.
CREATE TABLE IF NOT EXISTS `proxy_free_grants` (
  `request_id` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL,
  `mcp_id` bigint unsigned NOT NULL,
  `user_id` bigint unsigned NOT NULL,
  `period_year_month` char(7) COLLATE utf8mb4_unicode_ci NOT NULL,
  `free_calls` int unsigned NOT NULL,
  `allowance` int unsigned NOT NULL,
  `created_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`request_id`),
  KEY `proxy_free_grants_mcp_user_period_index` (`mcp_id`,`user_id`,`period_year_month`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Upgrading a database made before leases (each statement is a no-op on a
-- current one): scopes now name the listing, so the column is wider, and a
-- claim names the proxy run that holds it. Keys claimed before the upgrade
-- (scope without '/mcp:') are not matched by the new scopes: a retry sent
-- across the upgrade is a new call; such rows are purged after 24 hours.
ALTER TABLE `proxy_idempotency_keys` MODIFY `scope` varchar(64) COLLATE utf8mb4_unicode_ci NOT NULL;
SET @proxy_add_claim_owner = IF((SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'proxy_idempotency_keys' AND column_name = 'instance_id') = 0,
  'ALTER TABLE `proxy_idempotency_keys` ADD COLUMN `instance_id` char(36) COLLATE utf8mb4_unicode_ci DEFAULT NULL AFTER `request_id`',
  'DO 0');
PREPARE proxy_add_claim_owner FROM @proxy_add_claim_owner;
EXECUTE proxy_add_claim_owner;
DEALLOCATE PREPARE proxy_add_claim_owner;

-- One row per run of a proxy process (a fresh instance_id at every start).
-- A running instance renews lease_until every INSTANCE_HEARTBEAT_SECONDS (to
-- NOW + INSTANCE_LEASE_SECONDS, database time); a clean stop ends the lease at
-- once. handed_over_at is set when the run's closings are all in MySQL: by its
-- own clean stop with an empty spool, or by the next run on the same spool
-- (host:SPOOL_DIR) once it has replayed the journal and spool it inherited.
-- reconcile --repair refunds a run's in-flight debits only when its lease has
-- expired and it was handed over (or the operator abandons it).
CREATE TABLE IF NOT EXISTS `proxy_instances` (
  `instance_id` char(36) COLLATE utf8mb4_unicode_ci NOT NULL,
  `spool` varchar(512) COLLATE utf8mb4_unicode_ci NOT NULL,
  `started_at` timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  `heartbeat_at` timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  `lease_until` timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  `stopped_at` timestamp(3) NULL DEFAULT NULL,
  `handed_over_at` timestamp(3) NULL DEFAULT NULL,
  PRIMARY KEY (`instance_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Which proxy run owns each debited call, written in the debit's own
-- transaction. Rows of closed calls are deleted in batches by the instances'
-- heartbeat, off the request path; only the in-flight ones matter.
CREATE TABLE IF NOT EXISTS `proxy_inflight` (
  `usage_event_id` bigint unsigned NOT NULL,
  `instance_id` char(36) COLLATE utf8mb4_unicode_ci NOT NULL,
  PRIMARY KEY (`usage_event_id`),
  KEY `proxy_inflight_instance_id_index` (`instance_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A batch of debits in one round trip and one commit (proxy-owned; the proxy's DebitBatcher
-- calls it, its database user needs EXECUTE on it). p_calls
-- is a JSON array, one object per paid call: s (its place in the batch), u (user), p (project),
-- m (listing), k (api key, absent for OAuth), n (tool), c (client), a (user agent), t (called at,
-- UTC), b (amount), f (platform fee), r (request id), y (UTC month), and about all of the user's
-- calls in the batch: gt (their sum), gc (how many), gw (1 if they share project, listing and
-- month). Calls are taken by user, then in batch order, so the users row is always locked first
-- (as everywhere) and two batches cannot deadlock on two consumers; each call's conditional debit
-- sees the balance its predecessors left (balance_after chains), the project's cap is checked the
-- same way, and a call the cap refuses gives its debit back at once. The answer is one line per
-- call, "s D usage_id balance_after", "s I balance" (not enough credit) or "s C spent cap" (the
-- project's monthly cap). No SELECT ... INTO: a query without rows would fire the cursor's NOT
-- FOUND handler and end the loop early.
--
-- A consumer's calls for one listing and project in one month (one agent at work: the common
-- case) are taken together when its balance and the project's cap cover their sum: one debit of
-- the sum, one cap check, one counter update, then each call's usage row and ledger row with its
-- balance_after in batch order. That is what call-by-call debits would do when every one of them
-- succeeds; if the sum is not covered, it is given back and the calls go one by one. The sum is
-- the proxy's (window functions here cost more than the debits they save), so it is checked: calls
-- taken together that do not add up to it, or stray from their project, listing or month, fail the
-- whole batch (SQLSTATE 45000) and nothing of it is kept.
DROP PROCEDURE IF EXISTS `proxy_debit_batch`;
DELIMITER $$
CREATE PROCEDURE `proxy_debit_batch`(IN p_calls LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci, IN p_instance CHAR(36), IN p_micro_per_cent BIGINT)
  MODIFIES SQL DATA
BEGIN
  DECLARE v_done INT DEFAULT 0;
  DECLARE v_seq, v_together, v_count INT;
  DECLARE v_user, v_project, v_mcp, v_key, v_usage BIGINT UNSIGNED;
  DECLARE v_tool VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
  DECLARE v_client VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
  DECLARE v_agent VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
  DECLARE v_request VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
  DECLARE v_month CHAR(7) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
  DECLARE v_called DATETIME;
  DECLARE v_amount, v_fee, v_balance, v_spent, v_cap, v_total, v_take BIGINT;
  DECLARE v_ok, v_try, v_calls INT;
  -- The consumer whose calls are being taken, and whether together: their sum, where the balance
  -- stood after it, the group's project, listing and month, and what was taken so far.
  DECLARE v_group_user BIGINT UNSIGNED DEFAULT NULL;
  DECLARE v_whole INT DEFAULT 0;
  DECLARE v_group_total, v_left, v_taken BIGINT DEFAULT 0;
  DECLARE v_group_count, v_taken_count INT DEFAULT 0;
  DECLARE v_group_project, v_group_mcp BIGINT UNSIGNED;
  DECLARE v_group_month CHAR(7) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
  DECLARE v_out LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT '';
  DECLARE calls CURSOR FOR
    SELECT j.s, j.u, j.p, j.m, j.k, j.n, j.c, j.a, j.t, j.b, j.f, j.r, j.y, j.gt, j.gc, j.gw
      FROM JSON_TABLE(p_calls, '$[*]' COLUMNS (
             s INT PATH '$.s', u BIGINT UNSIGNED PATH '$.u', p BIGINT UNSIGNED PATH '$.p',
             m BIGINT UNSIGNED PATH '$.m', k BIGINT UNSIGNED PATH '$.k',
             n VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$.n', c VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$.c',
             a VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$.a', t DATETIME PATH '$.t', b BIGINT PATH '$.b',
             f BIGINT PATH '$.f', r VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$.r',
             y CHAR(7) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$.y',
             gt BIGINT PATH '$.gt', gc INT PATH '$.gc', gw INT PATH '$.gw')) AS j
     ORDER BY j.u, j.s;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = 1;
  OPEN calls;
  each_call: LOOP
    FETCH calls INTO v_seq, v_user, v_project, v_mcp, v_key, v_tool, v_client, v_agent, v_called, v_amount,
                     v_fee, v_request, v_month, v_total, v_count, v_together;
    IF v_whole = 1 AND (v_done = 1 OR v_user <> v_group_user) THEN -- the end of calls taken together
      IF v_taken <> v_group_total OR v_taken_count <> v_group_count THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'proxy_debit_batch: calls taken together do not add up to their sum';
      END IF;
      SET v_whole = 0;
    END IF;
    IF v_done = 1 THEN
      LEAVE each_call;
    END IF;
    IF v_whole = 0 THEN
      -- A consumer's first call in the batch, with others for the same listing: try them all at once.
      SET v_try = v_count > 1 AND v_together = 1 AND v_total > 0 AND NOT (v_user <=> v_group_user);
      SET v_group_user = v_user;
      take: LOOP -- at most twice: all of this consumer's calls at once, or else this call alone
        SET v_take = IF(v_try = 1, v_total, v_amount);
        UPDATE `users` SET `credit_micro_cents` = LAST_INSERT_ID(`credit_micro_cents` - v_take), `updated_at` = NOW()
         WHERE `id` = v_user AND `credit_micro_cents` >= v_take;
        IF ROW_COUNT() = 0 THEN
          IF v_try = 1 THEN
            SET v_try = 0;
            ITERATE take;
          END IF;
          SET v_balance = COALESCE((SELECT `credit_micro_cents` FROM `users` WHERE `id` = v_user), 0);
          SET v_out = CONCAT(v_out, v_seq, ' I ', v_balance, '\n');
          ITERATE each_call;
        END IF;
        SET v_balance = LAST_INSERT_ID();
        SET v_ok = 0;
        spend: LOOP -- at most twice: the month's row may have to be made first
          UPDATE `proxy_project_spend` s JOIN `projects` pr ON pr.`id` = s.`project_id`
             SET s.`spent_micro_cents` = s.`spent_micro_cents` + v_take, s.`updated_at` = NOW()
           WHERE s.`project_id` = v_project AND s.`period_year_month` = v_month
             AND (pr.`spending_cap_cents_per_month` IS NULL
                  OR s.`spent_micro_cents` + v_take <= pr.`spending_cap_cents_per_month` * CAST(p_micro_per_cent AS DECIMAL(30, 0)));
          IF ROW_COUNT() = 1 THEN
            SET v_ok = 1;
            LEAVE spend;
          END IF;
          INSERT IGNORE INTO `proxy_project_spend` (`project_id`, `period_year_month`, `spent_micro_cents`, `updated_at`)
          VALUES (v_project, v_month, 0, NOW());
          IF ROW_COUNT() = 0 THEN
            LEAVE spend; -- the month's row was there: the cap said no
          END IF;
        END LOOP spend;
        IF v_ok = 0 THEN
          UPDATE `users` SET `credit_micro_cents` = `credit_micro_cents` + v_take WHERE `id` = v_user;
          IF v_try = 1 THEN
            SET v_try = 0;
            ITERATE take;
          END IF;
          SET v_spent = COALESCE((SELECT `spent_micro_cents` FROM `proxy_project_spend`
                                   WHERE `project_id` = v_project AND `period_year_month` = v_month), 0);
          SET v_cap = COALESCE((SELECT LEAST(`spending_cap_cents_per_month` * CAST(p_micro_per_cent AS DECIMAL(30, 0)),
                                             9223372036854775807)
                                  FROM `projects` WHERE `id` = v_project), 0);
          SET v_out = CONCAT(v_out, v_seq, ' C ', v_spent, ' ', v_cap, '\n');
          ITERATE each_call;
        END IF;
        -- The marketplace's counters: every debited call is billable until refunded whole.
        SET v_calls = IF(v_try = 1, v_count, 1);
        UPDATE `mcp_consumer_usage`
           SET `billable_calls` = `billable_calls` + v_calls, `last_called_at` = NOW(), `updated_at` = NOW()
         WHERE `mcp_id` = v_mcp AND `user_id` = v_user;
        IF ROW_COUNT() = 0 THEN
          INSERT INTO `mcp_consumer_usage`
              (`mcp_id`, `user_id`, `free_calls_used`, `period_year_month`, `billable_calls`, `first_called_at`,
               `last_called_at`, `created_at`, `updated_at`)
          VALUES (v_mcp, v_user, 0, NULL, v_calls, NOW(), NOW(), NOW(), NOW())
          ON DUPLICATE KEY UPDATE `billable_calls` = `billable_calls` + v_calls, `last_called_at` = NOW(), `updated_at` = NOW();
        END IF;
        IF v_try = 1 THEN
          SET v_whole = 1, v_left = v_balance, v_group_total = v_total, v_group_count = v_count,
              v_group_project = v_project, v_group_mcp = v_mcp, v_group_month = v_month, v_taken = 0, v_taken_count = 0;
        END IF;
        LEAVE take;
      END LOOP take;
    END IF;
    IF v_whole = 1 THEN
      IF v_project <> v_group_project OR v_mcp <> v_group_mcp OR v_month <> v_group_month THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'proxy_debit_batch: a call taken with others strays from their listing';
      END IF;
      SET v_taken = v_taken + v_amount, v_taken_count = v_taken_count + 1;
      SET v_balance = v_left + v_group_total - v_taken; -- left after this call and those before it
    END IF;
    INSERT INTO `usage_events`
        (`project_id`, `mcp_id`, `api_key_id`, `tool_name`, `client`, `user_agent`, `called_at`, `duration_ms`,
         `status`, `billed_micro_cents`, `publisher_payout_micro_cents`, `platform_fee_micro_cents`, `request_id`,
         `created_at`, `updated_at`)
    VALUES (v_project, v_mcp, v_key, v_tool, v_client, v_agent, v_called, 0, 0, v_amount, v_amount - v_fee, v_fee,
            v_request, NOW(), NOW());
    SET v_usage = LAST_INSERT_ID();
    INSERT INTO `proxy_inflight` (`usage_event_id`, `instance_id`) VALUES (v_usage, p_instance);
    INSERT INTO `credit_transactions`
        (`user_id`, `amount_micro_cents`, `type`, `reference_type`, `reference_id`, `balance_after_micro_cents`,
         `description`, `metadata`, `created_at`, `updated_at`)
    VALUES (v_user, -v_amount, 'usage', 'usage_event', v_usage, v_balance, 'tool call',
            CONCAT('{"request_id":"', v_request, '","mcp_id":', v_mcp, '}'), NOW(), NOW());
    SET v_out = CONCAT(v_out, v_seq, ' D ', v_usage, ' ', v_balance, '\n');
  END LOOP each_call;
  CLOSE calls;
  SELECT v_out;
END$$
DELIMITER ;

-- Which version of this file the database holds (one row, id 1). `serve` refuses to start on a
-- database below the version it was built for (Schema.VERSION: raise both together whenever this
-- file changes); `java -jar mcpmeter-proxy.jar migrate`, or loading this file, brings it up.
-- Kept last, so that a load that stopped part-way does not claim the new version.
CREATE TABLE IF NOT EXISTS `proxy_schema_version` (
  `id` tinyint unsigned NOT NULL,
  `version` int unsigned NOT NULL,
  `migrated_at` timestamp NULL DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO `proxy_schema_version` (`id`, `version`, `migrated_at`) VALUES (1, 3, NOW())
  ON DUPLICATE KEY UPDATE `migrated_at` = IF(`version` < VALUES(`version`), VALUES(`migrated_at`), `migrated_at`),
                          `version` = GREATEST(`version`, VALUES(`version`));
