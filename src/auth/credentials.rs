//! Credentials validated moments ago, so a client polling the API is not looked up in
//! the metadata database on every request (that lookup is most of what an
//! authenticated request costs).
//!
//! What keeps it safe:
//! - an entry is used for at most [`CredentialCache::MAX_AGE`], and the checks that
//!   depend on the clock (session expiry and idle time, key expiry) run on every use;
//! - every change to who may do what goes through a request that is not a read (logout,
//!   revoking a key, deactivating a user, changing a role or password), and the guard
//!   calls [`CredentialCache::invalidate`] once each of those has answered; an entry
//!   read before that is never stored after it (the generation check in `remember`), so
//!   the change holds for every request that starts after it answered;
//! - a change made by another process (the `dango auth` CLI writes the database
//!   directly) holds within `MAX_AGE`, and the CLI waits that long before it returns.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use dango_entity::{api_keys as api_key_rows, sessions as session_rows, users};
use sea_orm::DatabaseConnection;

use super::sessions::SessionPolicy;
use super::{api_keys, sessions};
use crate::util::sha256_hex;

#[derive(Default)]
pub struct CredentialCache {
    /// Advances with every invalidation; entries from an older generation are ignored.
    generation: AtomicU64,
    /// By SHA-256 of the token.
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Clone)]
enum Proof {
    Session(session_rows::Model),
    ApiKey(api_key_rows::Model),
}

struct Entry {
    proof: Proof,
    user: users::Model,
    generation: u64,
    validated: Instant,
}

impl CredentialCache {
    pub const MAX_AGE: Duration = Duration::from_secs(1);
    /// More distinct live credentials than this within `MAX_AGE` empties the cache.
    const MAX_ENTRIES: usize = 10_000;

    /// Forgets every entry: the next request with each credential is checked against the
    /// database again.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.lock().clear();
    }

    /// [`sessions::validate`], answered from the cache when it can be.
    pub async fn session(
        &self,
        db: &DatabaseConnection,
        token: &str,
        policy: SessionPolicy,
    ) -> crate::Result<Option<(session_rows::Model, users::Model)>> {
        let key = sha256_hex(token);
        let generation = self.generation.load(Ordering::Acquire);
        if let Some((Proof::Session(session), user)) = self.lookup(&key, generation)
            && sessions::is_live(&session, policy, Utc::now())
        {
            return Ok(Some((session, user)));
        }
        let found = sessions::validate(db, token, policy).await?;
        if let Some((session, user)) = &found {
            self.remember(key, Proof::Session(session.clone()), user, generation);
        }
        Ok(found)
    }

    /// [`api_keys::validate`], answered from the cache when it can be.
    pub async fn api_key(
        &self,
        db: &DatabaseConnection,
        raw: &str,
    ) -> crate::Result<Option<(api_key_rows::Model, users::Model)>> {
        let key = sha256_hex(raw);
        let generation = self.generation.load(Ordering::Acquire);
        if let Some((Proof::ApiKey(api_key), user)) = self.lookup(&key, generation)
            && !api_keys::is_expired(&api_key, Utc::now())
        {
            return Ok(Some((api_key, user)));
        }
        let found = api_keys::validate(db, raw).await?;
        if let Some((api_key, user)) = &found {
            self.remember(key, Proof::ApiKey(api_key.clone()), user, generation);
        }
        Ok(found)
    }

    fn lookup(&self, key: &str, generation: u64) -> Option<(Proof, users::Model)> {
        let entries = self.lock();
        let entry = entries.get(key)?;
        (entry.generation == generation && entry.validated.elapsed() < Self::MAX_AGE)
            .then(|| (entry.proof.clone(), entry.user.clone()))
    }

    /// Keeps what the database said, unless an invalidation happened since the lookup
    /// began (what was read may predate the change).
    fn remember(&self, key: String, proof: Proof, user: &users::Model, generation: u64) {
        let mut entries = self.lock();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= Self::MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                proof,
                user: user.clone(),
                generation,
                validated: Instant::now(),
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
