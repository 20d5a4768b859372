//! The customer's profile: what staff know about a guest, and consent.
//!
//! Dietary habits, allergies, seat preference, birthday, anniversaries, notes
//! (seed 000 §三: the manager sees 饮食习惯、座位偏好、特殊纪念日 before the next
//! visit) and marketing consent per channel. Updates follow Google AIP-134:
//! a patch plus a field mask; [`apply_mask`] copies only the named fields and
//! rejects unknown paths by name. Aggregates and class live elsewhere.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::error::{FieldError, check_max_chars};

const MAX_LIST_ENTRIES: usize = 30;
const MAX_ENTRY_CHARS: usize = 64;
const MAX_SEAT_PREFERENCE_CHARS: usize = 200;
const MAX_NOTES_CHARS: usize = 2_000;
const MAX_ANNIVERSARIES: usize = 20;
const MAX_NAME_CHARS: usize = 64;
const MAX_ATTRIBUTES: usize = 50;
const MAX_ATTRIBUTE_VALUE_CHARS: usize = 256;
/// Genders a profile may carry (proto `Profile.gender`); empty means not given.
const GENDERS: &[&str] = &["", "female", "male"];
/// Oldest birth year we accept; older is a typo, not a guest.
const MIN_BIRTH_YEAR: i32 = 1900;

/// A birthday; guests often give month and day only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Birthday {
    pub month: u32,
    pub day: u32,
    pub year: Option<i32>,
}

/// A date the guest celebrates (结婚纪念日, 公司周年 ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anniversary {
    pub label: String,
    pub date: NaiveDate,
}

/// Marketing channels a guest can opt into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketingChannel {
    Sms,
    Wechat,
    Email,
    AppPush,
}

/// Marketing opt-in per channel; everything is off until the guest agrees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketingConsent {
    pub sms: bool,
    pub wechat: bool,
    pub email: bool,
    pub app_push: bool,
}

impl MarketingConsent {
    pub fn allows(&self, channel: MarketingChannel) -> bool {
        match channel {
            MarketingChannel::Sms => self.sms,
            MarketingChannel::Wechat => self.wechat,
            MarketingChannel::Email => self.email,
            MarketingChannel::AppPush => self.app_push,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    /// Name as the guest gave it.
    pub name: String,
    /// "female", "male" or empty.
    pub gender: String,
    pub dietary_habits: Vec<String>,
    pub allergies: Vec<String>,
    pub seat_preference: Option<String>,
    pub birthday: Option<Birthday>,
    pub anniversaries: Vec<Anniversary>,
    pub notes: String,
    pub consent: MarketingConsent,
    /// Channels the guest opted out of entirely (also no service messages).
    pub opted_out: MarketingConsent,
    /// Further attributes readable by tag rules (`attr("...")`).
    pub attributes: BTreeMap<String, String>,
    /// When the current consent choice on each channel was made (µs since the epoch), so the
    /// latest choice wins whichever door it came through (`domain::consent`).
    pub consent_times: BTreeMap<MarketingChannel, i64>,
}

/// Every field path [`apply_mask`] accepts. `*` replaces the whole profile.
pub const PROFILE_PATHS: &[&str] = &[
    "name",
    "gender",
    "attributes",
    "dietary_habits",
    "allergies",
    "seat_preference",
    "birthday",
    "anniversaries",
    "notes",
    "consent",
    "consent.sms",
    "consent.wechat",
    "consent.email",
    "consent.app_push",
];

/// Returns `profile` with the fields named in `paths` taken from `patch`.
///
/// All paths are checked before anything is copied, so an unknown path
/// changes nothing. An empty mask is an error: replacing everything must be
/// asked for explicitly with `*`. Copied fields are validated and list
/// entries trimmed and de-duplicated.
pub fn apply_mask(
    profile: &Profile,
    patch: &Profile,
    paths: &[String],
) -> Result<Profile, FieldError> {
    if paths.is_empty() {
        return Err(FieldError::Missing {
            field: "update_mask".into(),
        });
    }
    if let Some(unknown) = paths
        .iter()
        .find(|path| path.as_str() != "*" && !PROFILE_PATHS.contains(&path.as_str()))
    {
        return Err(FieldError::UnknownPath {
            path: unknown.clone(),
        });
    }
    let mut updated = profile.clone();
    for path in paths {
        if path == "*" {
            for field in PROFILE_PATHS {
                copy_field(&mut updated, patch, field)?;
            }
        } else {
            copy_field(&mut updated, patch, path)?;
        }
    }
    Ok(updated)
}

fn copy_field(target: &mut Profile, patch: &Profile, path: &str) -> Result<(), FieldError> {
    match path {
        "dietary_habits" => target.dietary_habits = clean_list(path, &patch.dietary_habits)?,
        "allergies" => target.allergies = clean_list(path, &patch.allergies)?,
        "seat_preference" => {
            let seat = patch
                .seat_preference
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty());
            if let Some(seat) = seat {
                check_max_chars(path, seat, MAX_SEAT_PREFERENCE_CHARS)?;
            }
            target.seat_preference = seat.map(str::to_owned);
        }
        "birthday" => {
            if let Some(birthday) = &patch.birthday {
                check_birthday(birthday)?;
            }
            target.birthday = patch.birthday;
        }
        "anniversaries" => {
            if patch.anniversaries.len() > MAX_ANNIVERSARIES {
                return Err(too_many(path, patch.anniversaries.len(), MAX_ANNIVERSARIES));
            }
            for (index, anniversary) in patch.anniversaries.iter().enumerate() {
                let field = format!("anniversaries[{index}].label");
                if anniversary.label.trim().is_empty() {
                    return Err(FieldError::Missing { field });
                }
                check_max_chars(&field, &anniversary.label, MAX_ENTRY_CHARS)?;
            }
            target.anniversaries = patch.anniversaries.clone();
        }
        "notes" => {
            check_max_chars(path, &patch.notes, MAX_NOTES_CHARS)?;
            target.notes = patch.notes.clone();
        }
        "name" => {
            let name = patch.name.trim();
            check_max_chars(path, name, MAX_NAME_CHARS)?;
            target.name = name.to_owned();
        }
        "gender" => {
            if !GENDERS.contains(&patch.gender.as_str()) {
                return Err(FieldError::invalid(
                    path,
                    "must be \"female\", \"male\" or empty",
                ));
            }
            target.gender = patch.gender.clone();
        }
        "attributes" => {
            if patch.attributes.len() > MAX_ATTRIBUTES {
                return Err(too_many(path, patch.attributes.len(), MAX_ATTRIBUTES));
            }
            for (key, value) in &patch.attributes {
                let field = format!("attributes[{key}]");
                if key.trim().is_empty() {
                    return Err(FieldError::Missing { field });
                }
                check_max_chars(&field, key, MAX_ENTRY_CHARS)?;
                check_max_chars(&field, value, MAX_ATTRIBUTE_VALUE_CHARS)?;
            }
            target.attributes = patch.attributes.clone();
        }
        "consent" => {
            target.consent = patch.consent;
            target.opted_out = patch.opted_out;
        }
        "consent.sms" => target.consent.sms = patch.consent.sms,
        "consent.wechat" => target.consent.wechat = patch.consent.wechat,
        "consent.email" => target.consent.email = patch.consent.email,
        "consent.app_push" => target.consent.app_push = patch.consent.app_push,
        unknown => {
            return Err(FieldError::UnknownPath {
                path: unknown.to_owned(),
            });
        }
    }
    Ok(())
}

/// Trims entries, drops blanks and repeats (keeping first order), bounds size.
fn clean_list(field: &str, entries: &[String]) -> Result<Vec<String>, FieldError> {
    let mut cleaned: Vec<String> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let entry = entry.trim();
        check_max_chars(&format!("{field}[{index}]"), entry, MAX_ENTRY_CHARS)?;
        if !entry.is_empty() && !cleaned.iter().any(|seen| seen == entry) {
            cleaned.push(entry.to_owned());
        }
    }
    if cleaned.len() > MAX_LIST_ENTRIES {
        return Err(too_many(field, cleaned.len(), MAX_LIST_ENTRIES));
    }
    Ok(cleaned)
}

fn check_birthday(birthday: &Birthday) -> Result<(), FieldError> {
    // 2000 is a leap year, so 29 February is accepted when no year is given.
    let year = birthday.year.unwrap_or(2000);
    if birthday.year.is_some_and(|y| y < MIN_BIRTH_YEAR) {
        return Err(FieldError::invalid("birthday.year", "before 1900"));
    }
    if NaiveDate::from_ymd_opt(year, birthday.month, birthday.day).is_none() {
        return Err(FieldError::invalid("birthday", "no such date"));
    }
    Ok(())
}

fn too_many(field: &str, count: usize, max: usize) -> FieldError {
    FieldError::OutOfRange {
        field: field.to_owned(),
        value: i64::try_from(count).unwrap_or(i64::MAX),
        min: 0,
        max: i64::try_from(max).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
#[path = "profile_tests.rs"]
mod tests;
