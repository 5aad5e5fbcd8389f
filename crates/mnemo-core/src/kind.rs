//! Small closed (and one open) vocabularies: memory kinds, turn roles, history operations
//! and actors. All are stored and exported as lowercase strings so the database and the
//! JSONL export stay readable and stable.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

/// What a memory is. The built-in kinds come from the seeds; any other lowercase word is a
/// user-defined kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Fact,
    Preference,
    Plan,
    Decision,
    Task,
    Risk,
    Summary,
    Note,
    /// A user-defined kind: lowercase letters, digits, `_` and `-`.
    Custom(String),
}

impl Kind {
    /// The built-in kinds, in display order.
    pub const BUILTIN: [Kind; 8] = [
        Kind::Fact,
        Kind::Preference,
        Kind::Plan,
        Kind::Decision,
        Kind::Task,
        Kind::Risk,
        Kind::Summary,
        Kind::Note,
    ];

    /// The stored name of the kind.
    pub fn as_str(&self) -> &str {
        match self {
            Kind::Fact => "fact",
            Kind::Preference => "preference",
            Kind::Plan => "plan",
            Kind::Decision => "decision",
            Kind::Task => "task",
            Kind::Risk => "risk",
            Kind::Summary => "summary",
            Kind::Note => "note",
            Kind::Custom(s) => s,
        }
    }
}

impl FromStr for Kind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some(k) = Kind::BUILTIN.iter().find(|k| k.as_str() == lower) {
            return Ok(k.clone());
        }
        let ok = !lower.is_empty()
            && lower.len() <= 32
            && lower
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if ok {
            Ok(Kind::Custom(lower))
        } else {
            Err(Error::invalid(
                "kind",
                format!(
                    "`{s}` is not a kind; use one of fact, preference, plan, decision, task, risk, summary, note, or a word of up to 32 letters, digits, `_` or `-`"
                ),
            ))
        }
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Declares a closed string enum with its stored names.
macro_rules! closed_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The stored name.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let lower = s.trim().to_ascii_lowercase();
                $name::ALL.iter().copied().find(|v| v.as_str() == lower).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    Error::invalid(stringify!($name).to_ascii_lowercase(),
                        format!("`{s}` is not one of {}", names.join(", ")))
                })
            }
        }
        string_serde!($name);
    };
}

string_serde!(Kind);

/// A JSON Schema for a closed string enum with an `ALL` list and `as_str` names.
macro_rules! string_enum_schema {
    ($t:ty, $doc:literal) => {
        impl schemars::JsonSchema for $t {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($t).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let names: Vec<&str> = <$t>::ALL.iter().map(|v| v.as_str()).collect();
                schemars::json_schema!({ "type": "string", "enum": names, "description": $doc })
            }
        }
    };
}
pub(crate) use string_enum_schema;

string_enum_schema!(Role, "Who said a turn.");
string_enum_schema!(Op, "What happened to a memory.");
string_enum_schema!(Actor, "Who made a change.");

impl schemars::JsonSchema for Kind {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Kind".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{1,32}$",
            "examples": ["fact", "preference", "plan", "decision", "task", "risk", "summary", "note"],
            "description": "A built-in kind (fact, preference, plan, decision, task, risk, summary, note) or a word of up to 32 lowercase letters, digits, `_` or `-`.",
        })
    }
}

closed_enum!(
    /// Who said a turn.
    Role {
        User = "user",
        Assistant = "assistant",
        System = "system",
        Tool = "tool",
    }
);

closed_enum!(
    /// What happened to a memory, as recorded in its history.
    Op {
        /// The memory was created.
        Add = "add",
        /// Its content or attributes were edited in place.
        Update = "update",
        /// It was closed (valid_to set) because a newer memory replaced it.
        Supersede = "supersede",
        /// It was deleted (closed and hidden; the row is kept unless purged).
        Delete = "delete",
        /// A deleted or superseded memory was made current again.
        Restore = "restore",
    }
);

closed_enum!(
    /// Who made a change.
    Actor {
        User = "user",
        Cli = "cli",
        Llm = "llm",
        Import = "import",
        System = "system",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_builtin_and_custom() {
        assert_eq!("Fact".parse::<Kind>().unwrap(), Kind::Fact);
        assert_eq!(
            "recipe".parse::<Kind>().unwrap(),
            Kind::Custom("recipe".into())
        );
        assert!("two words".parse::<Kind>().is_err());
        assert!("".parse::<Kind>().is_err());
    }

    #[test]
    fn closed_enums_round_trip_through_json() {
        for r in Role::ALL {
            let j = serde_json::to_string(r).unwrap();
            assert_eq!(&serde_json::from_str::<Role>(&j).unwrap(), r);
        }
        let err = "robot".parse::<Role>().unwrap_err().to_string();
        assert!(err.contains("user, assistant"), "{err}");
    }
}
