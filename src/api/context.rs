//! What the request guard learned about a request, for handlers to extract.

use std::net::IpAddr;

use poem::{FromRequest, Request, RequestBody};

use crate::Error;
use crate::auth::Principal;
use crate::auth::sessions::ClientInfo;

#[derive(Clone, Debug)]
pub struct RequestContext {
    pub principal: Option<Principal>,
    pub client_ip: IpAddr,
    pub user_agent: Option<String>,
    /// The request reached us over HTTPS (directly or via a trusted proxy).
    pub secure: bool,
    /// The raw `dango_session` cookie, if any (a partial session is looked up from it).
    pub session_cookie: Option<String>,
    /// `scheme://host` as the client addressed us, for links and OAuth redirects.
    pub origin: String,
}

impl RequestContext {
    pub fn ip(&self) -> String {
        self.client_ip.to_string()
    }

    pub fn client(&self) -> ClientInfoOwned {
        ClientInfoOwned {
            ip: self.ip(),
            user_agent: self.user_agent.clone(),
        }
    }
}

/// Owned form of [`ClientInfo`] so handlers can borrow it across awaits.
pub struct ClientInfoOwned {
    pub ip: String,
    pub user_agent: Option<String>,
}

impl ClientInfoOwned {
    pub fn borrow(&self) -> ClientInfo<'_> {
        ClientInfo {
            ip: &self.ip,
            user_agent: self.user_agent.as_deref(),
        }
    }
}

/// The request context (always present behind the guard).
pub struct Ctx(pub RequestContext);

impl<'a> FromRequest<'a> for Ctx {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        req.data::<RequestContext>()
            .cloned()
            .map(Ctx)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("request guard did not run")).into())
    }
}

/// The signed-in caller; 401 when there is none.
pub struct Caller(pub Principal, pub RequestContext);

impl<'a> FromRequest<'a> for Caller {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let Ctx(ctx) = Ctx::from_request(req, body).await?;
        match ctx.principal.clone() {
            Some(principal) => Ok(Caller(principal, ctx)),
            None => Err(Error::unauthenticated("Authentication required").into()),
        }
    }
}
