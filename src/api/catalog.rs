//! Data catalog endpoints over the dbt artifacts (permission `governance.view`).

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;

use super::ApiTag;
use crate::catalog::{
    self, CatalogDeps, CatalogModels, Impact, Lineage, ModelColumns, ModelDetail, SearchResults,
    TableColumns,
};
use crate::error::code;
use crate::state::AppState;
use crate::{Error, Result};

pub struct CatalogApi;

fn check_name(name: &str) -> Result<()> {
    if crate::config::sources::is_valid_identifier(name) {
        Ok(())
    } else {
        Err(
            Error::bad_request(format!("'{name}' is not a valid model name"))
                .with_code(code::INVALID_NAME),
        )
    }
}

#[OpenApi(tag = "ApiTag::Catalog")]
impl CatalogApi {
    /// Models, seeds and sources with tests, documentation and row counts
    ///
    /// Models (grouped `staging` → `intermediate` → `marts`) followed by seeds, plus the dbt
    /// sources, from the manifest; each has test counts by last result, documented and total
    /// columns, tags, materialization, estimated row count and last build status.
    /// `overview.source_count` counts sources.yml entries and `table_count` dbt source tables;
    /// the lists are empty when no manifest exists.
    #[oai(
        path = "/api/catalog/models",
        method = "get",
        operation_id = "catalog_models"
    )]
    async fn models(&self, state: Data<&Arc<AppState>>) -> Json<CatalogModels> {
        Json(catalog::catalog_models(CatalogDeps::of(&state)).await)
    }

    /// One model or source: columns, SQL, compiled SQL, tests, dependencies
    ///
    /// Looks the name up among models, seeds and snapshots, then among dbt source tables.
    /// It returns the columns (live types and nullability from the warehouse when the
    /// relation exists, otherwise the documented columns), raw and compiled SQL, tests with
    /// their last result, parents, children (excluding tests) and an exact row count.
    #[oai(
        path = "/api/catalog/models/:model_name",
        method = "get",
        operation_id = "catalog_model"
    )]
    async fn model(
        &self,
        state: Data<&Arc<AppState>>,
        /// Name (not `unique_id`) of a model, seed or snapshot, otherwise of a dbt source table
        /// (letters, digits and underscores, at most 128; exact, case-sensitive); 404 when it
        /// is not in the manifest or there is no manifest.
        model_name: Path<String>,
    ) -> Result<Json<ModelDetail>> {
        check_name(&model_name)?;
        Ok(Json(
            catalog::model_detail(CatalogDeps::of(&state), &model_name).await?,
        ))
    }

    /// The lineage graph: every model, seed, snapshot and source, and their edges
    ///
    /// Every model, seed, snapshot and dbt source as a node (sorted by id), and a parent →
    /// child edge for each `depends_on`, with test and documentation counts per node. Until a
    /// dbt manifest exists the graph is not found.
    #[oai(
        path = "/api/catalog/lineage",
        method = "get",
        operation_id = "catalog_lineage"
    )]
    async fn lineage(&self, state: Data<&Arc<AppState>>) -> Result<Json<Lineage>> {
        let artifacts = catalog::require(state.dbt_artifacts())?;
        Ok(Json(catalog::lineage(&artifacts)))
    }

    /// Everything downstream of a model or source
    ///
    /// The tree of everything that depends on the node, directly or indirectly, with
    /// downstream counts. An edge back into the current path is marked `cycle: true` and not
    /// followed.
    #[oai(
        path = "/api/catalog/impact/:model_name",
        method = "get",
        operation_id = "catalog_impact"
    )]
    async fn impact(
        &self,
        state: Data<&Arc<AppState>>,
        /// Name of any non-test node (model, seed, snapshot, analysis) or of a dbt source table
        /// (letters, digits and underscores, at most 128; exact, case-sensitive); 404 when it
        /// is not in the manifest or there is no manifest.
        model_name: Path<String>,
        /// A column of the node: the answer then also lists every column computed from it
        /// (`column_impact`), traced through the models' SQL.
        column: Query<Option<String>>,
    ) -> Result<Json<Impact>> {
        check_name(&model_name)?;
        let artifacts = catalog::require(state.dbt_artifacts())?;
        let mut impact = catalog::impact(&artifacts, &model_name)?;
        if let Some(column) = column.0 {
            let deps = CatalogDeps::of(&state);
            let id = catalog::node_id(&artifacts, &model_name, false)?;
            let project = catalog::project_columns(&deps, &artifacts).await;
            impact.column_impact = Some(project.impact(&id, &column));
        }
        Ok(Json(impact))
    }

    /// A model's columns with where each comes from and what it feeds
    ///
    /// Column-level lineage from the model's compiled SQL: for each output column, the
    /// upstream columns (of models, seeds, snapshots or source tables) it is computed from,
    /// through CTEs, joins, aliases, `SELECT *` (expanded with the warehouse's columns) and
    /// ephemeral models, and the downstream columns computed from it. References that cannot
    /// be traced are listed in `unresolved`, never guessed.
    #[oai(
        path = "/api/catalog/models/:model_name/columns",
        method = "get",
        operation_id = "catalog_model_columns"
    )]
    async fn model_columns(
        &self,
        state: Data<&Arc<AppState>>,
        /// Name of a model (letters, digits and underscores, at most 128; exact,
        /// case-sensitive); 404 when it is not a model of the manifest.
        model_name: Path<String>,
    ) -> Result<Json<ModelColumns>> {
        check_name(&model_name)?;
        let artifacts = catalog::require(state.dbt_artifacts())?;
        let id = catalog::node_id(&artifacts, &model_name, true)?;
        let deps = CatalogDeps::of(&state);
        let project = catalog::project_columns(&deps, &artifacts).await;
        Ok(Json(project.model(&id)))
    }

    /// A table's columns with their cached profile
    ///
    /// The live columns (type, nullability) of a raw table of the source
    /// (`raw_<source>.<table>`), its staging view (`staging.stg_<source>__…`) or any dbt
    /// relation named by its schema (`marts`/`orders`), with the documentation from the dbt
    /// project and the statistics of the last profile: nulls, distinct values (estimated
    /// above 1,000,000 rows, which `distinct_approximate` says), min/max, mean, spread and
    /// quartiles of numbers, lengths of strings, top values and samples. Profiles are
    /// refreshed in the background after each sync; `stats` is null before the first.
    #[oai(
        path = "/api/catalog/:source/:table/columns",
        method = "get",
        operation_id = "catalog_table_columns"
    )]
    async fn table_columns(
        &self,
        state: Data<&Arc<AppState>>,
        /// The source name, or the schema of a dbt relation.
        #[oai(validator(pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"))]
        source: Path<String>,
        /// The table, view or model name.
        #[oai(validator(pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"))]
        table: Path<String>,
    ) -> Result<Json<TableColumns>> {
        let deps = CatalogDeps::of(&state);
        Ok(Json(catalog::table_columns(&deps, &source, &table).await?))
    }

    /// Profile a table now
    ///
    /// Computes the profile of the table afresh (all columns in one aggregate pass plus one
    /// grouped pass per column with repeated values), caches it and answers like
    /// `GET …/columns`.
    #[oai(
        path = "/api/catalog/:source/:table/profile",
        method = "post",
        operation_id = "catalog_profile_table"
    )]
    async fn profile_table(
        &self,
        state: Data<&Arc<AppState>>,
        /// The source name, or the schema of a dbt relation.
        #[oai(validator(pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"))]
        source: Path<String>,
        /// The table, view or model name.
        #[oai(validator(pattern = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"))]
        table: Path<String>,
    ) -> Result<Json<TableColumns>> {
        let deps = CatalogDeps::of(&state);
        Ok(Json(catalog::profile_now(&deps, &source, &table).await?))
    }

    /// Search sources, tables, models, seeds and columns
    ///
    /// Matches the query (2–100 characters, case-insensitive) against names, tags, column
    /// names and descriptions. Ranked: exact name, name prefix, name substring, then tags,
    /// columns and descriptions; queries of four letters or more tolerate a typo (two from
    /// nine letters), marked `fuzzy`. Each node appears once, with its best match; at most 50.
    #[oai(
        path = "/api/catalog/search",
        method = "get",
        operation_id = "catalog_search"
    )]
    async fn search(
        &self,
        state: Data<&Arc<AppState>>,
        /// What to look for.
        #[oai(validator(min_length = 2, max_length = 100))]
        q: Query<String>,
    ) -> Result<Json<SearchResults>> {
        Ok(Json(catalog::search(&CatalogDeps::of(&state), &q)?))
    }
}
