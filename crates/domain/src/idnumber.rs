//! Citizen ID numbers (公民身份号码), GB 11643-1999.
//!
//! 18 characters: 6-digit address code (GB/T 2260) + 8-digit birth date YYYYMMDD + 3-digit
//! sequence (odd = male, even = female) + ISO 7064 MOD 11-2 check character (`0-9` or `X`).
//! Legacy 15-digit numbers (GB 11643-1989: address + YYMMDD + sequence, century 19, no check
//! character) are upgraded to 18 characters.
//!
//! Validation order (the first failing rule is reported, so each input has exactly one reason):
//! empty → length → characters → residence-permit prefix (81/82/83) → region → birth date →
//! future birth date (only with [`IdNumber::parse_on`]) → check digit. Date is checked before the
//! check digit, as in the shared test vectors (a typo in the date is the more useful message).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::division::{self, AddressCodeStatus};

/// Weights W_i = 2^(17-i) mod 11.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character by r = S mod 11.
const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Earliest birth year accepted. The standard's own example is born 1880; anything earlier is
/// treated as a typo.
pub const MIN_BIRTH_YEAR: i32 = 1850;

/// The MOD 11-2 check character for the first 17 characters.
///
/// # Panics
/// Panics if `first17` is not exactly 17 ASCII digits (programming error; [`IdNumber::parse`]
/// never calls it otherwise). Use [`try_check_char`] for untrusted input.
pub fn check_char(first17: &str) -> char {
    try_check_char(first17).expect("check_char needs exactly 17 ASCII digits")
}

/// The MOD 11-2 check character, or `None` if `first17` is not 17 ASCII digits.
pub fn try_check_char(first17: &str) -> Option<char> {
    let b = first17.as_bytes();
    if b.len() != 17 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let s: u32 = b.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    Some(CHECK[(s % 11) as usize])
}

/// Sex encoded by the parity of the sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// "male" / "female".
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
    pub fn name_zh(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }
    pub fn name_en(self) -> &'static str {
        match self {
            Sex::Male => "Male",
            Sex::Female => "Female",
        }
    }
}

/// Why an ID number was rejected. Each reason has a stable machine [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("ID number is empty")]
    Empty,
    /// Not 18 characters (nor a 15-digit legacy number). `found` counts characters after trimming.
    #[error("ID number must have 18 characters, found {found}")]
    Length { found: usize },
    /// Something other than digits in the first 17 (or 15) places, or other than a digit or X last.
    #[error("ID number contains invalid characters")]
    Characters,
    /// The birth date is not a real calendar date (or before 1850).
    #[error("ID number contains an invalid birth date")]
    Date,
    /// The birth date lies after "today".
    #[error("ID number has a birth date in the future")]
    FutureDate,
    /// The address code is not a plausible mainland division code.
    #[error("ID number has an unknown region code")]
    Region,
    /// 81/82/83 prefixes: residence permit for Hong Kong, Macao or Taiwan residents.
    #[error("this is a residence permit number, not a resident ID card number")]
    NotResidentCard,
    #[error("ID number check digit is wrong")]
    CheckDigit { expected: char, found: char },
}

impl IdNumberError {
    /// Stable machine code, e.g. `"id_check_digit"`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "id_empty",
            Self::Length { .. } => "id_length",
            Self::Characters => "id_characters",
            Self::Date => "id_date",
            Self::FutureDate => "id_future_date",
            Self::Region => "id_region",
            Self::NotResidentCard => "id_not_resident_card",
            Self::CheckDigit { .. } => "id_check_digit",
        }
    }

    /// User-facing message in Simplified Chinese. Never contains the number itself.
    pub fn message_zh(&self) -> String {
        match self {
            Self::Empty => "请输入公民身份号码。".into(),
            Self::Length { found } => {
                format!("公民身份号码应为18位，您输入了{found}位。")
            }
            Self::Characters => "公民身份号码只能包含数字，最后一位可以是字母X。".into(),
            Self::Date => "公民身份号码中的出生日期无效。".into(),
            Self::FutureDate => "公民身份号码中的出生日期晚于今天。".into(),
            Self::Region => "公民身份号码中的地址码无效。".into(),
            Self::NotResidentCard => {
                "这是港澳台居民居住证号码，不是居民身份证号码，本服务不适用。".into()
            }
            Self::CheckDigit { .. } => "公民身份号码校验码不正确，请核对后重新输入。".into(),
        }
    }

    /// User-facing message in English. Never contains the number itself.
    pub fn message_en(&self) -> String {
        match self {
            Self::Empty => "Please enter the citizen ID number.".into(),
            Self::Length { found } => {
                format!("The ID number must have 18 characters; you entered {found}.")
            }
            Self::Characters => {
                "The ID number may contain only digits, and the letter X as the last character."
                    .into()
            }
            Self::Date => "The birth date in the ID number is not a valid date.".into(),
            Self::FutureDate => "The birth date in the ID number is in the future.".into(),
            Self::Region => "The region code in the ID number is not valid.".into(),
            Self::NotResidentCard => "This is a residence permit number for Hong Kong, Macao or \
                                      Taiwan residents, not a resident ID card number."
                .into(),
            Self::CheckDigit { .. } => {
                "The check digit of the ID number is wrong; please check the number.".into()
            }
        }
    }
}

/// A validated citizen ID number in canonical form (18 characters, upper-case `X`).
///
/// `Display` and `Debug` print the **masked** form so the full number never reaches logs; use
/// [`as_str`](Self::as_str) explicitly where the full number is needed. No serde on purpose.
/// Equality and hashing use the canonical number only (a legacy 15-digit input equals its
/// 18-character upgrade).
#[derive(Clone)]
pub struct IdNumber {
    number: String,
    birth: Date,
    legacy15: bool,
}

impl PartialEq for IdNumber {
    fn eq(&self, other: &Self) -> bool {
        self.number == other.number
    }
}
impl Eq for IdNumber {}
impl Hash for IdNumber {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.number.hash(state);
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

impl FromStr for IdNumber {
    type Err = IdNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Maps full-width digits/X (entered with a Chinese IME) to ASCII and lower-case `x` to `X`.
/// Judgement call: the shared vectors leave lower-case `x` to policy; we accept it, because
/// phone keyboards and IMEs produce it and the canonical form is unambiguous.
fn normalise(input: &str) -> String {
    input
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            'x' | 'Ｘ' | 'ｘ' => 'X',
            c => c,
        })
        .collect()
}

fn birth_date(yyyymmdd: &str) -> Result<Date, IdNumberError> {
    let y: i32 = yyyymmdd[0..4].parse().map_err(|_| IdNumberError::Date)?;
    let m: u8 = yyyymmdd[4..6].parse().map_err(|_| IdNumberError::Date)?;
    let d: u8 = yyyymmdd[6..8].parse().map_err(|_| IdNumberError::Date)?;
    if y < MIN_BIRTH_YEAR {
        return Err(IdNumberError::Date);
    }
    let month = Month::try_from(m).map_err(|_| IdNumberError::Date)?;
    Date::from_calendar_date(y, month, d).map_err(|_| IdNumberError::Date)
}

fn check_region(code6: &str) -> Result<(), IdNumberError> {
    match division::address_code_status(code6) {
        AddressCodeStatus::ResidencePermit => Err(IdNumberError::NotResidentCard),
        s if s.is_acceptable() => Ok(()),
        _ => Err(IdNumberError::Region),
    }
}

impl IdNumber {
    /// Parses and validates an ID number without a notion of "today" (so no future-date check;
    /// prefer [`parse_on`](Self::parse_on) for user input).
    ///
    /// Accepts surrounding whitespace, full-width digits, lower-case `x`, and 15-digit legacy
    /// numbers (upgraded; see [`was_legacy_15`](Self::was_legacy_15) – first-generation cards
    /// expired on 2013-01-01, so callers should accept them only for look-up).
    pub fn parse(input: &str) -> Result<IdNumber, IdNumberError> {
        Self::parse_impl(input, None)
    }

    /// Like [`parse`](Self::parse), and also rejects a birth date after `today` with
    /// [`IdNumberError::FutureDate`] (checked before the check digit).
    pub fn parse_on(input: &str, today: Date) -> Result<IdNumber, IdNumberError> {
        Self::parse_impl(input, Some(today))
    }

    fn parse_impl(input: &str, today: Option<Date>) -> Result<IdNumber, IdNumberError> {
        let s = normalise(input);
        if s.is_empty() {
            return Err(IdNumberError::Empty);
        }
        match s.chars().count() {
            18 => {
                let b = s.as_bytes();
                if b.len() != 18
                    || !b[..17].iter().all(u8::is_ascii_digit)
                    || !(b[17].is_ascii_digit() || b[17] == b'X')
                {
                    return Err(IdNumberError::Characters);
                }
                Self::validate(s, false, today)
            }
            15 => {
                if s.len() != 15 || !s.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(IdNumberError::Characters);
                }
                let first17 = format!("{}19{}", &s[..6], &s[6..]);
                let mut number = first17.clone();
                number.push(check_char(&first17));
                Self::validate(number, true, today)
            }
            found => Err(IdNumberError::Length { found }),
        }
    }

    /// `s` is 18 ASCII chars, digits + final digit/X.
    fn validate(s: String, legacy15: bool, today: Option<Date>) -> Result<IdNumber, IdNumberError> {
        check_region(&s[..6])?;
        let birth = birth_date(&s[6..14])?;
        if today.is_some_and(|t| birth > t) {
            return Err(IdNumberError::FutureDate);
        }
        let expected = check_char(&s[..17]);
        let found = char::from(s.as_bytes()[17]);
        if expected != found {
            return Err(IdNumberError::CheckDigit { expected, found });
        }
        Ok(IdNumber { number: s, birth, legacy15 })
    }

    /// Builds an ID number from 17 digits by appending the check character (for synthetic data).
    pub fn from_first17(first17: &str) -> Result<IdNumber, IdNumberError> {
        let c = try_check_char(first17).ok_or(if first17.len() == 17 {
            IdNumberError::Characters
        } else {
            IdNumberError::Length { found: first17.chars().count() + 1 }
        })?;
        Self::parse(&format!("{first17}{c}"))
    }

    /// The full canonical number (18 characters). Handle with care: personal data.
    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// "340104********123X": first 6, eight stars, last 4.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.number[..6], &self.number[14..])
    }

    /// 6-digit address code.
    pub fn address_code(&self) -> &str {
        &self.number[..6]
    }

    /// 2-digit province prefix.
    pub fn province_code(&self) -> &str {
        &self.number[..2]
    }

    /// Status of the address code (accepted ones only: current, historical or unlisted-but-
    /// plausible). `Unlisted` is a soft warning callers may surface to staff.
    pub fn address_code_status(&self) -> AddressCodeStatus {
        division::address_code_status(self.address_code())
    }

    pub fn birth_date(&self) -> Date {
        self.birth
    }

    /// 3-digit sequence number.
    pub fn sequence(&self) -> &str {
        &self.number[14..17]
    }

    pub fn sex(&self) -> Sex {
        if (self.number.as_bytes()[16] - b'0') % 2 == 1 { Sex::Male } else { Sex::Female }
    }

    /// Completed years of age on `on` (0 if `on` is before the birth date).
    pub fn age_on(&self, on: Date) -> u32 {
        crate::validity::age_on(self.birth, on)
    }

    /// Whether the input was a 15-digit legacy (first-generation) number.
    pub fn was_legacy_15(&self) -> bool {
        self.legacy15
    }

    /// The 15-digit legacy form, if the person could have had one (born 1900–1999).
    pub fn to_legacy_15(&self) -> Option<String> {
        (&self.number[6..8] == "19").then(|| format!("{}{}", &self.number[..6], &self.number[8..17]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn standard_examples() {
        assert_eq!(check_char("11010519491231002"), 'X');
        assert_eq!(check_char("44052418800101001"), '4');
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.birth_date(), date!(1949 - 12 - 31));
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(id.to_string(), "110105********002X");
        assert_eq!(format!("{id:?}"), "IdNumber(110105********002X)");
        assert!(!format!("{id:?}").contains("19491231"));
    }

    #[test]
    fn distinct_errors() {
        use IdNumberError::*;
        let e = |s: &str| IdNumber::parse(s).unwrap_err();
        assert_eq!(e(""), Empty);
        assert_eq!(e("   "), Empty);
        assert_eq!(e("34010419900307123"), Length { found: 17 });
        assert_eq!(e("3401041990030712355"), Length { found: 19 });
        assert_eq!(e("34010419900307123A"), Characters);
        assert_eq!(e("3401041990030A1235"), Characters);
        assert_eq!(e("34010419900307123é"), Characters);
        assert_eq!(e("34010A900307123"), Characters);
        assert_eq!(e("340104199002301234"), Date);
        assert_eq!(e("340104199013011234"), Date);
        assert_eq!(e("340104184901011234"), Date);
        assert_eq!(e("349901199003071235"), Region);
        assert_eq!(e("990104199003071235"), Region);
        assert_eq!(e("710104199003071235"), Region);
        assert_eq!(e("810000199003071235"), NotResidentCard);
        assert_eq!(e("340104199003071230"), CheckDigit { expected: '5', found: '0' });
        let codes: std::collections::HashSet<_> = [
            Empty,
            Length { found: 1 },
            Characters,
            Date,
            FutureDate,
            Region,
            NotResidentCard,
            CheckDigit { expected: '1', found: '2' },
        ]
        .iter()
        .map(|e| {
            assert!(!e.message_zh().is_empty() && !e.message_en().is_empty());
            e.code()
        })
        .collect();
        assert_eq!(codes.len(), 8);
    }

    #[test]
    fn normalisation() {
        let id = IdNumber::parse("  １１０１０５１９４９１２３１００２ｘ \n").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
        let id = IdNumber::parse("11010519491231002x").unwrap();
        assert_eq!(id.as_str(), "11010519491231002X");
    }

    #[test]
    fn future_dates() {
        let today = date!(2026 - 01 - 01);
        // valid check digit, born tomorrow
        let first17 = "34010420260102123";
        let id = format!("{first17}{}", check_char(first17));
        assert!(IdNumber::parse(&id).is_ok());
        assert_eq!(IdNumber::parse_on(&id, today), Err(IdNumberError::FutureDate));
        let first17 = "34010420260101123";
        let id = format!("{first17}{}", check_char(first17));
        assert!(IdNumber::parse_on(&id, today).is_ok());
    }

    #[test]
    fn legacy_round_trip() {
        let id = IdNumber::parse("340104900307123").unwrap();
        assert!(id.was_legacy_15());
        assert_eq!(id.as_str(), "340104199003071235");
        assert_eq!(id.to_legacy_15().as_deref(), Some("340104900307123"));
        assert_eq!(id, IdNumber::parse("340104199003071235").unwrap());
        assert_eq!(IdNumber::parse("340104901307123"), Err(IdNumberError::Date));
        assert_eq!(IdNumber::from_first17("34010419900307123").unwrap().as_str(), "340104199003071235");
    }
}
