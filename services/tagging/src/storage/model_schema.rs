//! The predictive tables (PostgreSQL and SQLite alike): `tag_model` (one row per chain: the
//! fitted BG/NBD, Gamma-Gamma and beta-binomial parameters, the report and the cut-offs of
//! the model tags), `tag_prediction` (one row per scored customer), `tag_dish` (the menu,
//! consumed from profile), `tag_visit_line` (dish lines of visits, for dish demand and
//! new-dish acceptance) and `tag_campaign_send` (campaign sends from notification).
//! Scores are DOUBLE PRECISION, days are epoch days (BIGINT), money BIGINT fen.

use sea_orm::ConnectionTrait;
use sea_orm_migration::{
    MigrationName, MigrationTrait, SchemaManager, async_trait, prelude::DbErr,
};

/// Migration creating the predictive tables.
pub struct ModelTables;

impl MigrationName for ModelTables {
    fn name(&self) -> &str {
        "m0002_tagging_models"
    }
}

const TABLES: [&str; 5] = [
    "tag_campaign_send",
    "tag_visit_line",
    "tag_dish",
    "tag_prediction",
    "tag_model",
];

#[async_trait::async_trait]
impl MigrationTrait for ModelTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = [
            "CREATE TABLE IF NOT EXISTS tag_model (
                chain_id TEXT PRIMARY KEY, fitted BIGINT NOT NULL,
                r DOUBLE PRECISION NOT NULL, alpha DOUBLE PRECISION NOT NULL,
                a DOUBLE PRECISION NOT NULL, b DOUBLE PRECISION NOT NULL,
                log_likelihood DOUBLE PRECISION NOT NULL, spend_fitted BIGINT NOT NULL,
                gg_p DOUBLE PRECISION NOT NULL, gg_q DOUBLE PRECISION NOT NULL,
                gg_gamma DOUBLE PRECISION NOT NULL, customers BIGINT NOT NULL,
                fit_at_us BIGINT NOT NULL, converged BIGINT NOT NULL, note TEXT NOT NULL,
                calibration TEXT NOT NULL, churn_threshold DOUBLE PRECISION NOT NULL,
                high_value_cutoff_fen BIGINT NOT NULL,
                responder_cutoff DOUBLE PRECISION NOT NULL,
                adopter_cutoff DOUBLE PRECISION NOT NULL,
                response_alpha DOUBLE PRECISION NOT NULL, response_beta DOUBLE PRECISION NOT NULL,
                refit_day BIGINT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS tag_prediction (
                chain_id TEXT NOT NULL, customer_id TEXT NOT NULL, number BIGINT NOT NULL,
                visit_days BIGINT NOT NULL, p_alive DOUBLE PRECISION NOT NULL,
                expected_visits_30d DOUBLE PRECISION NOT NULL,
                expected_ticket_fen BIGINT NOT NULL, expected_value_fen BIGINT NOT NULL,
                response_rate DOUBLE PRECISION NOT NULL,
                response_sends BIGINT NOT NULL, new_dish_acceptance DOUBLE PRECISION NOT NULL,
                new_dish_visits BIGINT NOT NULL, computed_at_us BIGINT NOT NULL,
                PRIMARY KEY (chain_id, customer_id))",
            "CREATE INDEX IF NOT EXISTS tag_prediction_number ON tag_prediction (chain_id, number)",
            "CREATE TABLE IF NOT EXISTS tag_dish (
                chain_id TEXT NOT NULL, dish_id TEXT NOT NULL, name TEXT NOT NULL,
                category TEXT NOT NULL, ingredients TEXT NOT NULL, launch_day BIGINT,
                PRIMARY KEY (chain_id, dish_id))",
            "CREATE INDEX IF NOT EXISTS tag_dish_name ON tag_dish (chain_id, name)",
            "CREATE TABLE IF NOT EXISTS tag_visit_line (
                chain_id TEXT NOT NULL, customer_id TEXT NOT NULL, event_id TEXT NOT NULL,
                line_no BIGINT NOT NULL, day BIGINT NOT NULL, store_id TEXT NOT NULL,
                dish_id TEXT NOT NULL,
                dish_name TEXT NOT NULL, category TEXT NOT NULL,
                PRIMARY KEY (chain_id, customer_id, event_id, line_no))",
            "CREATE INDEX IF NOT EXISTS tag_visit_line_day ON tag_visit_line (chain_id, day)",
            "CREATE TABLE IF NOT EXISTS tag_campaign_send (
                chain_id TEXT NOT NULL, message_id TEXT NOT NULL, customer_id TEXT NOT NULL,
                campaign_id TEXT NOT NULL, sent_day BIGINT NOT NULL, responded BIGINT NOT NULL,
                PRIMARY KEY (chain_id, message_id))",
            "CREATE INDEX IF NOT EXISTS tag_campaign_send_customer ON tag_campaign_send (chain_id, customer_id)",
        ];
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in TABLES {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}
