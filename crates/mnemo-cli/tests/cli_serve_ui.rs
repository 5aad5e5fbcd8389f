//! The web UI's HTTP side against the real `mnemo serve`: the page and its assets come from
//! the binary, and the operations it calls beside the memory ones (`/v1/me`, `/v1/keys`,
//! `/v1/turns/search`, `/v1/chat`) keep the API's tenancy: keys are an admin's business,
//! turn search sees only the caller's turns, chat without a model says so.
//! The page itself is tested in a real browser in `ui_browser/`.

mod common;

use common::server::{create_key, Server};
use common::Mnemo;
use serde_json::json;

#[test]
fn the_page_and_its_assets_are_served_from_the_binary() {
    let m = Mnemo::new();
    let _ = create_key(&m, "alice", &[]);
    let s = Server::start(&m, &[]);
    let (st, html) = s.call_text("GET", "/", None, &[], None);
    assert_eq!(st, 200);
    assert!(html.contains("<script src=\"/ui/app.js\""), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no third party"
    );
    for asset in ["/ui/app.js", "/ui/app.css"] {
        let (st, body) = s.call_text("GET", asset, None, &[], None);
        assert_eq!(st, 200, "{asset}");
        assert!(body.len() > 1000, "{asset}");
    }
    // Unknown paths are still the API's problem documents.
    let (st, body) = s.call("GET", "/nope", None, None);
    assert_eq!((st, body["code"].as_str()), (404, Some("no_route")));
}

#[test]
fn ui_endpoints_keep_tenancy_and_admin_rights() {
    let m = Mnemo::new();
    let alice = create_key(&m, "alice", &[]);
    let bob = create_key(&m, "bob", &[]);
    let root = create_key(&m, "root", &["--admin"]);
    // OpenAI without an API key: no model is configured.
    let s = Server::start_with(&m, &[], &[("MNEMO_LLM_PROVIDER", "openai")]);

    let (_, me) = s.call("GET", "/v1/me", Some(&alice), None);
    assert_eq!(me["user_id"], "alice");
    assert_eq!(me["admin"], false);
    assert!(me["model"].is_null(), "{me}");
    assert_eq!(s.call("GET", "/v1/me", None, None).0, 401);

    // Keys: a user key may not list or create them; an admin key may, and revoke them.
    assert_eq!(s.call("GET", "/v1/keys", Some(&alice), None).0, 403);
    let req = json!({"user": "carol", "name": "ui"});
    assert_eq!(s.call("POST", "/v1/keys", Some(&alice), Some(&req)).0, 403);
    let (st, made) = s.call("POST", "/v1/keys", Some(&root), Some(&req));
    assert_eq!(st, 201, "{made}");
    let carol = made["key"].as_str().unwrap().to_owned();
    let (_, me) = s.call("GET", "/v1/me", Some(&carol), None);
    assert_eq!(me["user_id"], "carol");
    let (_, keys) = s.call("GET", "/v1/keys", Some(&root), None);
    let listed = keys["keys"].to_string();
    assert!(
        listed.contains("carol") && !listed.contains(&carol),
        "no secret listed"
    );
    let id = made["info"]["id"].as_str().unwrap();
    let (st, revoked) = s.call("DELETE", &format!("/v1/keys/{id}"), Some(&root), None);
    assert_eq!(st, 200);
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let bad = json!({"user": " "});
    assert_eq!(s.call("POST", "/v1/keys", Some(&root), Some(&bad)).0, 400);

    // Turn search: the caller's turns only.
    let turns = json!({"messages": [{"role": "user", "content": "I went sailing on the lake"}]});
    assert_eq!(
        s.call("POST", "/v1/turns", Some(&alice), Some(&turns)).0,
        202
    );
    let q = json!({"query": "sailing lake"});
    let (st, hits) = s.call("POST", "/v1/turns/search", Some(&alice), Some(&q));
    assert_eq!(st, 200, "{hits}");
    assert!(hits["hits"][0]["turn"]["content"]
        .as_str()
        .unwrap()
        .contains("sailing"));
    assert!(hits["hits"][0]["parts"]["lexical"].is_number());
    let (_, none) = s.call("POST", "/v1/turns/search", Some(&bob), Some(&q));
    assert_eq!(none["hits"].as_array().unwrap().len(), 0, "{none}");
    let empty = json!({"query": "  "});
    assert_eq!(
        s.call("POST", "/v1/turns/search", Some(&alice), Some(&empty))
            .0,
        400
    );

    // Chat: an empty message is refused; without a model the answer says so.
    let blank = json!({"message": " "});
    assert_eq!(
        s.call("POST", "/v1/chat", Some(&alice), Some(&blank)).0,
        400
    );
    let msg = json!({"message": "hello"});
    let (st, p) = s.call("POST", "/v1/chat", Some(&alice), Some(&msg));
    assert_eq!((st, p["code"].as_str()), (503, Some("no_model")), "{p}");
    assert!(p["detail"]
        .as_str()
        .unwrap()
        .contains("no model is configured"));
}
