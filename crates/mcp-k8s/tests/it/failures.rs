//! Connection failures say what went wrong, as the Go server's do (`x509: certificate signed by
//! unknown authority`, `connect: connection refused`): a refused connection, an unknown host and
//! a certificate the kubeconfig's CA did not sign each read differently, in `pods_list` and in
//! `pods_exec`, and none shows the password of the server's URL. All three are real here: a
//! closed loopback port, a `.invalid` host (never resolves, RFC 6761) and a TLS server whose
//! certificate comes from a CA of its own.

use serde_json::json;

use crate::support::{Cluster, TOKEN, call, native};

/// The password in the URLs of the failing contexts' servers.
const PASSWORD: &str = "S3cretPass-in-the-url";

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address").port()
}

/// A TLS server on a loopback port whose certificate (for `127.0.0.1`) comes from a CA no
/// kubeconfig here trusts; it answers nothing past the handshake. Returns its port, and how many
/// handshakes it completed.
async fn untrusted_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let (acceptor, _) = crate::fake::tls("a-ca-nobody-trusts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let handshakes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            if acceptor.accept(tcp).await.is_ok() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    (port, handshakes)
}

/// `cluster`'s kubeconfig with one more context per `(name, server)`, each on its own cluster
/// with the fake's CA and user.
fn with_contexts(cluster: &Cluster, extra: &[(&str, String)]) {
    let mut kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(&cluster.fake.kubeconfig(false)).expect("the fake's kubeconfig");
    for (name, server) in extra {
        let mut named = kubeconfig["clusters"][0].clone();
        named["name"] = (*name).into();
        named["cluster"]["server"] = server.as_str().into();
        let mut context = kubeconfig["contexts"][0].clone();
        context["name"] = (*name).into();
        context["context"]["cluster"] = (*name).into();
        kubeconfig["clusters"].as_sequence_mut().expect("clusters").push(named);
        kubeconfig["contexts"].as_sequence_mut().expect("contexts").push(context);
    }
    std::fs::write(cluster.kubeconfig.path(), serde_yaml::to_string(&kubeconfig).expect("yaml")).expect("written");
}

#[tokio::test]
async fn a_refused_connection_an_unknown_host_and_an_untrusted_certificate_each_say_so() {
    let cluster = Cluster::start(false).await;
    let (untrusted_port, handshakes) = untrusted_server().await;
    let port = closed_port().await;
    with_contexts(
        &cluster,
        &[
            ("refused", format!("https://admin:{PASSWORD}@127.0.0.1:{port}")),
            ("unknown-host", format!("https://admin:{PASSWORD}@no-such-host.invalid:6443")),
            ("untrusted", format!("https://admin:{PASSWORD}@127.0.0.1:{untrusted_port}")),
        ],
    );
    let client = native(cluster.config()).await;
    let expected = [
        ("refused", &["refused"][..]),
        ("unknown-host", &["dns error"][..]),
        ("untrusted", &["invalid peer certificate", "UnknownIssuer"][..]),
    ];
    for (context, words) in expected {
        for (tool, args) in [
            ("pods_list", json!({"context": context})),
            ("pods_exec", json!({"context": context, "name": "web-1", "command": ["true"]})),
        ] {
            let result = call(&client, tool, args).await;
            let text = result.text_content();
            assert!(result.is_error(), "{context} {tool}: {text}");
            for word in words {
                assert!(text.contains(word), "{context} {tool} does not say {word:?}: {text}");
            }
            assert!(!text.contains(PASSWORD) && !text.contains(TOKEN), "{context} {tool}: {text}");
        }
    }
    assert_eq!(
        handshakes.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a handshake with an untrusted server completed"
    );
}
