//! Anything but a regular file is refused as a log, at open and by the readers: a device would
//! swallow records (`/dev/null`) or feed reads without end (`/dev/zero`, `/dev/full`), a FIFO
//! would block.

use std::path::Path;
use std::time::Duration;

mod common;

use mcp_audit::{AuditLog, AuditOptions, Error, read_records, verify};

/// Opening `path` is refused, promptly, with an error that names it and what it is.
fn refused(path: &Path, kind: &str) {
    let shown = path.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(AuditLog::open(&shown, AuditOptions::default()).map(drop));
    });
    let error = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("opening {} did not return", path.display()))
        .expect_err("refused");
    assert!(matches!(error, Error::NotRegular { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains(&path.display().to_string()) && text.contains(kind), "{text}");
}

#[test]
fn devices_fifos_and_directories_are_refused_at_open_even_through_a_link() {
    let dir = tempfile::tempdir().expect("temp");
    refused(Path::new("/dev/null"), "a character device");
    let link = dir.path().join("null.jsonl");
    std::os::unix::fs::symlink("/dev/null", &link).expect("links");
    refused(&link, "a character device");

    let fifo = dir.path().join("fifo.jsonl");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success());
    refused(&fifo, "a FIFO");

    let directory = dir.path().join("dir.jsonl");
    std::fs::create_dir(&directory).expect("mkdir");
    refused(&directory, "a directory");
}

#[test]
fn the_readers_refuse_them_too() {
    for reader in [|p: &Path| verify(p).map(drop), |p: &Path| read_records(p).map(drop)] {
        let error = reader(Path::new("/dev/null")).expect_err("refused");
        assert!(error.to_string().contains("a character device"), "{error}");
    }
}

/// `/dev/zero` and `/dev/full` read zeros without end; they are tried in a child whose memory is
/// capped, so that a log that reads them whole fails fast instead of exhausting the machine.
#[test]
fn endless_devices_are_refused_without_reading_them() {
    common::pass_in_child("endless_devices_child", "ulimit -v 4000000");
}

#[test]
#[ignore = "run by endless_devices_are_refused_without_reading_them"]
fn endless_devices_child() {
    if !common::in_child() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp");
    for device in ["/dev/zero", "/dev/full"] {
        refused(Path::new(device), "a character device");
        let link = dir.path().join(format!("{}.jsonl", &device[5..]));
        std::os::unix::fs::symlink(device, &link).expect("links");
        refused(&link, "a character device");
        assert!(verify(&link).is_err() && read_records(&link).is_err());
    }
    println!("child passed");
}
