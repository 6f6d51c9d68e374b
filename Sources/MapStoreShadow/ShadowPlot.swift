extension ShadowReport {
    /// A hand-written SVG of the page strip: the file's pages in rows of 128, each page a
    /// cell whose upper half is the model's state and lower half the kernel's, colored
    /// absent / file clean / file dirty / anonymous; a red mark under each mismatch and a
    /// grey one under each large-folio divergence.
    public var svg: String {
        let perRow = 128, cell = 7, half = 6, rowHeight = 2 * half + 6
        let rows = max(1, (pages + perRow - 1) / perRow)
        let left = 60, top = 58
        let width = left + perRow * cell + 20
        let height = top + rows * rowHeight + 20
        func color(present: Bool, anonymous: Bool, dirty: Bool?) -> String {
            guard present else { return "#e8e8e8" }
            if anonymous { return "#3c9a3c" }
            return dirty == true ? "#e8891c" : "#3a6fc4"
        }
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"11\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"\(left)\" y=\"16\" font-size=\"13\">mapstore vm compare: \(workload) (\(mode.rawValue)), \(pages) pages, agreement \(formatFraction(agreement)), faults predicted \(predictedFaults.minor + predictedFaults.major) / observed \(observedFaults.minor + observedFaults.major)</text>\n"
        let legend: [(String, String)] = [("#e8e8e8", "absent"), ("#3a6fc4", "file clean"), ("#e8891c", "file dirty"),
                                          ("#3c9a3c", "anonymous (COW)"), ("#d0021b", "mismatch"), ("#888888", "large-folio divergence")]
        var x = left
        for (fill, label) in legend {
            out += "<rect x=\"\(x)\" y=\"26\" width=\"10\" height=\"10\" fill=\"\(fill)\"/><text x=\"\(x + 14)\" y=\"35\">\(label)</text>\n"
            x += 24 + label.count * 6
        }
        out += "<text x=\"\(left)\" y=\"50\" fill=\"#555\">each cell is one page: model above, kernel below; rows of \(perRow) pages</text>\n"
        for index in 0..<pages {
            let row = index / perRow, column = index % perRow
            let px = left + column * cell, py = top + row * rowHeight
            if column == 0 { out += "<text x=\"4\" y=\"\(py + 2 * half - 2)\" fill=\"#555\">\(index)</text>\n" }
            let p = predicted[index], o = observed[index]
            out += "<rect x=\"\(px)\" y=\"\(py)\" width=\"\(cell - 1)\" height=\"\(half)\" fill=\"\(color(present: p.present, anonymous: p.anonymous, dirty: p.dirty))\"/>"
            out += "<rect x=\"\(px)\" y=\"\(py + half)\" width=\"\(cell - 1)\" height=\"\(half)\" fill=\"\(color(present: o.present, anonymous: o.anonymous, dirty: o.dirty))\"/>"
            switch outcomes[index] {
            case .match: break
            case .mismatch: out += "<rect x=\"\(px)\" y=\"\(py + 2 * half + 1)\" width=\"\(cell - 1)\" height=\"3\" fill=\"#d0021b\"/>"
            case .largeFolio: out += "<rect x=\"\(px)\" y=\"\(py + 2 * half + 1)\" width=\"\(cell - 1)\" height=\"3\" fill=\"#888888\"/>"
            }
            out += "\n"
        }
        out += "</svg>\n"
        return out
    }
}
