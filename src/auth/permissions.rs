//! Roles, the 29 permission tokens and the admin/editor/viewer matrix (behaviour §7.3).

use serde::{Deserialize, Serialize};

/// Roles in increasing order of power, so `min` caps a role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Editor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        match value.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn can(self, permission: Permission) -> bool {
        permission.allowed_for(self)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! permissions {
    ($($variant:ident => $token:literal, $min:ident;)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Permission { $($variant,)* }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $token,)* }
            }

            pub fn parse(token: &str) -> Option<Permission> {
                match token { $($token => Some(Permission::$variant),)* _ => None }
            }

            /// The least powerful role that holds this permission.
            pub fn minimum_role(self) -> Role {
                match self { $(Permission::$variant => Role::$min,)* }
            }
        }
    };
}

permissions! {
    SourceView => "source.view", Viewer;
    SourceViewCredentials => "source.view_credentials", Admin;
    SourceSync => "source.sync", Editor;
    SourceManage => "source.manage", Editor;
    CsvUpload => "csv.upload", Editor;
    CsvDelete => "csv.delete", Editor;
    DbtView => "dbt.view", Viewer;
    DbtRun => "dbt.run", Editor;
    DbtManage => "dbt.manage", Editor;
    DashboardView => "dashboard.view", Viewer;
    DashboardCreate => "dashboard.create", Editor;
    QueryExecute => "query.execute", Editor;
    DashboardManage => "dashboard.manage", Admin;
    HealthView => "health.view", Viewer;
    LogsView => "logs.view", Viewer;
    PlatformManage => "platform.manage", Admin;
    ConfigView => "config.view", Editor;
    ConfigManage => "config.manage", Admin;
    UsersView => "users.view", Admin;
    UsersManage => "users.manage", Admin;
    AuthManage => "auth.manage", Admin;
    AuditView => "audit.view", Admin;
    NotebooksView => "notebooks.view", Viewer;
    NotebooksExecute => "notebooks.execute", Editor;
    NotebooksManage => "notebooks.manage", Editor;
    GovernanceView => "governance.view", Viewer;
    GovernanceManage => "governance.manage", Admin;
    SchedulerView => "scheduler.view", Viewer;
    SchedulerManage => "scheduler.manage", Admin;
}

impl Permission {
    pub fn allowed_for(self, role: Role) -> bool {
        role >= self.minimum_role()
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_29_distinct_tokens() {
        assert_eq!(Permission::ALL.len(), 29);
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
        }
    }

    #[test]
    fn matrix_matches_the_reference_table() {
        let viewer: Vec<&str> = Permission::ALL
            .iter()
            .filter(|p| Role::Viewer.can(**p))
            .map(|p| p.as_str())
            .collect();
        assert_eq!(
            viewer,
            [
                "source.view",
                "dbt.view",
                "dashboard.view",
                "health.view",
                "logs.view",
                "notebooks.view",
                "governance.view",
                "scheduler.view"
            ]
        );
        let editor_only: Vec<&str> = Permission::ALL
            .iter()
            .filter(|p| Role::Editor.can(**p) && !Role::Viewer.can(**p))
            .map(|p| p.as_str())
            .collect();
        assert_eq!(
            editor_only,
            [
                "source.sync",
                "source.manage",
                "csv.upload",
                "csv.delete",
                "dbt.run",
                "dbt.manage",
                "dashboard.create",
                "query.execute",
                "config.view",
                "notebooks.execute",
                "notebooks.manage"
            ]
        );
        assert!(Permission::ALL.iter().all(|p| Role::Admin.can(*p)));
    }

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
        assert_eq!(Role::parse(" Admin "), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
        assert_eq!(Role::Admin.min(Role::Viewer), Role::Viewer);
    }
}
