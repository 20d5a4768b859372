//! The rule language of rule tags (seed 002 §2: "最近30天内消费次数超过5次,且平均客单价超过
//! 150元的客户,自动标记为'高价值常客'" becomes `visits(30d) > 5 and avg_ticket(30d) > 150`).
//! Owns parsing, type checking, compilation and evaluation of one rule against one
//! customer's [`CustomerFacts`]. Pure: no I/O, no storage or RPC types; the service loads
//! facts, keeps the [`Interner`], and stores and schedules rules.
//!
//! # Syntax
//! `or`, `and`, `not` (loosest first, `not` looser than comparisons), comparisons
//! `== != < <= > >=` (never chained: write `a > 1 and a < 5`), `+ -`, `* /`, unary `-`,
//! parentheses. Literals: numbers `5`, `0.3` (no exponent, no leading `.`), text `"vip"`
//! (double quotes; `\"` and `\\` escapes; any Unicode inside), `true`, `false`, durations
//! `7d` days, `12w` weeks, `6m` months of **30 days**, `1y` years of **365 days**. Windows
//! longer than 10 years (3650 days) are rejected. Errors name what was expected and the
//! 1-based `line:col` (`expected an expression but found 'and' at 1:14`).
//!
//! # Types and built-ins
//! Types are Bool, Number, Text, Duration; a rule must be Bool. `and or not` take Bool;
//! arithmetic and `< <= > >=` take Numbers; `==`/`!=` take two values of one type (Bool,
//! Number or Text); Durations only appear as arguments. Names (tags, stores, categories,
//! attributes) must be text literals. The table is [`types::FUNCTIONS`]:
//!
//! | built-in | type | meaning |
//! |---|---|---|
//! | `visits(W)` | Number | visits in window W |
//! | `spend(W)` | Number | spend in W, **yuan** |
//! | `avg_ticket(W)` | Number | spend / visits in W, yuan; **0** with no visits |
//! | `dish_share("cat", W)` | Number | dish lines of category `cat` / all dish lines in W; 0 with no lines |
//! | `store_visits("store", W)` | Number | visits to that store in W |
//! | `days_since_last_visit` | Number | today − day of latest visit on or before today; missing with none |
//! | `birthday_within(D)` | Bool | next birthday (today counts) is 0..=D days away; false if unknown |
//! | `attr("name")` | Text | profile attribute; missing when unset |
//! | `has_tag("tag")` | Bool | customer carries the tag; must exist in the catalog |
//! | `class` | Text | RFM class `"A"`/`"B"`/`"C"`; missing when unclassified |
//! | `p_alive` | Number | BG/NBD P(alive); missing when unscored |
//! | `expected_visits(D)` | Number | BG/NBD rate per day × D days; missing when unscored |
//! | `campaign_responses(W)` | Number | campaigns responded to in W (an explicit response event or a reply to the campaign's message; one per campaign) |
//! | `messages_replied(W)` | Number | replies in W to messages sent to the guest (campaign or automation) |
//! | `messages_opened(W)` | Number | messages sent to the guest that they first opened in W (`POST /v1/messages/{id}:opened`) |
//! | `reviews(W)` | Number | reviews written in W |
//!
//! # Semantics
//! - Days are store-local calendar days since 1970-01-01 ([`EpochDay`]); `today` is passed
//!   to every evaluation, so a rule never reads a clock.
//! - A window `(Nd)` is the visits with `day` in `(today − N, today]`: `visits(1d)` is
//!   today's visits; visits dated after today are ignored everywhere.
//! - Money: facts are in fen, rules in yuan; [`fen_to_yuan`] is the one conversion
//!   (`avg_ticket(30d) > 150` means more than ¥150.00 = 15 000 fen).
//! - `dish_share` counts dish **lines** (one per ordered dish), not visits.
//! - Birthday: Feb 29 is celebrated on Feb 28 in non-leap years.
//! - Missing values (no score, no visit for `days_since_last_visit`, unset attribute or
//!   class, division by zero, arithmetic overflow) propagate through arithmetic and make
//!   **every comparison false**, `!=` included; numbers are never NaN or infinite.
//!   So `p_alive < 0.3` and `p_alive >= 0.3` are both false for an unscored customer,
//!   while `not (p_alive < 0.3)` is true.
//! - `expected_visits(D)` is linear in D: the model module supplies the rate (expected
//!   visits per day over its horizon) in [`CustomerFacts::set_expected_visits_per_day`].
//! - Text equality is exact (case-sensitive).
//!
//! # Use
//! ```
//! use maitre_tagging::domain::rule::{compile, CustomerFacts, Interner, StoreId};
//! let mut interner = Interner::new();
//! let rule = compile("visits(30d) > 1 and avg_ticket(30d) > 150", &|_: &str| true, &mut interner).unwrap();
//! let mut facts = CustomerFacts::new();
//! facts.add_visit(100, 20_000, StoreId(0), &[]);
//! facts.add_visit(101, 12_000, StoreId(0), &[]);
//! assert!(rule.eval(&facts, 101));
//! assert!(!rule.eval(&facts, 200));
//! ```

mod ast;
mod check;
mod compile;
mod cycle;
mod day;
mod error;
mod explain;
mod facts;
mod interactions;
mod intern;
mod ir;
mod lexer;
mod parser;
pub mod types;

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

pub use ast::{BinaryOp, DurationUnit, Expr, ExprKind};
pub use check::TagCatalog;
pub use compile::{CompiledRule, compile};
pub use cycle::find_cycle;
pub use day::{EpochDay, date_of, epoch_day};
pub use error::{Location, Position, RuleError, Span};
pub use explain::{ExplainedTerm, Explanation, TermValue};
pub use facts::{Birthday, CategoryLines, CustomerFacts, Visit, fen_to_yuan};
pub use interactions::InteractionKind;
pub use intern::{AttrId, CategoryId, Interner, StoreId, TagId};
pub use lexer::{MAX_RULE_BYTES, MAX_TOKENS};
pub use parser::{MAX_NESTING, ParsedRule, parse};
pub use types::{MAX_WINDOW_DAYS, Type};
