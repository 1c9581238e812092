//! dbt's artifacts (`manifest.json` v12, `run_results.json` v6, `catalog.json` v1), for
//! tools that read them and for Dango's own catalog, lineage and docs pages.
