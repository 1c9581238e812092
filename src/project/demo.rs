//! The demo project: a few file sources with generated, realistic-looking data
//! (customers, products, three months of orders) and dbt models over them, so a
//! newcomer sees a working platform with one command.

use std::fmt::Write as _;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::write_atomic;

const COUNTRIES: &[&str] = &["DE", "FR", "NL", "ES", "IT", "GB", "US", "PL", "SE", "PT"];
const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloé", "Dario", "Eva", "Finn", "Greta", "Hugo", "Ines", "Jonas", "Kai", "Lea",
    "Mila", "Noah", "Olga", "Piet",
];
const LAST: &[&str] = &[
    "Schmidt",
    "Martin",
    "de Vries",
    "García",
    "Rossi",
    "Smith",
    "Nowak",
    "Lindqvist",
    "Silva",
    "Müller",
    "Bernard",
    "Jansen",
];
const CATEGORIES: &[&str] = &["Coffee", "Tea", "Snacks", "Tableware", "Gifts"];
const STATUSES: &[(&str, u32)] = &[
    ("completed", 80),
    ("shipped", 10),
    ("cancelled", 6),
    ("refunded", 4),
];

pub const CUSTOMERS: usize = 1_000;
pub const PRODUCTS: usize = 50;
pub const ORDERS_PER_MONTH: usize = 2_000;
const MONTHS: &[(u32, u32)] = &[(2026, 9), (2026, 10), (2026, 11)];

pub const SOURCES_YML: &str = r#"version: "1.0"
sources:
  - name: customers
    type: csv
    description: Customer master data (one CSV)
    csv: {directory: data/uploads/customers}
  - name: orders
    type: local_files
    description: Monthly order exports; drop a new month's file in data/uploads/orders
    local_files: {directory: data/uploads/orders, file_pattern: "*.csv"}
  - name: products
    type: local_files
    description: Product catalogue (JSON)
    local_files: {directory: data/uploads/products, file_pattern: "*.json"}
"#;

const MODELS: &[(&str, &str)] = &[
    (
        "marts/customer_revenue.sql",
        "-- Revenue and order count per customer (completed and shipped orders).\nselect\n    c.customer_id,\n    c.name,\n    c.country,\n    count(o.order_id) as orders,\n    coalesce(sum(o.quantity * o.unit_price), 0) as revenue\nfrom {{ source('customers', 'customers') }} c\nleft join {{ source('orders', 'orders') }} o\n    on o.customer_id = c.customer_id and o.status in ('completed', 'shipped')\ngroup by 1, 2, 3\n",
    ),
    (
        "marts/monthly_revenue.sql",
        "-- Revenue per month and product category.\nselect\n    date_trunc('month', o.ordered_at) as month,\n    p.category,\n    count(*) as orders,\n    sum(o.quantity * o.unit_price) as revenue\nfrom {{ source('orders', 'orders') }} o\njoin {{ source('products', 'products') }} p on p.product_id = o.product_id\nwhere o.status in ('completed', 'shipped')\ngroup by 1, 2\n",
    ),
    (
        "marts/sources.yml",
        "version: 2\n\nsources:\n  - name: customers\n    schema: raw_customers\n    tables: [{name: customers}]\n  - name: orders\n    schema: raw_orders\n    tables: [{name: orders}]\n  - name: products\n    schema: raw_products\n    tables: [{name: products}]\n\nmodels:\n  - name: customer_revenue\n    description: Revenue and order count per customer.\n    columns:\n      - name: customer_id\n        tests: [unique, not_null]\n  - name: monthly_revenue\n    description: Revenue per month and product category.\n",
    ),
];

fn pick<'a>(rng: &mut StdRng, items: &'a [&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Writes the demo sources, data files and models into an initialised project.
pub fn populate(root: &Path) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(20261127);
    write_atomic(&root.join(".dango/sources.yml"), SOURCES_YML.as_bytes())?;

    let mut customers = String::from("customer_id,name,email,country,signup_date\n");
    for id in 1..=CUSTOMERS {
        let (first, last) = (pick(&mut rng, FIRST), pick(&mut rng, LAST));
        let email = format!(
            "{}.{}{}@example.com",
            first.to_lowercase(),
            last.to_lowercase().replace(' ', ""),
            id
        );
        let day = rng.random_range(1..=28);
        let month = rng.random_range(1..=8);
        let _ = writeln!(
            customers,
            "{id},\"{first} {last}\",{email},{},2026-{month:02}-{day:02}",
            pick(&mut rng, COUNTRIES)
        );
    }
    let dir = root.join("data/uploads/customers");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("customers.csv"), customers)?;

    let mut products = Vec::with_capacity(PRODUCTS);
    let mut prices = Vec::with_capacity(PRODUCTS);
    for id in 1..=PRODUCTS {
        let category = pick(&mut rng, CATEGORIES);
        let price = (rng.random_range(300..6000) as f64) / 100.0;
        prices.push(price);
        products.push(serde_json::json!({
            "product_id": id,
            "name": format!("{category} item {id}"),
            "category": category,
            "price": price,
        }));
    }
    let dir = root.join("data/uploads/products");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("products.json"),
        serde_json::to_string_pretty(&products)?,
    )?;

    let dir = root.join("data/uploads/orders");
    std::fs::create_dir_all(&dir)?;
    let total_weight: u32 = STATUSES.iter().map(|s| s.1).sum();
    let mut order_id = 100_000;
    for (year, month) in MONTHS {
        let mut orders =
            String::from("order_id,customer_id,product_id,quantity,unit_price,status,ordered_at\n");
        for _ in 0..ORDERS_PER_MONTH {
            order_id += 1;
            let product = rng.random_range(1..=PRODUCTS);
            let mut roll = rng.random_range(0..total_weight);
            let status = STATUSES
                .iter()
                .find(|(_, weight)| {
                    if roll < *weight {
                        true
                    } else {
                        roll -= weight;
                        false
                    }
                })
                .map(|s| s.0)
                .unwrap_or("completed");
            let _ = writeln!(
                orders,
                "{order_id},{},{product},{},{:.2},{status},{year}-{month:02}-{:02} {:02}:{:02}:00",
                rng.random_range(1..=CUSTOMERS),
                rng.random_range(1..=5),
                prices[product - 1],
                rng.random_range(1..=28),
                rng.random_range(8..22),
                rng.random_range(0..60)
            );
        }
        std::fs::write(dir.join(format!("orders_{year}_{month:02}.csv")), orders)?;
    }

    for (path, contents) in MODELS {
        let path = root.join("dbt/models").join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, contents)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn generates_the_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".dango")).unwrap();
        super::populate(dir.path()).unwrap();
        let customers =
            std::fs::read_to_string(dir.path().join("data/uploads/customers/customers.csv"))
                .unwrap();
        assert_eq!(customers.lines().count(), super::CUSTOMERS + 1);
        let orders =
            std::fs::read_to_string(dir.path().join("data/uploads/orders/orders_2026_10.csv"))
                .unwrap();
        assert_eq!(orders.lines().count(), super::ORDERS_PER_MONTH + 1);
        crate::config::sources::SourcesFile::parse(super::SOURCES_YML).unwrap();
    }
}
