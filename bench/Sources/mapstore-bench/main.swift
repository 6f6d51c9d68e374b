import Foundation

let usage = """
usage: mapstore-bench [--num N] [--value-size B] [--quick] [--repeat K] [--workloads a,b]
                      [--engines lmdb,sqlite,mapstore] [--json FILE] [--chart FILE.svg]
                      [--dir DIR] [--map-size BYTES] [--secure-delete on|off]
  --num N          keys (default 1000000; --quick: 100000)
  --value-size B   value bytes (default 100)
  --repeat K       runs per workload and engine; the median is reported (default 3)
  --workloads      comma-separated subset of: \(allWorkloads.map(\.name).joined(separator: ","))
  --dir DIR        where the databases go (default: a new directory under the temp dir)
  --map-size B     address space LMDB and MapStore reserve (default LMDB 128 GiB, MapStore its default)
  --secure-delete  MapStore's Options.secureDelete on or off (default: the library's default)
"""

/// Address space reserved by LMDB and MapStore (`--map-size`); under valgrind keep it small.
nonisolated(unsafe) var benchMapSize: Int? = nil
/// MapStore's `Options.secureDelete` (`--secure-delete on|off`); nil keeps the library's default.
nonisolated(unsafe) var benchSecureDelete: Bool? = nil

var num: Int?
var valueSize = 100
var quick = false
var repeats = 3
var selected: [String]? = nil
var engines = engineNames
var jsonPath: String?
var chartPath: String?
var baseDirectory: String?

var arguments = CommandLine.arguments.dropFirst()
func nextValue(_ flag: String) -> String {
    guard let value = arguments.popFirst() else { fail("\(flag) needs a value") }
    return value
}
func fail(_ message: String) -> Never {
    FileHandle.standardError.write((message + "\n" + usage + "\n").data(using: .utf8)!)
    exit(2)
}
func positive(_ text: String, _ flag: String) -> Int {
    guard let n = Int(text), n > 0 else { fail("\(flag): not a positive number: \(text)") }
    return n
}
while let argument = arguments.popFirst() {
    switch argument {
    case "--num": num = positive(nextValue(argument), argument)
    case "--value-size": valueSize = positive(nextValue(argument), argument)
    case "--quick": quick = true
    case "--repeat": repeats = positive(nextValue(argument), argument)
    case "--workloads": selected = nextValue(argument).split(separator: ",").map(String.init)
    case "--engines": engines = nextValue(argument).split(separator: ",").map(String.init)
    case "--json": jsonPath = nextValue(argument)
    case "--chart": chartPath = nextValue(argument)
    case "--dir": baseDirectory = nextValue(argument)
    case "--map-size": benchMapSize = positive(nextValue(argument), argument)
    case "--secure-delete":
        switch nextValue(argument) {
        case "on": benchSecureDelete = true
        case "off": benchSecureDelete = false
        case let other: fail("--secure-delete: on or off, not \(other)")
        }
    case "-h", "--help": print(usage); exit(0)
    default: fail("unknown argument \(argument)")
    }
}
let keyCount = num ?? (quick ? 100_000 : 1_000_000)
guard keyCount >= 20 else { fail("--num must be at least 20") }
for engine in engines where !engineNames.contains(engine) { fail("unknown engine \(engine)") }
engines = engineNames.filter(engines.contains)
let workloads: [Workload]
if let selected {
    for name in selected where !allWorkloads.contains(where: { $0.name == name }) { fail("unknown workload \(name)") }
    workloads = allWorkloads.filter { selected.contains($0.name) }
} else {
    workloads = allWorkloads
}

let fm = FileManager.default
let ownDirectory = baseDirectory == nil
let root = baseDirectory ?? (NSTemporaryDirectory() + "/mapstore-bench-\(getpid())")
try? fm.createDirectory(atPath: root, withIntermediateDirectories: true)

func log(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}

/// Flushes a copied data set to the disk (untimed), so the first durable commit of the
/// workload does not pay for writing back the whole copy.
func syncFiles(in directory: String) {
    for name in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] {
        let fd = open(directory + "/" + name, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

func fresh(_ directory: String) throws {
    try? fm.removeItem(atPath: directory)
    try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
}

let inputs = Inputs(num: keyCount, valueSize: valueSize)

/// The loaded data sets, built once per engine (untimed) the first time a workload needs one.
var loaded: Set<String> = []
func loadedDirectory(_ engine: String, redb: Bool) throws -> String {
    let directory = "\(root)/\(engine)-loaded\(redb ? "-redb" : "")"
    if loaded.contains(directory) { return directory }
    log("  loading \(redb ? "redb " : "")data set into \(engine)")
    try fresh(directory)
    let db = try openEngine(engine, directory: directory, durable: false)
    if redb {
        try db.write(inputs.redbKeys, inputs.redbOrder[..<keyCount], value: inputs.redbValue, batch: 1000)
    } else {
        try db.write(inputs.keys, inputs.random[...], value: inputs.value, batch: 1000)
    }
    db.close()
    syncFiles(in: directory)
    loaded.insert(directory)
    return directory
}

/// The directory a run of `workload` on `engine` opens.
func directory(for workload: Workload, engine: String) throws -> String {
    let run = "\(root)/\(engine)-run"
    switch workload.start {
    case .fresh:
        try fresh(run)
        return run
    case .loaded: return try loadedDirectory(engine, redb: false)
    case .redb: return try loadedDirectory(engine, redb: true)
    case .loadedCopy, .redbCopy:
        let source = try loadedDirectory(engine, redb: workload.start == .redbCopy)
        try? fm.removeItem(atPath: run)
        try fm.copyItem(atPath: source, toPath: run)
        syncFiles(in: run)
        return run
    }
}

func measure(_ workload: Workload, engine: String) throws -> Sample {
    let path = try directory(for: workload, engine: engine)
    let db = try openEngine(engine, directory: path, durable: workload.durable)
    resetPeakRSS()
    let faults0 = pageFaults()
    let t0 = now()
    let ops = try workload.run(db, inputs)
    let t1 = now()
    let faults = pageFaults() - faults0
    let rss = peakRSS()
    db.close()
    return Sample(ops: ops, seconds: t1 - t0, faults: faults, peakRSS: rss, fileBytes: directoryBytes(path))
}

log("mapstore-bench: \(keyCount) keys, \(valueSize)-byte values, \(repeats) run(s) each, engines \(engines.joined(separator: ",")), in \(root)")
var rows: [Row] = []
do {
    for (w, workload) in workloads.enumerated() {
        var samples: [String: [Sample]] = [:]
        for r in 0..<repeats {
            // Alternate which engine goes first, so none always runs on a warmer machine.
            let shift = (w + r) % engines.count
            for engine in engines[shift...] + engines[..<shift] {
                let sample = try measure(workload, engine: engine)
                samples[engine, default: []].append(sample)
                log(String(format: "  %@ %@ run %d: %.0f ops/s (%.2f µs/op)", workload.name, engine, r + 1, sample.opsPerSecond, sample.microsecondsPerOp))
            }
        }
        rows.append(Row(workload: workload.name, samples: samples.mapValues(median)))
    }
} catch {
    log("mapstore-bench: \(error)")
    exit(1)
}
if ownDirectory { try? fm.removeItem(atPath: root) }

print(table(rows), terminator: "")
var uts = utsname()
uname(&uts)
let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
let config = ["num": "\(keyCount)", "value_size": "\(valueSize)", "repeat": "\(repeats)", "quick": "\(quick)",
              "kernel": kernel, "cores": "\(ProcessInfo.processInfo.activeProcessorCount)"]
do {
    if let jsonPath { try json(rows, config: config).write(toFile: jsonPath, atomically: true, encoding: .utf8) }
    if let chartPath {
        let title = "MapStore ops/s ratios, \(keyCount) keys, \(valueSize)-byte values (median of \(repeats))"
        try chart(rows, title: title).write(toFile: chartPath, atomically: true, encoding: .utf8)
    }
} catch {
    log("mapstore-bench: \(error)")
    exit(1)
}
