//! Record ids. Every record has a random UUID (v4) written as 32 lowercase hex digits, so
//! ids never collide across databases (export/import merges safely) and any short prefix
//! is almost always unique (the CLI shows and accepts 8 characters, as seed 000 does).

/// Shortest prefix the store accepts when resolving an id.
pub const MIN_PREFIX: usize = 4;

/// Length of the short form shown to people.
pub const SHORT_LEN: usize = 8;

/// A new random id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The short form of an id shown to people.
pub fn short(id: &str) -> &str {
    // A name someone chose (a session id) may hold characters of several bytes.
    let mut end = id.len().min(SHORT_LEN);
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    &id[..end]
}

/// Whether `s` could be an id or id prefix (hex digits, optionally with dashes).
pub fn looks_like_id(s: &str) -> bool {
    let hex: Vec<char> = s.chars().filter(|c| *c != '-').collect();
    hex.len() >= MIN_PREFIX && hex.len() <= 32 && hex.iter().all(|c| c.is_ascii_hexdigit())
}

/// Normalises a user-typed id or prefix: lowercase, dashes removed.
pub fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 32);
        assert!(looks_like_id(&a));
        assert_ne!(a, b);
        assert_eq!(short(&a).len(), SHORT_LEN);
    }

    #[test]
    fn short_forms_of_names_never_split_a_character() {
        assert_eq!(short("réunion-équipe"), "réunion");
        assert_eq!(short("日本語のセッション"), "日本");
        assert_eq!(short("s1"), "s1");
    }

    #[test]
    fn prefixes_are_normalised_and_checked() {
        assert_eq!(normalize("AB-cd-12"), "abcd12");
        assert!(looks_like_id("abcd"));
        assert!(!looks_like_id("abc"));
        assert!(!looks_like_id("hello"));
    }
}
