//! API keys: stored without their secret, found by id from another handle (another
//! server), listed newest first, revoked by a unique prefix, touched.

use mnemo_core::{ApiKey, Error};

use crate::backends::Backend;
use crate::fixtures::ts;

fn key(id: &str, user: &str, created: &str) -> ApiKey {
    ApiKey {
        id: id.into(),
        hash: format!("{id:0<64}"),
        user_id: user.into(),
        agent_id: None,
        admin: false,
        name: None,
        created_at: ts(created),
        revoked_at: None,
        last_used_at: None,
    }
}

pub fn api_keys_are_shared_revoked_and_touched(b: &dyn Backend) {
    let writer = b.open_keys();
    let reader = b.open_keys();
    let mut admin = key("abcd1111", "ops", "2026-01-02T00:00:00Z");
    admin.admin = true;
    admin.agent_id = Some("bot".into());
    admin.name = Some("deploy key".into());
    writer.insert_key(&admin).unwrap();
    writer
        .insert_key(&key("abcd2222", "ann", "2026-01-03T00:00:00Z"))
        .unwrap();
    writer
        .insert_key(&key("ffff0000", "bob", "2026-01-01T00:00:00Z"))
        .unwrap();

    // Another handle (another replica) finds it, every field intact.
    assert_eq!(reader.key_by_id("abcd1111").unwrap(), Some(admin.clone()));
    assert_eq!(reader.key_by_id("abcd").unwrap(), None, "lookup is exact");
    let order: Vec<String> = reader
        .list_keys()
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(order, ["abcd2222", "abcd1111", "ffff0000"], "newest first");

    // The same id twice is refused, the first key unchanged.
    assert!(writer
        .insert_key(&key("abcd1111", "eve", "2026-01-04T00:00:00Z"))
        .is_err());
    assert_eq!(
        reader.key_by_id("abcd1111").unwrap().unwrap().user_id,
        "ops"
    );

    // Revoke by a unique prefix (with or without `mnemo_`); an ambiguous one says so.
    match writer.revoke_key("abcd", ts("2026-02-01T00:00:00Z")) {
        Err(Error::Ambiguous { count: 2, .. }) => {}
        other => panic!("expected an ambiguous prefix, got {other:?}"),
    }
    assert!(matches!(
        writer.revoke_key("0123", ts("2026-02-01T00:00:00Z")),
        Err(Error::NotFound { .. })
    ));
    let revoked = writer
        .revoke_key("mnemo_ffff", ts("2026-02-01T00:00:00Z"))
        .unwrap();
    assert_eq!(revoked.id, "ffff0000");
    let seen = reader.key_by_id("ffff0000").unwrap().unwrap();
    assert_eq!(seen.revoked_at, Some(ts("2026-02-01T00:00:00Z")));
    // Revoking again keeps the first time.
    let again = writer
        .revoke_key("ffff0000", ts("2026-03-01T00:00:00Z"))
        .unwrap();
    assert_eq!(again.revoked_at, Some(ts("2026-02-01T00:00:00Z")));

    writer
        .touch_key("abcd2222", ts("2026-02-02T10:00:00.123456Z"))
        .unwrap();
    let touched = reader.key_by_id("abcd2222").unwrap().unwrap();
    assert_eq!(
        touched.last_used_at,
        Some(ts("2026-02-02T10:00:00.123456Z"))
    );
    assert_eq!(touched.revoked_at, None);
}
