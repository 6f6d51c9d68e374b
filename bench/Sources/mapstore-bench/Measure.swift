import Foundation

/// What one run of one workload on one engine measured.
struct Sample {
    var ops: Int
    var seconds: Double
    /// Minor + major page faults of the process during the run (getrusage).
    var faults: Int
    /// The process's peak resident set during the run (VmHWM after resetting it).
    var peakRSS: Int
    /// Bytes of the engine's files after the run, once closed.
    var fileBytes: Int

    var opsPerSecond: Double { Double(ops) / seconds }
    var microsecondsPerOp: Double { seconds * 1e6 / Double(ops) }
    var faultsPer1000: Double { Double(faults) * 1000 / Double(ops) }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func pageFaults() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_minflt + usage.ru_majflt
}

/// Resets the process's peak RSS (Linux: writing 5 to clear_refs resets VmHWM).
func resetPeakRSS() {
    if let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
        handle.write("5".data(using: .utf8)!)
        try? handle.close()
    }
}

/// VmHWM of /proc/self/status, in bytes.
func peakRSS() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let digits = line.filter(\.isNumber)
        return (Int(digits) ?? 0) * 1024
    }
    return 0
}

/// Total bytes of the regular files in `directory`.
func directoryBytes(_ directory: String) -> Int {
    let fm = FileManager.default
    guard let names = try? fm.contentsOfDirectory(atPath: directory) else { return 0 }
    var total = 0
    for name in names {
        var st = stat()
        if stat(directory + "/" + name, &st) == 0 { total += Int(st.st_size) }
    }
    return total
}

func median(_ samples: [Sample]) -> Sample {
    samples.sorted { $0.seconds / Double($0.ops) < $1.seconds / Double($1.ops) }[samples.count / 2]
}
