//! Latency histograms as files: HdrHistogram's `.hgrm` percentile
//! distribution text, and an SVG percentile-spectrum plot of several
//! distributions (both axes log-scaled, as HdrHistogram's plotter draws
//! them). Values are recorded in nanoseconds and written in microseconds.

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

/// One distribution on the plot: its name, its histogram, and the figures
/// its legend entry shows (those of the table, so the two agree).
pub struct Curve<'a> {
    pub name: &'a str,
    pub hist: &'a Histogram<u64>,
    pub legend: String,
}

/// Colour and dash pattern of the `i`th curve: kernel TCP's always its
/// own (green, dash-dot), trust's others in turn (red solid, blue dashed,
/// purple dotted).
fn style(name: &str, i: usize) -> (&'static str, &'static str) {
    if name.starts_with("kernel") {
        return ("#2ca02c", "12 4 3 4");
    }
    [("#d62728", "none"), ("#1f77b4", "8 5"), ("#9467bd", "2 4"), ("#ff7f0e", "14 4")][i % 4]
}

/// An SVG percentile-spectrum plot, in the style of HdrHistogram's
/// plotter: latency (µs, log scale) against percentile (log scale of
/// 1/(1-p), 0 % to 99.999 %), one line per histogram, each ending at the
/// histogram's maximum on the right edge. `note` goes under the title.
pub fn svg(title: &str, note: &str, curves: &[Curve]) -> String {
    const W: f64 = 900.0;
    const H: f64 = 560.0;
    const L: f64 = 80.0; // left margin: the latency labels
    const B: f64 = 60.0; // bottom margin: the percentile labels and axis title
    const T: f64 = 64.0; // top margin: title and note
    const R: f64 = 60.0; // right margin: room for the centred "99.999%"
    let us = |ns: u64| ns.max(1) as f64 / 1000.0;
    // The latency axis spans whole decades from the lowest minimum to the
    // highest maximum, so no value is clipped.
    let lo = curves.iter().map(|c| us(c.hist.min())).fold(f64::INFINITY, f64::min);
    let hi = curves.iter().map(|c| us(c.hist.max())).fold(0.0, f64::max);
    let (lo, hi) = if curves.is_empty() { (1.0, 10.0) } else { (lo, hi) };
    let lo_decade = lo.log10().floor();
    let hi_decade = hi.log10().ceil().max(lo_decade + 1.0);
    let x_of = |q: f64| L + (W - L - R) * ((1.0 / (1.0 - q)).log10() / X_DECADES).clamp(0.0, 1.0);
    let y_of = |v: f64| H - B - (H - B - T) * (v.log10() - lo_decade) / (hi_decade - lo_decade);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="16">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="44" text-anchor="middle" fill="#555">{}</text>"##,
        W / 2.0,
        escape(note)
    );
    // The percentile axis: a line per decade of 1/(1-p).
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"].iter().enumerate() {
        let x = L + (W - L - R) * i as f64 / X_DECADES;
        let _ = writeln!(s, r##"<line x1="{x}" y1="{T}" x2="{x}" y2="{}" stroke="#ccc"/>"##, H - B);
        let _ = writeln!(s, r#"<text x="{x}" y="{}" text-anchor="middle">{label}</text>"#, H - B + 20.0);
    }
    // The latency axis: 1, 2 and 5 of each decade, decades darker.
    let mut decade = lo_decade;
    while decade <= hi_decade {
        for (k, shade) in [(1.0, "#bbb"), (2.0, "#eee"), (5.0, "#eee")] {
            let v = k * 10f64.powf(decade);
            if v.log10() > hi_decade + 1e-9 {
                break;
            }
            let y = y_of(v);
            let _ =
                writeln!(s, r#"<line x1="{L}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="{shade}"/>"#, W - R);
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                L - 8.0,
                y + 4.0,
                latency_label(v)
            );
        }
        decade += 1.0;
    }
    let _ = writeln!(
        s,
        r##"<rect x="{L}" y="{T}" width="{}" height="{}" fill="none" stroke="#888"/>"##,
        W - L - R,
        H - B - T
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile (log scale of 1/(1-p))</text>"#,
        L + (W - L - R) / 2.0,
        H - 14.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{0}" text-anchor="middle" transform="rotate(-90 18 {0})">latency (log scale)</text>"#,
        T + (H - B - T) / 2.0
    );
    // One line per histogram, and its legend entry (top left, where the
    // low percentiles leave room).
    let legend_h = 22.0 * curves.len() as f64 + 8.0;
    let legend_chars = curves.iter().map(|c| c.name.chars().count() + c.legend.chars().count() + 2).max();
    let legend_w = 72.0 + 7.5 * legend_chars.unwrap_or(0) as f64;
    let _ = writeln!(
        s,
        r##"<rect x="{}" y="{}" width="{legend_w}" height="{legend_h}" fill="white" fill-opacity="0.9" stroke="#bbb"/>"##,
        L + 10.0,
        T + 10.0
    );
    for (i, c) in curves.iter().enumerate() {
        let (color, dash) = style(c.name, i);
        let mut points: Vec<String> = c
            .hist
            .iter_quantiles(5)
            .map(|v| (v.quantile_iterated_to(), us(v.value_iterated_to())))
            .filter(|(q, _)| *q < 1.0)
            .map(|(q, v)| format!("{:.1},{:.1}", x_of(q), y_of(v)))
            .collect();
        points.push(format!("{:.1},{:.1}", W - R, y_of(us(c.hist.max()))));
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2.5" stroke-dasharray="{dash}" stroke-linejoin="round" points="{}"/>"#,
            points.join(" ")
        );
        let y = T + 26.0 + 22.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{color}" stroke-width="3" stroke-dasharray="{dash}"/><text x="{}" y="{}">{}: {}</text>"#,
            L + 20.0,
            L + 64.0,
            L + 72.0,
            y + 4.5,
            escape(c.name),
            escape(&c.legend)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A latency axis label: µs below a millisecond, ms above.
fn latency_label(us: f64) -> String {
    if us >= 1000.0 {
        format!("{} ms", us / 1000.0)
    } else if us >= 1.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us} µs")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
