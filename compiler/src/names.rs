//! Naming rules: how model names become plurals, table, column and constraint names.
//!
//! These follow Exograph's conventions (notes §1.11): the plural of a type is an English
//! plural of its last word, tables are `snake_case(plural)`, columns `snake_case(field)`.

/// `ConcertArtist` -> `concert_artist`, `firstName` -> `first_name`, `HTTPServer` -> `http_server`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                let prev = chars[i - 1];
                let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
                let boundary = prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower);
                if boundary && !out.ends_with('_') {
                    out.push('_');
                }
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `email` -> `Email`, `primary_email` -> `PrimaryEmail`, `eventRsvp` -> `EventRsvp`.
pub fn upper_camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for part in name.split('_').filter(|p| !p.is_empty()) {
        let mut cs = part.chars();
        if let Some(first) = cs.next() {
            out.extend(first.to_uppercase());
            out.push_str(cs.as_str());
        }
    }
    out
}

/// `ConcertArtist` -> `concertArtist`.
pub fn lower_camel(name: &str) -> String {
    let mut cs = name.chars();
    match cs.next() {
        Some(first) => first.to_lowercase().chain(cs).collect(),
        None => String::new(),
    }
}

/// Irregular English plurals (lowercase singular, lowercase plural).
pub const IRREGULAR: &[(&str, &str)] = &[
    ("person", "people"),
    ("child", "children"),
    ("man", "men"),
    ("woman", "women"),
    ("mouse", "mice"),
    ("goose", "geese"),
    ("foot", "feet"),
    ("tooth", "teeth"),
    ("ox", "oxen"),
    ("leaf", "leaves"),
    ("knife", "knives"),
    ("wife", "wives"),
    ("life", "lives"),
    ("half", "halves"),
    ("shelf", "shelves"),
    ("wolf", "wolves"),
    ("calf", "calves"),
    ("loaf", "loaves"),
    ("thief", "thieves"),
    ("hero", "heroes"),
    ("potato", "potatoes"),
    ("tomato", "tomatoes"),
    ("echo", "echoes"),
    ("veto", "vetoes"),
    ("criterion", "criteria"),
    ("phenomenon", "phenomena"),
];

/// The plural of a type name, changing only its last word: `Todo` -> `Todos`,
/// `Category` -> `Categories`, `Address` -> `Addresses`, `SalesPerson` -> `SalesPeople`.
///
/// Like Exograph, a word the rules leave unchanged gets an `s` appended.
pub fn pluralize(name: &str) -> String {
    // Split off the last word of a PascalCase / camelCase / snake_case name.
    let split = name
        .char_indices()
        .rev()
        .filter(|&(i, c)| i > 0 && (c.is_uppercase() || c == '_'))
        .map(|(i, c)| if c == '_' { i + 1 } else { i })
        .next()
        .unwrap_or(0);
    let (head, word) = name.split_at(split);
    let plural = pluralize_word(word);
    let out = format!("{head}{plural}");
    if out == name {
        format!("{name}s")
    } else {
        out
    }
}

fn pluralize_word(word: &str) -> String {
    if word.is_empty() {
        return String::new();
    }
    let lower = word.to_lowercase();
    if let Some((_, plural)) = IRREGULAR.iter().find(|(s, _)| *s == lower) {
        let capital = word.chars().next().is_some_and(char::is_uppercase);
        return if capital { upper_camel(plural) } else { plural.to_string() };
    }
    let ends = |s: &str| lower.ends_with(s);
    let before_last = lower.chars().rev().nth(1);
    let is_vowel = |c: char| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u');
    if ends("y") && before_last.is_some_and(|c| !is_vowel(c)) {
        format!("{}ies", &word[..word.len() - 1])
    } else if ends("sis") {
        format!("{}ses", &word[..word.len() - 3])
    } else if ends("s") || ends("x") || ends("z") || ends("ch") || ends("sh") {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(!a[i - 1].eq_ignore_ascii_case(&b[j - 1]));
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake() {
        assert_eq!(snake_case("ConcertArtist"), "concert_artist");
        assert_eq!(snake_case("firstName"), "first_name");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("userID"), "user_id");
        assert_eq!(snake_case("address2"), "address2");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("People"), "people");
    }

    #[test]
    fn plurals() {
        assert_eq!(pluralize("Todo"), "Todos");
        assert_eq!(pluralize("Category"), "Categories");
        assert_eq!(pluralize("Day"), "Days");
        assert_eq!(pluralize("Address"), "Addresses");
        assert_eq!(pluralize("Box"), "Boxes");
        assert_eq!(pluralize("Match"), "Matches");
        assert_eq!(pluralize("Person"), "People");
        assert_eq!(pluralize("SalesPerson"), "SalesPeople");
        assert_eq!(pluralize("Child"), "Children");
        assert_eq!(pluralize("ConcertArtist"), "ConcertArtists");
        assert_eq!(pluralize("Analysis"), "Analyses");
        assert_eq!(pluralize("Status"), "Statuses");
    }

    #[test]
    fn camel() {
        assert_eq!(upper_camel("email"), "Email");
        assert_eq!(upper_camel("primary_email"), "PrimaryEmail");
        assert_eq!(upper_camel("eventRsvp"), "EventRsvp");
        assert_eq!(lower_camel("ConcertArtist"), "concertArtist");
    }
}
