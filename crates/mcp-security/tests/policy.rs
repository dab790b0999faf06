//! Policy decisions, each a line of data.

use mcp_core::protocol::{JsonObject, Tool, ToolAnnotations};
use mcp_security::{Policy, PolicyConfig, Subject};
use serde_json::{Value, json};

fn tool(name: &str, read_only: Option<bool>) -> Tool {
    let mut t = Tool::new(name, "", json!({"type": "object"}).as_object().cloned().unwrap_or_default());
    t.annotations = read_only.map(|r| ToolAnnotations::default().with_read_only(r));
    t
}

fn policy(config: Value) -> Policy {
    Policy::new(serde_json::from_value::<PolicyConfig>(config).expect("valid config")).expect("compiles")
}

fn decide(p: &Policy, principal: &str, server: &str, t: &Tool, args: Value) -> (bool, String) {
    let args: JsonObject = args.as_object().cloned().unwrap_or_default();
    let exposed = format!("{server}__{}", t.name);
    let d = p.decide(&Subject {
        principal,
        server,
        tool: &t.name,
        exposed: &exposed,
        definition: t,
        arguments: Some(&args),
    });
    (d.allowed, d.rule)
}

#[test]
fn rules_decide_in_order_and_name_themselves() {
    let p = policy(json!({"rules": [
        {"name": "no-secrets", "effect": "deny", "tools": ["read_*"], "arguments": {"path": {"glob": "*secret*"}}},
        {"name": "fs-data", "effect": "allow", "servers": ["fs"], "tools": ["read_*", "list_*"], "arguments": {"path": {"path": "/srv/data/**"}}},
        {"name": "ops-all", "effect": "allow", "principals": ["ops-*"]},
        {"name": "readers", "effect": "allow", "annotations": {"readOnlyHint": true}, "servers": ["github"]},
        {"name": "modes", "effect": "allow", "tools": ["set_mode"], "arguments": {"mode": {"values": ["fast", "safe"]}}}
    ]}));
    let read = tool("read_text_file", Some(true));
    let write = tool("write_file", Some(false));
    let cases: &[(&str, &str, &Tool, Value, bool, &str)] = &[
        ("alice", "fs", &read, json!({"path": "/srv/data/a.txt"}), true, "fs-data"),
        ("alice", "fs", &read, json!({"path": "/srv/data/../../etc/passwd"}), false, "default"),
        ("alice", "fs", &read, json!({"path": "/srv/data/secret.txt"}), false, "no-secrets"),
        ("alice", "fs", &read, json!({"path": "/srv/datafile"}), false, "default"),
        ("alice", "fs", &read, json!({"path": "relative/a.txt"}), false, "default"),
        ("alice", "fs", &read, json!({}), false, "default"),
        ("alice", "fs", &write, json!({"path": "/srv/data/a.txt"}), false, "default"),
        ("ops-bob", "fs", &write, json!({"path": "/etc/x"}), true, "ops-all"),
        ("alice", "github", &tool("list_issues", Some(true)), json!({}), true, "readers"),
        ("alice", "github", &tool("create_issue", None), json!({}), false, "default"),
        ("alice", "x", &tool("set_mode", None), json!({"mode": "fast"}), true, "modes"),
        ("alice", "x", &tool("set_mode", None), json!({"mode": "rm -rf"}), false, "default"),
    ];
    for (principal, server, t, args, allowed, rule) in cases {
        assert_eq!(
            decide(&p, principal, server, t, args.clone()),
            (*allowed, (*rule).to_owned()),
            "{principal} {server} {} {args}",
            t.name
        );
    }
}

#[test]
fn read_only_mode_refuses_anything_not_annotated_read_only() {
    let p = policy(json!({"read_only": true}));
    assert_eq!(decide(&p, "a", "s", &tool("get", Some(true)), json!({})), (true, "default".into()));
    assert_eq!(decide(&p, "a", "s", &tool("put", Some(false)), json!({})), (false, "read-only mode".into()));
    assert_eq!(decide(&p, "a", "s", &tool("unknown", None), json!({})), (false, "read-only mode".into()));
}

#[test]
fn no_rules_allow_everything_and_any_rule_makes_the_default_deny() {
    assert!(decide(&policy(json!({})), "a", "s", &tool("t", None), json!({})).0);
    let p = policy(json!({"rules": [{"name": "only-x", "effect": "allow", "tools": ["x"]}]}));
    assert_eq!(decide(&p, "a", "s", &tool("t", None), json!({})), (false, "default".into()));
    assert!(p.visible("a", "s", "s__x", &tool("x", None)));
    assert!(!p.visible("a", "s", "s__t", &tool("t", None)));
}

#[test]
fn invalid_configuration_names_the_rule() {
    let bad = serde_json::from_value::<PolicyConfig>(
        json!({"rules": [{"name": "broken", "effect": "allow", "tools": ["a[b"]}]}),
    )
    .expect("parses");
    let err = Policy::new(bad).expect_err("invalid glob").to_string();
    assert!(err.contains("rule `broken`") && err.contains("a[b"), "{err}");
}

#[test]
fn a_rule_may_not_take_the_name_of_a_decision_no_rule_makes() {
    // Found by the `policy` fuzz target: a rule named `default` allowed what the log then said
    // the default had decided.
    #[derive(serde::Deserialize)]
    struct Case {
        policy: PolicyConfig,
    }
    let case: Case =
        serde_json::from_str(include_str!("../../../fuzz/regressions/policy/reserved-rule-name.json")).expect("parses");
    let err = Policy::new(case.policy).expect_err("a reserved name").to_string();
    assert!(err.contains("`default`"), "{err}");
    let read_only = json!({"rules": [{"name": "read-only mode", "effect": "deny"}]});
    let err = Policy::new(serde_json::from_value(read_only).expect("parses")).expect_err("a reserved name").to_string();
    assert!(err.contains("`read-only mode`"), "{err}");
}

#[test]
fn allows_agrees_with_decide_and_words_only_refusals() {
    let p = policy(json!({"rules": [
        {"name": "no-writes", "effect": "deny", "tools": ["write_*"]},
        {"name": "fs", "effect": "allow", "servers": ["fs"], "arguments": {"path": {"max_length": 8}}}
    ]}));
    let cases = [
        ("fs", "read_file", json!({"path": "/a"})),
        ("fs", "write_file", json!({})),
        ("fs", "read_file", json!({"path": "/a/b/c/d/e"})),
        ("x", "read_file", json!({})),
    ];
    for (server, name, args) in cases {
        let t = tool(name, None);
        let args: JsonObject = args.as_object().cloned().unwrap_or_default();
        let exposed = format!("{server}__{name}");
        let subject = Subject {
            principal: "alice",
            server,
            tool: name,
            exposed: &exposed,
            definition: &t,
            arguments: Some(&args),
        };
        let decided = p.decide(&subject);
        match p.allows(&subject) {
            Ok(rule) => assert!(decided.allowed && decided.rule == rule, "{name} {args:?}"),
            Err(refusal) => assert_eq!(refusal, decided, "{name} {args:?}"),
        }
    }
}

/// The reason of a call's decision, with whether it was allowed and the deciding rule.
fn decide_why(p: &Policy, server: &str, t: &Tool, args: Value) -> (bool, String, String) {
    let args: JsonObject = args.as_object().cloned().unwrap_or_default();
    let exposed = format!("{server}__{}", t.name);
    let subject =
        Subject { principal: "alice", server, tool: &t.name, exposed: &exposed, definition: t, arguments: Some(&args) };
    let d = p.decide(&subject);
    (d.allowed, d.rule, d.reason)
}

#[test]
fn a_deny_rule_applies_to_a_value_it_cannot_check_and_an_allow_rule_does_not() {
    // A deny rule on a path, then an allow for the rest: every spelling that names the denied
    // place is denied, and so is every value the rule cannot check (the fs server resolves a
    // relative path against its root, which the policy does not know).
    let p = policy(json!({"rules": [
        {"name": "no-secret", "effect": "deny", "tools": ["read_*"], "arguments": {"path": {"path": "/srv/secret/**"}}},
        {"name": "no-long", "effect": "deny", "tools": ["grep"], "arguments": {"pattern": {"glob": "*(*"}}},
        {"name": "rest", "effect": "allow"}
    ]}));
    let read = tool("read_text_file", Some(true));
    for (args, why) in [
        (json!({"path": "/srv/secret/key.txt"}), None),
        (json!({"path": "/../srv/secret/key.txt"}), None),
        (json!({"path": "/srv/public/../../../srv/secret/key.txt"}), None),
        (json!({"path": "secret/key.txt"}), Some("`path` is not an absolute path")),
        (json!({"path": "~/key.txt"}), Some("`path` is not an absolute path")),
        (json!({"path": "/srv/secret/key\u{0}.txt"}), Some("`path` has a NUL byte in it")),
        (json!({"path": [{"file": "/srv/public/a.txt"}]}), Some("`path` has an item that is not a string")),
        (json!({"path": 7}), Some("`path` is not a string")),
    ] {
        let (allowed, rule, reason) = decide_why(&p, "fs", &read, args.clone());
        assert!(!allowed && rule == "no-secret", "{args}: {rule}: {reason}");
        if let Some(why) = why {
            assert!(reason.contains(why) && reason.contains("cannot be checked"), "{args}: {reason}");
        }
    }
    for args in [json!({"path": "/srv/public/a.txt"}), json!({"path": "/srv/secretive"}), json!({})] {
        assert_eq!(decide_why(&p, "fs", &read, args.clone()).1, "rest", "{args}");
    }
    let grep = tool("grep", None);
    assert_eq!(decide_why(&p, "shell", &grep, json!({"pattern": "f(x"})).1, "no-long");
    assert_eq!(decide_why(&p, "shell", &grep, json!({"pattern": ["f(x"]})).1, "no-long");
    assert_eq!(decide_why(&p, "shell", &grep, json!({"pattern": "fx"})).1, "rest");

    // An allow rule never lets through what it cannot check; `..` at the root stays there.
    let p = policy(json!({"rules": [
        {"name": "data", "effect": "allow", "arguments": {"path": {"path": "/srv/data/**", "max_length": 40}}}
    ]}));
    assert_eq!(decide_why(&p, "fs", &read, json!({"path": "/../srv/data/a.txt"})).1, "data");
    for args in [json!({"path": "data/a.txt"}), json!({"path": ["/srv/data/a.txt", 1]}), json!({"path": 1})] {
        assert_eq!(decide_why(&p, "fs", &read, args.clone()).1, "default", "{args}");
    }
}

#[test]
fn a_list_argument_is_checked_item_by_item() {
    // `read_multiple_files` takes `paths`: one path under a denied folder refuses the call, and
    // an allow rule lets it through only when every path is where the rule allows.
    let p = policy(json!({"rules": [
        {"name": "no-secret", "effect": "deny", "arguments": {"paths": {"path": "/srv/secret/**"}}},
        {"name": "data", "effect": "allow", "arguments": {"paths": {"path": "/srv/data/**"}}},
        {"name": "modes", "effect": "allow", "arguments": {"modes": {"values": ["fast", "safe"]}}}
    ]}));
    let read = tool("read_multiple_files", Some(true));
    for (args, allowed, rule, why) in [
        (json!({"paths": ["/srv/data/a", "/srv/data/b/../c"]}), true, "data", None),
        (json!({"paths": []}), true, "data", None),
        (json!({"paths": ["/srv/data/a", "/srv/data/../secret/k"]}), false, "no-secret", None),
        (json!({"paths": ["/srv/secret/k", "relative"]}), false, "no-secret", None),
        (json!({"paths": ["/srv/data/a", "/etc/passwd"]}), false, "default", None),
        (
            json!({"paths": ["/srv/data/a", "data/b"]}),
            false,
            "no-secret",
            Some("has an item that is not an absolute path"),
        ),
        (
            json!({"paths": ["/srv/data/a", ["/srv/secret/k"]]}),
            false,
            "no-secret",
            Some("has an item that is not a string"),
        ),
        (json!({"modes": ["fast", "safe"]}), true, "modes", None),
        (json!({"modes": ["fast", "rm -rf"]}), false, "default", None),
    ] {
        let (got, decided, reason) = decide_why(&p, "fs", &read, args.clone());
        assert_eq!((got, decided.as_str()), (allowed, rule), "{args}: {reason}");
        if let Some(why) = why {
            assert_eq!(
                reason,
                format!(
                    "`paths` {why} in `alice`'s call of `fs__read_multiple_files`, so the rule's constraint on it cannot be checked"
                )
            );
        }
    }
}

#[test]
fn an_allow_rule_names_a_tool_with_the_separator_by_its_exposed_name_only() {
    // `fs__read_*` means the fs server's read tools. Another server cannot get through it by
    // naming its own tool `fs__read_anything` (exposed as `evil__fs__read_anything`).
    let p = policy(json!({"rules": [
        {"name": "fs-reads", "effect": "allow", "tools": ["fs__read_*"]},
        {"name": "any-list", "effect": "allow", "tools": ["list_*"]}
    ]}));
    assert_eq!(decide(&p, "a", "fs", &tool("read_file", None), json!({})), (true, "fs-reads".into()));
    assert_eq!(decide(&p, "a", "evil", &tool("fs__read_anything", None), json!({})), (false, "default".into()));
    assert!(!p.visible("a", "evil", "evil__fs__read_anything", &tool("fs__read_anything", None)));
    // A pattern without it still names a tool by its server's own name.
    assert_eq!(decide(&p, "a", "evil", &tool("list_things", None), json!({})), (true, "any-list".into()));
    // A rule that names its servers names their tools as they do, a nested gateway's included.
    let p = policy(
        json!({"rules": [{"name": "depot", "effect": "allow", "servers": ["depot"], "tools": ["stock__count"]}]}),
    );
    assert_eq!(decide(&p, "a", "depot", &tool("stock__count", None), json!({})), (true, "depot".into()));
    assert_eq!(decide(&p, "a", "evil", &tool("stock__count", None), json!({})), (false, "default".into()));
    // A deny rule matches a server's own name with the separator too: it fails closed.
    let p = policy(json!({"rules": [
        {"name": "no-drop", "effect": "deny", "tools": ["stock__drop"]},
        {"name": "rest", "effect": "allow"}
    ]}));
    assert_eq!(decide(&p, "a", "depot", &tool("stock__drop", None), json!({})), (false, "no-drop".into()));
    // Whatever the glob: `fs*` does not reach another server's `fs__read_x` by its own name.
    let p = policy(json!({"rules": [{"name": "fs", "effect": "allow", "tools": ["fs*"]}]}));
    assert_eq!(decide(&p, "a", "evil", &tool("fs__read_x", None), json!({})), (false, "default".into()));
    assert_eq!(decide(&p, "a", "fs", &tool("read_file", None), json!({})), (true, "fs".into()));
}

/// A deny rule that constrains an argument a tool it names does not take never refuses a call of
/// that tool: the gateway warns about such a tool, and only about such a tool.
#[test]
fn the_tools_a_deny_rule_cannot_see_are_named_with_the_argument() {
    let p = policy(json!({"default": "allow", "rules": [
        {"name": "no-etc", "effect": "deny", "servers": ["fs"], "arguments": {"path": {"path": "/etc/**"}}},
        {"name": "no-etc-anywhere", "effect": "deny", "arguments": {"path": {"path": "/etc/**"}}},
        {"name": "short", "effect": "deny", "tools": ["fs__list_*"], "arguments": {"path": {"max_length": 3, "optional": true}}},
        {"name": "readers-only", "effect": "allow", "servers": ["fs"], "arguments": {"path": {"path": "/srv/**"}}}
    ]}));
    let taking = |name: &str, properties: Value| {
        let mut t = tool(name, None);
        t.input_schema = json!({"type": "object", "properties": properties}).as_object().cloned().unwrap_or_default();
        t
    };
    let one = taking("read_text_file", json!({"path": {"type": "string"}}));
    let many = taking("read_multiple_files", json!({"paths": {"type": "array", "items": {"type": "string"}}}));
    let list = taking("list_directory", json!({"dir": {"type": "string"}}));
    let unknown = tool("whatever", None);
    // Only a rule that names servers or tools, denies, and requires the argument: an optional
    // one applies when it is absent.
    assert_eq!(p.blind_spots("fs", "fs__read_multiple_files", &many), vec![("no-etc", "path")]);
    assert_eq!(p.blind_spots("fs", "fs__list_directory", &list), vec![("no-etc", "path")]);
    assert_eq!(p.blind_spots("fs", "fs__read_text_file", &one), Vec::<(&str, &str)>::new());
    // Another server's tool is not the rule's; a schema that lists no properties tells nothing.
    assert_eq!(p.blind_spots("docs", "docs__read_multiple_files", &many), Vec::<(&str, &str)>::new());
    assert_eq!(p.blind_spots("fs", "fs__whatever", &unknown), Vec::<(&str, &str)>::new());
    // What it warns about: the rule lets such a call through.
    assert_eq!(decide(&p, "alice", "fs", &many, json!({"paths": ["/etc/shadow"]})), (true, "default".into()));
    assert_eq!(decide(&p, "alice", "fs", &one, json!({"path": "/etc/shadow"})), (false, "no-etc".into()));

    // A tool that takes no arguments has nothing for the rule to see.
    let none = taking("list_allowed_directories", json!({}));
    assert_eq!(p.blind_spots("fs", "fs__list_allowed_directories", &none), Vec::<(&str, &str)>::new());
    // A schema whose properties may come from elsewhere tells too little to warn.
    let mut composed = many.clone();
    composed.input_schema.insert("allOf".into(), json!([{"properties": {"path": {"type": "string"}}}]));
    assert_eq!(p.blind_spots("fs", "fs__read_multiple_files", &composed), Vec::<(&str, &str)>::new());
    for (keyword, value) in [
        ("patternProperties", json!({"^pa": {"type": "string"}})),
        ("additionalProperties", json!({"type": "string"})),
        ("if", json!({"required": ["path"]})),
    ] {
        let mut open_ended = many.clone();
        open_ended.input_schema.insert(keyword.into(), value);
        assert_eq!(
            p.blind_spots("fs", "fs__read_multiple_files", &open_ended),
            Vec::<(&str, &str)>::new(),
            "{keyword}"
        );
    }
    // `additionalProperties: false` closes the schema: the warning stands.
    let mut closed = many.clone();
    closed.input_schema.insert("additionalProperties".into(), json!(false));
    assert_eq!(p.blind_spots("fs", "fs__read_multiple_files", &closed), vec![("no-etc", "path")]);

    // An earlier rule that decides every call of the tool for everyone leaves later rules
    // nothing to see; one for some callers, or with argument constraints, does not.
    let ahead = |first: Value| {
        policy(json!({"default": "allow", "rules": [
            first,
            {"name": "no-etc", "effect": "deny", "servers": ["fs"], "arguments": {"path": {"path": "/etc/**"}}}
        ]}))
    };
    let decided = ahead(json!({"name": "never", "effect": "deny", "tools": ["fs__read_multiple_files"]}));
    assert_eq!(decided.blind_spots("fs", "fs__read_multiple_files", &many), Vec::<(&str, &str)>::new());
    assert_eq!(decided.blind_spots("fs", "fs__list_directory", &list), vec![("no-etc", "path")]);
    let for_some = ahead(json!({"name": "bob", "effect": "allow", "principals": ["bob"], "servers": ["fs"]}));
    assert_eq!(for_some.blind_spots("fs", "fs__read_multiple_files", &many), vec![("no-etc", "path")]);

    // In read-only mode a tool that is not read-only is refused before any rule.
    let read_only = policy(json!({"default": "allow", "read_only": true, "rules": [
        {"name": "no-etc", "effect": "deny", "servers": ["fs"], "arguments": {"path": {"path": "/etc/**"}}}
    ]}));
    assert_eq!(read_only.blind_spots("fs", "fs__read_multiple_files", &many), Vec::<(&str, &str)>::new());
    let mut reading = many.clone();
    reading.annotations = Some(ToolAnnotations::default().with_read_only(true));
    assert_eq!(read_only.blind_spots("fs", "fs__read_multiple_files", &reading), vec![("no-etc", "path")]);
}

/// A `tools` entry that names no tool served (a typo) is named, with its rule, once the servers
/// it concerns have listed their tools, and not before: a server still starting lists nothing.
#[test]
fn a_tools_entry_that_matches_no_listed_tool_is_named_once_its_servers_have_listed() {
    let p = policy(json!({"default": "allow", "rules": [
        {"name": "no-work", "effect": "deny", "tools": ["normal__wrok", "normal__work"]},
        {"name": "fs-writes", "effect": "deny", "servers": ["fs"], "tools": ["write_flie", "write_*", "edit_*"]},
        {"name": "anywhere", "effect": "deny", "tools": ["drop_*", "read_text_file"]},
        {"name": "by-server", "effect": "allow", "servers": ["nromal"], "tools": ["anything"]},
        {"name": "no-tools", "effect": "allow", "principals": ["ops"]}
    ]}));
    let tools = [
        ("normal", "work", "normal__work"),
        ("fs", "write_file", "fs__write_file"),
        ("fs", "read_text_file", "fs__read_text_file"),
    ];
    let all_listed = [("normal", true), ("fs", true)];
    assert_eq!(
        p.unmatched_tools(&all_listed, &tools),
        vec![("no-work", "normal__wrok"), ("fs-writes", "write_flie"), ("fs-writes", "edit_*"), ("anywhere", "drop_*")],
        "a rule whose servers match none served (`nromal`, said by the configuration's check) is not judged here"
    );
    // `normal` has not listed yet: the entries that name it, or may concern it, wait.
    let starting = [("normal", false), ("fs", true)];
    assert_eq!(
        p.unmatched_tools(&starting, &tools),
        vec![("fs-writes", "write_flie"), ("fs-writes", "edit_*")],
        "only the rule confined to `fs` is judged"
    );
    // A deny rule matches a server's own name with the separator in it; an allow rule without
    // servers does not, so an entry that only such a name fits matches nothing for it.
    let odd = [("evil", "fs__read_x", "evil__fs__read_x")];
    let p = policy(json!({"rules": [
        {"name": "deny-raw", "effect": "deny", "tools": ["fs__read_x"]},
        {"name": "allow-raw", "effect": "allow", "tools": ["fs__read_x"]}
    ]}));
    assert_eq!(p.unmatched_tools(&[("evil", true), ("fs", true)], &odd), vec![("allow-raw", "fs__read_x")]);
    // A written-out `server__tool` waits for that server alone.
    let p = policy(json!({"rules": [{"name": "typo", "effect": "deny", "tools": ["normal__wrok"]}]}));
    let waiting = [("normal", true), ("optional", false)];
    assert_eq!(p.unmatched_tools(&waiting, &tools), vec![("typo", "normal__wrok")]);
    assert!(p.unmatched_tools(&[("normal", false), ("fs", true)], &tools).is_empty());
    // A server not served (disabled) is the configuration check's to name, not this one's; a
    // server whose own name holds the separator is told apart by the longest name that fits.
    let p = policy(json!({"rules": [
        {"name": "off", "effect": "deny", "tools": ["disabled__work"]},
        {"name": "odd-name", "effect": "deny", "tools": ["my__srv__wrok", "my__srv__work"]}
    ]}));
    let tools = [("my__srv", "work", "my__srv__work")];
    let servers = [("my", false), ("my__srv", true)];
    assert_eq!(p.unmatched_tools(&servers, &tools), vec![("odd-name", "my__srv__wrok")]);
}
