//! Phone numbers as identity: normalisation to E.164 and masked-phone hints.
//!
//! Parsing and validity come from the `phonenumber` crate (libphonenumber
//! metadata); this module only decides what the chain treats as one phone:
//! default region CN, so `138 0013 8000`, `+86 13800138000` and
//! `8613800138000` are one person. Delivery platforms hand out masked numbers
//! (`138****8000`); those are kept as a [`MaskedPhone`] hint and are never an
//! identity key on their own.

use std::fmt;

use phonenumber::{Mode, country};

use super::error::FieldError;

/// Longest raw phone input we hand to the parser. Real numbers with spacing and
/// an extension fit easily; anything longer is junk and is rejected early.
const MAX_RAW_PHONE_CHARS: usize = 40;

/// A valid phone number in E.164 form (`+8613800138000`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneE164 {
    e164: String,
    country_code: u16,
}

impl PhoneE164 {
    /// The E.164 string, e.g. `+8613800138000`.
    pub fn as_str(&self) -> &str {
        &self.e164
    }

    /// The country calling code, e.g. `86`.
    pub fn country_code(&self) -> u16 {
        self.country_code
    }

    /// The national significant number: the digits after the country code.
    pub fn national_digits(&self) -> &str {
        let prefix_len = 1 + self.country_code.to_string().len();
        self.e164.get(prefix_len..).unwrap_or("")
    }

    /// Reads a stored E.164 string back. Unlike [`normalize_phone`] this
    /// accepts only the canonical form, so a stored key cannot silently change.
    pub fn from_e164(field: &str, e164: &str) -> Result<Self, FieldError> {
        let phone = normalize_phone(field, e164)?;
        if phone.e164 != e164 {
            return Err(FieldError::InvalidPhone {
                field: field.to_owned(),
                reason: format!("not in E.164 form (expected {})", phone.e164),
            });
        }
        Ok(phone)
    }
}

impl fmt::Display for PhoneE164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.e164)
    }
}

/// A phone number with hidden digits, as delivery platforms send it
/// (`138****8000`). Kept on the profile as a hint for staff; it can never find
/// or merge a customer because thousands of people share each mask.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MaskedPhone(String);

impl MaskedPhone {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `phone` is consistent with this mask: every visible digit
    /// matches in place, counted against the national number.
    pub fn could_be(&self, phone: &PhoneE164) -> bool {
        let national = phone.national_digits();
        national.len() == self.0.chars().count()
            && self
                .0
                .chars()
                .zip(national.chars())
                .all(|(masked, digit)| masked == '*' || masked == digit)
    }
}

impl fmt::Display for MaskedPhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a raw phone field turned out to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneInput {
    Full(PhoneE164),
    Masked(MaskedPhone),
}

/// Parses a raw phone field that may be a full or a masked number.
pub fn parse_phone_input(field: &str, raw: &str) -> Result<PhoneInput, FieldError> {
    let cleaned = to_ascii_phone_chars(raw);
    if cleaned.contains('*') {
        return parse_masked(field, &cleaned).map(PhoneInput::Masked);
    }
    normalize_phone(field, raw).map(PhoneInput::Full)
}

/// Normalises a full phone number to E.164, default region CN.
/// Never panics; every rejection names `field`.
pub fn normalize_phone(field: &str, raw: &str) -> Result<PhoneE164, FieldError> {
    let invalid = |reason: &str| FieldError::InvalidPhone {
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    let cleaned = to_ascii_phone_chars(raw);
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        return Err(FieldError::Missing {
            field: field.to_owned(),
        });
    }
    if trimmed.chars().count() > MAX_RAW_PHONE_CHARS {
        return Err(invalid("too long"));
    }
    if trimmed.contains('*') {
        return Err(invalid("masked number cannot identify a customer"));
    }
    if !trimmed.chars().all(is_phone_char) {
        return Err(invalid(
            "contains characters other than digits and separators",
        ));
    }
    if let Some(mobile) = cn_mobile(trimmed) {
        return Ok(mobile);
    }
    // libphonenumber strips a leading `86` from `8613800138000` itself when
    // the rest is a valid CN number, so no hand-written rule is needed here.
    let parsed = phonenumber::parse(Some(country::Id::CN), trimmed)
        .map_err(|error| invalid(&error.to_string()))?;
    if !phonenumber::is_valid(&parsed) {
        return Err(invalid("no such number"));
    }
    let e164 = parsed.format().mode(Mode::E164).to_string();
    Ok(PhoneE164 {
        e164,
        country_code: parsed.code().value(),
    })
}

fn parse_masked(field: &str, cleaned: &str) -> Result<MaskedPhone, FieldError> {
    let compact: String = cleaned
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let compact = compact
        .strip_prefix("+86")
        .or_else(|| compact.strip_prefix("86").filter(|rest| rest.len() == 11))
        .unwrap_or(&compact)
        .to_owned();
    let visible_digits = compact.chars().filter(char::is_ascii_digit).count();
    let well_formed = !compact.is_empty()
        && compact.chars().count() <= MAX_RAW_PHONE_CHARS
        && compact.chars().all(|c| c.is_ascii_digit() || c == '*');
    if !well_formed || visible_digits == 0 {
        return Err(FieldError::InvalidPhone {
            field: field.to_owned(),
            reason: "masked number must be digits and '*'".to_owned(),
        });
    }
    Ok(MaskedPhone(compact))
}

/// Chinese input methods often produce full-width digits, plus and asterisk
/// (`１３８`, `＋`, `＊`); fold them and the ideographic space to ASCII.
/// libphonenumber's own pattern of mainland China mobile numbers, compiled once.
static CN_MOBILE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
    let metadata = phonenumber::metadata::DATABASE.by_id("CN")?;
    let pattern = metadata.descriptors().mobile()?.national_number().as_str();
    // The metadata writes its patterns across lines, to be read ignoring white space.
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .ignore_whitespace(true)
        .build()
        .ok()
});

/// A mainland China mobile number — most guests' — recognised without the full parser,
/// which looks each of its patterns up by pattern text in a shared LRU cache on every use
/// and was most of the CPU an event costs. Same metadata, same answer (a test compares
/// the two); anything else goes to the parser.
fn cn_mobile(input: &str) -> Option<PhoneE164> {
    let digits: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let national = digits
        .strip_prefix("+86")
        .or_else(|| digits.strip_prefix("86").filter(|rest| rest.len() == 11))
        .unwrap_or(&digits);
    let plausible = national.len() == 11
        && national.starts_with('1')
        && national.bytes().all(|b| b.is_ascii_digit());
    if !plausible || !CN_MOBILE.as_ref()?.is_match(national) {
        return None;
    }
    Some(PhoneE164 {
        e164: format!("+86{national}"),
        country_code: 86,
    })
}

fn to_ascii_phone_chars(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '＋' => '+',
            '＊' => '*',
            '－' => '-',
            '\u{3000}' => ' ',
            other => other,
        })
        .collect()
}

fn is_phone_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')')
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// What the full parser says of `input` (the path `cn_mobile` short-cuts).
    fn by_parser(input: &str) -> Option<String> {
        let parsed = phonenumber::parse(Some(country::Id::CN), input).ok()?;
        phonenumber::is_valid(&parsed).then(|| parsed.format().mode(Mode::E164).to_string())
    }

    #[test]
    fn the_mobile_pattern_loads() {
        assert!(CN_MOBILE.is_some());
        assert_eq!(
            cn_mobile("138 0013 8000").map(|p| p.e164),
            Some("+8613800138000".into())
        );
    }

    proptest! {
        /// Whenever the short cut answers, the parser gives the same number.
        #[test]
        fn cn_mobile_agrees_with_the_parser(
            prefix in prop::sample::select(vec!["", "+86", "86", "+86 "]),
            national in "1[0-9]{10}",
        ) {
            let input = format!("{prefix}{national}");
            if let Some(fast) = cn_mobile(&input) {
                prop_assert_eq!(Some(fast.e164), by_parser(&input));
            }
        }

        /// Valid mobile numbers take the short cut.
        #[test]
        fn valid_mobiles_take_the_short_cut(national in "1[3-9][0-9]{9}") {
            if by_parser(&national).is_some_and(|e| e.starts_with("+861")) {
                prop_assert!(cn_mobile(&national).is_some());
            }
        }
    }

    fn e164(raw: &str) -> String {
        normalize_phone("phone", raw)
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn the_three_spellings_are_one_person() {
        assert_eq!(e164("138 0013 8000"), "+8613800138000");
        assert_eq!(e164("+86 13800138000"), "+8613800138000");
        assert_eq!(e164("8613800138000"), "+8613800138000");
        assert_eq!(e164("0086-138-0013-8000"), "+8613800138000");
        assert_eq!(e164("１３８００１３８０００"), "+8613800138000");
    }

    #[test]
    fn landlines_and_foreign_numbers_are_kept() {
        assert_eq!(e164("010 6552 9988"), "+861065529988");
        assert_eq!(e164("+1 202-555-0173"), "+12025550173");
        let phone = normalize_phone("phone", "+852 6123 4567").unwrap();
        assert_eq!(phone.country_code(), 852);
        assert_eq!(phone.national_digits(), "61234567");
    }

    #[test]
    fn invalid_numbers_name_the_field() {
        for raw in [
            "12345",
            "138001380001234567",
            "abc",
            "138-0013-800O",
            "+86 999",
        ] {
            let error = normalize_phone("booking.phone", raw).unwrap_err();
            assert_eq!(error.field(), "booking.phone", "{raw}");
        }
        assert_eq!(
            normalize_phone("phone", "  ").unwrap_err(),
            FieldError::Missing {
                field: "phone".into()
            }
        );
    }

    #[test]
    fn masked_numbers_are_hints_not_keys() {
        let input = parse_phone_input("phone", "138****8000").unwrap();
        let PhoneInput::Masked(mask) = input else {
            panic!("expected a masked phone, got {input:?}");
        };
        assert_eq!(mask.as_str(), "138****8000");
        assert!(mask.could_be(&normalize_phone("p", "13800138000").unwrap()));
        assert!(!mask.could_be(&normalize_phone("p", "13900138000").unwrap()));
        assert!(normalize_phone("phone", "138****8000").is_err());
        assert_eq!(
            parse_phone_input("phone", "+86 138＊＊＊＊8000").unwrap(),
            PhoneInput::Masked(MaskedPhone("138****8000".into()))
        );
        assert!(parse_phone_input("phone", "****").is_err());
    }

    #[test]
    fn canonical_form_round_trips_and_rejects_other_spellings() {
        let phone = PhoneE164::from_e164("key", "+8613800138000").unwrap();
        assert_eq!(phone.to_string(), "+8613800138000");
        assert!(PhoneE164::from_e164("key", "13800138000").is_err());
    }

    proptest! {
        #[test]
        fn normalisation_never_panics(raw in "\\PC{0,60}") {
            let _ = parse_phone_input("phone", &raw);
        }

        #[test]
        fn phone_shaped_input_never_panics_and_is_idempotent(
            raw in "[+]?[0-9 ()*.-]{0,30}"
        ) {
            if let Ok(phone) = normalize_phone("phone", &raw) {
                let again = normalize_phone("phone", phone.as_str());
                prop_assert_eq!(again, Ok(phone));
            }
        }

        #[test]
        fn spacing_does_not_change_the_person(
            national in "1[3-9][0-9]{9}", split in 0usize..11
        ) {
            let spaced = format!("{} {}", &national[..split], &national[split..]);
            prop_assert_eq!(
                normalize_phone("p", &spaced).ok(),
                normalize_phone("p", &format!("+86{national}")).ok()
            );
        }
    }
}
