//! CSV: a minimal reader for the embedded data files (no quoting is used in them; a unit test checks every row
//! has the expected number of fields), and the writer for exports (RFC 4180 quoting, formula-safe text).

/// Data rows (header skipped) of a comma-separated text, each split into fields.
pub(crate) fn rows(text: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    text.lines()
        .skip(1)
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').collect())
}

/// Parses "YYYY-MM-DD".
pub(crate) fn iso_date(s: &str) -> Option<time::Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i32 = s[0..4].parse().ok()?;
    let m: u8 = s[5..7].parse().ok()?;
    let d: u8 = s[8..10].parse().ok()?;
    time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
}

/// Appends one CSV record (RFC 4180): a field holding a comma, quote or line break is quoted with its quotes
/// doubled; the record ends with CRLF.
pub fn write_record<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let f = f.as_ref();
        if f.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(f);
        }
    }
    out.push_str("\r\n");
}

/// Text someone typed (a point's name), made inert for spreadsheets: a field starting with `=`, `+`, `-`, `@`,
/// tab or carriage return would run as a formula ("CSV injection"), so it gets a leading apostrophe.
pub fn inert(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { std::borrow::Cow::Owned(format!("'{s}")) } else { std::borrow::Cow::Borrowed(s) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn records_are_quoted_only_when_needed() {
        let mut out = String::new();
        super::write_record(&mut out, &["a", "b,c", "say \"hi\"", "two\nlines", ""]);
        super::write_record(&mut out, &[super::inert("=SUM(A1)"), super::inert("蜀山区"), super::inert("-1+1")]);
        assert_eq!(out, "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n'=SUM(A1),蜀山区,'-1+1\r\n");
    }
}
