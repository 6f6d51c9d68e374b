import Foundation
import MapStore

// Single-put async writes per second (durability .full unless --durability says otherwise),
// group commit off and on, with 1, 8 and 64 tasks writing at once; each writer task loops
// for the given seconds.

let usage = """
usage: group-commit-bench [--seconds S] [--writers 1,8,64] [--repeat K] [--durability D] [--dir DIR]
  --seconds S    how long each configuration writes (default 3)
  --durability D full, noMetaSync, lazy or none (default full)
  --writers      comma-separated writer-task counts (default 1,8,64)
  --repeat K     runs per configuration, the median is reported (default 3)
  --dir DIR      where the databases go (default: a new directory under the temp dir)
"""

func fail(_ message: String) -> Never {
    FileHandle.standardError.write((message + "\n" + usage + "\n").data(using: .utf8)!)
    exit(2)
}

var seconds = 3.0
var writerCounts = [1, 8, 64]
var repeats = 3
var baseDirectory: String?
var durability = Durability.full
var arguments = CommandLine.arguments.dropFirst()
func value(_ flag: String) -> String {
    guard let value = arguments.popFirst() else { fail("\(flag) needs a value") }
    return value
}
while let argument = arguments.popFirst() {
    switch argument {
    case "--seconds":
        guard let s = Double(value(argument)), s > 0 else { fail("--seconds: not a positive number") }
        seconds = s
    case "--writers":
        let counts = value(argument).split(separator: ",").map { Int($0) ?? 0 }
        guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else { fail("--writers: not a list of positive numbers") }
        writerCounts = counts
    case "--repeat":
        guard let k = Int(value(argument)), k > 0 else { fail("--repeat: not a positive number") }
        repeats = k
    case "--durability":
        guard let d = Durability(rawValue: value(argument)) else { fail("--durability: not one of full, noMetaSync, lazy, none") }
        durability = d
    case "--dir": baseDirectory = value(argument)
    case "-h", "--help": print(usage); exit(0)
    default: fail("unknown argument \(argument)")
    }
}

let root = baseDirectory ?? (NSTemporaryDirectory() + "/group-commit-bench-\(getpid())")
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)

/// Writes for `seconds` with `writers` tasks; returns committed writes per second.
func run(writers: Int, groupCommit: Bool, round: Int, seconds: Double, durability: Durability) async throws -> Double {
    let path = root + "/w\(writers)-\(groupCommit ? "group" : "alone")-\(round).mapstore"
    var options = Options()
    options.durability = durability
    options.groupCommit = groupCommit
    let db = try Database(path: path, options: options)
    defer {
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.removeItem(atPath: path + "-lock")
    }
    let value = [UInt8](repeating: 0x61, count: 100)
    let start = DispatchTime.now().uptimeNanoseconds
    let deadline = start + UInt64(seconds * 1e9)
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
        for writer in 0..<writers {
            group.addTask {
                var count = 0
                while DispatchTime.now().uptimeNanoseconds < deadline {
                    let key = Array(String(format: "%04d%012d", writer, count).utf8)
                    try await db.write { try $0.put(key, value) }
                    count += 1
                }
                return count
            }
        }
        return try await group.reduce(0, +)
    }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return Double(total) / elapsed
}

print("| writers | alone writes/s | group commit writes/s | gain |")
print("|---:|---:|---:|---:|")
for writers in writerCounts {
    var alone: [Double] = [], grouped: [Double] = []
    for round in 0..<repeats {
        // Alternate which goes first, so neither always meets a warmer disk.
        if round % 2 == 0 {
            alone.append(try await run(writers: writers, groupCommit: false, round: round, seconds: seconds, durability: durability))
            grouped.append(try await run(writers: writers, groupCommit: true, round: round, seconds: seconds, durability: durability))
        } else {
            grouped.append(try await run(writers: writers, groupCommit: true, round: round, seconds: seconds, durability: durability))
            alone.append(try await run(writers: writers, groupCommit: false, round: round, seconds: seconds, durability: durability))
        }
    }
    let a = alone.sorted()[alone.count / 2], g = grouped.sorted()[grouped.count / 2]
    print("| \(writers) | \(String(format: "%.0f", a)) | \(String(format: "%.0f", g)) | \(String(format: "%.2fx", g / a)) |")
}
if baseDirectory == nil { try? FileManager.default.removeItem(atPath: root) }
