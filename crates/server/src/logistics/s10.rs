//! UPU S10 item identifiers, the 13-character tracking numbers of postal items: two letters (service indicator;
//! `E?` for EMS), an 8-digit serial number, a check digit, and the ISO country code of the issuing post
//! (`EA123456785CN`). The check digit: weights 8 6 4 2 3 5 9 7 over the serial, C = 11 − (sum mod 11), with
//! C = 10 written as 0 and C = 11 as 5 (UPU standard S10).

const WEIGHTS: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];

/// The check digit of an 8-digit serial number; `None` if `serial` is not 8 ASCII digits.
pub fn check_digit(serial: &str) -> Option<u8> {
    if serial.len() != 8 || !serial.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = serial.bytes().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    Some(match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c as u8,
    })
}

/// The identifier for a service indicator (2 uppercase letters), serial (0..=99 999 999) and country (2 uppercase
/// letters); `None` if a part is malformed.
pub fn identifier(service: &str, serial: u32, country: &str) -> Option<String> {
    let letters = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase());
    if !letters(service) || !letters(country) || serial > 99_999_999 {
        return None;
    }
    let digits = format!("{serial:08}");
    Some(format!("{service}{digits}{}{country}", check_digit(&digits)?))
}

/// Whether `s` is a well-formed S10 identifier with a correct check digit.
pub fn is_valid(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 13
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[11..].iter().all(u8::is_ascii_uppercase)
        && check_digit(&s[2..10]).is_some_and(|c| b[10] == b'0' + c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_examples_and_the_special_cases() {
        // 4·8 + 7·6 + 3·4 + 1·2 + 2·3 + 4·5 + 8·9 + 2·7 = 200; 200 mod 11 = 2; 11 − 2 = 9.
        assert_eq!(check_digit("47312482"), Some(9));
        assert!(is_valid("RR473124829GB"));
        // 1·8 + 2·6 + 3·4 + 4·2 + 5·3 + 6·5 + 7·9 + 8·7 = 204; 204 mod 11 = 6; 11 − 6 = 5.
        assert_eq!(identifier("EA", 12_345_678, "CN").as_deref(), Some("EA123456785CN"));
        assert_eq!(check_digit("10000000"), Some(3)); // 8 → 11 − 8
        assert_eq!(check_digit("00000003"), Some(1)); // 21 mod 11 = 10 → 11 − 10
        // sum mod 11 = 1 → C = 10, written 0: 4·3 = 12.
        assert_eq!(check_digit("00004000"), Some(0));
        // sum mod 11 = 0 → C = 11, written 5.
        assert_eq!(check_digit("00000000"), Some(5));
        assert_eq!(check_digit("00000015"), Some(5)); // 1·9 + 5·7 = 44 = 4·11
    }

    #[test]
    fn malformed_identifiers_are_refused() {
        assert!(!is_valid("EA123456784CN"), "wrong check digit");
        assert!(!is_valid("EA12345678CN"));
        assert!(!is_valid("ea123456785CN"));
        assert!(!is_valid("EA12345678XCN"));
        assert!(!is_valid("EA1234567A5CN"));
        assert!(!is_valid("EA123456785C1"));
        assert!(!is_valid(""));
        assert_eq!(check_digit("1234567"), None);
        assert_eq!(identifier("E", 1, "CN"), None);
        assert_eq!(identifier("EA", 100_000_000, "CN"), None);
        assert_eq!(identifier("EA", 1, "cn"), None);
        for serial in [0u32, 1, 99_999_999, 31_415_926] {
            assert!(is_valid(&identifier("EB", serial, "CN").unwrap()));
        }
    }
}
