//! The MCP server at `/mcp`: an agent holding an API key initializes, lists the tools and
//! calls each of them; what the key may not do through REST it may not do through MCP.

use dango::auth::Role;
use serde_json::{Value, json};

use crate::common::{TestApp, json};

struct Agent<'a> {
    app: &'a TestApp,
    key: String,
}

impl Agent<'_> {
    /// Sends one JSON-RPC message; the HTTP status and the answer (null when empty).
    async fn send(&self, message: Value) -> (u16, Value) {
        let response = self
            .app
            .anonymous()
            .post(self.app.url("/mcp"))
            .bearer_auth(&self.key)
            .header("Accept", "application/json, text/event-stream")
            .json(&message)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Calls `method` with `params`; the JSON-RPC result, which must be there.
    async fn request(&self, method: &str, params: Value) -> Value {
        let (status, answer) = self
            .send(json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}))
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["id"], 7);
        assert!(answer["error"].is_null(), "{method}: {answer}");
        answer["result"].clone()
    }

    /// Calls tool `name`; its result (`isError`, `content`, `structuredContent`).
    async fn call(&self, name: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// Calls tool `name`, which must succeed; its structured content.
    async fn call_ok(&self, name: &str, arguments: Value) -> Value {
        let result = self.call(name, arguments).await;
        assert_eq!(result["isError"], false, "{name}: {result}");
        let text = result["content"][0]["text"].as_str().unwrap();
        assert!(
            serde_json::from_str::<Value>(text).is_ok(),
            "{name}: {text}"
        );
        result["structuredContent"].clone()
    }
}

async fn synced_app() -> TestApp {
    let app = TestApp::start().await;
    let admin = app.login_as(Role::Admin).await;
    app.synced_csv_source(&admin, "sales", "id,amount\n1,2.5\n2,3.5\n")
        .await;
    app
}

#[tokio::test]
async fn an_agent_initializes_lists_and_calls_every_tool() {
    let app = synced_app().await;
    let agent = Agent {
        app: &app,
        key: app.api_key(Role::Admin, None).await,
    };

    let init = agent
        .request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "1"}}),
        )
        .await;
    assert_eq!(init["protocolVersion"], "2025-06-18");
    assert_eq!(init["serverInfo"]["name"], "dango");
    assert!(init["capabilities"]["tools"].is_object());
    let (status, _) = agent
        .send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    assert_eq!(status, 202);

    let listed = agent.request("tools/list", json!({})).await;
    let names: Vec<&str> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in [
        "list_sources",
        "describe_table",
        "search_catalog",
        "get_lineage",
        "run_query",
        "list_models",
        "get_model",
        "trigger_sync",
        "run_models",
        "get_run_status",
        "list_schedules",
        "preview_schedule",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for tool in listed["tools"].as_array().unwrap() {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
    }

    let sources = agent.call_ok("list_sources", json!({})).await;
    assert_eq!(sources["result"][0]["name"], "sales", "{sources}");
    std::fs::write(
        app.root().join(".dango/schedules.yml"),
        "schedules:\n- {name: nightly, cron: daily, timezone: Europe/Berlin, sources: [sales]}\n",
    )
    .unwrap();
    let schedules = agent.call_ok("list_schedules", json!({})).await;
    assert_eq!(
        schedules["result"][0]["cron_label"], "Daily at 6 AM",
        "{schedules}"
    );
    let preview = agent
        .call_ok("preview_schedule", json!({"name": "nightly", "count": 2}))
        .await;
    assert_eq!(
        preview["fire_times"].as_array().map(Vec::len),
        Some(2),
        "{preview}"
    );
    let details = agent
        .call_ok("get_source_details", json!({"source_name": "sales"}))
        .await;
    assert_eq!(details["name"], "sales", "{details}");
    let table = agent
        .call_ok(
            "describe_table",
            json!({"source": "sales", "table": "sales"}),
        )
        .await;
    assert_eq!(table["schema"], "raw_sales");
    let found = agent.call_ok("search_catalog", json!({"q": "sales"})).await;
    assert!(found["total"].as_u64().unwrap() >= 1, "{found}");
    let lineage = agent
        .call_ok("get_lineage", json!({"model_name": "stg_sales__sales"}))
        .await;
    assert!(lineage.is_object(), "{lineage}");
    let answer = agent
        .call_ok(
            "run_query",
            json!({"sql": "SELECT sum(amount) AS total FROM raw_sales.sales"}),
        )
        .await;
    assert_eq!(answer["rows"], json!([[6.0]]));
    let models = agent.call_ok("list_models", json!({})).await;
    assert!(models.to_string().contains("stg_sales__sales"), "{models}");
    let model = agent
        .call_ok("get_model", json!({"model_name": "stg_sales__sales"}))
        .await;
    assert_eq!(model["name"], "stg_sales__sales");

    let started = agent
        .call_ok("trigger_sync", json!({"source_name": "sales"}))
        .await;
    let run_id = started["record_id"].as_str().expect("a run id").to_string();
    let status = agent
        .call_ok("get_run_status", json!({"record_id": run_id}))
        .await;
    assert_eq!(status["id"], run_id.as_str());
    app.wait_run(&app.login_as(Role::Admin).await, &run_id)
        .await;
    let built = agent.call_ok("run_models", json!({"command": "run"})).await;
    assert!(built["run_id"].is_string(), "{built}");

    let refused = agent
        .call("run_query", json!({"sql": "DROP TABLE raw_sales.sales"}))
        .await;
    assert_eq!(refused["isError"], true);
    assert!(
        refused["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("HTTP 400")
    );

    let resources = agent.request("resources/list", json!({})).await;
    let uri = resources["resources"][0]["uri"]
        .as_str()
        .unwrap()
        .to_string();
    let read = agent.request("resources/read", json!({"uri": uri})).await;
    assert!(
        read["contents"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with('{')
    );
}

#[tokio::test]
async fn a_viewer_key_cannot_do_through_mcp_what_it_cannot_do_through_rest() {
    let app = synced_app().await;
    let viewer = Agent {
        app: &app,
        key: app.api_key(Role::Admin, Some(Role::Viewer)).await,
    };
    for (tool, arguments) in [
        ("trigger_sync", json!({"source_name": "sales"})),
        ("run_models", json!({"command": "run"})),
        ("run_query", json!({"sql": "SELECT 1"})),
    ] {
        let result = viewer.call(tool, arguments).await;
        assert_eq!(result["isError"], true, "{tool}: {result}");
        assert!(
            result["content"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("HTTP 403"),
            "{tool}: {result}"
        );
    }
    // What a viewer may read, it reads.
    viewer.call_ok("list_sources", json!({})).await;
    viewer
        .call_ok(
            "describe_table",
            json!({"source": "sales", "table": "sales"}),
        )
        .await;

    let admin = app.login_as(Role::Admin).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let audit = app
            .get_json(&admin, "/api/audit?event=mcp_tool_called")
            .await;
        if audit["total"].as_u64() == Some(5) {
            let statuses: Vec<_> = audit["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["details"]["status"].as_u64().unwrap())
                .collect();
            assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 3, "{audit}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{audit}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn bad_messages_get_json_rpc_errors() {
    let app = TestApp::start().await;
    let agent = Agent {
        app: &app,
        key: app.api_key(Role::Editor, None).await,
    };
    let (_, unknown_tool) = agent
        .send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "rm_rf"}}),
        )
        .await;
    assert_eq!(unknown_tool["error"]["code"], -32602);
    let (_, unknown_method) = agent
        .send(json!({"jsonrpc": "2.0", "id": 2, "method": "sampling/createMessage"}))
        .await;
    assert_eq!(unknown_method["error"]["code"], -32601);
    let (_, missing) = agent
        .send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                     "params": {"name": "describe_table", "arguments": {"source": "x"}}}))
        .await;
    assert_eq!(missing["result"]["isError"], true, "{missing}");
    let (_, batch) = agent
        .send(json!([
            {"jsonrpc": "2.0", "id": "a", "method": "ping"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
        ]))
        .await;
    assert_eq!(batch, json!([{"jsonrpc": "2.0", "id": "a", "result": {}}]));

    let raw = app
        .anonymous()
        .post(app.url("/mcp"))
        .bearer_auth(&agent.key)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert_eq!(json_body(raw).await["error"]["code"], -32700);

    let stream = app
        .anonymous()
        .get(app.url("/mcp"))
        .bearer_auth(&agent.key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 405);
    let anonymous = app
        .anonymous()
        .post(app.url("/mcp"))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

async fn json_body(response: reqwest::Response) -> Value {
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn the_tool_list_describes_each_operation() {
    let app = TestApp::start().await;
    let viewer = app.login_as(Role::Viewer).await;
    let tools = json(app.get(&viewer, "/api/tools").await).await;
    assert_eq!(tools["user_role"], "viewer");
    let sync = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "trigger_sync")
        .unwrap();
    assert_eq!(sync["endpoint"], "/api/sources/{source_name}/sync");
    assert_eq!(sync["method"], "POST");
    assert_eq!(sync["permissions_required"], json!(["source.sync"]));
    assert_eq!(sync["is_read_only"], false);
    assert!(
        sync["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "source_name" && p["required"] == true)
    );
}

#[tokio::test]
async fn the_catalog_summary_holds_sources_tables_columns_and_models() {
    let app = synced_app().await;
    for (column, accepted) in [("a", false), ("b", false), ("c", true)] {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        dango_entity::schema_drift_events::ActiveModel {
            source: Set("sales".into()),
            table_name: Set("sales".into()),
            column_name: Set(column.into()),
            change_type: Set("column_added".into()),
            new_type: Set(Some("VARCHAR".into())),
            detected_at: Set(chrono::Utc::now()),
            accepted: Set(accepted),
            ..Default::default()
        }
        .insert(app.db())
        .await
        .unwrap();
    }
    let viewer = app.login_as(Role::Viewer).await;
    let summary = json(app.get(&viewer, "/api/catalog/summary").await).await;
    assert_eq!(summary["totals"]["source_count"], 1, "{summary}");
    assert_eq!(summary["totals"]["table_count"], 1);
    let source = &summary["sources"][0];
    assert_eq!(source["name"], "sales");
    assert_eq!(source["type"], "csv");
    assert_eq!(source["row_count"], 2);
    let table = &source["tables"][0];
    assert_eq!(table["schema"], "raw_sales");
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(columns.starts_with(&["id", "amount"]), "{columns:?}");
    assert_eq!(
        source["quality"]["drift_event_count"], 2,
        "unaccepted events only"
    );
    assert!(
        summary["dbt_models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "stg_sales__sales"),
        "{summary}"
    );

    // The same summary is an MCP resource.
    let agent = Agent {
        app: &app,
        key: app.api_key(Role::Viewer, None).await,
    };
    let read = agent
        .request("resources/read", json!({"uri": "dango://catalog/summary"}))
        .await;
    let text = read["contents"][0]["text"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap()["totals"],
        summary["totals"]
    );
}
