//! Safety rules at call time, against the FAKE API server: read-only, disable-destructive and
//! denied resources refuse hidden tools called by name (and the fake sees no write), a Secret's
//! data never reaches the client unless allowed, and the kubeconfig's token never appears in a
//! result, an error or `Debug` output.

use mcp_k8s::native::{DeniedResource, K8sServer};
use serde_json::json;

use crate::support::{Cluster, TOKEN, call, native, tool_names};

fn writes(cluster: &Cluster) -> Vec<String> {
    cluster
        .fake
        .seen()
        .into_iter()
        .filter(|s| !matches!(s.method.as_str(), "GET") && !s.path_and_query.contains("selfsubjectaccessreviews"))
        .map(|s| format!("{} {}", s.method, s.path_and_query))
        .collect()
}

#[tokio::test]
async fn read_only_hides_and_refuses_every_write() {
    let cluster = Cluster::start(false).await;
    let client = native(mcp_k8s::native::K8sConfig { read_only: true, ..cluster.config() }).await;
    let names = tool_names(&client).await;
    for write in
        ["pods_delete", "pods_exec", "pods_run", "resources_create_or_update", "resources_delete", "resources_scale"]
    {
        assert!(!names.contains(&write.to_owned()), "{write} is listed: {names:?}");
        let result = call(
            &client,
            write,
            json!({"name": "web-1", "image": "x", "resource": "{}", "apiVersion": "v1", "kind": "Pod"}),
        )
        .await;
        assert!(result.is_error(), "{write} ran: {}", result.text_content());
    }
    assert!(names.contains(&"pods_get".to_owned()));
    assert_eq!(writes(&cluster), Vec::<String>::new(), "the API server saw a write");
    assert!(cluster.fake.object("v1", "pods", "default", "web-1").is_some());
}

#[tokio::test]
async fn disable_destructive_keeps_pods_run_and_refuses_deletes() {
    let cluster = Cluster::start(false).await;
    let client = native(mcp_k8s::native::K8sConfig { disable_destructive: true, ..cluster.config() }).await;
    let names = tool_names(&client).await;
    assert!(names.contains(&"pods_run".to_owned()), "{names:?}");
    for destructive in ["pods_delete", "pods_exec", "resources_delete", "resources_create_or_update", "resources_scale"]
    {
        assert!(!names.contains(&destructive.to_owned()), "{destructive} is listed");
    }
    let result = call(&client, "pods_delete", json!({"name": "web-1"})).await;
    assert!(result.is_error());
    assert!(cluster.fake.object("v1", "pods", "default", "web-1").is_some(), "the pod was deleted");
}

#[tokio::test]
async fn debug_output_shows_no_credentials() {
    let cluster = Cluster::start(false).await;
    let config = mcp_k8s::native::K8sConfig { read_only: true, ..cluster.config() };
    let server = K8sServer::connect(config.clone()).await.expect("connects");
    let shown = format!("{server:?} {config:?}");
    assert!(!shown.contains(TOKEN) && shown.contains("read_only: true"), "{shown}");
}

#[tokio::test]
async fn denied_resources_are_refused_at_call_time() {
    let cluster = Cluster::start(false).await;
    let config = mcp_k8s::native::K8sConfig {
        denied_resources: vec!["Secret".parse().expect("parses"), "apps/Deployment".parse().expect("parses")],
        ..cluster.config()
    };
    assert_eq!(config.denied_resources[1], DeniedResource { group: "apps".into(), kind: "Deployment".into() });
    let client = native(config).await;
    for (tool, args) in [
        ("resources_get", json!({"apiVersion": "v1", "kind": "Secret", "name": "db-password"})),
        ("resources_list", json!({"apiVersion": "v1", "kind": "Secret"})),
        ("resources_delete", json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"})),
        ("resources_scale", json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "scale": 0})),
        (
            "resources_create_or_update",
            json!({"resource": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: b\n"}),
        ),
    ] {
        let result = call(&client, tool, args).await;
        assert!(
            result.is_error() && result.text_content().contains("resource not allowed"),
            "{tool}: {}",
            result.text_content()
        );
    }
    assert!(
        cluster
            .fake
            .seen()
            .iter()
            .all(|s| !s.path_and_query.contains("/secrets") && !s.path_and_query.contains("/deployments"))
    );
    assert!(cluster.fake.object("apps/v1", "deployments", "default", "web").is_some());
    assert!("a/b/c/d".parse::<DeniedResource>().is_err() && "secret".parse::<DeniedResource>().is_err());
}

#[tokio::test]
async fn a_name_that_would_be_more_than_one_path_segment_is_refused() {
    // Names go into API paths unescaped: `default/secrets` as a Namespace's name is the path of
    // the Secrets of `default`, which `--deny-resource Secret` refuses by kind, and a node named
    // `n1/proxy/configz?` reaches another kubelet endpoint than its log.
    let cluster = Cluster::start(false).await;
    let config =
        mcp_k8s::native::K8sConfig { denied_resources: vec!["Secret".parse().expect("parses")], ..cluster.config() };
    let client = native(config).await;
    for (tool, args, argument) in [
        ("resources_get", json!({"apiVersion": "v1", "kind": "Namespace", "name": "default/secrets"}), "name"),
        (
            "resources_delete",
            json!({"apiVersion": "v1", "kind": "Namespace", "name": "default/secrets/db-password"}),
            "name",
        ),
        (
            "resources_get",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "namespace": "default/secrets/db-password#", "name": "x"}),
            "namespace",
        ),
        ("pods_get", json!({"name": "..", "namespace": "default"}), "name"),
        ("pods_log", json!({"name": "web-1?follow=true"}), "name"),
        ("nodes_log", json!({"name": "node-1/proxy/configz?", "query": "kubelet"}), "name"),
        ("nodes_stats_summary", json!({"name": "node-1/proxy/pods#"}), "name"),
        ("pods_top", json!({"namespace": "default/pods/web-1/exec?command=id#", "all_namespaces": false}), "namespace"),
        (
            "resources_create_or_update",
            json!({"resource": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a/../../secrets/db-password\n"}),
            "metadata.name",
        ),
        ("resources_get", json!({"apiVersion": "../v1", "kind": "Secret", "name": "db-password"}), "apiVersion"),
    ] {
        let result = call(&client, tool, args.clone()).await;
        let text = result.text_content();
        assert!(result.is_error() && text.contains(&format!("invalid argument {argument}")), "{tool} {args}: {text}");
    }
    let seen: Vec<String> = cluster.fake.seen().into_iter().map(|s| s.path_and_query).collect();
    assert!(
        seen.iter()
            .all(|p| !p.contains("secrets") && !p.contains("configz") && !p.contains("exec") && !p.contains("..")),
        "{seen:?}"
    );
    assert!(cluster.fake.object("v1", "secrets", "default", "db-password").is_some(), "the Secret was deleted");
}

#[tokio::test]
async fn a_context_that_cannot_be_served_is_refused_alone_and_its_proxy_password_never_shown() {
    // A second context behind a proxy this build cannot use: the server still serves the default
    // context, and asking for the other one names why without the proxy's password.
    let cluster = Cluster::start(false).await;
    let mut kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&cluster.fake.kubeconfig(false)).expect("the fake's kubeconfig");
    let mut proxied = kubeconfig["clusters"][0].clone();
    proxied["name"] = "proxied".into();
    proxied["cluster"]["proxy-url"] = "http://proxyuser:ProxyPass123@proxy.corp:3128/".into();
    let mut context = kubeconfig["contexts"][0].clone();
    context["name"] = "prodctx".into();
    context["context"]["cluster"] = "proxied".into();
    kubeconfig["clusters"].as_sequence_mut().expect("clusters").push(proxied);
    kubeconfig["contexts"].as_sequence_mut().expect("contexts").push(context);
    std::fs::write(cluster.kubeconfig.path(), serde_yaml::to_string(&kubeconfig).expect("yaml")).expect("written");

    let client = native(cluster.config()).await;
    let served = call(&client, "pods_get", json!({"name": "web-1"})).await;
    assert!(!served.is_error(), "{}", served.text_content());
    let refused = call(&client, "pods_get", json!({"name": "web-1", "context": "prodctx"})).await;
    let text = refused.text_content();
    assert!(refused.is_error() && text.contains("prodctx"), "{text}");
    assert!(text.contains("proxy-url") && text.contains("http-proxy"), "says why: {text}");
    assert!(!text.contains("ProxyPass123"), "{text}");

    // The same proxy on the default context: the server does not start, and says why.
    kubeconfig["current-context"] = "prodctx".into();
    std::fs::write(cluster.kubeconfig.path(), serde_yaml::to_string(&kubeconfig).expect("yaml")).expect("written");
    let error = K8sServer::connect(cluster.config()).await.expect_err("a proxied default context").to_string();
    assert!(
        error.contains("default context") && error.contains("\"prodctx\"") && error.contains("http://proxy.corp:3128/"),
        "{error}"
    );
    assert!(error.contains("proxy-url") && error.contains("http-proxy"), "says why: {error}");
    assert!(!error.contains("ProxyPass123") && !error.contains("proxyuser"), "{error}");
}

#[tokio::test]
async fn configuration_view_shows_no_password_of_a_server_or_proxy_url() {
    // A server's URL with a user and password (still served: the token authenticates), and a
    // second cluster behind a proxy with a password.
    let cluster = Cluster::start(false).await;
    let mut kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&cluster.fake.kubeconfig(false)).expect("the fake's kubeconfig");
    let with_userinfo = cluster.fake.url().replace("https://", "https://admin:S3cretPass@");
    kubeconfig["clusters"][0]["cluster"]["server"] = with_userinfo.as_str().into();
    let mut proxied = kubeconfig["clusters"][0].clone();
    proxied["name"] = "corp".into();
    proxied["cluster"]["server"] = "https://corp.example:6443".into();
    proxied["cluster"]["proxy-url"] = "http://proxyuser:ProxyPass123@proxy.corp:3128".into();
    let mut context = kubeconfig["contexts"][0].clone();
    context["name"] = "corp".into();
    context["context"]["cluster"] = "corp".into();
    kubeconfig["clusters"].as_sequence_mut().expect("clusters").push(proxied);
    kubeconfig["contexts"].as_sequence_mut().expect("contexts").push(context);
    std::fs::write(cluster.kubeconfig.path(), serde_yaml::to_string(&kubeconfig).expect("yaml")).expect("written");

    let client = native(cluster.config()).await;
    let full = call(&client, "configuration_view", json!({"minified": false})).await;
    let minified = call(&client, "configuration_view", json!({})).await;
    for (what, result) in [("full", &full), ("minified", &minified)] {
        let text = result.text_content();
        assert!(!result.is_error(), "{what}: {text}");
        for secret in ["S3cretPass", "admin", "ProxyPass123", "proxyuser", TOKEN] {
            assert!(!text.contains(secret), "{what} shows {secret}: {text}");
        }
        assert!(text.contains(&format!("server: {}", cluster.fake.url())), "{what} shows the server: {text}");
    }
    let text = full.text_content();
    assert!(text.contains("proxy-url: http://proxy.corp:3128"), "the proxy is shown without its password: {text}");
}

#[tokio::test]
async fn secret_data_is_redacted_unless_allowed() {
    let cluster = Cluster::start(false).await;
    let client = native(cluster.config()).await;
    for (tool, args) in [
        ("resources_get", json!({"apiVersion": "v1", "kind": "Secret", "name": "db-password"})),
        ("resources_list", json!({"apiVersion": "v1", "kind": "Secret"})),
        (
            "resources_create_or_update",
            json!({"resource": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: fresh\ndata:\n  key: c3VwZXItc2VjcmV0LXZhbHVl\n"}),
        ),
    ] {
        let result = call(&client, tool, args).await;
        let text = result.text_content();
        let structured = result.structured_content.as_ref().map(|s| s.to_string()).unwrap_or_default();
        assert!(!result.is_error(), "{tool}: {text}");
        assert!(text.contains("REDACTED"), "{tool}: {text}");
        assert!(
            !text.contains("c3VwZXItc2VjcmV0LXZhbHVl") && !structured.contains("c3VwZXItc2VjcmV0LXZhbHVl"),
            "{tool} leaked: {text}"
        );
    }
    let allowed = native(mcp_k8s::native::K8sConfig { allow_secret_data: true, ..cluster.config() }).await;
    let result =
        call(&allowed, "resources_get", json!({"apiVersion": "v1", "kind": "Secret", "name": "db-password"})).await;
    assert!(result.text_content().contains("password: c3VwZXItc2VjcmV0LXZhbHVl"), "{}", result.text_content());
}

#[tokio::test]
async fn the_token_never_appears() {
    let cluster = Cluster::start(true).await;
    let client = native(cluster.config()).await;
    let mut texts = vec![];
    for (tool, args) in [
        ("configuration_view", json!({})),
        ("configuration_view", json!({"minified": false})),
        ("pods_get", json!({"name": "missing"})),
        ("resources_list", json!({"apiVersion": "nope/v9", "kind": "Thing"})),
        ("pods_list", json!({"context": "other"})),
        ("pods_list", json!({"context": "absent"})),
    ] {
        let result = call(&client, tool, args).await;
        texts.push(format!("{tool}: {}", result.text_content()));
    }
    let all = texts.join("\n");
    assert!(!all.contains(TOKEN), "{all}");
    assert!(all.contains("token: REDACTED") && all.contains("- context:") && all.contains("name: other"), "{all}");
    assert!(all.contains("context \\\"absent\\\" not found") || all.contains("context \"absent\" not found"), "{all}");
    // A server on a kubeconfig whose API server refuses the token: the error names no token.
    let wrong = tempfile::NamedTempFile::new().expect("a file");
    std::fs::write(wrong.path(), cluster.fake.kubeconfig(false).replace(TOKEN, "another-token-xyz")).expect("written");
    let refused =
        native(mcp_k8s::native::K8sConfig { kubeconfig: Some(wrong.path().to_owned()), ..Default::default() }).await;
    let result = call(&refused, "pods_list", json!({})).await;
    assert!(result.is_error() && !result.text_content().contains("another-token-xyz"), "{}", result.text_content());
    let server = K8sServer::connect(cluster.config()).await.expect("connects");
    assert!(!format!("{server:?}").contains(TOKEN));
}

#[tokio::test]
async fn apply_dry_run_changes_nothing_and_validation_errors_are_tool_errors() {
    let cluster = Cluster::start(false).await;
    let client = native(cluster.config()).await;
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: trial\ndata:\n  a: b\n";
    let result = call(&client, "resources_create_or_update", json!({"resource": manifest, "dryRun": true})).await;
    assert!(!result.is_error() && result.text_content().starts_with("# Dry run"), "{}", result.text_content());
    assert!(cluster.fake.object("v1", "configmaps", "default", "trial").is_none());
    assert!(
        cluster
            .fake
            .seen()
            .iter()
            .any(|s| s.path_and_query.contains("dryRun=All") && s.content_type.starts_with("application/apply-patch"))
    );
    let bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n";
    let result = call(&client, "resources_create_or_update", json!({"resource": bad})).await;
    assert!(result.is_error(), "{}", result.text_content());
    assert!(
        result.text_content().contains("is invalid: spec.template.spec.containers[0].image: Required value"),
        "{}",
        result.text_content()
    );
}

#[tokio::test]
async fn logs_report_progress_and_honour_tail_and_previous() {
    let cluster = Cluster::start(false).await;
    let client = native(cluster.config()).await;
    let log = call(&client, "pods_log", json!({"name": "web-1", "tail": 2})).await.text_content();
    assert_eq!(log, "web-1 line 149\nweb-1 line 150\n");
    let default = call(&client, "pods_log", json!({"name": "web-1"})).await.text_content();
    assert_eq!(default.lines().count(), 100);
    let previous = call(&client, "pods_log", json!({"name": "web-1", "previous": true})).await.text_content();
    assert_eq!(previous, "web-1 crashed: out of memory\n");
    // A caller that asks for progress hears that the log is being read.
    use futures_util::StreamExt as _;
    let arguments = json!({"name": "web-1", "tail": 1}).as_object().cloned().unwrap_or_default();
    let mut stream = client.call_tool_stream("pods_log", arguments);
    let (mut progress, mut text) = (vec![], String::new());
    while let Some(event) = stream.next().await {
        match event.expect("the call completes") {
            mcp_core::CallEvent::Progress(p) => progress.push(p.message.unwrap_or_default()),
            mcp_core::CallEvent::Result(result) => text = result.text_content(),
            _ => {}
        }
    }
    assert_eq!((progress, text), (vec!["reading the log of pod web-1".to_owned()], "web-1 line 150\n".to_owned()));
}

#[tokio::test]
async fn a_huge_log_returns_its_end_from_a_whole_line_and_says_what_was_left_out() {
    let cluster = Cluster::start(false).await;
    let client = native(cluster.config()).await;
    let args = json!({"name": "dns-1", "namespace": "kube-system", "tail": 1_000_000});
    let log = call(&client, "pods_log", args).await.text_content();
    let (note, rest) = log.split_once('\n').expect("lines");
    assert!(rest.len() <= 8 * 1024 * 1024, "{} bytes", rest.len());
    assert!(rest.len() > 8 * 1024 * 1024 - 200, "{} bytes", rest.len());
    let left_out = 120_000 * 105 - rest.len();
    assert_eq!(note, format!("[{left_out} bytes before this left out: a call returns at most the last 8 MiB]"));
    assert!(rest.starts_with("dns-1 line "), "{}", &rest[..40]);
    assert!(rest.ends_with(&format!("dns-1 line 120000 {}\n", "q".repeat(86))));
}

#[tokio::test]
async fn a_huge_list_is_read_in_pages_and_stops_at_its_bound_saying_what_was_left_out() {
    let cluster = Cluster::start(false).await;
    // 3,000 config maps of about 2.2 KiB each (in metadata, so that table rows carry it too):
    // more than the 4 MiB a call lists, whichever way it is printed.
    for n in 0..3000 {
        cluster.fake.insert(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("bulk-{n:04}"), "namespace": "bulk",
                         "labels": {"group": format!("g{}", n % 300)},
                         "annotations": {"note": "n".repeat(2200)}},
            "data": {"n": n.to_string()}}));
    }
    let list = json!({"apiVersion": "v1", "kind": "ConfigMap", "namespace": "bulk"});
    let table = mcp_k8s::native::K8sConfig { list_output: mcp_k8s::native::ListOutput::Table, ..cluster.config() };
    for config in [cluster.config(), table] {
        let client = native(config).await;
        let text = call(&client, "resources_list", list.clone()).await.text_content();
        let note = text.lines().last().expect("lines");
        let shown = text.matches("bulk-").count();
        assert!(shown > 1000 && shown < 3000, "{shown} shown");
        assert_eq!(
            note,
            format!(
                "# The first {shown} items are shown and {} more were left out: a call reads about 4 MiB of a list. \
                 Narrow the list with namespace, labelSelector or fieldSelector.",
                3000 - shown
            )
        );
        assert!(text.contains("bulk-0000") && !text.contains("bulk-2999"), "the first items, in the API's order");
        // The last page read is sized to what was left of the bound: the answer ends near it.
        assert!(text.len() < 5 * 1024 * 1024, "{} bytes", text.len());

        // Narrowed by a selector, it is whole and says nothing more (the API gives no count of
        // what remains with a selector, and nothing remains here).
        let narrow = json!({"apiVersion": "v1", "kind": "ConfigMap", "namespace": "bulk", "labelSelector": "group=g7"});
        let text = call(&client, "resources_list", narrow).await.text_content();
        assert_eq!(text.matches("bulk-").count(), 10, "{text}");
        assert!(!text.contains("left out"), "{text}");
    }
    // Read in pages, each from where the last stopped: 50 items first, then as many as the
    // rest of the bound holds by what the items weighed so far, at most 250.
    let pages: Vec<String> = cluster
        .fake
        .seen()
        .into_iter()
        .map(|s| s.path_and_query)
        .filter(|p| p.starts_with("/api/v1/namespaces/bulk/configmaps?") && !p.contains("labelSelector"))
        .collect();
    let limit = |p: &String| -> u32 {
        let at = p.find("limit=").expect("a limit") + 6;
        p[at..].split('&').next().and_then(|n| n.parse().ok()).expect("a number")
    };
    assert_eq!(pages.iter().filter(|p| !p.contains("continue=")).count(), 2, "one first page per list: {pages:?}");
    assert!(pages.iter().all(|p| (1..=250).contains(&limit(p))), "{pages:?}");
    assert!(pages.iter().any(|p| limit(p) == 250) && pages.iter().any(|p| limit(p) == 50), "{pages:?}");
}

#[tokio::test]
async fn credentials_are_never_sent_over_plain_http() {
    // As client-go: a context on an http server with a token is not used at all.
    let cluster = Cluster::start(true).await;
    let kubeconfig = cluster.fake.kubeconfig(true);
    let plain = kubeconfig.replacen(&cluster.fake.url(), &cluster.fake.url().replace("https://", "http://"), 1);
    let file = tempfile::NamedTempFile::new().expect("a file");
    std::fs::write(file.path(), &plain).expect("written");
    let config = mcp_k8s::native::K8sConfig { kubeconfig: Some(file.path().to_owned()), ..Default::default() };
    let err = K8sServer::connect(config).await.expect_err("refused").to_string();
    assert!(err.contains("plain http") && !err.contains(TOKEN), "{err}");
    assert!(cluster.fake.seen().is_empty(), "a request was sent");
}
