//! [`CustomerFacts`]: everything a rule may read about one customer, laid out for fast
//! evaluation (visits sorted by day in one `Vec`, dish categories in one flat `Vec`, ids
//! instead of strings) and reusable across customers (`clear` keeps the allocations).
//! Also owns the money convention, the fen → yuan conversion ([`fen_to_yuan`]); the
//! calendar (days since the Unix epoch in the store's local date) is `day`.

use chrono::{Datelike, NaiveDate};

use super::day::{EpochDay, date_of};
use super::interactions::{InteractionKind, Interactions};
use super::intern::{AttrId, CategoryId, StoreId, TagId};

/// Rules speak yuan (`avg_ticket(30d) > 150` means ¥150); facts store fen. This is the
/// one place the two meet.
pub fn fen_to_yuan(fen: i64) -> f64 {
    fen as f64 / 100.0
}

/// Month and day of birth (the year does not matter to any rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Birthday {
    month: u32,
    day: u32,
}

impl Birthday {
    /// `None` unless the month/day exists in a leap year (so 2-29 is accepted).
    pub fn new(month: u32, day: u32) -> Option<Birthday> {
        NaiveDate::from_ymd_opt(2000, month, day).map(|_| Birthday { month, day })
    }

    /// The birthday's date in `year`; Feb 29 falls on Feb 28 in non-leap years.
    fn in_year(self, year: i32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(year, self.month, self.day)
            .or_else(|| NaiveDate::from_ymd_opt(year, self.month, self.day.saturating_sub(1)))
    }

    /// Days from `today` to the next birthday, 0 when it is today.
    pub fn days_until_next(self, today: EpochDay) -> Option<u32> {
        let today_date = date_of(today)?;
        let this_year = self.in_year(today_date.year())?;
        let next = if this_year >= today_date {
            this_year
        } else {
            self.in_year(today_date.year().checked_add(1)?)?
        };
        u32::try_from((next - today_date).num_days()).ok()
    }
}

/// Dish lines of one category within one visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryLines {
    pub category: CategoryId,
    pub lines: u32,
}

/// One visit (or order): its day, amount, store and dish lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visit {
    pub day: EpochDay,
    pub amount_fen: i64,
    pub store: StoreId,
    /// All dish lines of the visit, with or without a category.
    pub dish_lines: u32,
    categories_start: u32,
    categories_len: u32,
}

/// What rules read about one customer. Build with the setters; `clear` to reuse.
#[derive(Debug, Clone, Default)]
pub struct CustomerFacts {
    visits: Vec<Visit>,
    category_lines: Vec<CategoryLines>,
    birthday: Option<Birthday>,
    attributes: Vec<(AttrId, Box<str>)>,
    tags: Vec<TagId>,
    class: Option<char>,
    p_alive: Option<f64>,
    expected_visits_per_day: Option<f64>,
    interactions: Interactions,
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl CustomerFacts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything but keeps the allocations (for batch evaluation).
    pub fn clear(&mut self) {
        self.visits.clear();
        self.category_lines.clear();
        self.birthday = None;
        self.attributes.clear();
        self.tags.clear();
        self.class = None;
        self.p_alive = None;
        self.expected_visits_per_day = None;
        self.interactions.clear();
    }

    /// Records a visit; `dish_line_categories` has one entry per dish line (`None` for a
    /// dish with no category). Visits may come in any order; appending in day order is O(1).
    pub fn add_visit(
        &mut self,
        day: EpochDay,
        amount_fen: i64,
        store: StoreId,
        dish_line_categories: &[Option<CategoryId>],
    ) {
        let start = self.category_lines.len();
        for category in dish_line_categories.iter().flatten() {
            match self.category_lines[start..]
                .iter_mut()
                .find(|c| c.category == *category)
            {
                Some(existing) => existing.lines = existing.lines.saturating_add(1),
                None => self.category_lines.push(CategoryLines {
                    category: *category,
                    lines: 1,
                }),
            }
        }
        let visit = Visit {
            day,
            amount_fen,
            store,
            dish_lines: saturating_u32(dish_line_categories.len()),
            categories_start: saturating_u32(start),
            categories_len: saturating_u32(self.category_lines.len() - start),
        };
        let at = self.visits.partition_point(|v| v.day <= day);
        self.visits.insert(at, visit);
    }

    pub fn set_birthday(&mut self, birthday: Option<Birthday>) {
        self.birthday = birthday;
    }

    pub fn set_attribute(&mut self, name: AttrId, value: &str) {
        match self.attributes.iter_mut().find(|(id, _)| *id == name) {
            Some((_, existing)) => *existing = value.into(),
            None => self.attributes.push((name, value.into())),
        }
    }

    pub fn add_tag(&mut self, tag: TagId) {
        if let Err(at) = self.tags.binary_search(&tag) {
            self.tags.insert(at, tag);
        }
    }

    pub fn set_class(&mut self, class: Option<char>) {
        self.class = class;
    }

    /// BG/NBD P(alive) in 0..=1; anything else (NaN, out of range) is stored as missing.
    pub fn set_p_alive(&mut self, p_alive: Option<f64>) {
        self.p_alive = p_alive.filter(|p| (0.0..=1.0).contains(p));
    }

    /// Expected visits per day from the fitted model (`expected_visits(Nd)` = rate × N);
    /// negative or non-finite rates are stored as missing.
    pub fn set_expected_visits_per_day(&mut self, rate: Option<f64>) {
        self.expected_visits_per_day = rate.filter(|r| r.is_finite() && *r >= 0.0);
    }

    /// Records an interaction (campaign response, message reply, review) on its day.
    pub fn add_interaction(&mut self, kind: InteractionKind, day: EpochDay) {
        self.interactions.add(kind, day);
    }

    /// Interactions of `kind` in the window, as visits are windowed.
    pub fn interactions_in_window(
        &self,
        kind: InteractionKind,
        today: EpochDay,
        window_days: u32,
    ) -> u64 {
        self.interactions.count_in_window(kind, today, window_days)
    }

    pub fn visits(&self) -> &[Visit] {
        &self.visits
    }

    pub fn visit_categories(&self, visit: &Visit) -> &[CategoryLines] {
        let start = visit.categories_start as usize;
        let end = start.saturating_add(visit.categories_len as usize);
        self.category_lines.get(start..end).unwrap_or(&[])
    }

    pub fn birthday(&self) -> Option<Birthday> {
        self.birthday
    }

    pub fn attribute(&self, name: AttrId) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(id, _)| *id == name)
            .map(|(_, value)| &**value)
    }

    pub fn has_tag(&self, tag: TagId) -> bool {
        self.tags.binary_search(&tag).is_ok()
    }

    pub fn class(&self) -> Option<char> {
        self.class
    }

    pub fn p_alive(&self) -> Option<f64> {
        self.p_alive
    }

    pub fn expected_visits_per_day(&self) -> Option<f64> {
        self.expected_visits_per_day
    }

    /// Visits with `day` in `(today − window_days, today]`: the definition of a window.
    pub fn visits_in_window(&self, today: EpochDay, window_days: u32) -> &[Visit] {
        let first_day_excluded = i64::from(today) - i64::from(window_days);
        let lo = self
            .visits
            .partition_point(|v| i64::from(v.day) <= first_day_excluded);
        let hi = self.visits.partition_point(|v| v.day <= today);
        self.visits.get(lo..hi).unwrap_or(&[])
    }

    /// Visits in the window: store-local days with an order (`maitre_kit::visits`), so two
    /// orders on one day are one visit, as in profile's statistics and the visit model.
    pub fn visit_count_in_window(&self, today: EpochDay, window_days: u32) -> u64 {
        maitre_kit::visits::count_visits(
            self.visits_in_window(today, window_days)
                .iter()
                .map(|v| v.day),
        )
    }

    /// Visits to `store` in the window, counted as [`Self::visit_count_in_window`] does.
    pub fn store_visit_count_in_window(
        &self,
        today: EpochDay,
        window_days: u32,
        store: StoreId,
    ) -> u64 {
        maitre_kit::visits::count_visits(
            self.visits_in_window(today, window_days)
                .iter()
                .filter(|v| v.store == store)
                .map(|v| v.day),
        )
    }

    pub fn spend_fen_in_window(&self, today: EpochDay, window_days: u32) -> i64 {
        self.visits_in_window(today, window_days)
            .iter()
            .fold(0i64, |sum, v| sum.saturating_add(v.amount_fen))
    }

    /// (lines of `category`, all dish lines) over the window.
    pub fn dish_lines_in_window(
        &self,
        today: EpochDay,
        window_days: u32,
        category: CategoryId,
    ) -> (u64, u64) {
        self.visits_in_window(today, window_days).iter().fold(
            (0u64, 0u64),
            |(in_category, total), visit| {
                let matching = self
                    .visit_categories(visit)
                    .iter()
                    .find(|c| c.category == category)
                    .map_or(0, |c| c.lines);
                (
                    in_category + u64::from(matching),
                    total + u64::from(visit.dish_lines),
                )
            },
        )
    }

    /// Days from the latest visit on or before `today`; `None` when there is none.
    pub fn days_since_last_visit(&self, today: EpochDay) -> Option<i64> {
        let hi = self.visits.partition_point(|v| v.day <= today);
        let last = self.visits.get(hi.checked_sub(1)?)?;
        Some(i64::from(today) - i64::from(last.day))
    }
}

#[cfg(test)]
mod tests {
    use super::super::day::epoch_day;
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> EpochDay {
        NaiveDate::from_ymd_opt(y, m, d).map_or(i32::MIN, epoch_day)
    }

    #[test]
    fn epoch_days_round_trip() {
        assert_eq!(day(1970, 1, 1), 0);
        assert_eq!(day(2024, 3, 1), 19_783);
        assert_eq!(date_of(19_783), NaiveDate::from_ymd_opt(2024, 3, 1));
        assert_eq!(date_of(i32::MAX), None);
        assert_eq!(fen_to_yuan(15_050), 150.5);
    }

    #[test]
    fn window_is_half_open_and_ignores_future_visits() {
        let mut facts = CustomerFacts::new();
        for d in [70, 71, 100, 90, 101] {
            facts.add_visit(d, 1000, StoreId(0), &[]);
        }
        let days: Vec<_> = facts.visits().iter().map(|v| v.day).collect();
        assert_eq!(days, vec![70, 71, 90, 100, 101]);
        // (100 − 30, 100] = 71..=100: day 70 is out, the future day 101 is out.
        assert_eq!(facts.visits_in_window(100, 30).len(), 3);
        assert_eq!(facts.visits_in_window(100, 0).len(), 0);
        assert_eq!(facts.spend_fen_in_window(100, 30), 3000);
        assert_eq!(facts.days_since_last_visit(100), Some(0));
        assert_eq!(facts.days_since_last_visit(95), Some(5));
        assert_eq!(facts.days_since_last_visit(60), None);
        assert_eq!(facts.visits_in_window(i32::MIN, 3650).len(), 0);
    }

    #[test]
    fn orders_on_one_day_are_one_visit() {
        let mut facts = CustomerFacts::new();
        for (d, store) in [(90, 0), (90, 0), (95, 1), (95, 0)] {
            facts.add_visit(d, 1000, StoreId(store), &[]);
        }
        assert_eq!(facts.visits_in_window(100, 30).len(), 4, "orders");
        assert_eq!(facts.visit_count_in_window(100, 30), 2);
        assert_eq!(facts.store_visit_count_in_window(100, 30, StoreId(0)), 2);
        assert_eq!(facts.store_visit_count_in_window(100, 30, StoreId(1)), 1);
    }

    #[test]
    fn dish_lines_are_counted_per_category() {
        let mut facts = CustomerFacts::new();
        let (seafood, dessert) = (CategoryId(1), CategoryId(2));
        facts.add_visit(
            10,
            0,
            StoreId(0),
            &[Some(seafood), Some(seafood), None, Some(dessert)],
        );
        facts.add_visit(5, 0, StoreId(0), &[Some(dessert)]);
        assert_eq!(facts.dish_lines_in_window(10, 30, seafood), (2, 5));
        assert_eq!(facts.dish_lines_in_window(10, 30, dessert), (2, 5));
        assert_eq!(facts.dish_lines_in_window(10, 1, dessert), (1, 4));
        let visit = facts.visits()[1];
        assert_eq!(facts.visit_categories(&visit).len(), 2);
    }

    #[test]
    fn birthdays_wrap_years_and_handle_feb_29() {
        let b = |m, d| Birthday::new(m, d).unwrap_or(Birthday { month: 1, day: 1 });
        assert_eq!(b(3, 5).days_until_next(day(2023, 3, 5)), Some(0));
        assert_eq!(b(3, 5).days_until_next(day(2023, 3, 1)), Some(4));
        assert_eq!(b(1, 2).days_until_next(day(2023, 12, 30)), Some(3));
        assert_eq!(b(2, 29).days_until_next(day(2023, 2, 27)), Some(1));
        assert_eq!(b(2, 29).days_until_next(day(2024, 2, 27)), Some(2));
        assert_eq!(b(2, 29).days_until_next(day(2023, 3, 1)), Some(365));
        assert!(Birthday::new(2, 30).is_none());
        assert!(Birthday::new(13, 1).is_none());
    }

    #[test]
    fn setters_normalise_values() {
        let mut facts = CustomerFacts::new();
        facts.set_p_alive(Some(f64::NAN));
        assert_eq!(facts.p_alive(), None);
        facts.set_p_alive(Some(0.4));
        assert_eq!(facts.p_alive(), Some(0.4));
        facts.set_expected_visits_per_day(Some(-1.0));
        assert_eq!(facts.expected_visits_per_day(), None);
        facts.add_tag(TagId(5));
        facts.add_tag(TagId(2));
        facts.add_tag(TagId(5));
        assert!(facts.has_tag(TagId(2)) && facts.has_tag(TagId(5)) && !facts.has_tag(TagId(3)));
        facts.set_attribute(AttrId(0), "male");
        facts.set_attribute(AttrId(0), "female");
        assert_eq!(facts.attribute(AttrId(0)), Some("female"));
        facts.clear();
        assert!(!facts.has_tag(TagId(2)) && facts.attribute(AttrId(0)).is_none());
    }
}
