//! The contract's `Profile` ↔ the domain's profile (dates, consent channels).

use chrono::{Datelike, NaiveDate};
use maitre_proto::{
    common::v1::{Date, MessageChannel},
    profile::v1::{self as pb},
};

use crate::{
    domain::profile::{Anniversary, Birthday, MarketingConsent, Profile},
    error::{Error, Result},
};

fn consent_of(channels: &[i32]) -> MarketingConsent {
    let mut consent = MarketingConsent::default();
    for channel in channels {
        match MessageChannel::try_from(*channel) {
            Ok(MessageChannel::Sms) => consent.sms = true,
            Ok(MessageChannel::Wechat) => consent.wechat = true,
            Ok(MessageChannel::Email) => consent.email = true,
            Ok(MessageChannel::AppPush) => consent.app_push = true,
            // Staff inbox and unknown channels carry no guest consent.
            _ => {}
        }
    }
    consent
}

fn channels_of(consent: &MarketingConsent) -> Vec<i32> {
    [
        (consent.sms, MessageChannel::Sms),
        (consent.wechat, MessageChannel::Wechat),
        (consent.email, MessageChannel::Email),
        (consent.app_push, MessageChannel::AppPush),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, c)| c as i32)
    .collect()
}

/// A contract date as a full calendar date (anniversaries need a year).
fn full_date(field: &str, date: Option<&Date>) -> Result<NaiveDate> {
    let date = date.ok_or_else(|| Error::invalid(field, "is required"))?;
    let month = u32::try_from(date.month).unwrap_or(0);
    let day = u32::try_from(date.day).unwrap_or(0);
    NaiveDate::from_ymd_opt(date.year, month, day)
        .ok_or_else(|| Error::invalid(field, "no such date"))
}

fn proto_date(date: NaiveDate) -> Date {
    Date {
        year: date.year(),
        month: i32::try_from(date.month()).unwrap_or(0),
        day: i32::try_from(date.day()).unwrap_or(0),
    }
}

/// The domain profile of a contract profile; `prefix` is the API path (e.g. `customer.profile.`).
/// Rules on values (lengths, real dates) are the domain's `apply_mask`.
pub fn from_proto(prefix: &str, p: &pb::Profile) -> Result<Profile> {
    let birthday = p.birthday.as_ref().map(|b| Birthday {
        month: u32::try_from(b.month).unwrap_or(0),
        day: u32::try_from(b.day).unwrap_or(0),
        year: (b.year != 0).then_some(b.year),
    });
    let anniversaries = p
        .anniversaries
        .iter()
        .enumerate()
        .map(|(i, a)| {
            Ok(Anniversary {
                label: a.label.clone(),
                date: full_date(&format!("{prefix}anniversaries[{i}].date"), a.date.as_ref())?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let consent = p.consent.clone().unwrap_or_default();
    Ok(Profile {
        name: p.name.clone(),
        gender: p.gender.clone(),
        dietary_habits: p.dietary_habits.clone(),
        allergies: p.allergies.clone(),
        seat_preference: Some(p.seat_preference.clone()).filter(|s| !s.is_empty()),
        birthday,
        anniversaries,
        notes: p.notes.clone(),
        consent: consent_of(&consent.marketing_opt_in),
        opted_out: consent_of(&consent.opted_out),
        attributes: p.attributes.clone().into_iter().collect(),
        consent_times: Default::default(),
    })
}

/// The contract profile of a domain profile.
pub fn to_proto(p: &Profile) -> pb::Profile {
    pb::Profile {
        name: p.name.clone(),
        gender: p.gender.clone(),
        birthday: p.birthday.map(|b| Date {
            year: b.year.unwrap_or(0),
            month: i32::try_from(b.month).unwrap_or(0),
            day: i32::try_from(b.day).unwrap_or(0),
        }),
        anniversaries: p
            .anniversaries
            .iter()
            .map(|a| pb::Anniversary {
                label: a.label.clone(),
                date: Some(proto_date(a.date)),
            })
            .collect(),
        dietary_habits: p.dietary_habits.clone(),
        allergies: p.allergies.clone(),
        seat_preference: p.seat_preference.clone().unwrap_or_default(),
        notes: p.notes.clone(),
        consent: Some(pb::Consent {
            marketing_opt_in: channels_of(&p.consent),
            opted_out: channels_of(&p.opted_out),
        }),
        attributes: p.attributes.clone().into_iter().collect(),
    }
}

/// The profile paths a patch sets (for creating a customer with values): every path whose
/// value is not empty in the contract profile.
pub fn set_paths(p: &pb::Profile) -> Vec<String> {
    let mut paths = Vec::new();
    let mut add = |set: bool, path: &str| {
        if set {
            paths.push(path.to_owned());
        }
    };
    add(!p.name.is_empty(), "name");
    add(!p.gender.is_empty(), "gender");
    add(p.birthday.is_some(), "birthday");
    add(!p.anniversaries.is_empty(), "anniversaries");
    add(!p.dietary_habits.is_empty(), "dietary_habits");
    add(!p.allergies.is_empty(), "allergies");
    add(!p.seat_preference.is_empty(), "seat_preference");
    add(!p.notes.is_empty(), "notes");
    add(p.consent.is_some(), "consent");
    add(!p.attributes.is_empty(), "attributes");
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_round_trips() {
        let p = pb::Profile {
            name: "李女士".into(),
            birthday: Some(Date {
                year: 0,
                month: 5,
                day: 20,
            }),
            dietary_habits: vec!["少辣".into()],
            consent: Some(pb::Consent {
                marketing_opt_in: vec![MessageChannel::Wechat as i32],
                opted_out: vec![MessageChannel::Sms as i32],
            }),
            ..pb::Profile::default()
        };
        let domain = from_proto("profile.", &p).unwrap();
        assert!(domain.consent.wechat && !domain.consent.sms);
        assert!(domain.opted_out.sms);
        assert_eq!(to_proto(&domain), p);
        assert_eq!(
            set_paths(&p),
            ["name", "birthday", "dietary_habits", "consent"]
        );
    }
}
