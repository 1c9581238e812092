//! Who may call what: one table for every route of the server. The request guard
//! enforces it before any parsing, and the OpenAPI export publishes it per operation
//! (`x-dango-permission` and `security`), so the documentation and the behaviour
//! cannot drift apart. Routes missing from the table require authentication.

use crate::auth::Permission;
use crate::auth::Permission::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Anyone holding a partial (2FA-pending) session; the handler checks it.
    PartialSession,
    /// Any signed-in user, whatever their role.
    Authenticated,
    /// Signed in with a role that holds the permission.
    Permission(Permission),
    /// The one-time deploy token or an admin; the handler checks which (the guard lets
    /// an unknown bearer token through, as for public routes).
    DeployTokenOrAdmin,
}

impl Access {
    /// The label published as `x-dango-permission`.
    pub fn label(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::PartialSession => "partial_session",
            Access::Authenticated => "authenticated",
            Access::Permission(p) => p.as_str(),
            Access::DeployTokenOrAdmin => "deploy_token_or_admin",
        }
    }

    /// Whether the guard lets anyone through and the handler decides.
    pub fn checked_by_handler(self) -> bool {
        matches!(self, Access::Public | Access::DeployTokenOrAdmin)
    }
}

use Access::{Authenticated as Auth, PartialSession as Partial, Permission as P, Public};

/// (method, path template, access). Literal segments win over `{param}` segments.
pub const ROUTES: &[(&str, &str, Access)] = &[
    // Health & status
    ("GET", "/api/status", Public),
    ("GET", "/api", Public),
    ("GET", "/api/watcher/status", Auth),
    ("GET", "/api/health/platform", Auth),
    ("GET", "/api/deployments/history", P(PlatformManage)),
    // Configuration
    ("GET", "/api/config", Auth),
    ("GET", "/api/metabase-config", Auth),
    // Authentication
    ("POST", "/api/auth/login", Public),
    ("POST", "/api/auth/logout", Auth),
    ("GET", "/api/auth/me", Public),
    ("POST", "/api/auth/change-password", Auth),
    ("GET", "/api/auth/sessions", Auth),
    ("DELETE", "/api/auth/sessions/{session_id}", Auth),
    ("POST", "/api/auth/api-keys", Auth),
    ("GET", "/api/auth/api-keys", Auth),
    ("DELETE", "/api/auth/api-keys/{key_id}", Auth),
    ("POST", "/api/auth/accept-invite", Public),
    ("GET", "/api/auth/oauth/providers", Public),
    ("GET", "/api/auth/oauth/{provider_name}/login", Public),
    ("GET", "/api/auth/oauth/{provider_name}/callback", Public),
    // Two-factor authentication
    ("POST", "/api/auth/2fa/setup", Auth),
    ("POST", "/api/auth/2fa/verify-setup", Auth),
    ("POST", "/api/auth/2fa/verify", Partial),
    ("POST", "/api/auth/2fa/disable", Auth),
    ("POST", "/api/auth/2fa/regenerate-recovery", Auth),
    // User management
    ("GET", "/api/admin/users", P(UsersManage)),
    ("POST", "/api/admin/users", P(UsersManage)),
    (
        "POST",
        "/api/admin/users/{user_id}/reinvite",
        P(UsersManage),
    ),
    ("PUT", "/api/admin/users/{user_id}/role", P(UsersManage)),
    (
        "POST",
        "/api/admin/users/{user_id}/reset-password",
        P(UsersManage),
    ),
    (
        "POST",
        "/api/admin/users/{user_id}/deactivate",
        P(UsersManage),
    ),
    (
        "POST",
        "/api/admin/users/{user_id}/reactivate",
        P(UsersManage),
    ),
    ("DELETE", "/api/admin/users/{user_id}", P(UsersManage)),
    ("POST", "/api/admin/users/{user_id}/unlock", P(UsersManage)),
    (
        "POST",
        "/api/admin/users/{user_id}/revoke-sessions",
        P(UsersManage),
    ),
    // Audit
    ("GET", "/api/audit", P(AuditView)),
    // Secrets
    ("GET", "/api/secrets", P(ConfigManage)),
    ("POST", "/api/secrets", P(ConfigManage)),
    ("DELETE", "/api/secrets/{key}", P(ConfigManage)),
    // Sources, sync, files, logs
    ("GET", "/api/sources", Auth),
    ("GET", "/api/sources/{source_name}/details", Auth),
    ("POST", "/api/sources/{source_name}/sync", P(SourceSync)),
    ("POST", "/api/sync/trigger", P(SourceSync)),
    ("GET", "/api/sync/status/{record_id}", P(SourceSync)),
    (
        "POST",
        "/api/sources/{source_name}/upload-csv",
        P(CsvUpload),
    ),
    ("GET", "/api/sources/{source_name}/csv-files", Auth),
    (
        "DELETE",
        "/api/sources/{source_name}/csv-files",
        P(CsvDelete),
    ),
    ("GET", "/api/sources/{source_name}/logs", Auth),
    ("GET", "/api/sources/unscheduled", P(SchedulerView)),
    ("GET", "/api/schedules", P(SchedulerView)),
    ("GET", "/api/schedules/{name}", P(SchedulerView)),
    ("GET", "/api/schedules/{name}/preview", P(SchedulerView)),
    ("GET", "/api/schedules/{name}/history", P(SchedulerView)),
    ("GET", "/api/schedules/history/recent", P(SchedulerView)),
    ("POST", "/api/schedules/{name}/trigger", P(SourceSync)),
    (
        "POST",
        "/api/schedules/jobs/{job_id}/cancel",
        P(SchedulerManage),
    ),
    ("POST", "/api/schedules/reload", P(SchedulerManage)),
    (
        "POST",
        "/api/initial-sync/start",
        Access::DeployTokenOrAdmin,
    ),
    ("GET", "/api/initial-sync/status", Auth),
    ("POST", "/api/initial-sync/skip-source", P(PlatformManage)),
    ("POST", "/api/initial-sync/cancel", P(PlatformManage)),
    ("GET", "/api/notifications/config", P(SchedulerView)),
    ("POST", "/api/notifications/test", P(SchedulerManage)),
    ("GET", "/api/notifications/deliveries", P(SchedulerView)),
    ("POST", "/api/schedules", P(SchedulerManage)),
    ("PUT", "/api/schedules/{name}", P(SchedulerManage)),
    ("DELETE", "/api/schedules/{name}", P(SchedulerManage)),
    ("GET", "/api/scripts", P(SourceView)),
    ("GET", "/api/scripts/{name}", P(SourceView)),
    ("POST", "/api/scripts/{name}/run", P(SourceSync)),
    ("POST", "/api/scripts/{name}/cancel", P(SourceSync)),
    ("GET", "/api/scripts/{name}/history", P(SourceView)),
    ("GET", "/api/scripts/{name}/runs/{run_id}", P(SourceView)),
    ("GET", "/api/logs", Auth),
    ("GET", "/ws", Auth),
    // dbt and the catalog
    ("GET", "/api/dbt/models", Auth),
    ("POST", "/api/dbt/models/{model_name}/run", P(DbtRun)),
    ("POST", "/api/dbt/run", P(DbtRun)),
    ("GET", "/api/catalog/models", P(GovernanceView)),
    ("GET", "/api/catalog/models/{model_name}", P(GovernanceView)),
    (
        "GET",
        "/api/catalog/models/{model_name}/columns",
        P(GovernanceView),
    ),
    ("GET", "/api/catalog/lineage", P(GovernanceView)),
    ("GET", "/api/catalog/impact/{model_name}", P(GovernanceView)),
    ("GET", "/api/catalog/search", P(GovernanceView)),
    (
        "GET",
        "/api/catalog/{source}/{table}/columns",
        P(GovernanceView),
    ),
    (
        "POST",
        "/api/catalog/{source}/{table}/profile",
        P(GovernanceView),
    ),
    ("POST", "/api/query", P(QueryExecute)),
    ("GET", "/api/query/schema", P(QueryExecute)),
    ("GET", "/api/query/history", P(QueryExecute)),
    ("DELETE", "/api/query/history", P(QueryExecute)),
    // AI agents: the tool list and the MCP server (each tool call is checked again at
    // the operation it calls)
    ("GET", "/api/tools", P(SourceView)),
    ("GET", "/api/catalog/summary", P(SourceView)),
    ("POST", "/mcp", Auth),
    ("GET", "/mcp", Auth),
    ("DELETE", "/mcp", Auth),
    // Pages
    ("GET", "/", Auth),
    ("GET", "/catalog", P(GovernanceView)),
    ("GET", "/catalog/{name}", P(GovernanceView)),
    ("GET", "/catalog/{name}/lineage", P(GovernanceView)),
    ("GET", "/query", P(QueryExecute)),
    ("GET", "/sources", P(SourceView)),
    ("GET", "/schedules", P(SchedulerView)),
    ("GET", "/scripts", P(SourceView)),
    ("GET", "/scripts/{name}/logs/{run_id}", P(SourceView)),
    ("GET", "/models", P(DbtView)),
    ("GET", "/health", P(HealthView)),
    ("GET", "/logs", P(LogsView)),
    ("GET", "/settings/account", Auth),
    ("GET", "/settings/users", P(UsersView)),
    ("GET", "/settings/secrets", P(ConfigManage)),
    ("GET", "/dbt-docs", Auth),
    ("GET", "/manifest.json", Auth),
    ("GET", "/catalog.json", Auth),
    // Documentation and public pages
    ("GET", "/api/docs", Public),
    ("GET", "/api/docs/oauth-receiver.html", Public),
    ("GET", "/api/redoc", Public),
    ("GET", "/api/openapi.json", Public),
    ("GET", "/login", Public),
    ("GET", "/setup", Public),
    ("GET", "/invite/{token}", Public),
    ("GET", "/static/{file}", Public),
    ("GET", "/favicon.ico", Public),
];

/// The access rule for a request, by method and concrete path.
pub fn lookup(method: &str, path: &str) -> Option<Access> {
    let segments = segments(path);
    let mut best: Option<(usize, Access)> = None;
    for (route_method, template, access) in ROUTES {
        // HEAD follows GET's rule.
        if *route_method != method && !(method == "HEAD" && *route_method == "GET") {
            continue;
        }
        if let Some(literals) = literal_match(template, &segments)
            && best.is_none_or(|(n, _)| literals > n)
        {
            best = Some((literals, *access));
        }
    }
    best.map(|(_, access)| access)
}

/// The methods served at a concrete path, for the `Allow` header of a 405.
pub fn methods_for(path: &str) -> Vec<&'static str> {
    let segments = segments(path);
    let matches: Vec<(&'static str, usize)> = ROUTES
        .iter()
        .filter_map(|(method, template, _)| {
            literal_match(template, &segments).map(|literals| (*method, literals))
        })
        .collect();
    // `/api/schedules/reload` is its own resource, not a schedule called "reload": only
    // the templates that match the most segments literally count.
    let best = matches
        .iter()
        .map(|(_, literals)| *literals)
        .max()
        .unwrap_or(0);
    let mut methods: Vec<&'static str> = matches
        .iter()
        .filter(|(_, literals)| *literals == best)
        .map(|(method, _)| *method)
        .collect();
    methods.sort_unstable();
    methods.dedup();
    methods
}

fn segments(path: &str) -> Vec<&str> {
    path.strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path)
        .split('/')
        .collect()
}

/// How many literal segments of `template` a path matched, if it matched.
pub(crate) fn literal_match(template: &str, segments: &[&str]) -> Option<usize> {
    let parts: Vec<&str> = template.split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut literals = 0;
    let matched = parts.iter().zip(segments).all(|(part, segment)| {
        if part.starts_with('{') {
            !segment.is_empty()
        } else if part == segment {
            literals += 1;
            true
        } else {
            false
        }
    });
    matched.then_some(literals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_and_params_match() {
        assert_eq!(lookup("GET", "/api/status"), Some(Access::Public));
        assert_eq!(
            lookup("DELETE", "/api/admin/users/abc"),
            Some(Access::Permission(UsersManage))
        );
        assert_eq!(
            lookup("GET", "/api/auth/oauth/providers"),
            Some(Access::Public)
        );
        assert_eq!(
            lookup("GET", "/api/auth/oauth/google/login"),
            Some(Access::Public)
        );
        assert_eq!(lookup("POST", "/api/status"), None);
        assert_eq!(
            lookup("GET", "/api/admin/users/"),
            Some(Access::Permission(UsersManage))
        );
        assert_eq!(lookup("HEAD", "/api/status"), Some(Access::Public));
        assert_eq!(lookup("GET", "/nothing"), None);
    }

    #[test]
    fn methods_for_a_path() {
        assert_eq!(methods_for("/api/auth/api-keys"), vec!["GET", "POST"]);
        assert_eq!(
            methods_for("/api/sources/sales/csv-files"),
            vec!["DELETE", "GET"]
        );
        assert!(methods_for("/nothing").is_empty());
    }

    #[test]
    fn no_duplicate_routes() {
        let mut seen = std::collections::HashSet::new();
        for (method, path, _) in ROUTES {
            assert!(seen.insert((method, path)), "duplicate {method} {path}");
        }
    }
}
