//! Masking of personal names for display to people who do not need the full name.

/// Common two-character (compound) surnames. A name starting with one of these keeps both
/// characters when the given name would still be masked (欧阳娜娜 → 欧阳**), which matches the
/// usual "surname visible" convention of government sites.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "令狐", "慕容", "公孙", "尉迟", "长孙", "宇文",
    "夏侯", "轩辕", "司徒", "司空", "端木", "独孤", "南宫", "西门", "百里", "呼延", "万俟", "闻人",
    "澹台", "公冶", "太史", "申屠", "钟离", "赫连", "拓跋", "濮阳", "淳于", "单于", "仲孙", "东郭",
    "第五", "鲜于", "左丘", "段干", "司寇", "子车", "颛孙", "漆雕", "乐正", "壤驷", "公良", "梁丘",
];

/// Masks a personal name keeping only the surname visible: "张三" → "张*", "李小龙" → "李**",
/// "欧阳娜娜" → "欧阳**", "欧阳修" → "欧阳*". Rules:
/// - surrounding whitespace is trimmed; an empty name stays empty;
/// - the first character is kept (both characters of a compound surname if at least one more
///   character follows); every other character becomes `*`, except the separators `·`/`•`/`.`
///   and spaces of transliterated minority or foreign names, which are kept
///   ("买买提·艾力" → "买**·**");
/// - a single-character name is fully masked ("*"), since keeping it would reveal everything.
pub fn mask_name(name: &str) -> String {
    let name = name.trim();
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 => return String::new(),
        1 => return "*".into(),
        _ => {}
    }
    let keep = if chars.len() > 2 && COMPOUND_SURNAMES.iter().any(|s| name.starts_with(s)) {
        2
    } else {
        1
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if i < keep || matches!(c, '·' | '•' | '.' | '．' | ' ' | '\u{30fb}') {
                c
            } else {
                '*'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name(" 李小龙 "), "李**");
        assert_eq!(mask_name("欧阳娜娜"), "欧阳**");
        assert_eq!(mask_name("欧阳修"), "欧阳*");
        assert_eq!(mask_name("欧阳"), "欧*");
        assert_eq!(mask_name("王"), "*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("买买提·艾力"), "买**·**");
        assert_eq!(mask_name("John Smith"), "J*** *****");
    }
}
