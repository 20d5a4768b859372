//! The PostgreSQL side's SQL, as text: the tables, the 20 rules of [`super::rules::RULES`]
//! as one statement (per-customer aggregates with `FILTER`, then the rules over them, rule
//! tags that read rule tags in a second step), and the segment count in two formulations.
//! Pure string building; `postgres` runs it. The rules must mean what the rule language
//! means (`domain::rule` docs): windows are `(today − N, today]`, money compares in yuan
//! as `float8`, `avg_ticket` and `dish_share` are 0 with nothing to divide, and a missing
//! value (no visit, no birthday, unset attribute or class) makes a comparison false — hence
//! the `coalesce(…, false)` around every comparison that can see NULL.

use chrono::{Datelike, Days, NaiveDate};

use super::rules::{RULE_COUNT, RULES};

/// Tables of the benchmark schema. `UNLOGGED` only speeds up loading (no WAL); queries read
/// them like any table. Visits carry dish lines per category in one array (index =
/// category number + 1), the denormalised layout an analyst would give PostgreSQL.
pub fn create_tables(schema: &str) -> Vec<String> {
    vec![
        format!(
            "CREATE UNLOGGED TABLE {schema}.customers (customer_no int PRIMARY KEY, \
             birth_month smallint, birth_day smallint, gender text, rfm_class text, \
             vip boolean NOT NULL, churned boolean NOT NULL)"
        ),
        format!(
            "CREATE UNLOGGED TABLE {schema}.visits (customer_no int NOT NULL, day date NOT NULL, \
             amount_fen int NOT NULL, store_no smallint NOT NULL, dish_lines smallint NOT NULL, \
             category_lines smallint[] NOT NULL)"
        ),
        format!(
            "CREATE UNLOGGED TABLE {schema}.tag_member (tag_id smallint NOT NULL, customer_no int NOT NULL)"
        ),
    ]
}

/// Indexes built after loading (faster than maintaining them row by row).
pub fn visit_indexes(schema: &str) -> Vec<String> {
    vec![
        format!("CREATE INDEX visits_customer_day ON {schema}.visits (customer_no, day)"),
        format!("VACUUM ANALYZE {schema}.customers"),
        format!("VACUUM ANALYZE {schema}.visits"),
    ]
}

/// The best index for tag membership: the primary key (tag_id, customer_no), so every
/// tag's members are one sorted index range read by index-only scans.
pub fn tag_indexes(schema: &str) -> Vec<String> {
    vec![
        format!("ALTER TABLE {schema}.tag_member ADD PRIMARY KEY (tag_id, customer_no)"),
        format!("VACUUM ANALYZE {schema}.tag_member"),
    ]
}

fn date(day: NaiveDate) -> String {
    format!("DATE '{}'", day.format("%Y-%m-%d"))
}

/// `today − days` as a date literal (the excluded lower end of a window).
fn window_start(today: NaiveDate, days: u64) -> String {
    date(today.checked_sub_days(Days::new(days)).unwrap_or(today))
}

/// `month·100 + day` of every birthday whose next occurrence is 0..=`days` days from
/// `today`; Feb 29 birthdays fall on Feb 28 in non-leap years (the rule language's rule).
pub fn birthday_codes_within(today: NaiveDate, days: u64) -> Vec<u32> {
    let mut codes = Vec::new();
    for offset in 0..=days {
        let Some(day) = today.checked_add_days(Days::new(offset)) else {
            continue;
        };
        codes.push(day.month() * 100 + day.day());
        let leap = NaiveDate::from_ymd_opt(day.year(), 2, 29).is_some();
        if day.month() == 2 && day.day() == 28 && !leap {
            codes.push(229);
        }
    }
    codes
}

/// What the rule statement returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleOutput {
    /// One row: the member count of each rule (full recompute).
    Counts,
    /// One row for customer `$1`: whether each rule holds (live re-evaluation).
    OneCustomer,
}

/// The 20 rules in one statement.
pub fn rules_statement(schema: &str, today: NaiveDate, output: RuleOutput) -> String {
    let d = |n| window_start(today, n);
    let (d30, d90, d180, d365) = (d(30), d(90), d(180), d(365));
    let t = date(today);
    let one = output == RuleOutput::OneCustomer;
    let visit_filter = if one { " AND customer_no = $1" } else { "" };
    let customer_filter = if one { "WHERE c.customer_no = $1" } else { "" };
    let birthdays: Vec<String> = birthday_codes_within(today, 7)
        .iter()
        .map(u32::to_string)
        .collect();
    let birthdays = birthdays.join(", ");
    let since = format!("({t} - last_day)");
    let share = |part: &str, all: &str| {
        format!("(CASE WHEN {all} = 0 THEN 0 ELSE {part}::float8 / {all} END)")
    };
    let avg = |fen: &str, visits: &str| {
        format!("(CASE WHEN {visits} = 0 THEN 0 ELSE ({fen}::float8 / 100) / {visits} END)")
    };
    let rules = [
        "v30 >= 2".to_owned(),
        format!("v30 > 5 AND {} > 150", avg("fen30", "v30")),
        "fen365::float8 / 100 >= 5000".to_owned(),
        format!("coalesce({since} >= 60, false)"),
        format!("coalesce({since} >= 180, false)"),
        format!("coalesce(birth_month * 100 + birth_day IN ({birthdays}), false)"),
        format!("{} >= 0.3", share("seafood90", "lines90")),
        format!("{} >= 0.25", share("dessert180", "lines180")),
        "flagship30 >= 2".to_owned(),
        "coalesce(gender = 'female', false)".to_owned(),
        "vip AND NOT churned".to_owned(),
        "coalesce(rfm_class = 'A', false)".to_owned(),
        format!("{} > 200", avg("fen90", "v90")),
        "v90 * 4 > v365 * 1.5 AND v90 >= 3".to_owned(),
        "v30 >= 1 AND v365 = v30".to_owned(),
        format!("coalesce(rfm_class = 'A', false) AND coalesce({since} >= 45, false)"),
        "store7_90 >= 3 OR store12_90 >= 3".to_owned(),
        format!(
            "coalesce(gender = 'female', false) AND {} >= 0.2 AND coalesce({since} > 30, false)",
            share("seafood365", "lines365")
        ),
    ];
    let first_step: Vec<String> = RULES
        .iter()
        .zip(&rules)
        .map(|(rule, sql)| format!("{sql} AS {}", rule.name))
        .collect();
    // Rules over rule tags read the first step's columns, as the engine evaluates them after
    // the tags they read.
    let second_step = "birthday_week AND big_spender AS birthday_big_spender, \
                       regular AND big_spender AND NOT churn_risk AS loyal_vip";
    let select: Vec<String> = RULES
        .iter()
        .map(|rule| match output {
            RuleOutput::Counts => format!("count(*) FILTER (WHERE {})", rule.name),
            RuleOutput::OneCustomer => rule.name.to_owned(),
        })
        .collect();
    debug_assert_eq!(first_step.len() + 2, RULE_COUNT);
    let zero = |column: &str| format!("coalesce(a.{column}, 0) AS {column}");
    let sums = [
        "v30",
        "fen30",
        "v90",
        "fen90",
        "v365",
        "fen365",
        "lines90",
        "seafood90",
        "lines180",
        "dessert180",
        "lines365",
        "seafood365",
        "flagship30",
        "store7_90",
        "store12_90",
    ]
    .map(zero)
    .join(", ");
    // Visits are distinct days (orders on one store-local day count once: `maitre_kit::visits`).
    format!(
        "WITH agg AS (SELECT customer_no, \
           count(DISTINCT day) FILTER (WHERE day > {d30}) AS v30, \
           sum(amount_fen) FILTER (WHERE day > {d30}) AS fen30, \
           count(DISTINCT day) FILTER (WHERE day > {d90}) AS v90, \
           sum(amount_fen) FILTER (WHERE day > {d90}) AS fen90, \
           count(DISTINCT day) FILTER (WHERE day > {d365}) AS v365, \
           sum(amount_fen) FILTER (WHERE day > {d365}) AS fen365, \
           max(day) AS last_day, \
           sum(dish_lines) FILTER (WHERE day > {d90}) AS lines90, \
           sum(category_lines[1]) FILTER (WHERE day > {d90}) AS seafood90, \
           sum(dish_lines) FILTER (WHERE day > {d180}) AS lines180, \
           sum(category_lines[2]) FILTER (WHERE day > {d180}) AS dessert180, \
           sum(dish_lines) FILTER (WHERE day > {d365}) AS lines365, \
           sum(category_lines[1]) FILTER (WHERE day > {d365}) AS seafood365, \
           count(DISTINCT day) FILTER (WHERE day > {d30} AND store_no = 0) AS flagship30, \
           count(DISTINCT day) FILTER (WHERE day > {d90} AND store_no = 7) AS store7_90, \
           count(DISTINCT day) FILTER (WHERE day > {d90} AND store_no = 12) AS store12_90 \
         FROM {schema}.visits WHERE day <= {t}{visit_filter} GROUP BY customer_no), \
         base AS (SELECT c.customer_no, c.birth_month, c.birth_day, c.gender, c.rfm_class, c.vip, \
           c.churned, a.last_day, {sums} \
         FROM {schema}.customers c LEFT JOIN agg a USING (customer_no) {customer_filter}), \
         first_step AS (SELECT customer_no, {} FROM base), \
         rule_tags AS (SELECT *, {second_step} FROM first_step) \
         SELECT {} FROM rule_tags",
        first_step.join(", "),
        select.join(", ")
    )
}

/// A 3-term segment `A and (B or C) and not D` over tag numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreeTermSegment {
    pub all_of: u16,
    pub any_of: [u16; 2],
    pub none_of: u16,
}

impl ThreeTermSegment {
    /// In the segment language (`t7 and (t13 or t42) and not t99`).
    pub fn expression(&self) -> String {
        let [b, c] = self.any_of;
        format!(
            "t{} and (t{b} or t{c}) and not t{}",
            self.all_of, self.none_of
        )
    }

    /// Two formulations PostgreSQL may plan differently; the benchmark keeps the faster.
    pub fn count_statements(&self, schema: &str) -> [(&'static str, String); 2] {
        let (a, [b, c], d) = (self.all_of, self.any_of, self.none_of);
        let table = format!("{schema}.tag_member");
        [
            (
                "EXISTS / NOT EXISTS",
                format!(
                    "SELECT count(*) FROM {table} m WHERE m.tag_id = {a} \
                     AND EXISTS (SELECT 1 FROM {table} o WHERE o.tag_id IN ({b}, {c}) AND o.customer_no = m.customer_no) \
                     AND NOT EXISTS (SELECT 1 FROM {table} n WHERE n.tag_id = {d} AND n.customer_no = m.customer_no)"
                ),
            ),
            (
                "INTERSECT / EXCEPT",
                format!(
                    "SELECT count(*) FROM (SELECT customer_no FROM {table} WHERE tag_id = {a} \
                     INTERSECT SELECT customer_no FROM {table} WHERE tag_id IN ({b}, {c}) \
                     EXCEPT SELECT customer_no FROM {table} WHERE tag_id = {d}) members"
                ),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn birthday_codes_wrap_the_year_and_place_feb_29() {
        assert_eq!(
            birthday_codes_within(day(2023, 12, 30), 3),
            vec![1230, 1231, 101, 102]
        );
        assert_eq!(
            birthday_codes_within(day(2023, 2, 27), 1),
            vec![227, 228, 229]
        );
        assert_eq!(
            birthday_codes_within(day(2024, 2, 27), 2),
            vec![227, 228, 229]
        );
    }

    #[test]
    fn the_rule_statement_names_every_rule_once_with_its_windows() {
        let sql = rules_statement("s", day(2025, 6, 30), RuleOutput::Counts);
        for rule in RULES {
            assert_eq!(
                sql.matches(&format!("FILTER (WHERE {})", rule.name))
                    .count(),
                1,
                "{}",
                rule.name
            );
        }
        assert!(sql.contains("day > DATE '2025-05-31'"), "30-day window");
        assert!(sql.contains("day <= DATE '2025-06-30'"));
        assert!(!sql.contains("$1"));
        let one = rules_statement("s", day(2025, 6, 30), RuleOutput::OneCustomer);
        assert_eq!(one.matches("$1").count(), 2);
    }

    #[test]
    fn the_segment_reads_the_same_in_both_languages() {
        let segment = ThreeTermSegment {
            all_of: 7,
            any_of: [13, 42],
            none_of: 99,
        };
        assert_eq!(segment.expression(), "t7 and (t13 or t42) and not t99");
        for (_, sql) in segment.count_statements("s") {
            assert!(sql.contains("tag_id = 7") && sql.contains("IN (13, 42)"));
            assert!(sql.contains("tag_id = 99"));
        }
    }
}
