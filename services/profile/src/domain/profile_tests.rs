use super::*;

fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| (*p).to_owned()).collect()
}

fn stored() -> Profile {
    Profile {
        dietary_habits: vec!["少辣".into()],
        allergies: vec!["花生".into()],
        seat_preference: Some("靠窗".into()),
        notes: "老客户".into(),
        consent: MarketingConsent {
            sms: true,
            ..MarketingConsent::default()
        },
        ..Profile::default()
    }
}

#[test]
fn only_masked_fields_change() {
    let patch = Profile {
        allergies: vec![" 虾 ".into(), "虾".into(), "".into(), "芒果".into()],
        notes: "ignored".into(),
        consent: MarketingConsent {
            wechat: true,
            ..MarketingConsent::default()
        },
        ..Profile::default()
    };
    let updated = apply_mask(&stored(), &patch, &paths(&["allergies", "consent.wechat"])).unwrap();
    assert_eq!(updated.allergies, ["虾", "芒果"]);
    assert_eq!(updated.notes, "老客户");
    assert!(updated.consent.sms, "sms consent untouched");
    assert!(updated.consent.allows(MarketingChannel::Wechat));
    assert_eq!(updated.dietary_habits, ["少辣"]);
}

#[test]
fn unknown_path_is_named_and_changes_nothing() {
    let error = apply_mask(
        &stored(),
        &Profile::default(),
        &paths(&["notes", "consent.fax"]),
    )
    .unwrap_err();
    assert_eq!(
        error,
        FieldError::UnknownPath {
            path: "consent.fax".into()
        }
    );
}

#[test]
fn empty_mask_is_rejected_and_star_replaces_everything() {
    assert!(apply_mask(&stored(), &Profile::default(), &[]).is_err());
    let replaced = apply_mask(&stored(), &Profile::default(), &paths(&["*"])).unwrap();
    assert_eq!(replaced, Profile::default());
}

#[test]
fn clearing_a_field_through_the_mask() {
    let patch = Profile {
        seat_preference: Some("   ".into()),
        ..Profile::default()
    };
    let updated = apply_mask(&stored(), &patch, &paths(&["seat_preference"])).unwrap();
    assert_eq!(updated.seat_preference, None);
}

#[test]
fn birthdays_are_checked() {
    let with = |month, day, year| Profile {
        birthday: Some(Birthday { month, day, year }),
        ..Profile::default()
    };
    let mask = paths(&["birthday"]);
    assert!(apply_mask(&stored(), &with(2, 29, None), &mask).is_ok());
    assert_eq!(
        apply_mask(&stored(), &with(2, 29, Some(2023)), &mask)
            .unwrap_err()
            .field(),
        "birthday"
    );
    assert_eq!(
        apply_mask(&stored(), &with(13, 1, None), &mask)
            .unwrap_err()
            .field(),
        "birthday"
    );
    assert_eq!(
        apply_mask(&stored(), &with(1, 1, Some(1850)), &mask)
            .unwrap_err()
            .field(),
        "birthday.year"
    );
}

#[test]
fn name_gender_and_attributes_follow_the_mask() {
    let patch = Profile {
        name: " 李女士 ".into(),
        gender: "female".into(),
        attributes: BTreeMap::from([("company".to_owned(), "华为".to_owned())]),
        ..Profile::default()
    };
    let updated = apply_mask(&stored(), &patch, &paths(&["name", "gender"])).unwrap();
    assert_eq!(updated.name, "李女士");
    assert_eq!(updated.gender, "female");
    assert!(updated.attributes.is_empty(), "attributes not in the mask");
    let bad = Profile {
        gender: "x".into(),
        ..Profile::default()
    };
    let error = apply_mask(&stored(), &bad, &paths(&["gender"])).unwrap_err();
    assert_eq!(error.field(), "gender");
}

#[test]
fn oversize_inputs_name_their_field() {
    let patch = Profile {
        notes: "注".repeat(2_001),
        anniversaries: vec![Anniversary {
            label: " ".into(),
            date: NaiveDate::from_ymd_opt(2020, 5, 20).unwrap(),
        }],
        dietary_habits: (0..31).map(|i| format!("习惯{i}")).collect(),
        ..Profile::default()
    };
    let field = |path: &str| {
        apply_mask(&stored(), &patch, &paths(&[path]))
            .unwrap_err()
            .field()
            .to_owned()
    };
    assert_eq!(field("notes"), "notes");
    assert_eq!(field("anniversaries"), "anniversaries[0].label");
    assert_eq!(field("dietary_habits"), "dietary_habits");
}
