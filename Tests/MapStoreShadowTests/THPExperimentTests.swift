import Foundation
import MapStoreTestSupport
import MapStoreVM
import Testing
@testable import MapStoreShadow

/// The `thp` workload: transparent huge pages on real memory against the model's.
@Suite(.serialized) struct THPExperimentTests {
    static let regionPages = THPExperiment.regionPages

    /// The model's half, by hand: region 0 a huge page (written), 1 the huge zero page (read),
    /// 2 a huge page (read, then written), 3 a split huge page (one page mprotected), 4 a split
    /// one with page 100 unmapped, and one 4 KiB page in the tail.
    @Test func theModelPredictsTheWorkloadsHugePages() throws {
        let base: UInt64 = 0x7f00_0000_0000
        let (pages, faults, anonHugeKiB) = try THPExperiment.predict(base: base)
        #expect(pages.count == 5 * 512 + 16)
        #expect(faults == 7 && anonHugeKiB == 4096)
        func region(_ index: Int) -> ArraySlice<THPReport.Page> { pages[(index * 512)..<((index + 1) * 512)] }
        #expect(region(0).allSatisfy { $0.present && $0.anonymous && $0.thp == true && $0.zeroPage == false })
        #expect(region(0).map(\.pfn) == Array(512..<1024), "the first aligned run of 512 frames")
        #expect(region(1).allSatisfy { $0.present && !$0.anonymous && $0.thp == false && $0.zeroPage == true })
        #expect(region(2).map(\.pfn) == Array(1024..<1536))
        #expect(region(3).allSatisfy { $0.present && $0.thp == true }, "a split keeps the frames of the huge page")
        #expect(region(4).filter(\.present).count == 511 && !pages[4 * 512 + 100].present)
        #expect(pages[5 * 512].present && pages[5 * 512].thp == false && pages[(5 * 512 + 1)...].allSatisfy { !$0.present })
    }

    @Test func theWorkloadOnTheRealKernel() throws {
        let report = try THPExperiment().run()
        #expect(report.outcomes.count == THPExperiment.pages)
        #expect((0...1).contains(report.agreement))
        // The model predicts a huge page for the aligned, whole region written first.
        #expect(report.predicted[0..<Self.regionPages].allSatisfy { $0.thp == true })
        let json = try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any]
        #expect(json?["workload"] as? String == "thp")
        #expect(json?["agreement"] as? Double == Double(formatFraction(report.agreement)))
        for key in ["present", "anonymous", "thp", "zeroPage", "anonHugePages", "faults", "hugePageDivergences"] {
            #expect(json?[key] != nil, "\(key)")
        }
        guard let anonHuge = report.observedAnonHugeKiB, anonHuge >= 2048 else {
            print("skipping the page-by-page checks: the kernel gave no huge page (AnonHugePages \(report.observedAnonHugeKiB.map(String.init) ?? "unreadable"))")
            return
        }
        // The kernel gave at least one huge page: region 0's, the first one asked for.
        #expect(report.outcomes[0..<Self.regionPages].allSatisfy { $0 == .match }, "\(report.text)")
        #expect(report.observed[0..<Self.regionPages].allSatisfy { $0.present && $0.anonymous })
        if KernelProbe.isRoot {
            #expect(report.observed[0..<Self.regionPages].allSatisfy { $0.thp == true }, "\(report.text)")
            let pfns = report.observed[0..<Self.regionPages].map(\.pfn)
            #expect(pfns[0] % 512 == 0 && pfns == Array(pfns[0]..<(pfns[0] + 512)), "contiguous and aligned")
        }
        if anonHuge == report.predictedAnonHugeKiB && report.hugePageDivergences == 0 {
            #expect(report.agreement >= 0.99, "\(report.text)")
            if KernelProbe.addressSanitizerIsLoaded {
                // The sanitizer's first read of each shadow page faults too: the count can only grow.
                #expect(report.observedFaults >= report.predictedFaults - 3, "\(report.text)")
            } else {
                #expect(abs(report.predictedFaults - report.observedFaults) <= 3, "\(report.text)")
            }
        }
    }

    /// A region where the kernel could not get a huge page (only the written 4 KiB page is
    /// mapped) is set aside as a known divergence; a difference elsewhere is a mismatch.
    @Test func aRegionWithoutAHugePageIsAKnownDivergenceNotAMismatch() throws {
        let (pages, faults, anonHugeKiB) = try THPExperiment.predict(base: 0x7f00_0000_0000)
        var observed = pages.map { ObservedPage(present: $0.present, fileBacked: $0.present && !$0.anonymous, exclusive: $0.anonymous,
                                                pfn: $0.pfn, thp: $0.thp, zeroPage: $0.zeroPage) }
        let agree = THPReport(predicted: pages, observed: observed, predictedFaults: faults, observedFaults: faults,
                              predictedAnonHugeKiB: anonHugeKiB, smaps: nil, notes: [], base: 0)
        #expect(agree.agreement == 1 && agree.hugePageDivergences == 0 && agree.meetsGoal)
        for page in 0..<512 { observed[page] = ObservedPage() }
        observed[0] = ObservedPage(present: true, exclusive: true, pfn: 77, thp: false, zeroPage: false)
        observed[5 * 512 + 3] = ObservedPage(present: true, exclusive: true, pfn: 78, thp: false, zeroPage: false)
        let report = THPReport(predicted: pages, observed: observed, predictedFaults: faults, observedFaults: faults - 511,
                               predictedAnonHugeKiB: anonHugeKiB, smaps: nil, notes: [], base: 0)
        #expect(report.hugePageDivergences == 512)
        #expect(report.compared == pages.count - 512 && report.matching == report.compared - 1)
        #expect(report.outcomes[5 * 512 + 3] == .mismatch && report.present.mismatches == 1)
        #expect(!report.meetsGoal && report.text.contains("known divergence"))
    }

    @Test func theCLIRunsThpWithoutADatabase() throws {
        let result = try CLI.run(["vm", "compare", "--workload", "thp", "--json"])
        #expect(result.status == 0, "\(result.err)")
        let object = try JSONSerialization.jsonObject(with: Data((result.lines.last ?? "").utf8)) as? [String: Any]
        #expect(object?["workload"] as? String == "thp")
        #expect(object?["pages"] as? Int == THPExperiment.pages)
        let text = try CLI.run(["vm", "compare", "--workload", "thp"])
        #expect(text.status == 0 && text.lines.last?.hasPrefix("verdict: ") == true, "\(text.out)")
    }

    @Test func aDatabaseIsRequiredByTheOtherWorkloadsAndRefusedByThp() throws {
        let dir = TemporaryDirectory()
        let missing = try CLI.run(["vm", "compare", "--workload", "readrandom"])
        #expect(missing.status == 2 && missing.err.contains("needs a database"), "\(missing.err)")
        let extra = try CLI.run(["vm", "compare", dir.file(), "--workload", "thp"])
        #expect(extra.status == 2 && extra.err.contains("takes no database"), "\(extra.err)")
        let plot = try CLI.run(["vm", "compare", "--workload", "thp", "--plot", dir.file("x.svg")])
        #expect(plot.status == 2 && plot.err.contains("--plot does not apply"), "\(plot.err)")
    }
}
