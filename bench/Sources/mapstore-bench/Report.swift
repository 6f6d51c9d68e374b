import Foundation

/// The medians of one workload: engine name -> sample.
struct Row {
    let workload: String
    let samples: [String: Sample]

    func ops(_ engine: String) -> Double? { samples[engine]?.opsPerSecond }
    /// MapStore's ops/s over `engine`'s.
    func ratio(_ engine: String) -> Double? {
        guard let mine = ops("mapstore"), let theirs = ops(engine) else { return nil }
        return mine / theirs
    }
}

private func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return left ? s + fill : fill + s
}

private func fmt(_ value: Double?, _ digits: Int) -> String {
    guard let value else { return "-" }
    return String(format: "%.\(digits)f", value)
}

private func opsText(_ value: Double?) -> String {
    guard let value else { return "-" }
    return value >= 1e6 ? String(format: "%.2fM", value / 1e6) : value >= 1e3 ? String(format: "%.1fK", value / 1e3) : String(format: "%.0f", value)
}

func table(_ rows: [Row]) -> String {
    var out = ""
    let head = [pad("workload", 17, left: true), pad("lmdb ops/s", 11), pad("sqlite ops/s", 13), pad("mapstore ops/s", 15),
                pad("vs lmdb", 8), pad("vs sqlite", 10), pad("µs/op lmdb", 11), pad("sqlite", 9), pad("mapstore", 9)]
    out += head.joined(separator: " ") + "\n"
    for row in rows {
        let us = { (e: String) in fmt(row.samples[e]?.microsecondsPerOp, 2) }
        out += [pad(row.workload, 17, left: true), pad(opsText(row.ops("lmdb")), 11), pad(opsText(row.ops("sqlite")), 13),
                pad(opsText(row.ops("mapstore")), 15), pad(fmt(row.ratio("lmdb"), 2) + "x", 8),
                pad(fmt(row.ratio("sqlite"), 2) + "x", 10), pad(us("lmdb"), 11), pad(us("sqlite"), 9), pad(us("mapstore"), 9)].joined(separator: " ") + "\n"
    }
    out += "\n" + [pad("workload", 17, left: true), pad("file MB l/s/m", 22), pad("peak RSS MB l/s/m", 22), pad("faults/1000 ops l/s/m", 26)].joined(separator: " ") + "\n"
    for row in rows {
        let triple = { (f: (Sample) -> Double, d: Int) in
            engineNames.map { e in row.samples[e].map { fmt(f($0), d) } ?? "-" }.joined(separator: "/")
        }
        out += [pad(row.workload, 17, left: true), pad(triple({ Double($0.fileBytes) / 1e6 }, 1), 22),
                pad(triple({ Double($0.peakRSS) / 1e6 }, 0), 22), pad(triple({ $0.faultsPer1000 }, 1), 26)].joined(separator: " ") + "\n"
    }
    return out
}

private func jsonNumber(_ value: Double?) -> String {
    guard let value, value.isFinite else { return "null" }
    return String(format: "%.4g", value).contains("e") ? String(format: "%.1f", value) : String(format: "%.4g", value)
}

/// docs/benchmarks.md's shape, `{"results": [{"workload", "lmdb", "sqlite", "mapstore", "ratio"}]}`
/// (ops/s; `ratio` is MapStore over LMDB), with the other measurements beside it.
func json(_ rows: [Row], config: [String: String]) -> String {
    var out = "{\n  \"config\": {"
    out += config.keys.sorted().map { "\"\($0)\": \"\(config[$0]!)\"" }.joined(separator: ", ")
    out += "},\n  \"results\": [\n"
    out += rows.map { row in
        var fields = ["\"workload\": \"\(row.workload)\""]
        for e in engineNames { fields.append("\"\(e)\": \(jsonNumber(row.ops(e)))") }
        fields.append("\"ratio\": \(jsonNumber(row.ratio("lmdb")))")
        fields.append("\"ratio_sqlite\": \(jsonNumber(row.ratio("sqlite")))")
        for (name, f) in [("us_per_op", { (s: Sample) in s.microsecondsPerOp }), ("file_bytes", { Double($0.fileBytes) }),
                          ("peak_rss_bytes", { Double($0.peakRSS) }), ("faults_per_1000_ops", { $0.faultsPer1000 })] {
            fields.append("\"\(name)\": {" + engineNames.map { "\"\($0)\": \(jsonNumber(row.samples[$0].map(f)))" }.joined(separator: ", ") + "}")
        }
        return "    {" + fields.joined(separator: ", ") + "}"
    }.joined(separator: ",\n")
    out += "\n  ]\n}\n"
    return out
}

/// A horizontal bar chart of MapStore's ratios to LMDB and to SQLite, on a log scale
/// (1/8x ... 64x), with the 1.0x line marked. Hand-written SVG, no dependencies.
func chart(_ rows: [Row], title: String) -> String {
    let left = 140.0, plotWidth = 560.0, barHeight = 9.0, rowHeight = 26.0, top = 48.0
    let minLog = -3.0, maxLog = 6.0
    let height = top + rowHeight * Double(rows.count) + 40
    func x(_ ratio: Double) -> Double {
        let l = min(max(log2(ratio), minLog), maxLog)
        return left + (l - minLog) / (maxLog - minLog) * plotWidth
    }
    var svg = """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(left + plotWidth + 90))" height="\(Int(height))" font-family="sans-serif" font-size="11">
    <rect width="100%" height="100%" fill="white"/>
    <text x="\(left)" y="18" font-size="13" font-weight="bold">\(title)</text>
    <rect x="\(left)" y="26" width="10" height="10" fill="#1f77b4"/><text x="\(left + 14)" y="35">MapStore / LMDB</text>
    <rect x="\(left + 130)" y="26" width="10" height="10" fill="#ff7f0e"/><text x="\(left + 144)" y="35">MapStore / SQLite</text>
    <text x="\(left + 290)" y="35" fill="#555">ops/s ratio, log scale; right of the line = MapStore faster</text>

    """
    for l in Int(minLog)...Int(maxLog) {
        let gx = x(pow(2, Double(l)))
        let label = l < 0 ? "1/\(1 << -l)x" : "\(1 << l)x"
        svg += "<line x1=\"\(gx)\" y1=\"\(top - 4)\" x2=\"\(gx)\" y2=\"\(height - 30)\" stroke=\"\(l == 0 ? "#000" : "#ddd")\" stroke-width=\"\(l == 0 ? 1.5 : 1)\"/>\n"
        svg += "<text x=\"\(gx)\" y=\"\(height - 16)\" text-anchor=\"middle\" fill=\"#555\">\(label)</text>\n"
    }
    for (index, row) in rows.enumerated() {
        let y = top + Double(index) * rowHeight
        svg += "<text x=\"\(left - 6)\" y=\"\(y + barHeight + 3)\" text-anchor=\"end\">\(row.workload)</text>\n"
        for (offset, engine, color) in [(0.0, "lmdb", "#1f77b4"), (barHeight + 1, "sqlite", "#ff7f0e")] {
            guard let ratio = row.ratio(engine) else { continue }
            let x0 = x(1), x1 = x(ratio)
            svg += "<rect x=\"\(min(x0, x1))\" y=\"\(y + offset)\" width=\"\(max(abs(x1 - x0), 1))\" height=\"\(barHeight)\" fill=\"\(color)\"/>\n"
            svg += "<text x=\"\(max(x0, x1) + 3)\" y=\"\(y + offset + barHeight - 1)\" font-size=\"9\" fill=\"#333\">\(String(format: "%.2f", ratio))x</text>\n"
        }
    }
    svg += "</svg>\n"
    return svg
}
