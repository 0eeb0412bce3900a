//! Latency histograms as files: HdrHistogram's `.hgrm` percentile
//! distribution text, and an SVG plot of several distributions with the
//! percentile on a log axis (as HdrHistogram plots are drawn). Values are
//! recorded in nanoseconds and written in microseconds.

use std::fmt::Write;

use hdrhistogram::Histogram;

/// Highest percentile on the plot's axis: 99.999 %.
const X_DECADES: f64 = 5.0;

/// The percentile distribution, in the format of HdrHistogram's
/// `outputPercentileDistribution` (values in µs).
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut s =
        format!("{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
    let mut count = 0u64;
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64 / 1000.0;
        count += v.count_since_last_iteration();
        if q < 1.0 {
            let _ = writeln!(s, "{value:>12.3} {q:>2.12} {count:>10} {:>14.2}", 1.0 / (1.0 - q));
        } else {
            let _ = writeln!(s, "{value:>12.3} {q:>2.12} {count:>10}");
        }
    }
    let _ = writeln!(
        s,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    let _ = writeln!(s, "#[Max     = {:>12.3}, Total count    = {:>12}]", h.max() as f64 / 1000.0, h.len());
    let _ = writeln!(s, "#[Buckets = {:>12}, SubBuckets     = {:>12}]", h.buckets(), h.distinct_values());
    s
}

/// An SVG plot of latency (µs, linear) against percentile (log scale of
/// 1/(1-p)), one line per histogram.
pub fn svg(title: &str, series: &[(&str, &Histogram<u64>)]) -> String {
    const W: f64 = 800.0;
    const H: f64 = 480.0;
    const L: f64 = 70.0; // left margin
    const B: f64 = 50.0; // bottom margin
    const T: f64 = 40.0; // top margin
    const R: f64 = 20.0; // right margin
    let colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];
    // Scale to the highest p99.99 (times 1.2): a lone maximum would flatten
    // everything else; values above the top are drawn at the top.
    let top_us =
        series.iter().map(|(_, h)| h.value_at_quantile(0.9999) as f64 / 1000.0).fold(1.0_f64, f64::max) * 1.2;
    let x_of = |q: f64| L + (W - L - R) * ((1.0 / (1.0 - q)).log10() / X_DECADES).min(1.0);
    let y_of = |us: f64| H - B - (H - B - T) * (us / top_us).min(1.0);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    // Axes, grid and labels.
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"].iter().enumerate() {
        let x = L + (W - L - R) * i as f64 / X_DECADES;
        let _ = writeln!(s, r##"<line x1="{x}" y1="{T}" x2="{x}" y2="{}" stroke="#ddd"/>"##, H - B);
        let _ = writeln!(s, r#"<text x="{x}" y="{}" text-anchor="middle">{label}</text>"#, H - B + 18.0);
    }
    for i in 0..=5 {
        let us = top_us * i as f64 / 5.0;
        let y = y_of(us);
        let _ = writeln!(s, r##"<line x1="{L}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/>"##, W - R);
        let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="end">{us:.0}</text>"#, L - 6.0, y + 4.0);
    }
    let _ = writeln!(s, r#"<text x="{}" y="{}" text-anchor="middle">percentile</text>"#, W / 2.0, H - 12.0);
    let _ = writeln!(
        s,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">latency (µs)</text>"#,
        H / 2.0,
        H / 2.0
    );
    // One line per histogram, and its legend entry.
    for (i, (name, h)) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        let points: Vec<String> = h
            .iter_quantiles(5)
            .map(|v| (v.quantile_iterated_to(), v.value_iterated_to() as f64 / 1000.0))
            .filter(|(q, _)| *q < 1.0)
            .map(|(q, us)| format!("{:.1},{:.1}", x_of(q), y_of(us)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let y = T + 16.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}">{} (p50 {:.1} µs, p99 {:.1} µs)</text>"#,
            L + 12.0,
            L + 36.0,
            L + 42.0,
            y + 4.0,
            escape(name),
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
