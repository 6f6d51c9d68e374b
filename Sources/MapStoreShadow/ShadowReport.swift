import MapStore
import MapStoreVM

/// The comparison of the model's prediction with what the kernel did, page by page.
public struct ShadowReport: Sendable {
    /// How one page compared.
    public enum Outcome: UInt8, Sendable {
        /// Every compared attribute matches.
        case match
        /// At least one compared attribute differs.
        case mismatch
        /// The page differs only because the kernel holds it in a large folio the model did
        /// not know of (created during the run): a known divergence, not a mismatch.
        case largeFolio
    }

    /// Counts for one compared attribute.
    public struct AttributeCount: Sendable, Equatable {
        /// Pages the model says have it.
        public var predicted = 0
        /// Pages the kernel says have it.
        public var observed = 0
        /// Pages where the two differ (known divergences excluded).
        public var mismatches = 0
        /// Pages where the attribute was compared.
        public var compared = 0
    }

    /// The workload's name.
    public var workload: String
    /// The store's mapping mode during the run.
    public var mode: MappingMode
    /// The model's prediction, per page.
    public var predicted: [PredictedPage]
    /// The kernel's state, per page.
    public var observed: [ObservedPage]
    /// The outcome per page.
    public var outcomes: [Outcome]
    /// present / anonymous / dirty / shared (mapped by another process too) counts.
    public var present = AttributeCount(), anonymous = AttributeCount(), dirty = AttributeCount(), shared = AttributeCount()
    /// Faults the model predicts (minor: zero, minor and COW faults; major: file reads).
    public var predictedFaults: (minor: Int, major: Int)
    /// Faults getrusage counted in the same window.
    public var observedFaults: (minor: Int, major: Int)
    /// smaps totals for the mapping, when readable.
    public var smaps: SmapsSummary?
    /// Large folios the model was told of (from the page cache before the run).
    public var knownLargeFolios: Int
    /// What the probe could not read, and other remarks.
    public var notes: [String]
    /// The events the store reported during the run, in order.
    public var events: [ShadowEvent]
    /// The data file the workload ran on: the database itself, or a scratch copy of it
    /// (then removed) for a workload that writes (``ShadowExperiment/inPlace``).
    public var file: String
    /// The database ``file`` is a scratch copy of, or nil when the workload ran on the database itself.
    public var copyOf: String?

    /// Pages in the strip (the file's pages, and in private mode any anonymous page past them that was touched).
    public var pages: Int { outcomes.count }
    /// Pages whose every compared attribute matches.
    public var matching: Int { outcomes.reduce(0) { $0 + ($1 == .match ? 1 : 0) } }
    /// Pages that differ in at least one attribute.
    public var mismatching: Int { outcomes.reduce(0) { $0 + ($1 == .mismatch ? 1 : 0) } }
    /// Pages set aside as large-folio divergences.
    public var largeFolioDivergences: Int { outcomes.reduce(0) { $0 + ($1 == .largeFolio ? 1 : 0) } }
    /// Pages compared: every page of the strip but the known divergences.
    public var compared: Int { pages - largeFolioDivergences }
    /// matching / compared (1 when nothing was compared).
    public var agreement: Double { compared == 0 ? 1 : Double(matching) / Double(compared) }
    /// |predicted - observed| / observed for all faults (minor + major); 0 when both are 0.
    public var faultError: Double {
        let p = predictedFaults.minor + predictedFaults.major, o = observedFaults.minor + observedFaults.major
        if o == 0 { return p == 0 ? 0 : 1 }
        return Double(abs(p - o)) / Double(o)
    }

    /// Compares `predicted` with `observed` (same length). `knownFolioPages` are the pages
    /// whose large folio the model was given; a mismatch on any other page of a large folio
    /// is a known divergence.
    public init(workload: String, mode: MappingMode, predicted: [PredictedPage], observed: [ObservedPage],
                predictedFaults: (minor: Int, major: Int), observedFaults: (minor: Int, major: Int),
                knownFolioPages: Set<UInt64> = [], knownLargeFolios: Int = 0, smaps: SmapsSummary? = nil, notes: [String] = [],
                events: [ShadowEvent] = [], file: String = "", copyOf: String? = nil) {
        self.events = events
        self.file = file
        self.copyOf = copyOf
        precondition(predicted.count == observed.count, "prediction and observation cover different pages")
        self.workload = workload
        self.mode = mode
        self.predicted = predicted
        self.observed = observed
        self.predictedFaults = predictedFaults
        self.observedFaults = observedFaults
        self.smaps = smaps
        self.knownLargeFolios = knownLargeFolios
        self.notes = notes
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(predicted.count)
        for index in predicted.indices {
            let p = predicted[index], o = observed[index]
            let presentDiffers = p.present != o.present
            let anonymousDiffers = p.anonymous != o.anonymous
            // Dirty is read from the frame, so it is compared where both say the page is mapped.
            let dirtyCompared = p.present && o.present && o.dirty != nil
            let dirtyDiffers = dirtyCompared && p.dirty != o.dirty!
            // pagemap bit 56 clear on a present page: another mapping maps the frame too.
            let observedShared = o.present && !o.exclusive
            let sharedDiffers = p.shared != observedShared
            let differs = presentDiffers || anonymousDiffers || dirtyDiffers || sharedDiffers
            let outcome: Outcome
            if !differs {
                outcome = .match
            } else if o.largeFolio == true && !anonymousDiffers && !knownFolioPages.contains(UInt64(index)) {
                outcome = .largeFolio
            } else {
                outcome = .mismatch
            }
            outcomes.append(outcome)
            let counted = outcome != .largeFolio
            if p.present { present.predicted += 1 }
            if o.present { present.observed += 1 }
            if p.anonymous { anonymous.predicted += 1 }
            if o.anonymous { anonymous.observed += 1 }
            if p.shared { shared.predicted += 1 }
            if observedShared { shared.observed += 1 }
            if counted {
                present.compared += 1
                anonymous.compared += 1
                if presentDiffers { present.mismatches += 1 }
                if anonymousDiffers { anonymous.mismatches += 1 }
                shared.compared += 1
                if sharedDiffers { shared.mismatches += 1 }
            }
            if dirtyCompared {
                if p.dirty { dirty.predicted += 1 }
                if o.dirty! { dirty.observed += 1 }
                if counted {
                    dirty.compared += 1
                    if dirtyDiffers { dirty.mismatches += 1 }
                }
            }
        }
        self.outcomes = outcomes
    }

    /// Whether the run meets the goal: agreement >= 0.99 and faults within 5% (or within 3
    /// faults, for runs so small that a stray fault of the heap is more than 5%).
    public var meetsGoal: Bool {
        let p = predictedFaults.minor + predictedFaults.major, o = observedFaults.minor + observedFaults.major
        return agreement >= 0.99 && (faultError <= 0.05 || abs(p - o) <= 3)
    }

    /// The one-line verdict.
    public var verdict: String {
        let agree = formatFraction(agreement)
        let p = predictedFaults.minor + predictedFaults.major, o = observedFaults.minor + observedFaults.major
        // A run of a handful of faults is judged by the difference (a stray fault of the heap
        // would be "100% off"); say which rule applied.
        let judged = faultError <= 0.05 ? "\(formatPercent(faultError)) off"
            : abs(p - o) <= 3 ? "within the 3 stray faults allowed on a tiny run" : "\(formatPercent(faultError)) off"
        let faults = "\(p) predicted / \(o) taken (\(judged))"
        let head = meetsGoal ? "model agrees with the kernel" : "model DIVERGES from the kernel"
        return "verdict: \(head): agreement \(agree) (\(matching)/\(compared) pages), faults \(faults)"
            + (largeFolioDivergences > 0 ? ", \(largeFolioDivergences) large-folio divergences" : "")
    }

    /// The human report: a table and the verdict.
    public var text: String {
        var lines: [String] = []
        lines.append("workload \(workload)  mode \(mode.rawValue)  pages \(pages)  probe \(KernelProbe.isRoot ? "root (pagemap PFNs, kpageflags)" : "not root (no dirty, no folios)")")
        lines.append("file \(file)" + (copyOf.map { " (a scratch copy of \($0), removed after the run)" } ?? ""))
        lines.append(pad("attribute", 14) + pad("predicted", 11, right: true) + pad("observed", 11, right: true) + pad("mismatches", 12, right: true))
        for (name, count) in [("present", present), ("anonymous", anonymous), ("dirty", dirty), ("shared", shared)] {
            lines.append(pad(name, 14) + pad("\(count.predicted)", 11, right: true) + pad("\(count.observed)", 11, right: true)
                         + pad("\(count.mismatches)", 12, right: true))
        }
        lines.append(pad("minor faults", 14) + pad("\(predictedFaults.minor)", 11, right: true) + pad("\(observedFaults.minor)", 11, right: true))
        lines.append(pad("major faults", 14) + pad("\(predictedFaults.major)", 11, right: true) + pad("\(observedFaults.major)", 11, right: true))
        lines.append("large folios: \(knownLargeFolios) known to the model, \(largeFolioDivergences) pages diverge in new ones")
        if let smaps {
            lines.append("smaps: Rss \(smaps.rss) KiB, shared \(smaps.shared), private clean \(smaps.privateClean), private dirty \(smaps.privateDirty), anonymous \(smaps.anonymous) KiB over \(smaps.vmas) VMAs")
        }
        let bad = outcomes.indices.filter { outcomes[$0] == .mismatch }
        if !bad.isEmpty {
            let shown = bad.prefix(8).map { index in
                "page \(index): predicted \(describe(predicted[index])), observed \(describe(observed[index]))"
            }
            lines.append("first mismatches: " + shown.joined(separator: "; "))
        }
        for note in notes { lines.append("note: \(note)") }
        lines.append(verdict)
        return lines.joined(separator: "\n")
    }

    /// One JSON object on one line: `workload`, `mode`, `file`, `copyOf` (null when run on
    /// the database itself), `pages`, `compared`, `agreement`, per-attribute counts
    /// (`present`, `anonymous`, `dirty`, `shared`), `largeFolioDivergences`, `faults`
    /// (predicted, observed, error), `root`.
    public var json: String {
        func attribute(_ count: AttributeCount) -> String {
            "{\"predicted\":\(count.predicted),\"observed\":\(count.observed),\"mismatches\":\(count.mismatches),\"compared\":\(count.compared)}"
        }
        var fields = [
            "\"workload\":\"\(workload)\"", "\"mode\":\"\(mode.rawValue)\"",
            "\"file\":\(TraceOutput.jsonString(file))", "\"copyOf\":\(copyOf.map(TraceOutput.jsonString) ?? "null")", "\"pages\":\(pages)", "\"compared\":\(compared)",
            "\"matching\":\(matching)", "\"agreement\":\(formatFraction(agreement))",
            "\"present\":\(attribute(present))", "\"anonymous\":\(attribute(anonymous))", "\"dirty\":\(attribute(dirty))",
            "\"shared\":\(attribute(shared))",
            "\"largeFolioDivergences\":\(largeFolioDivergences)", "\"knownLargeFolios\":\(knownLargeFolios)",
            "\"faults\":{\"predicted\":{\"minor\":\(predictedFaults.minor),\"major\":\(predictedFaults.major)},"
                + "\"observed\":{\"minor\":\(observedFaults.minor),\"major\":\(observedFaults.major)},\"error\":\(formatFraction(faultError))}",
            "\"root\":\(KernelProbe.isRoot)", "\"meetsGoal\":\(meetsGoal)",
        ]
        if let smaps {
            fields.append("\"smaps\":{\"rss\":\(smaps.rss),\"shared\":\(smaps.shared),\"privateClean\":\(smaps.privateClean),\"privateDirty\":\(smaps.privateDirty),\"anonymous\":\(smaps.anonymous)}")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    private func describe(_ page: PredictedPage) -> String {
        guard page.present else { return "absent" }
        return (page.anonymous ? "anon" : (page.dirty ? "file dirty" : "file clean")) + (page.shared ? " shared" : "")
    }

    private func describe(_ page: ObservedPage) -> String {
        guard page.present else { return "absent" }
        let sharing = page.exclusive ? "" : " shared"
        if page.anonymous { return "anon" + sharing }
        let folio = page.largeFolio == true ? " (large folio)" : ""
        switch page.dirty {
        case true?: return "file dirty" + sharing + folio
        case false?: return "file clean" + sharing + folio
        case nil: return "file" + sharing
        }
    }
}

/// `value` with four decimals.
func formatFraction(_ value: Double) -> String {
    let scaled = Int((value * 10000).rounded())
    let fraction = String(scaled % 10000)
    return "\(scaled / 10000)." + String(repeating: "0", count: 4 - fraction.count) + fraction
}

/// `value` as a percentage with one decimal.
func formatPercent(_ value: Double) -> String {
    let tenths = Int((value * 1000).rounded())
    return "\(tenths / 10).\(tenths % 10)%"
}

/// `text` padded with spaces to `width` characters, on the left when `right`.
func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return right ? fill + text : text + fill
}
