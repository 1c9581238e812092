//! Leases in the metadata DB: work that exactly one server process may do at a time (the
//! scheduler) is done by whoever holds its lease. The holder renews it on every round;
//! when the holder dies, the lease runs out and the next process to ask takes it over.

use chrono::{DateTime, Duration, Utc};
use dango_entity::leases;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, Set};

/// Takes or renews lease `name` for `holder` until `now + ttl`; true when `holder` holds it
/// afterwards. Atomic: of two processes asking at once, one gets it.
pub async fn hold(
    db: &DatabaseConnection,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> crate::Result<bool> {
    let until = now + ttl;
    let renewed = leases::Entity::update_many()
        .col_expr(leases::Column::Holder, Expr::value(holder))
        .col_expr(leases::Column::ExpiresAt, Expr::value(until))
        .filter(leases::Column::Name.eq(name))
        .filter(
            Condition::any()
                .add(leases::Column::Holder.eq(holder))
                .add(leases::Column::ExpiresAt.lt(now)),
        )
        .exec(db)
        .await?;
    if renewed.rows_affected == 1 {
        return Ok(true);
    }
    let row = leases::ActiveModel {
        name: Set(name.to_string()),
        holder: Set(holder.to_string()),
        expires_at: Set(until),
    };
    let inserted = leases::Entity::insert(row)
        .on_conflict(
            OnConflict::column(leases::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted == 1)
}

/// Gives lease `name` up, if `holder` has it (a clean shutdown: the next process need not
/// wait for it to run out).
pub async fn release(db: &DatabaseConnection, name: &str, holder: &str) -> crate::Result<()> {
    leases::Entity::delete_many()
        .filter(leases::Column::Name.eq(name))
        .filter(leases::Column::Holder.eq(holder))
        .exec(db)
        .await?;
    Ok(())
}

/// Who holds lease `name` at `now`, if anyone.
pub async fn holder(
    db: &DatabaseConnection,
    name: &str,
    now: DateTime<Utc>,
) -> crate::Result<Option<String>> {
    Ok(leases::Entity::find_by_id(name.to_string())
        .one(db)
        .await?
        .filter(|lease| lease.expires_at >= now)
        .map(|lease| lease.holder))
}
