//! Full-text search: stemmed words match, user text is never query syntax, and a search
//! sees exactly what a listing with the same filter sees.

use mnemo_core::{MemoryFilter, Op, TimeView, TurnFilter};

use crate::fixtures::{event, memory, now, put, say, scope};
use crate::Backend;

pub fn full_text_search_respects_scope_and_view(b: &dyn Backend) {
    let store = b.open();
    let s = scope("alice", None);
    let tea = memory(
        &s,
        "Alice is drinking green tea every morning",
        "2026-01-01T00:00:00Z",
    );
    let jazz = memory(&s, "Alice likes jazz concerts", "2026-01-02T00:00:00Z");
    put(store.as_ref(), &tea);
    put(store.as_ref(), &jazz);
    put(
        store.as_ref(),
        &memory(
            &scope("bob", None),
            "Bob drinks tea",
            "2026-01-01T00:00:00Z",
        ),
    );
    let mut closed = memory(&s, "drank black tea", "2025-01-01T00:00:00Z");
    put(store.as_ref(), &closed);
    closed.valid_to = Some(now());
    closed.deleted = true;
    store
        .update_memory(&closed, &event(&closed, Op::Delete, now()))
        .unwrap();

    let hits = store
        .search_memories(
            "what does she drink? tea!",
            &MemoryFilter::scope(s.clone()),
            10,
        )
        .unwrap();
    let found: Vec<&str> = hits.iter().map(|h| h.item.id.as_str()).collect();
    assert_eq!(
        found,
        vec![tea.id.as_str()],
        "stemmed, scoped, current only"
    );
    assert!(hits[0].score > 0.0);
    let all = MemoryFilter {
        view: TimeView::All,
        ..MemoryFilter::scope(s.clone())
    };
    assert_eq!(store.search_memories("tea", &all, 10).unwrap().len(), 2);
    assert_eq!(store.search_memories("tea", &all, 1).unwrap().len(), 1);
    for hostile in ["\"", "NOT (", "a:b*", "' OR 1=1 --", "&|!:*()<->", ""] {
        store
            .search_memories(hostile, &MemoryFilter::scope(s.clone()), 5)
            .unwrap();
    }
    let dupes = store
        .memories_with_all_words(
            "Alice likes jazz concerts",
            &MemoryFilter::scope(s.clone()),
            5,
        )
        .unwrap();
    assert_eq!(
        dupes.iter().map(|m| &m.id).collect::<Vec<_>>(),
        vec![&jazz.id]
    );
    assert!(store
        .memories_with_all_words("jazz tea", &MemoryFilter::scope(s.clone()), 5)
        .unwrap()
        .is_empty());

    say(
        store.as_ref(),
        &s,
        "s1",
        "We went hiking in the mountains",
        "2026-01-01T00:00:00Z",
    );
    say(
        store.as_ref(),
        &s,
        "s1",
        "The weather was sunny",
        "2026-01-01T00:01:00Z",
    );
    let turns = store
        .search_turns(
            "hike mountain",
            &TurnFilter {
                scope: Some(s.clone()),
                ..Default::default()
            },
            5,
        )
        .unwrap();
    assert_eq!(turns.len(), 1);
    assert!(turns[0].item.content.contains("hiking"));
    let bob = TurnFilter {
        scope: Some(scope("bob", None)),
        ..Default::default()
    };
    assert!(store.search_turns("hiking", &bob, 5).unwrap().is_empty());
}
