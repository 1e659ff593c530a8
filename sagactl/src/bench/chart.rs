//! The chart beside the report (SVG, no dependencies): goodput (offered,
//! accepted/s, completed/s) and POST p99 of accepted orders and of refusals
//! (log scale), both over the offered rate.

use super::format::grouped;
use super::step::StepResult;
use std::fmt::Write;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 400.0;
const PAD: f64 = 60.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = HEIGHT - 60.0;
const PANEL_W: f64 = (WIDTH - 3.0 * PAD) / 2.0;

struct Series<'a> {
    name: &'a str,
    colour: &'a str,
    dash: Option<&'a str>,
    /// (offered rate, value)
    points: Vec<(f64, Option<f64>)>,
}

struct Panel<'a> {
    x0: f64,
    title: &'a str,
    y_label: &'a str,
    y_ticks: Vec<(f64, String)>,
    y_of: &'a dyn Fn(f64) -> f64,
    series: Vec<Series<'a>>,
}

pub fn svg(steps: &[StepResult], sustainable: Option<u64>) -> Option<String> {
    let mut steps: Vec<&StepResult> = steps.iter().collect();
    steps.sort_by_key(|s| s.rate);
    let x_max = steps.iter().map(|s| s.rate).max()? as f64 * 1.05;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>\n"
    );
    let rates: Vec<u64> = steps.iter().map(|s| s.rate).collect();
    let series = |f: &dyn Fn(&StepResult) -> Option<f64>| -> Vec<(f64, Option<f64>)> {
        steps.iter().map(|s| (s.rate as f64, f(s))).collect()
    };

    // Goodput, linear.
    let y_max = x_max;
    let tick = ((10f64.powi(y_max.log10().floor() as i32) as u64) / 2).max(1);
    let goodput_y = |v: f64| BOTTOM - (BOTTOM - TOP) * v.min(y_max) / y_max;
    panel(
        &mut out,
        &Panel {
            x0: PAD,
            title: "Goodput",
            y_label: "per second",
            y_ticks: (0..=y_max as u64)
                .step_by(tick as usize)
                .map(|v| (v as f64, grouped(v as f64, 0)))
                .collect(),
            y_of: &goodput_y,
            series: vec![
                Series {
                    name: "offered",
                    colour: "#999",
                    dash: Some("6 3"),
                    points: series(&|s| Some(s.rate as f64)),
                },
                Series {
                    name: "accepted/s",
                    colour: "#1f77b4",
                    dash: None,
                    points: series(&|s| Some(s.accepted_per_s)),
                },
                Series {
                    name: "completed sagas/s",
                    colour: "#2ca02c",
                    dash: None,
                    points: series(&|s| s.completed_per_s),
                },
            ],
        },
        &rates,
        x_max,
        sustainable,
    );

    // Latency, log scale from 1 ms to the decade above the largest p99.
    let hi = steps
        .iter()
        .flat_map(|s| [s.post_accepted_ms.p99, s.post_refused_ms.p99])
        .flatten()
        .filter(|v| *v > 0.0)
        .fold(10.0, f64::max);
    let hi_log = hi.log10().ceil();
    let latency_y = |v: f64| BOTTOM - (BOTTOM - TOP) * v.max(1.0).log10() / hi_log;
    panel(
        &mut out,
        &Panel {
            x0: 2.0 * PAD + PANEL_W,
            title: "POST latency p99",
            y_label: "milliseconds (log scale)",
            y_ticks: (0..=hi_log as i32)
                .map(|e| (10f64.powi(e), grouped(10f64.powi(e), 0)))
                .collect(),
            y_of: &latency_y,
            series: vec![
                Series {
                    name: "accepted (202)",
                    colour: "#1f77b4",
                    dash: None,
                    points: series(&|s| s.post_accepted_ms.p99),
                },
                Series {
                    name: "refused (503 + Retry-After)",
                    colour: "#d62728",
                    dash: None,
                    points: series(&|s| s.post_refused_ms.p99),
                },
            ],
        },
        &rates,
        x_max,
        sustainable,
    );
    out.push_str("</svg>\n");
    Some(out)
}

fn panel(out: &mut String, p: &Panel, rates: &[u64], x_max: f64, sustainable: Option<u64>) {
    // Writing to a String cannot fail.
    macro_rules! w {
        ($($arg:tt)*) => { writeln!(out, $($arg)*).expect("write to a String") };
    }
    let x0 = p.x0;
    let x_of = |v: f64| x0 + PANEL_W * v / x_max;
    let (mid_x, mid_y) = (x0 + PANEL_W / 2.0, (TOP + BOTTOM) / 2.0);
    let right = x0 + PANEL_W;
    w!(
        "<text x=\"{mid_x:.1}\" y=\"25\" text-anchor=\"middle\" font-size=\"14\">{}</text>",
        p.title
    );
    w!("<line x1=\"{x0:.1}\" y1=\"{BOTTOM:.1}\" x2=\"{right:.1}\" y2=\"{BOTTOM:.1}\" stroke=\"black\"/>");
    w!("<line x1=\"{x0:.1}\" y1=\"{TOP:.1}\" x2=\"{x0:.1}\" y2=\"{BOTTOM:.1}\" stroke=\"black\"/>");
    for (tick, label) in &p.y_ticks {
        let y = (p.y_of)(*tick);
        w!("<line x1=\"{x0:.1}\" y1=\"{y:.1}\" x2=\"{right:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>");
        w!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            x0 - 6.0,
            y + 4.0
        );
    }
    for rate in rates {
        w!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{rate}</text>",
            x_of(*rate as f64),
            BOTTOM + 16.0
        );
    }
    w!(
        "<text x=\"{mid_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">offered orders/s</text>",
        BOTTOM + 36.0
    );
    let label_x = x0 - 45.0;
    w!(
        "<text x=\"{label_x:.1}\" y=\"{mid_y:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 {label_x:.1} {mid_y:.1})\">{}</text>",
        p.y_label
    );
    if let Some(rate) = sustainable {
        let x = x_of(rate as f64);
        w!("<line x1=\"{x:.1}\" y1=\"{TOP:.1}\" x2=\"{x:.1}\" y2=\"{BOTTOM:.1}\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>");
        w!(
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#666\">sustainable {rate}/s</text>",
            x + 4.0,
            TOP + 12.0
        );
    }
    for (i, s) in p.series.iter().enumerate() {
        let dash = s
            .dash
            .map_or(String::new(), |d| format!(" stroke-dasharray=\"{d}\""));
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .filter_map(|(rate, v)| Some((x_of(*rate), (p.y_of)((*v)?))))
            .collect();
        if !points.is_empty() {
            let path: Vec<String> = points
                .iter()
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect();
            w!(
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash}/>",
                path.join(" "),
                s.colour
            );
            for (x, y) in &points {
                w!(
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{}\"/>",
                    s.colour
                );
            }
        }
        let ly = TOP + 14.0 + 16.0 * (i as f64 + 1.0);
        w!(
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"2\"{dash}/>",
            x0 + 10.0,
            ly - 4.0,
            x0 + 30.0,
            ly - 4.0,
            s.colour
        );
        w!(
            "<text x=\"{:.1}\" y=\"{ly:.1}\">{}</text>",
            x0 + 36.0,
            s.name
        );
    }
}
