//! `pods_top` and `nodes_top`: the metrics API's usage printed as kubectl's `top` prints it (a
//! tab-aligned table: cells padded to their column's widest plus three spaces, six at least).

use serde_json::Value;

/// A Kubernetes quantity (`250m`, `4`, `64Mi`, `8Gi`) in thousandths of its unit.
pub(crate) fn milli(quantity: &str) -> Option<i128> {
    let quantity = quantity.trim();
    let split = quantity.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(split);
    let factor: f64 = match suffix {
        "" => 1e3,
        "n" => 1e-6,
        "u" => 1e-3,
        "m" => 1.0,
        "k" => 1e6,
        "M" => 1e9,
        "G" => 1e12,
        "T" => 1e15,
        "Ki" => 1024.0 * 1e3,
        "Mi" => 1024.0 * 1024.0 * 1e3,
        "Gi" => 1024.0 * 1024.0 * 1024.0 * 1e3,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1e3,
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    Some((value * factor).ceil() as i128)
}

/// CPU as kubectl's `top` prints it: millicores.
fn cpu(milli: i128) -> String {
    format!("{milli}m")
}

/// Memory (and swap) as kubectl's `top` prints it: whole MiB, rounded down.
fn memory(milli: i128) -> String {
    format!("{}Mi", milli / 1000 / (1024 * 1024))
}

fn usage(of: &Value, resource: &str) -> i128 {
    of[resource].as_str().and_then(milli).unwrap_or(0)
}

/// The pods' usage, per container, with their namespace and a sum line.
pub(crate) fn pods(mut metrics: Vec<Value>) -> String {
    if metrics.is_empty() {
        return String::new();
    }
    let key = |m: &Value| {
        (
            m["metadata"]["namespace"].as_str().unwrap_or_default().to_owned(),
            m["metadata"]["name"].as_str().unwrap_or_default().to_owned(),
        )
    };
    metrics.sort_by_key(key);
    let mut rows = vec![cells(&["NAMESPACE", "POD", "NAME", "CPU(cores)", "MEMORY(bytes)", "SWAP(bytes)"])];
    let (mut total_cpu, mut total_memory, mut total_swap) = (0, 0, 0);
    for m in &metrics {
        let (namespace, pod) = key(m);
        let mut containers: Vec<&Value> = m["containers"].as_array().into_iter().flatten().collect();
        containers.sort_by_key(|c| c["name"].as_str().unwrap_or_default().to_owned());
        for c in containers {
            let swap_used = usage(&c["usage"], "swap");
            let (cpu_used, memory_used) = (usage(&c["usage"], "cpu"), usage(&c["usage"], "memory"));
            total_cpu += cpu_used;
            total_memory += memory_used;
            total_swap += swap_used;
            let name = c["name"].as_str().unwrap_or_default();
            rows.push(cells(&[&namespace, &pod, name, &cpu(cpu_used), &memory(memory_used), &memory(swap_used)]));
        }
    }
    // kubectl's sum lines, as it prints them since the swap column came: the rule under the
    // memory and swap columns, the totals one column to the right of their own.
    rows.push(cells(&["", "", "", "", "________", "________"]));
    rows.push(cells(&["", "", "", "", &cpu(total_cpu), &memory(total_memory), &memory(total_swap)]));
    tabulate(&rows)
}

/// The nodes' usage, with the share of what each can allocate; nodes without metrics last.
pub(crate) fn nodes(mut metrics: Vec<Value>, nodes: &[Value]) -> String {
    if metrics.is_empty() {
        return String::new();
    }
    metrics.sort_by_key(|m| m["metadata"]["name"].as_str().unwrap_or_default().to_owned());
    let mut rows =
        vec![cells(&["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)", "SWAP(bytes)", "SWAP(%)"])];
    let allocatable =
        |name: &str| nodes.iter().find(|n| n["metadata"]["name"] == name).map(|n| n["status"]["allocatable"].clone());
    let mut listed = vec![];
    for m in &metrics {
        let name = m["metadata"]["name"].as_str().unwrap_or_default();
        listed.push(name.to_owned());
        let (cpu_used, memory_used) = (usage(&m["usage"], "cpu"), usage(&m["usage"], "memory"));
        let mut row = vec![name.to_owned(), cpu(cpu_used)];
        let available = allocatable(name).unwrap_or(Value::Null);
        let share = |used: i128, resource: &str| {
            available[resource]
                .as_str()
                .and_then(milli)
                .map(|a| format!("{}%", (used as f64 / a as f64 * 100.0) as i64))
        };
        row.extend(share(cpu_used, "cpu"));
        row.push(memory(memory_used));
        row.extend(share(memory_used, "memory"));
        let swap_used = usage(&m["usage"], "swap");
        row.push(memory(swap_used));
        let swap = &allocatable(name).unwrap_or(Value::Null)["swap"];
        row.extend(swap.as_str().and_then(milli).map(|a| format!("{}%", (swap_used as f64 / a as f64 * 100.0) as i64)));
        rows.push(row);
    }
    for node in nodes {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        if !listed.iter().any(|l| l == name) {
            rows.push(cells(&[name, "<unknown>", "<unknown>", "<unknown>", "<unknown>", "<unknown>", "<unknown>"]));
        }
    }
    tabulate(&rows)
}

fn cells(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// A server-side table as kubectl prints it with `-o wide --show-labels` (what the Go server
/// prints): `apiVersion` and `kind` columns first, a namespace column when any row has one, the
/// labels last; nothing at all for no rows.
pub(crate) fn table(table: &Value, api_version: &str, kind: &str) -> (String, Option<Value>) {
    let rows: Vec<&Value> = table["rows"].as_array().into_iter().flatten().collect();
    if rows.is_empty() {
        return (String::new(), None);
    }
    let metadata = |row: &Value| row["object"]["metadata"].clone();
    let with_namespace = rows.iter().any(|r| metadata(r)["namespace"].as_str().is_some_and(|n| !n.is_empty()));
    let mut names: Vec<String> = vec![];
    if with_namespace {
        names.push("Namespace".into());
    }
    names.extend(["apiVersion".to_owned(), "kind".to_owned()]);
    let definitions = table["columnDefinitions"].as_array().cloned().unwrap_or_default();
    names.extend(definitions.iter().map(|c| c["name"].as_str().unwrap_or_default().to_owned()));
    names.push("Labels".into());
    let mut lines = vec![names.iter().map(|n| n.to_uppercase()).collect::<Vec<_>>()];
    let mut structured = vec![];
    for row in rows {
        let meta = metadata(row);
        let mut cells: Vec<Value> = vec![];
        if with_namespace {
            cells.push(meta["namespace"].clone());
        }
        cells.extend([Value::from(api_version), Value::from(kind)]);
        cells.extend(row["cells"].as_array().cloned().unwrap_or_default().into_iter().take(definitions.len()));
        let mut labels: Vec<String> = meta["labels"]
            .as_object()
            .map(|l| l.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default())).collect())
            .unwrap_or_default();
        labels.sort();
        cells.push(Value::from(if labels.is_empty() { "<none>".to_owned() } else { labels.join(",") }));
        lines.push(cells.iter().map(cell).collect());
        let mut item: serde_json::Map<String, Value> = names.iter().cloned().zip(cells).collect();
        if let Some(ns) = meta["namespace"].as_str().filter(|n| !n.is_empty()) {
            item.insert("Namespace".into(), Value::from(ns));
        }
        structured.push(Value::Object(item));
    }
    let mut out = String::new();
    let mut widths = vec![];
    let cells_only: Vec<Vec<String>> = lines.iter().map(|l| l[..l.len() - 1].to_vec()).collect();
    format_last(&lines, &cells_only, 0, lines.len(), &mut widths, &mut out);
    (out, Some(serde_json::json!({"items": structured})))
}

/// A table cell as Go's `fmt.Print` shows it; a string is cut at its first newline.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => match s.split_once('\n') {
            Some((first, _)) => format!("{first}..."),
            None => s.clone(),
        },
        other => other.to_string(),
    }
}

/// [`format`] for lines whose last cell is not ended by a tab (printed as it is).
fn format_last(
    lines: &[Vec<String>],
    terminated: &[Vec<String>],
    mut first: usize,
    end: usize,
    widths: &mut Vec<usize>,
    out: &mut String,
) {
    let column = widths.len();
    let mut this = first;
    while this < end {
        if column >= terminated[this].len() {
            this += 1;
            continue;
        }
        write_lines(&lines[first..this], widths, out);
        first = this;
        let mut width = 6;
        while this < end && column < terminated[this].len() {
            width = width.max(terminated[this][column].chars().count() + 3);
            this += 1;
        }
        widths.push(width);
        format_last(lines, terminated, first, this, widths, out);
        widths.pop();
        first = this;
    }
    write_lines(&lines[first..end], widths, out);
}

/// Go's `text/tabwriter` with kubectl's settings (minimum width 6, padding 3, spaces), every
/// cell ended by a tab: a column's width is set per block of consecutive lines that have it.
fn tabulate(rows: &[Vec<String>]) -> String {
    let mut widths = vec![];
    let mut out = String::new();
    format(rows, 0, rows.len(), &mut widths, &mut out);
    out
}

fn format(rows: &[Vec<String>], mut first: usize, end: usize, widths: &mut Vec<usize>, out: &mut String) {
    let column = widths.len();
    let mut this = first;
    while this < end {
        if column >= rows[this].len() {
            this += 1;
            continue;
        }
        write_lines(&rows[first..this], widths, out);
        first = this;
        let mut width = 6;
        while this < end && column < rows[this].len() {
            width = width.max(rows[this][column].chars().count() + 3);
            this += 1;
        }
        widths.push(width);
        format(rows, first, this, widths, out);
        widths.pop();
        first = this;
    }
    write_lines(&rows[first..end], widths, out);
}

fn write_lines(rows: &[Vec<String>], widths: &[usize], out: &mut String) {
    for row in rows {
        for (j, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if let Some(width) = widths.get(j) {
                out.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.chars().count())));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_print_as_kubectl_prints_them() {
        assert_eq!(milli("250m"), Some(250));
        assert_eq!(milli("4"), Some(4000));
        assert_eq!(memory(milli("64Mi").unwrap_or_default()), "64Mi");
        assert_eq!(memory(milli("1536Ki").unwrap_or_default()), "1Mi");
        assert_eq!(cpu(12_400), "12400m");
        assert_eq!(milli("5x"), None);
    }

    #[test]
    fn columns_align_as_go_tabwriter_aligns_them() {
        let rows = vec![cells(&["NAME", "CPU(cores)"]), cells(&["a-very-long-name", "1m"])];
        assert_eq!(tabulate(&rows), "NAME               CPU(cores)   \na-very-long-name   1m           \n");
    }
}
