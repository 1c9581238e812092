//! The errors each handler can answer after the request guard let it through, by
//! operation id: the services it calls and what they refuse. `api::spec` adds these to
//! what the guard itself can answer (401, 403, 411, 413, 415, 429) and to 500; a unit test
//! there keeps one entry per operation, and the integration suite fails on any answer
//! whose status is not documented.

pub type HandlerErrors = &'static [(u16, &'static str)];

const BAD_SOURCE: (u16, &str) = (
    400,
    "The source name is not an identifier (letters, digits, underscores), or .dango/sources.yml is invalid",
);
const NO_SOURCE: (u16, &str) = (404, "No source with this name in .dango/sources.yml");
const WAREHOUSE_RELEASED: (u16, &str) = (
    503,
    "The warehouse is released to an external dbt run (transform.engine: dbt); try again when it ends",
);
const BAD_SCHEDULES: (u16, &str) = (
    400,
    ".dango/schedules.yml is invalid (the message names the schedule and the key)",
);
const NO_SCHEDULE: (u16, &str) = (404, "No schedule with this name in .dango/schedules.yml");
const BAD_SCRIPT: (u16, &str) = (
    400,
    "The script name leaves scripts/ (`..`, an absolute path, a symlink pointing out)",
);
const NO_SCRIPT: (u16, &str) = (
    404,
    "No script of this name under scripts/ (a .py or executable file, not hidden or _-prefixed)",
);
const NO_USER: (u16, &str) = (404, "No user with this id");
const NOT_A_USER: (u16, &str) = (
    404,
    "The caller is not a user account (authentication disabled, or the local CLI)",
);
const WRONG_PASSWORD: (u16, &str) = (400, "The password is wrong");
const WEAK_PASSWORD: (u16, &str) = (
    400,
    "The password does not meet the policy (`issues` lists why), or is unchanged",
);
const BAD_ROLE: (u16, &str) = (400, "The role is not admin, editor or viewer");
const SYNC_RUNNING: (u16, &str) = (
    409,
    "A sync of one of these sources is already queued or running (`run_id` names it)",
);
const TRANSFORM_RUNNING: (u16, &str) = (409, "A dbt run is already queued or running");
const NO_MANIFEST: (u16, &str) = (
    404,
    "There is no dbt manifest yet (sync a source or run dbt first), or no model of this name",
);
const BAD_MODEL: (u16, &str) = (
    400,
    "The model name is not an identifier (letters, digits, underscores; at most 128)",
);
const TABLE_ERRORS: HandlerErrors = &[
    (
        400,
        "The source or table name is not a lowercase identifier (letters, digits, underscores)",
    ),
    (
        404,
        "No such table or view: not a raw table of the source, its staging view, or a relation of a schema by that name",
    ),
    WAREHOUSE_RELEASED,
];
const NOT_A_FILE_SOURCE: (u16, &str) = (400, "The source is not a csv or local_files source");

pub const HANDLER_ERRORS: &[(&str, HandlerErrors)] = &[
    // Health, status, configuration
    ("api_info", &[]),
    ("status", &[]),
    ("watcher_status", &[]),
    ("platform_health", &[]),
    ("get_config", &[]),
    ("get_metabase_config", &[]),
    // Users
    ("list_users", &[]),
    (
        "create_user",
        &[
            (
                400,
                "The role, the email address or the display name (over 200 characters) is invalid",
            ),
            (409, "A user with this email already exists"),
        ],
    ),
    (
        "delete_user",
        &[
            (400, "`confirm_email` is not the user's email"),
            NO_USER,
            (
                409,
                "Cannot delete your own account or the only active admin",
            ),
        ],
    ),
    (
        "deactivate_user",
        &[
            NO_USER,
            (
                409,
                "Cannot deactivate your own account or the only active admin",
            ),
        ],
    ),
    ("reactivate_user", &[NO_USER]),
    (
        "reinvite_user",
        &[
            (
                400,
                "The user is deactivated, or has already set a password (reset it instead)",
            ),
            NO_USER,
        ],
    ),
    ("reset_user_password", &[NO_USER]),
    ("revoke_user_sessions", &[NO_USER]),
    (
        "change_user_role",
        &[
            BAD_ROLE,
            NO_USER,
            (409, "Cannot demote the only active admin"),
        ],
    ),
    ("unlock_user", &[NO_USER]),
    ("list_audit_events", &[]),
    // Two-factor authentication
    (
        "two_factor_disable",
        &[WRONG_PASSWORD, (400, "2FA is not enabled"), NOT_A_USER],
    ),
    (
        "two_factor_regenerate_recovery",
        &[
            WRONG_PASSWORD,
            (
                400,
                "2FA is not enabled, or the code is wrong or already used",
            ),
            NOT_A_USER,
        ],
    ),
    (
        "two_factor_setup",
        &[
            WRONG_PASSWORD,
            (400, "2FA is already enabled: disable it first"),
            NOT_A_USER,
        ],
    ),
    (
        "two_factor_verify",
        &[
            (
                400,
                "The code is wrong or already used, or 2FA is no longer enabled for the account",
            ),
            (
                401,
                "The partial session is missing or expired, or this was the 5th wrong code (log in again)",
            ),
            (404, "The account was deleted during the login"),
        ],
    ),
    (
        "two_factor_verify_setup",
        &[
            (
                400,
                "2FA is already enabled, no setup is pending, or the code is wrong or already used",
            ),
            NOT_A_USER,
        ],
    ),
    // Authentication
    (
        "accept_invite",
        &[
            (
                400,
                "The invite link is invalid or expired, or the display name is over 200 characters",
            ),
            WEAK_PASSWORD,
        ],
    ),
    ("list_api_keys", &[]),
    (
        "create_api_key",
        &[
            (
                400,
                "The name is empty or over 128 characters, the role is invalid, or expires_at is not in the future",
            ),
            (403, "The role cap is above the caller's own role"),
            NOT_A_USER,
        ],
    ),
    (
        "revoke_api_key",
        &[(404, "No live API key of yours with this id")],
    ),
    (
        "change_password",
        &[
            (400, "The current password is incorrect"),
            WEAK_PASSWORD,
            NOT_A_USER,
        ],
    ),
    (
        "login",
        &[
            (400, "Invalid email or password (never says which)"),
            (
                423,
                "The account is temporarily locked after repeated failures (`remaining_seconds`, Retry-After)",
            ),
        ],
    ),
    ("logout", &[]),
    ("me", &[]),
    ("oauth_providers", &[]),
    ("oauth_login", &[]),
    ("oauth_callback", &[]),
    ("list_sessions", &[]),
    (
        "revoke_session",
        &[
            (400, "This is the current session: use logout"),
            (404, "No live session of yours with this id"),
        ],
    ),
    // Catalog
    ("catalog_impact", &[BAD_MODEL, NO_MANIFEST]),
    (
        "catalog_lineage",
        &[(
            404,
            "There is no dbt manifest yet: sync a source or run dbt first",
        )],
    ),
    ("catalog_models", &[]),
    (
        "catalog_model_columns",
        &[BAD_MODEL, NO_MANIFEST, WAREHOUSE_RELEASED],
    ),
    ("catalog_table_columns", TABLE_ERRORS),
    (
        "catalog_search",
        &[(
            400,
            "The query is shorter than 2 or longer than 100 characters",
        )],
    ),
    ("catalog_profile_table", TABLE_ERRORS),
    (
        "catalog_model",
        &[BAD_MODEL, NO_MANIFEST, WAREHOUSE_RELEASED],
    ),
    ("list_agent_tools", &[]),
    (
        "catalog_summary",
        &[(400, "`.dango/sources.yml` is invalid"), WAREHOUSE_RELEASED],
    ),
    // Query
    (
        "run_query",
        &[
            (
                400,
                "The SQL does not parse (`line`, `column`), is not one read-only query, uses a forbidden function, table function or file, or DuckDB refused it (a missing table or column); or `limit` is above `api.query_max_rows`",
            ),
            (
                408,
                "The query ran past `api.query_timeout_seconds` and was stopped",
            ),
            (413, "The SQL is longer than 100 KB (it is not echoed back)"),
            (
                429,
                "The caller already has `api.query_max_concurrent` queries running (`Retry-After`)",
            ),
            WAREHOUSE_RELEASED,
        ],
    ),
    ("list_queryable_tables", &[WAREHOUSE_RELEASED]),
    (
        "list_query_history",
        &[(400, "`limit` is not between 1 and 200")],
    ),
    ("clear_query_history", &[]),
    // dbt
    ("list_dbt_models", &[]),
    (
        "run_dbt_model",
        &[
            BAD_MODEL,
            (400, "The project has no dbt project (dbt/dbt_project.yml)"),
            (404, "No model of this name in the manifest"),
            TRANSFORM_RUNNING,
        ],
    ),
    (
        "run_dbt",
        &[
            (
                400,
                "`command` is not a dbt command, `vars` is not an object, or there is no dbt project",
            ),
            TRANSFORM_RUNNING,
        ],
    ),
    // Sources, files, sync, logs
    ("activity_logs", &[]),
    (
        "list_schedules",
        &[(400, ".dango/schedules.yml or .dango/sources.yml is invalid")],
    ),
    (
        "get_schedule",
        &[
            (400, ".dango/schedules.yml or .dango/sources.yml is invalid"),
            NO_SCHEDULE,
        ],
    ),
    ("preview_schedule", &[BAD_SCHEDULES, NO_SCHEDULE]),
    ("schedule_history", &[BAD_SCHEDULES, NO_SCHEDULE]),
    ("recent_schedule_runs", &[]),
    (
        "trigger_schedule",
        &[
            (
                400,
                ".dango/schedules.yml or .dango/sources.yml is invalid, the schedule's script leaves scripts/, or the project has no dbt project",
            ),
            (
                404,
                "No schedule with this name in .dango/schedules.yml, or its script is not under scripts/",
            ),
            (
                409,
                "A sync of one of its sources, a dbt run, or a run of its script is already queued or running",
            ),
        ],
    ),
    ("list_scripts", &[]),
    ("list_secrets", &[]),
    (
        "set_secret",
        &[(
            400,
            "The key is not a variable name, or the value has a line break or a NUL",
        )],
    ),
    ("delete_secret", &[(404, "No line of .env sets this key")]),
    ("get_script", &[BAD_SCRIPT, NO_SCRIPT]),
    (
        "run_script",
        &[
            BAD_SCRIPT,
            NO_SCRIPT,
            (
                409,
                "A run of this script is already queued or running (`run_id` names it)",
            ),
        ],
    ),
    (
        "cancel_script",
        &[
            BAD_SCRIPT,
            (404, "No script of this name, or no run of it is going"),
            (409, "Another server process executes the run"),
        ],
    ),
    ("script_history", &[BAD_SCRIPT, NO_SCRIPT]),
    (
        "script_run_log",
        &[(404, "No run of this id is a run of this script")],
    ),
    (
        "reload_schedules",
        &[(400, ".dango/schedules.yml is invalid")],
    ),
    (
        "create_schedule",
        &[
            (
                400,
                "The schedule is invalid, names a source that is not configured, or the file is invalid",
            ),
            (409, "A schedule of this name exists"),
        ],
    ),
    (
        "replace_schedule",
        &[
            (
                400,
                "The schedule is invalid, its name is not the path's, or it names a source that is not configured",
            ),
            NO_SCHEDULE,
        ],
    ),
    ("delete_schedule", &[BAD_SCHEDULES, NO_SCHEDULE]),
    ("notification_config", &[BAD_SCHEDULES]),
    (
        "test_notification",
        &[(
            400,
            ".dango/schedules.yml is invalid, or it configures no webhook",
        )],
    ),
    (
        "notification_deliveries",
        &[(400, "`limit` or `offset` is out of range")],
    ),
    (
        "start_initial_sync",
        &[
            (400, ".dango/sources.yml is invalid"),
            (401, "Neither the deploy token nor a signed-in admin"),
            (403, "Signed in, but not an admin"),
            (409, "The first sync is already in progress"),
        ],
    ),
    ("initial_sync_status", &[]),
    (
        "deployment_history",
        &[(400, "`limit` is not between 1 and 100")],
    ),
    (
        "skip_initial_sync_source",
        &[(409, "No first sync is syncing")],
    ),
    (
        "cancel_initial_sync",
        &[(409, "No first sync is in progress")],
    ),
    (
        "cancel_job",
        &[
            (404, "The run is not queued or running"),
            (409, "Another server process executes the run"),
        ],
    ),
    (
        "unscheduled_sources",
        &[(400, ".dango/schedules.yml or .dango/sources.yml is invalid")],
    ),
    (
        "list_sources",
        &[(400, ".dango/sources.yml is invalid"), WAREHOUSE_RELEASED],
    ),
    (
        "source_details",
        &[BAD_SOURCE, NO_SOURCE, WAREHOUSE_RELEASED],
    ),
    ("source_logs", &[BAD_SOURCE, NO_SOURCE]),
    (
        "list_files",
        &[
            BAD_SOURCE,
            NOT_A_FILE_SOURCE,
            (
                400,
                "The source directory disappeared while it was being listed",
            ),
            NO_SOURCE,
            WAREHOUSE_RELEASED,
        ],
    ),
    (
        "delete_file",
        &[
            BAD_SOURCE,
            NOT_A_FILE_SOURCE,
            (403, "`file_path` is outside the source directory"),
            NO_SOURCE,
            (404, "The source directory or the file does not exist"),
            WAREHOUSE_RELEASED,
        ],
    ),
    (
        "upload_file",
        &[
            BAD_SOURCE,
            NOT_A_FILE_SOURCE,
            (
                400,
                "The body is not multipart/form-data with a named `file` part, or the file's extension or name does not fit the source",
            ),
            NO_SOURCE,
            (
                409,
                "A file of this name already exists: delete it first or rename yours",
            ),
            (413, "The file is larger than 100 MB"),
        ],
    ),
    (
        "sync_source",
        &[
            BAD_SOURCE,
            (
                400,
                "The dates are not YYYY-MM-DD or start after they end, or the source is disabled",
            ),
            NO_SOURCE,
            SYNC_RUNNING,
        ],
    ),
    (
        "trigger_sync",
        &[
            BAD_SOURCE,
            (
                400,
                "No source named, the dates are not YYYY-MM-DD or start after they end, or a source is disabled",
            ),
            NO_SOURCE,
            SYNC_RUNNING,
        ],
    ),
    ("sync_status", &[(404, "No run with this id")]),
];
