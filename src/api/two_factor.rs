//! Two-factor authentication endpoints.

use std::sync::Arc;

use poem::web::Data;
use poem::web::cookie::CookieJar;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTag;
use super::auth::{LoginResponse, login_response};
use super::context::{Caller, Ctx};
use super::models::SuccessResponse;
use crate::auth::{sessions, two_factor, users as accounts};
use crate::state::AppState;
use crate::{Error, Result};

pub struct TwoFactorApi;

#[derive(Object)]
pub struct PasswordConfirmation {
    #[oai(validator(max_length = 1024))]
    pub password: String,
}

#[derive(Object)]
pub struct CodeRequest {
    /// A 6-digit TOTP code (or, for `/verify`, a recovery code `XXXX-XXXX`).
    #[oai(validator(max_length = 32))]
    pub code: String,
}

#[derive(Object)]
pub struct PasswordAndCode {
    #[oai(validator(max_length = 1024))]
    pub password: String,
    #[oai(validator(max_length = 32))]
    pub code: String,
}

#[derive(Object)]
pub struct SetupResponse {
    /// Base32 TOTP secret, for manual entry.
    pub secret: String,
    /// `otpauth://` URI for QR codes.
    pub provisioning_uri: String,
    /// The provisioning URI as a QR code: an SVG image in a `data:` URI, for `<img src>`.
    pub qr_code: String,
    /// Single-use recovery codes; shown only now.
    pub recovery_codes: Vec<String>,
}

#[derive(Object)]
pub struct RecoveryCodesResponse {
    pub recovery_codes: Vec<String>,
}

#[OpenApi(tag = "ApiTag::TwoFactor")]
impl TwoFactorApi {
    /// Begin 2FA setup
    ///
    /// Checks your password and returns a new secret and 10 recovery codes. 2FA is on
    /// only after `POST /api/auth/2fa/verify-setup` with a code from your app.
    #[oai(
        path = "/api/auth/2fa/setup",
        method = "post",
        operation_id = "two_factor_setup"
    )]
    async fn setup(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        body: Json<PasswordConfirmation>,
    ) -> Result<Json<SetupResponse>> {
        let Caller(principal, _) = caller;
        let user = accounts::get(&state.db, &principal.user_id).await?;
        let enrollment = two_factor::setup(&state.db, &user, &body.password).await?;
        let qr_code =
            crate::auth::qr::svg_data_uri(&enrollment.provisioning_uri).unwrap_or_default();
        Ok(Json(SetupResponse {
            qr_code,
            secret: enrollment.secret,
            provisioning_uri: enrollment.provisioning_uri,
            recovery_codes: enrollment.recovery_codes,
        }))
    }

    /// Complete 2FA setup with a code from the authenticator app
    ///
    /// Turns 2FA on after `POST /api/auth/2fa/setup` when the code is a valid, not yet used
    /// 6-digit TOTP code from the new secret. It is refused when 2FA is already on, no setup
    /// is pending, or the code is wrong.
    #[oai(
        path = "/api/auth/2fa/verify-setup",
        method = "post",
        operation_id = "two_factor_verify_setup"
    )]
    async fn verify_setup(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        body: Json<CodeRequest>,
    ) -> Result<Json<SuccessResponse>> {
        let Caller(principal, _) = caller;
        let user = accounts::get(&state.db, &principal.user_id).await?;
        two_factor::verify_setup(&state.db, &user, &body.code).await?;
        Ok(SuccessResponse::ok())
    }

    /// Second login step: a TOTP code or a recovery code
    ///
    /// Uses the partial session cookie from the login answer. A code is accepted once;
    /// 5 wrong codes end the partial session (log in again).
    #[oai(
        path = "/api/auth/2fa/verify",
        method = "post",
        operation_id = "two_factor_verify"
    )]
    async fn verify(
        &self,
        state: Data<&Arc<AppState>>,
        Ctx(ctx): Ctx,
        jar: &CookieJar,
        body: Json<CodeRequest>,
    ) -> Result<Json<LoginResponse>> {
        let token = ctx.session_cookie.clone().unwrap_or_default();
        let Some((partial, user)) = sessions::find_partial(&state.db, &token).await? else {
            return Err(Error::unauthenticated("Invalid or expired session"));
        };
        let config = state.config();
        let client = ctx.client();
        let outcome = two_factor::verify_login(
            &state.db,
            &config.auth,
            &partial,
            user,
            &body.code,
            &client.borrow(),
        )
        .await?;
        Ok(Json(login_response(&state, &ctx, jar, outcome)))
    }

    /// Turn 2FA off (needs your password)
    ///
    /// Checks your password, then removes the TOTP secret and all recovery codes. It is
    /// refused for a wrong password or when 2FA is neither on nor pending; your sessions stay
    /// valid.
    #[oai(
        path = "/api/auth/2fa/disable",
        method = "post",
        operation_id = "two_factor_disable"
    )]
    async fn disable(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        body: Json<PasswordConfirmation>,
    ) -> Result<Json<SuccessResponse>> {
        let Caller(principal, _) = caller;
        let user = accounts::get(&state.db, &principal.user_id).await?;
        two_factor::disable(&state.db, &user, &body.password).await?;
        Ok(SuccessResponse::ok())
    }

    /// New recovery codes (needs your password and a current TOTP code)
    ///
    /// The code must be a TOTP code from your app, not a recovery code. All recovery codes
    /// are replaced with 10 new `XXXX-XXXX` codes, shown only in this answer; it is refused
    /// when 2FA is off or the password or code is wrong.
    #[oai(
        path = "/api/auth/2fa/regenerate-recovery",
        method = "post",
        operation_id = "two_factor_regenerate_recovery"
    )]
    async fn regenerate_recovery(
        &self,
        state: Data<&Arc<AppState>>,
        caller: Caller,
        body: Json<PasswordAndCode>,
    ) -> Result<Json<RecoveryCodesResponse>> {
        let Caller(principal, _) = caller;
        let user = accounts::get(&state.db, &principal.user_id).await?;
        let recovery_codes =
            two_factor::regenerate_recovery_codes(&state.db, &user, &body.password, &body.code)
                .await?;
        Ok(Json(RecoveryCodesResponse { recovery_codes }))
    }
}
