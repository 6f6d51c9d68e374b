import MapStoreVM

/// The comparison of the `thp` workload (``THPExperiment``): the model's prediction and the
/// kernel's state, page by page, with an agreement figure like ``ShadowReport``'s.
///
/// Compared per page: present (pagemap bit 63); anonymous (present with pagemap bit 61
/// clear: the huge zero page has it set, the 4 KiB zero page does not); and as root,
/// from kpageflags, `thp` (bit 22 without bit 24, and the PFN where a 2 MiB-aligned folio
/// puts it: PFN mod 512 = page mod 512) and `zeroPage` (bit 24). A 2 MiB region where
/// the model maps a huge page or the huge zero page and the kernel maps neither (it could
/// not get 512 contiguous frames: fragmentation, the defrag setting) is a known divergence,
/// counted in ``hugePageDivergences``, not a mismatch.
public struct THPReport: Sendable {
    /// One page, as the model predicts it or the kernel shows it.
    public struct Page: Sendable, Equatable {
        /// Mapped.
        public var present = false
        /// Present and not marked file/shared in pagemap (bit 61).
        public var anonymous = false
        /// A page of a transparent huge page (folio of 512 frames aligned as its address); nil when unknown.
        public var thp: Bool?
        /// The zero page or the huge zero page; nil when unknown.
        public var zeroPage: Bool?
        /// The frame (0 when unknown or absent; the model's own numbering for predictions).
        public var pfn: UInt64 = 0

        /// A page with the given fields.
        public init(present: Bool = false, anonymous: Bool = false, thp: Bool? = nil, zeroPage: Bool? = nil, pfn: UInt64 = 0) {
            self.present = present
            self.anonymous = anonymous
            self.thp = thp
            self.zeroPage = zeroPage
            self.pfn = pfn
        }
    }

    /// How one page compared.
    public enum Outcome: UInt8, Sendable {
        /// Every compared attribute matches.
        case match
        /// At least one differs.
        case mismatch
        /// Its region is a known divergence: the kernel did not map a 2 MiB page there.
        case noHugePage
    }

    /// The model's pages.
    public var predicted: [Page]
    /// The kernel's pages.
    public var observed: [Page]
    /// The outcome per page.
    public var outcomes: [Outcome]
    /// present / anonymous / thp / zeroPage counts (known divergences excluded from mismatches).
    public var present = ShadowReport.AttributeCount(), anonymous = ShadowReport.AttributeCount(),
               thp = ShadowReport.AttributeCount(), zeroPage = ShadowReport.AttributeCount()
    /// Faults the model took over the steps (all resolved kinds: getrusage counts them all as minor).
    public var predictedFaults: Int
    /// Faults getrusage counted over the steps.
    public var observedFaults: Int
    /// KiB the model maps with 2 MiB entries (smaps' AnonHugePages).
    public var predictedAnonHugeKiB: Int
    /// smaps totals over the mapping's VMAs, when readable.
    public var smaps: SmapsSummary?
    /// What the probe could not read, the THP settings, and other remarks.
    public var notes: [String]
    /// The mapping's address.
    public var base: UInt

    /// Pages compared and not set aside.
    public var compared: Int { outcomes.reduce(0) { $0 + ($1 == .noHugePage ? 0 : 1) } }
    /// Pages whose compared attributes all match.
    public var matching: Int { outcomes.reduce(0) { $0 + ($1 == .match ? 1 : 0) } }
    /// Pages in regions where the kernel did not map the 2 MiB page the model predicts.
    public var hugePageDivergences: Int { outcomes.count - compared }
    /// matching / compared (1 when nothing was compared).
    public var agreement: Double { compared == 0 ? 1 : Double(matching) / Double(compared) }
    /// Whether kpageflags was read (root): `thp` and `zeroPage` are then compared.
    public var flagsObserved: Bool { observed.contains { $0.thp != nil } }

    /// Compares `predicted` with `observed` (the same pages of one mapping at `base`).
    public init(predicted: [Page], observed: [ObservedPage], predictedFaults: Int, observedFaults: Int,
                predictedAnonHugeKiB: Int, smaps: SmapsSummary?, notes: [String], base: UInt) {
        precondition(predicted.count == observed.count, "prediction and observation cover different pages")
        let regionPages = THPExperiment.regionPages
        let seen = observed.enumerated().map { index, page in
            Page(present: page.present, anonymous: page.anonymous,
                 thp: page.thp.map { $0 && Int(page.pfn % UInt64(regionPages)) == index % regionPages },
                 zeroPage: page.zeroPage, pfn: page.pfn)
        }
        self.predicted = predicted
        self.observed = seen
        self.predictedFaults = predictedFaults
        self.observedFaults = observedFaults
        self.predictedAnonHugeKiB = predictedAnonHugeKiB
        self.smaps = smaps
        self.notes = notes
        self.base = base
        // A region holds a 2 MiB mapping when all its pages are present and are a huge page
        // or the huge zero page (without kpageflags: all present and all alike).
        func isHuge(_ pages: ArraySlice<Page>) -> Bool {
            guard pages.count == regionPages, pages.allSatisfy(\.present) else { return false }
            if let thp = pages.first?.thp, thp || pages.first?.zeroPage == true {
                return pages.allSatisfy { $0.thp == thp && $0.zeroPage == pages.first?.zeroPage }
            }
            return pages.first?.thp == nil && pages.allSatisfy { $0.anonymous == pages.first?.anonymous }
        }
        var outcomes: [Outcome] = []
        var counts = [ShadowReport.AttributeCount](repeating: .init(), count: 4)
        for index in predicted.indices {
            let p = predicted[index], o = seen[index]
            let region = index / regionPages * regionPages
            let regionRange = region..<min(predicted.count, region + regionPages)
            let presentDiffers = p.present != o.present
            let anonymousDiffers = p.anonymous != o.anonymous
            let thpCompared = o.thp != nil && p.present && o.present
            let thpDiffers = thpCompared && p.thp != o.thp
            let zeroDiffers = thpCompared && p.zeroPage != o.zeroPage
            let outcome: Outcome
            if !(presentDiffers || anonymousDiffers || thpDiffers || zeroDiffers) {
                outcome = .match
            } else if isHuge(predicted[regionRange]) && !isHuge(seen[regionRange]) {
                outcome = .noHugePage
            } else {
                outcome = .mismatch
            }
            outcomes.append(outcome)
            let counted = outcome != .noHugePage
            func tally(_ count: inout ShadowReport.AttributeCount, _ predictedHas: Bool, _ observedHas: Bool, compared: Bool = true) {
                guard compared else { return }
                if predictedHas { count.predicted += 1 }
                if observedHas { count.observed += 1 }
                if counted {
                    count.compared += 1
                    if predictedHas != observedHas { count.mismatches += 1 }
                }
            }
            tally(&counts[0], p.present, o.present)
            tally(&counts[1], p.anonymous, o.anonymous)
            tally(&counts[2], p.thp == true, o.thp == true, compared: thpCompared)
            tally(&counts[3], p.zeroPage == true, o.zeroPage == true, compared: thpCompared)
        }
        self.outcomes = outcomes
        (present, anonymous, thp, zeroPage) = (counts[0], counts[1], counts[2], counts[3])
    }

    /// KiB the kernel maps with 2 MiB entries: smaps' AnonHugePages over the mapping's VMAs (nil when unreadable).
    public var observedAnonHugeKiB: Int? { smaps?.anonHugePages }

    /// Whether the run meets the goal: agreement >= 0.99, faults within 3 of the kernel's
    /// (a stray fault of the process is possible), AnonHugePages equal, and no region
    /// where the kernel failed to give a huge page.
    public var meetsGoal: Bool {
        agreement >= 0.99 && abs(predictedFaults - observedFaults) <= 3 && hugePageDivergences == 0
            && (observedAnonHugeKiB.map { $0 == predictedAnonHugeKiB } ?? true)
    }

    /// The one-line verdict.
    public var verdict: String {
        let head = meetsGoal ? "model agrees with the kernel" : "model DIVERGES from the kernel"
        return "verdict: \(head): agreement \(formatFraction(agreement)) (\(matching)/\(compared) pages), faults \(predictedFaults) predicted / \(observedFaults) taken, AnonHugePages \(predictedAnonHugeKiB) / \(observedAnonHugeKiB.map(String.init) ?? "?") kB"
            + (hugePageDivergences > 0 ? ", \(hugePageDivergences) pages where the kernel gave no huge page" : "")
    }

    /// The human report: a table, the AnonHugePages line, notes and the verdict.
    public var text: String {
        var lines: [String] = []
        lines.append("workload thp  mapping anonymous private MADV_HUGEPAGE at 0x\(String(base, radix: 16))  pages \(outcomes.count)  probe \(flagsObserved ? "root (pagemap PFNs, kpageflags)" : "not root (no THP or zero-page flags)")")
        lines.append(pad("attribute", 14) + pad("predicted", 11, right: true) + pad("observed", 11, right: true) + pad("mismatches", 12, right: true))
        for (name, count) in [("present", present), ("anonymous", anonymous), ("thp", thp), ("zero page", zeroPage)] {
            lines.append(pad(name, 14) + pad("\(count.predicted)", 11, right: true) + pad("\(count.observed)", 11, right: true)
                         + pad("\(count.mismatches)", 12, right: true))
        }
        lines.append(pad("faults", 14) + pad("\(predictedFaults)", 11, right: true) + pad("\(observedFaults)", 11, right: true))
        lines.append(pad("AnonHugePages", 14) + pad("\(predictedAnonHugeKiB)", 11, right: true) + pad(observedAnonHugeKiB.map { "\($0)" } ?? "?", 11, right: true) + "  kB")
        let bad = outcomes.indices.filter { outcomes[$0] == .mismatch }
        if !bad.isEmpty {
            lines.append("first mismatches: " + bad.prefix(8).map { "page \($0): predicted \(describe(predicted[$0])), observed \(describe(observed[$0]))" }.joined(separator: "; "))
        }
        if hugePageDivergences > 0 {
            lines.append("known divergence: the kernel mapped no 2 MiB page in \(hugePageDivergences / THPExperiment.regionPages) region(s) where the model does (no free 2 MiB run, or the defrag setting)")
        }
        for note in notes { lines.append("note: \(note)") }
        lines.append(verdict)
        return lines.joined(separator: "\n")
    }

    /// One JSON object on one line: `workload` ("thp"), `base`, `pages`, `compared`,
    /// `matching`, `agreement`, `present` / `anonymous` / `thp` / `zeroPage` (each
    /// `predicted`, `observed`, `mismatches`, `compared`), `hugePageDivergences`,
    /// `anonHugePages` (`predicted`, `observed` kB or null), `faults` (`predicted`,
    /// `observed`), `root`, `meetsGoal`, `notes`.
    public var json: String {
        func attribute(_ count: ShadowReport.AttributeCount) -> String {
            "{\"predicted\":\(count.predicted),\"observed\":\(count.observed),\"mismatches\":\(count.mismatches),\"compared\":\(count.compared)}"
        }
        let fields = [
            "\"workload\":\"\(THPExperiment.workload)\"", "\"base\":\"0x\(String(base, radix: 16))\"",
            "\"pages\":\(outcomes.count)", "\"compared\":\(compared)", "\"matching\":\(matching)",
            "\"agreement\":\(formatFraction(agreement))", "\"present\":\(attribute(present))",
            "\"anonymous\":\(attribute(anonymous))", "\"thp\":\(attribute(thp))", "\"zeroPage\":\(attribute(zeroPage))",
            "\"hugePageDivergences\":\(hugePageDivergences)",
            "\"anonHugePages\":{\"predicted\":\(predictedAnonHugeKiB),\"observed\":\(observedAnonHugeKiB.map(String.init) ?? "null")}",
            "\"faults\":{\"predicted\":\(predictedFaults),\"observed\":\(observedFaults)}",
            "\"root\":\(KernelProbe.isRoot)", "\"meetsGoal\":\(meetsGoal)",
            "\"notes\":[" + notes.map(TraceOutput.jsonString).joined(separator: ",") + "]",
        ]
        return "{" + fields.joined(separator: ",") + "}"
    }

    private func describe(_ page: Page) -> String {
        guard page.present else { return "absent" }
        var parts = [page.anonymous ? "anon" : "file/shared"]
        if page.thp == true { parts.append("thp") }
        if page.zeroPage == true { parts.append("zero") }
        return parts.joined(separator: " ")
    }
}
