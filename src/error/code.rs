//! Every `DANGO-…` error code the server answers with, named once. Clients match on
//! them, so a code keeps its meaning for good. Families follow the original: `G`
//! generic, `C` configuration, `I` ingestion, `S` security, `SYNC` runs of syncs, `T`
//! transforms, `U` infrastructure, `V` validation, `W` the web API and its upstreams.

macro_rules! codes {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, )+) => {
        $( $(#[$doc])* pub const $name: &str = $code; )+
        /// Every code, for checks that each is unique.
        pub const ALL: &[&str] = &[$($code),+];
    };
}

codes! {
    /// Anything unexpected; the cause is in the server log only.
    INTERNAL = "DANGO-G001",
    NOT_FOUND = "DANGO-G404",
    /// The path exists but not with this method (`Allow` lists the ones it takes).
    METHOD_NOT_ALLOWED = "DANGO-G405",
    CONFLICT = "DANGO-G409",
    /// `.dango/sources.yml` cannot be read or parsed.
    CONFIG_INVALID = "DANGO-C003",
    /// One or more sources of a sync failed.
    SYNC_FAILED = "DANGO-I001",
    /// The SQL of a query does not parse (`line` and `column` say where), or is empty.
    QUERY_SYNTAX = "DANGO-Q001",
    /// The SQL is not a single read-only query (stacked statements, DDL, DML, SET, ...).
    QUERY_NOT_READ_ONLY = "DANGO-Q002",
    /// The query uses something queries may not (a file reader, a setting, a host fact).
    QUERY_FORBIDDEN = "DANGO-Q003",
    /// DuckDB could not run the query (a missing table or column, a type error).
    QUERY_FAILED = "DANGO-Q004",
    /// The SQL is longer than 100 KB.
    QUERY_TOO_LARGE = "DANGO-Q007",
    /// The caller already has `api.query_max_concurrent` queries running.
    QUERY_CONCURRENCY = "DANGO-Q008",
    /// The query ran past `api.query_timeout_seconds` and was stopped.
    QUERY_TIMEOUT = "DANGO-Q009",
    /// A file could not be loaded (bad encoding, unreadable CSV).
    FILE_NOT_LOADABLE = "DANGO-I003",
    /// A sync would have replaced a table that has rows with an empty one.
    EMPTY_REPLACE_REFUSED = "DANGO-I004",
    AUTHENTICATION_REQUIRED = "DANGO-S001",
    PERMISSION_DENIED = "DANGO-S002",
    USER_NOT_FOUND = "DANGO-S003",
    USER_EXISTS = "DANGO-S004",
    /// An API key or CLI token that is forged, expired or revoked.
    INVALID_TOKEN = "DANGO-S005",
    /// Too many failed logins; `remaining_seconds` says for how long.
    ACCOUNT_LOCKED = "DANGO-S006",
    /// Wrong email or password (the same answer for both).
    INVALID_CREDENTIALS = "DANGO-S009",
    PASSWORD_CHANGE_REQUIRED = "DANGO-S010",
    CSRF_FAILED = "DANGO-S011",
    /// A file path that resolves outside the source's directory.
    PATH_OUTSIDE_SOURCE = "DANGO-S012",
    /// A WebSocket upgrade from another site.
    WEBSOCKET_ORIGIN = "DANGO-S013",
    /// Authentication is off, so only clients on this machine are served.
    LOCAL_CLIENTS_ONLY = "DANGO-S014",
    /// `auth.require_2fa` is on and the account has not enrolled a second factor yet.
    TWO_FACTOR_SETUP_REQUIRED = "DANGO-S015",
    RUN_NOT_FOUND = "DANGO-SYNC-003",
    /// A script name that leaves `scripts/` (`..`, an absolute path, a symlink out).
    SCRIPT_PATH_OUTSIDE = "DANGO-SC001",
    /// No script of that name under `scripts/`.
    SCRIPT_NOT_FOUND = "DANGO-SC002",
    /// A run of this script is queued or running (`run_id` names it).
    SCRIPT_RUNNING = "DANGO-SC003",
    /// The script's program could not be started (`python3` missing, not executable).
    SCRIPT_LAUNCH_FAILED = "DANGO-SC004",
    /// A cancel for a script that is not running.
    SCRIPT_NOT_RUNNING = "DANGO-SC005",
    /// A cancel for a run that is not queued or running (finished, or never existed).
    JOB_NOT_RUNNING = "DANGO-SYNC-004",
    /// A sync of one of these sources is queued or running (`run_id` names it).
    SYNC_IN_PROGRESS = "DANGO-SYNC-409",
    /// The dbt project cannot be built (parse, compile or the dbt process failed).
    TRANSFORM_FAILED = "DANGO-T001",
    /// The build ran and some models or tests failed.
    MODELS_FAILED = "DANGO-T002",
    /// A dbt run is queued or running (`run_id` names it).
    TRANSFORM_IN_PROGRESS = "DANGO-T409",
    UNAVAILABLE = "DANGO-U001",
    /// A test notification with no webhook configured.
    NO_WEBHOOKS = "DANGO-SCH-008",
    INVALID_REQUEST = "DANGO-V001",
    /// A source or model name that is not a valid identifier.
    INVALID_NAME = "DANGO-V002",
    /// `start_date` after `end_date`, or not a date.
    INVALID_DATE_RANGE = "DANGO-V003",
    /// A password the policy refuses.
    WEAK_PASSWORD = "DANGO-V005",
    LENGTH_REQUIRED = "DANGO-V411",
    BODY_TOO_LARGE = "DANGO-V413",
    UNSUPPORTED_MEDIA_TYPE = "DANGO-V415",
    UNPROCESSABLE = "DANGO-V422",
    RATE_LIMITED = "DANGO-W002",
    UPSTREAM_FAILED = "DANGO-W502",
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn every_code_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in super::ALL {
            assert!(seen.insert(code), "{code} is defined twice");
        }
    }

    /// A code written anywhere else would be a second definition nothing checks.
    #[test]
    fn codes_are_written_nowhere_else_in_the_server() {
        fn visit(dir: &Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    visit(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("error/code.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (number, line) in text.lines().enumerate() {
                        if line.contains("\"DANGO-") && !line.trim_start().starts_with("//") {
                            found.push(format!("{}:{}: {line}", path.display(), number + 1));
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        visit(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(
            found.is_empty(),
            "use crate::error::code:\n{}",
            found.join("\n")
        );
    }
}
