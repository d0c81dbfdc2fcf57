//! Medians over the runs, the budgets, and results.md / results.json / chart.svg.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use crate::cpu;

/// The contenders in the order of the table and the chart.
const CONTENDERS: [(&str, &str); 4] = [
    ("nginx", "nginx, TLS 1.3 reverse proxy, no auth"),
    ("gateway-none", "gateway, `auth = \"none\"` route"),
    ("gateway-dpop", "gateway, `auth = \"dpop\"` ES256"),
    ("apache-oauth2", "Apache + mod_oauth2, DPoP ES256"),
];
const METRICS: [&str; 7] = [
    "rps",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "cpu_us_per_req",
    "client_cpu_us_per_req",
];

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One row: the medians of one contender, protocol and mode.
struct Row {
    label: String,
    proto: String,
    mode: String,
    runs: usize,
    m: BTreeMap<&'static str, f64>,
    rate: Option<f64>,
    non2xx: BTreeMap<String, u64>,
    errors: u64,
    exhausted: bool,
}

fn rows(lines: &[Value]) -> Vec<Row> {
    let mut groups: BTreeMap<(usize, String, String), Vec<&Value>> = BTreeMap::new();
    for l in lines.iter().filter(|l| l["kind"] == "load") {
        let label = l["label"].as_str().unwrap_or("").to_owned();
        let order = CONTENDERS
            .iter()
            .position(|(c, _)| *c == label)
            .unwrap_or(CONTENDERS.len());
        let key = format!(
            "{}:{}",
            l["mode"].as_str().unwrap_or(""),
            l["proto"].as_str().unwrap_or("")
        );
        groups.entry((order, label, key)).or_default().push(l);
    }
    let mut out: Vec<Row> = groups
        .into_iter()
        .map(|((_, label, _), ls)| {
            let m = METRICS
                .iter()
                .map(|k| {
                    (
                        *k,
                        median(ls.iter().filter_map(|l| l[*k].as_f64()).collect()),
                    )
                })
                .collect();
            let mut non2xx = BTreeMap::new();
            let mut errors = 0;
            for l in &ls {
                if let Some(o) = l["non2xx"].as_object() {
                    for (k, v) in o {
                        *non2xx.entry(k.clone()).or_default() += v.as_u64().unwrap_or(0);
                    }
                }
                if let Some(o) = l["errors"].as_object() {
                    errors += o.values().filter_map(Value::as_u64).sum::<u64>();
                }
            }
            let rates: Vec<f64> = ls.iter().filter_map(|l| l["rate"].as_f64()).collect();
            Row {
                label,
                proto: ls[0]["proto"].as_str().unwrap_or("").to_owned(),
                mode: ls[0]["mode"].as_str().unwrap_or("").to_owned(),
                runs: ls.len(),
                m,
                rate: (!rates.is_empty()).then(|| median(rates)),
                non2xx,
                errors,
                exhausted: ls.iter().any(|l| l["proofs_exhausted"] == true),
            }
        })
        .collect();
    // Closed loop first, then open; within a mode, h1 before h2.
    out.sort_by_key(|r| (r.mode != "closed", r.proto.clone()));
    out
}

fn find<'a>(rows: &'a [Row], label: &str, proto: &str, mode: &str) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.label == label && r.proto == proto && r.mode == mode)
}

struct Budget {
    name: &'static str,
    text: String,
    met: Option<bool>,
}

fn budgets(rows: &[Row], floor: f64, proto: &str) -> Vec<Budget> {
    let get = |label: &str, mode: &str, k: &str| {
        find(rows, label, proto, mode)
            .map(|r| r.m[k])
            .unwrap_or(f64::NAN)
    };
    let nginx = get("nginx", "closed", "cpu_us_per_req");
    let none = get("gateway-none", "closed", "cpu_us_per_req");
    let dpop = get("gateway-dpop", "closed", "cpu_us_per_req");
    let dpop_rps = get("gateway-dpop", "closed", "rps");
    let apache = get("apache-oauth2", "closed", "cpu_us_per_req");
    let apache_rps = get("apache-oauth2", "closed", "rps");
    let known = |v: f64| v.is_finite();
    let b1 = floor + 1.3 * nginx;
    let open = find(rows, "gateway-dpop", proto, "open");
    let mut out = vec![
        Budget {
            name: "B1",
            text: format!(
                "DPoP CPU/req {dpop:.1} µs ≤ ES256 verify {floor:.1} + 1.3 × nginx {nginx:.1} = {b1:.1} µs"
            ),
            met: (known(dpop) && known(b1)).then_some(dpop <= b1),
        },
        Budget {
            name: "B2",
            text: format!(
                "`auth = \"none\"` CPU/req {none:.1} µs ≤ 1.0 × nginx {nginx:.1} µs (ratio {:.2})",
                none / nginx
            ),
            met: (known(none) && known(nginx)).then_some(none <= nginx),
        },
    ];
    out.push(match open {
        Some(o) => {
            let bad: u64 = o.non2xx.values().sum::<u64>() + o.errors;
            Budget {
                name: "B3",
                text: format!(
                    "open loop at {:.0} rps (half the closed-loop maximum): p99 {:.2} ms ≤ 2 ms, {bad} non-2xx or errors",
                    o.rate.unwrap_or(0.0),
                    o.m["p99_ms"]
                ),
                met: Some(o.m["p99_ms"] <= 2.0 && bad == 0),
            }
        }
        None => Budget {
            name: "B3",
            text: "open loop not measured".into(),
            met: None,
        },
    });
    out.push(Budget {
        name: "B5",
        text: format!(
            "throughput {:.1}× mod_oauth2 (≥ 6×), CPU/req 1/{:.1} of mod_oauth2 (≤ 1/7)",
            dpop_rps / apache_rps,
            apache / dpop
        ),
        met: (known(dpop_rps) && known(apache_rps))
            .then_some(dpop_rps >= 6.0 * apache_rps && dpop * 7.0 <= apache),
    });
    out
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "not measured",
    }
}

fn describe(label: &str) -> &str {
    CONTENDERS
        .iter()
        .find(|(c, _)| *c == label)
        .map(|(_, d)| *d)
        .unwrap_or(label)
}

pub fn write(input: &Path, out: &Path) {
    let text = std::fs::read_to_string(input).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let floor = median(
        lines
            .iter()
            .filter(|l| l["kind"] == "floor")
            .filter_map(|l| l["es256_verify_us"].as_f64())
            .collect(),
    );
    let rows = rows(&lines);
    let (model, cores) = cpu::machine();
    let runs = rows.iter().map(|r| r.runs).max().unwrap_or(0);
    let first = lines.iter().find(|l| l["kind"] == "load");
    let concurrency = first
        .map(|l| l["concurrency"].clone())
        .unwrap_or(Value::Null);
    let secs = first.and_then(|l| l["secs"].as_f64()).unwrap_or(0.0);

    let mut md = String::new();
    let _ = writeln!(md, "# Benchmark results\n");
    let _ = writeln!(
        md,
        "Machine: {model}, {cores} cores, shared by the client, the server and the upstream \
         (nginx, static 200). TLS 1.3 on loopback, keep-alive; closed loop at {concurrency} requests \
         in flight (HTTP/2: over 4 connections), about {secs:.0} s per contender per run; medians of \
         {runs} runs. CPU µs/req: user + system CPU of the server's processes over the window, from \
         /proc, divided by the requests answered. Every DPoP request carries a fresh proof, signed \
         before the window.\n"
    );
    let _ = writeln!(
        md,
        "| contender | proto | loop | rps | p50 ms | p90 ms | p99 ms | p99.9 ms | CPU µs/req | non-2xx | errors |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let mode = match r.rate {
            Some(rate) => format!("open, {rate:.0}/s"),
            None => "closed".into(),
        };
        let non2xx = if r.non2xx.is_empty() {
            "0".to_owned()
        } else {
            r.non2xx
                .iter()
                .map(|(s, n)| format!("{n}×{s}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            md,
            "| {}{} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} |",
            describe(&r.label),
            if r.exhausted { " (proofs ran out)" } else { "" },
            r.proto,
            mode,
            r.m["rps"],
            r.m["p50_ms"],
            r.m["p90_ms"],
            r.m["p99_ms"],
            r.m["p999_ms"],
            r.m["cpu_us_per_req"],
            non2xx,
            r.errors
        );
    }
    let _ = writeln!(
        md,
        "| bare ring ES256 verify, one core | | | | | | | | {floor:.1} | | |\n"
    );
    let mut budget_json = Vec::new();
    for proto in ["h1", "h2"] {
        let _ = writeln!(md, "Budgets over {proto}:\n");
        for b in budgets(&rows, floor, proto) {
            let _ = writeln!(md, "- {} {}: {}", b.name, verdict(b.met), b.text);
            budget_json
                .push(json!({"proto": proto, "budget": b.name, "met": b.met, "text": b.text}));
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "![CPU per request and latency percentiles](chart.svg)");

    let json = json!({
        "machine": {"cpu": model, "cores": cores},
        "runs": runs,
        "es256_verify_us": floor,
        "results": rows.iter().map(|r| json!({
            "label": r.label, "contender": describe(&r.label), "proto": r.proto, "mode": r.mode,
            "rate": r.rate, "runs": r.runs, "medians": r.m, "non2xx": r.non2xx, "errors": r.errors,
            "proofs_exhausted": r.exhausted,
        })).collect::<Vec<_>>(),
        "budgets": budget_json,
        "raw": lines,
    });
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(out.join("results.md"), &md).unwrap();
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
    std::fs::write(out.join("chart.svg"), chart(&rows, floor)).unwrap();
    print!("{md}");
}

const COLORS: [&str; 4] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['"', '`'], "")
}

/// Two panels: CPU µs per request (closed loop, h1 and h2) with the
/// ES256-verify floor, and latency percentiles (closed loop, log scale).
fn chart(rows: &[Row], floor: f64) -> String {
    let (w, h) = (960.0, 420.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let labels: Vec<&str> = CONTENDERS.iter().map(|(c, _)| *c).collect();
    let closed = |label: &str, proto: &str| find(rows, label, proto, "closed");

    // Panel 1: CPU per request.
    let (x0, y0, pw, ph) = (60.0, 50.0, 380.0, 300.0);
    let max_cpu = rows
        .iter()
        .filter(|r| r.mode == "closed")
        .map(|r| r.m["cpu_us_per_req"])
        .fold(floor, f64::max)
        .max(1.0)
        * 1.1;
    let _ = writeln!(
        s,
        r#"<text x="{}" y="25" font-size="14" text-anchor="middle">CPU µs per request (closed loop)</text>"#,
        x0 + pw / 2.0
    );
    axis(&mut s, x0, y0, pw, ph);
    for t in ticks(max_cpu) {
        let y = y0 + ph - t / max_cpu * ph;
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{t}</text>"##,
            x0 + pw,
            x0 - 4.0,
            y + 4.0
        );
    }
    let group = pw / labels.len() as f64;
    for (i, label) in labels.iter().enumerate() {
        for (j, proto) in ["h1", "h2"].iter().enumerate() {
            if let Some(r) = closed(label, proto) {
                let v = r.m["cpu_us_per_req"];
                let bw = group * 0.35;
                let x = x0 + i as f64 * group + group * 0.12 + j as f64 * bw;
                let bh = v / max_cpu * ph;
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{bw:.1}" height="{bh:.1}" fill="{}" opacity="{}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{v:.0}</text>"#,
                    y0 + ph - bh,
                    COLORS[i],
                    if j == 0 { "1" } else { "0.6" },
                    x + bw / 2.0,
                    y0 + ph - bh - 3.0
                );
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x0 + (i as f64 + 0.5) * group,
            y0 + ph + 15.0,
            esc(label)
        );
    }
    if floor.is_finite() {
        let y = y0 + ph - floor / max_cpu * ph;
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#000" stroke-dasharray="4 3"/><text x="{}" y="{:.1}" text-anchor="end">ES256 verify {floor:.0} µs</text>"##,
            x0 + pw,
            x0 + pw,
            y - 4.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">solid: HTTP/1.1, light: HTTP/2</text>"##,
        x0 + pw / 2.0,
        y0 + ph + 32.0
    );

    // Panel 2: latency percentiles, log scale from 0.1 to 1000 ms.
    let (x0, pw) = (540.0, 400.0);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="25" font-size="14" text-anchor="middle">latency ms, HTTP/1.1 closed loop (log)</text>"#,
        x0 + pw / 2.0
    );
    axis(&mut s, x0, y0, pw, ph);
    let (lo, hi) = (-1.0_f64, 3.0_f64);
    let ly = |ms: f64| y0 + ph - (ms.max(0.1).log10() - lo) / (hi - lo) * ph;
    for t in [0.1, 1.0, 10.0, 100.0, 1000.0] {
        let y = ly(t);
        let _ = writeln!(
            s,
            r##"<line x1="{x0}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{t}</text>"##,
            x0 + pw,
            x0 - 4.0,
            y + 4.0
        );
    }
    let pcts = [
        ("p50_ms", "p50"),
        ("p90_ms", "p90"),
        ("p99_ms", "p99"),
        ("p999_ms", "p99.9"),
    ];
    let group = pw / labels.len() as f64;
    for (i, label) in labels.iter().enumerate() {
        if let Some(r) = closed(label, "h1") {
            let bw = group * 0.8 / pcts.len() as f64;
            for (j, (k, _)) in pcts.iter().enumerate() {
                let x = x0 + i as f64 * group + group * 0.1 + j as f64 * bw;
                let y = ly(r.m[k]);
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}" opacity="{}"/>"#,
                    bw - 1.0,
                    y0 + ph - y,
                    COLORS[i],
                    1.0 - j as f64 * 0.2
                );
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x0 + (i as f64 + 0.5) * group,
            y0 + ph + 15.0,
            esc(label)
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#555">bars per contender, dark to light: p50, p90, p99, p99.9</text>"##,
        x0 + pw / 2.0,
        y0 + ph + 32.0
    );
    let _ = writeln!(s, "</svg>");
    s
}

fn axis(s: &mut String, x0: f64, y0: f64, pw: f64, ph: f64) {
    let _ = writeln!(
        s,
        r##"<line x1="{x0}" x2="{x0}" y1="{y0}" y2="{}" stroke="#000"/><line x1="{x0}" x2="{}" y1="{}" y2="{}" stroke="#000"/>"##,
        y0 + ph,
        x0 + pw,
        y0 + ph,
        y0 + ph
    );
}

/// Round tick values from 0 to `max`.
fn ticks(max: f64) -> Vec<f64> {
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(mag * 10.0);
    (0..)
        .map(|i| i as f64 * step)
        .take_while(|t| *t <= max)
        .collect()
}
