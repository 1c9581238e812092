//! Data catalog endpoints over the dbt artifacts (permission `governance.view`).

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;

use super::ApiTag;
use crate::app::AppState;
use crate::catalog::{self, Artifacts, CatalogModels, Impact, Lineage, ModelDetail};
use crate::{Error, Result};

pub struct CatalogApi;

fn check_name(name: &str) -> Result<()> {
    if crate::config::sources::is_valid_identifier(name) {
        Ok(())
    } else {
        Err(
            Error::bad_request(format!("'{name}' is not a valid model name"))
                .with_code("DANGO-V002"),
        )
    }
}

#[OpenApi(tag = "ApiTag::Catalog")]
impl CatalogApi {
    /// Models, seeds and sources with tests, documentation and row counts
    #[oai(
        path = "/api/catalog/models",
        method = "get",
        operation_id = "catalog_models"
    )]
    async fn models(&self, state: Data<&Arc<AppState>>) -> Json<CatalogModels> {
        Json(catalog::catalog_models(&state).await)
    }

    /// One model or source: columns, SQL, compiled SQL, tests, dependencies
    #[oai(
        path = "/api/catalog/models/:model_name",
        method = "get",
        operation_id = "catalog_model"
    )]
    async fn model(
        &self,
        state: Data<&Arc<AppState>>,
        model_name: Path<String>,
    ) -> Result<Json<ModelDetail>> {
        check_name(&model_name)?;
        Ok(Json(catalog::model_detail(&state, &model_name).await?))
    }

    /// The lineage graph: every model, seed, snapshot and source, and their edges
    #[oai(
        path = "/api/catalog/lineage",
        method = "get",
        operation_id = "catalog_lineage"
    )]
    async fn lineage(&self, state: Data<&Arc<AppState>>) -> Result<Json<Lineage>> {
        Ok(Json(catalog::lineage(&Artifacts::require(&state)?)))
    }

    /// Everything downstream of a model or source
    #[oai(
        path = "/api/catalog/impact/:model_name",
        method = "get",
        operation_id = "catalog_impact"
    )]
    async fn impact(
        &self,
        state: Data<&Arc<AppState>>,
        model_name: Path<String>,
    ) -> Result<Json<Impact>> {
        check_name(&model_name)?;
        Ok(Json(catalog::impact(
            &Artifacts::require(&state)?,
            &model_name,
        )?))
    }
}
