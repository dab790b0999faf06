//! The read-only guard against data-driven suites: every case in `data/refused.txt` is refused for the
//! reason it names, every case in `data/allowed.txt` passes.

use mcp_sql::{Dialect, SqlError, check_read_only, check_write};

struct Case<'a> {
    line: usize,
    dialects: Vec<Dialect>,
    fields: Vec<&'a str>,
}

fn cases(text: &str, fields: usize) -> Vec<Case<'_>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            let parts: Vec<&str> = l.splitn(fields, '|').map(str::trim).collect();
            assert_eq!(parts.len(), fields, "line {}: expected {fields} fields: {l}", i + 1);
            let dialects = match parts[0] {
                "all" => vec![Dialect::Postgres, Dialect::Sqlite, Dialect::MySql],
                "pg" => vec![Dialect::Postgres],
                "sqlite" => vec![Dialect::Sqlite],
                "mysql" => vec![Dialect::MySql],
                other => panic!("line {}: unknown dialect {other}", i + 1),
            };
            Case { line: i + 1, dialects, fields: parts[1..].to_vec() }
        })
        .collect()
}

fn reason(err: &SqlError) -> &'static str {
    match err {
        SqlError::Parse { .. } => "parse",
        SqlError::Empty => "empty",
        SqlError::Stacked { .. } => "stacked",
        SqlError::NotRead { .. } => "not-read",
        SqlError::NestedWrite { .. } => "nested-write",
        SqlError::SelectInto { .. } => "select-into",
        SqlError::Locking { .. } => "locking",
        SqlError::SideEffectFunction { .. } => "function",
        SqlError::NotAllowed { .. } => "not-allowed",
        other => panic!("the guard never returns {other:?}"),
    }
}

#[test]
fn every_refused_case_is_refused_for_its_reason() {
    let cases = cases(include_str!("data/refused.txt"), 3);
    assert!(cases.len() >= 60, "the suite shrank: {} cases", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        let (expected, sql) = (case.fields[0], case.fields[1]);
        for dialect in &case.dialects {
            match check_read_only(*dialect, sql) {
                Ok(_) => wrong.push(format!("line {}: {dialect:?} let through: {sql}", case.line)),
                Err(err) if reason(&err) != expected => wrong.push(format!(
                    "line {}: {dialect:?} refused for {} instead of {expected}: {err}",
                    case.line,
                    reason(&err)
                )),
                Err(_) => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_allowed_case_passes() {
    let mut wrong = Vec::new();
    for case in cases(include_str!("data/allowed.txt"), 2) {
        for dialect in &case.dialects {
            if let Err(err) = check_read_only(*dialect, case.fields[0]) {
                wrong.push(format!("line {}: {dialect:?}: {err}", case.line));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn errors_name_what_was_wrong() {
    let err = check_read_only(Dialect::Postgres, "COMMIT; DELETE FROM users").expect_err("refused");
    assert_eq!(err.to_string(), "only one statement may run at a time; found 2 (stacked statements are refused)");
    let err = check_read_only(Dialect::Postgres, "SELECT pg_catalog.pg_terminate_backend(1)").expect_err("refused");
    assert!(err.to_string().contains("pg_catalog.pg_terminate_backend"), "{err}");
    let err = check_read_only(Dialect::Postgres, "WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d")
        .expect_err("refused");
    assert!(err.to_string().contains("DELETE"), "{err}");
    let err = check_read_only(Dialect::Sqlite, "DROP TABLE users").expect_err("refused");
    assert!(err.to_string().starts_with("DROP TABLE is not a read statement"), "{err}");
    // Statements the parser does not know are named by their first word, not by its complaint.
    for (dialect, sql, kind) in [
        (Dialect::Sqlite, "pragma table_info(users)", "PRAGMA"),
        (Dialect::Sqlite, "  /* x */ vacuum into '/tmp/x'", "VACUUM"),
        (Dialect::Sqlite, "-- note\nreindex", "REINDEX"),
        (Dialect::Postgres, "do $$ begin perform 1; end $$", "DO"),
    ] {
        let err = check_read_only(dialect, sql).expect_err("refused");
        assert_eq!(err.to_string(), format!("{kind} is not a read statement; this connection is read-only"), "{sql}");
        let err = mcp_sql::check_write(dialect, sql).expect_err("refused");
        assert!(err.to_string().starts_with(&format!("{kind} reaches outside")), "{sql}: {err}");
    }
    // A read the parser cannot read keeps the parser's words.
    let err = check_read_only(Dialect::Sqlite, "SELECT FROM WHERE").expect_err("refused");
    assert!(err.to_string().starts_with("the statement does not parse as SQLite"), "{err}");
}

#[test]
fn dialect_follows_the_url_scheme() {
    assert_eq!(Dialect::from_url("postgres://u@h/db"), Dialect::Postgres);
    assert_eq!(Dialect::from_url("postgresql://u@h/db"), Dialect::Postgres);
    assert_eq!(Dialect::from_url("sqlite::memory:"), Dialect::Sqlite);
    assert_eq!(Dialect::from_url("mariadb://h/db"), Dialect::MySql);
    assert_eq!(Dialect::from_url("oracle://h"), Dialect::Generic);
}

#[test]
fn a_writable_connection_still_refuses_what_reaches_outside_the_data() {
    let mut wrong = Vec::new();
    for case in cases(include_str!("data/write.txt"), 3) {
        let (expected, sql) = (case.fields[0], case.fields[1]);
        for dialect in &case.dialects {
            match (check_write(*dialect, sql), expected) {
                (Ok(_), "ok") => {}
                (Ok(_), _) => wrong.push(format!("line {}: {dialect:?} let through: {sql}", case.line)),
                (Err(err), "ok") => wrong.push(format!("line {}: {dialect:?} refused: {err}", case.line)),
                (Err(err), _) if reason(&err) != expected => wrong.push(format!(
                    "line {}: {dialect:?} refused for {} instead of {expected}: {err}",
                    case.line,
                    reason(&err)
                )),
                (Err(_), _) => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn deep_nesting_is_refused_before_the_parser_spends_minutes_on_it() {
    // Found by the `sql_guard` fuzz target: these 188 bytes, 29 parentheses deep, kept the parser
    // backtracking for a minute and a half.
    let slow = include_str!("../../../fuzz/regressions/sql_guard/exponential-nesting.sql");
    for dialect in [Dialect::Postgres, Dialect::Sqlite, Dialect::MySql, Dialect::Generic] {
        let started = std::time::Instant::now();
        let err = check_read_only(dialect, slow).expect_err("refused");
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{dialect:?} took {:?}", started.elapsed());
        assert!(matches!(err, SqlError::Parse { .. }) && err.to_string().contains("nested"), "{err}");
        assert!(check_write(dialect, slow).is_err());
    }
    // Nesting up to the limit still parses, and parentheses in strings and comments do not count.
    let nested = format!("SELECT {}1{}", "(".repeat(mcp_sql::MAX_NESTING), ")".repeat(mcp_sql::MAX_NESTING));
    check_read_only(Dialect::Postgres, &nested).expect("nesting at the limit");
    let quoted = format!("SELECT '{}' /* {} */", "(".repeat(40), "(".repeat(40));
    check_read_only(Dialect::Postgres, &quoted).expect("parentheses in a string and a comment");
}

#[test]
fn a_long_chain_of_operators_is_refused_before_it_is_parsed() {
    // A megabyte of `1+` parsed into a tree as deep as the chain, and checking or dropping it
    // overflowed the stack and ended the process.
    let chain = |n: usize| format!("SELECT {}1", "1+".repeat(n));
    for dialect in [Dialect::Postgres, Dialect::Sqlite, Dialect::MySql, Dialect::Generic] {
        for n in [mcp_sql::MAX_OPERATORS + 1, 500_000] {
            let err = check_read_only(dialect, &chain(n)).expect_err("refused");
            assert!(matches!(err, SqlError::Parse { .. }) && err.to_string().contains("operators"), "{err}");
            assert!(check_write(dialect, &chain(n)).is_err());
        }
    }
    let terms: Vec<String> = (0..mcp_sql::MAX_OPERATORS / 2).map(|i| format!("id = {i}")).collect();
    let ors = format!("SELECT * FROM users WHERE {}", terms.join(" OR "));
    // Up to the limit it is checked as any read; a debug build's frames are far larger than a
    // release build's, hence the test's own stack.
    let checked = std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || {
            check_read_only(Dialect::Postgres, &chain(mcp_sql::MAX_OPERATORS)).map(drop)?;
            check_read_only(Dialect::Postgres, &ors).map(drop)
        })
        .expect("a thread")
        .join()
        .expect("no panic");
    checked.expect("a chain at the limit is a read");
}
