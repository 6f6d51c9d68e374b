#if canImport(Glibc)
import Glibc
#endif

/// The sidecar that makes a database a read replica: `DB-replica` beside the data file (as
/// the lock file is `DB-lock`), written by `mapstore follow` (MapStoreReplication's
/// `Follower`) and read when the database is opened.
///
/// While it exists, write transactions on the database throw
/// ``MapStoreError/readReplica(source:)`` naming where the replica comes from; only the
/// follower's own handle (``Options/appliesReplicaCommits``) writes. Readers are unaffected.
///
/// It also records where the follower is, so a restart resumes exactly:
///
/// ```
/// MapStore read replica
/// source s3://BUCKET/PREFIX
/// applied PRIMARY LOCAL      the replica's commit LOCAL holds the primary's commit PRIMARY
/// pending PRIMARY LOCAL      written just before commit LOCAL is made: if the database is
///                            at LOCAL, that commit happened and holds PRIMARY
/// mirror PRIMARY             the follower's page image of the primary (DB-mirror) is whole
///                            at PRIMARY (absent while it is being written)
/// ```
///
/// The file is replaced whole (a temporary file, fsync, rename, fsync of the directory),
/// never rewritten in place, so a reader finds the old record or the new one.
package struct ReplicaMarker: Equatable, Sendable {
    /// A primary commit and the local commit of the replica that holds it.
    package struct Position: Equatable, Sendable {
        package var primary: UInt64
        package var local: UInt64

        package init(primary: UInt64, local: UInt64) {
            self.primary = primary
            self.local = local
        }
    }

    static let header = "MapStore read replica"

    /// Where the replica comes from (`s3://BUCKET/PREFIX`).
    package var source: String
    package var applied: Position?
    package var pending: Position?
    /// The primary commit the mirror image holds whole; nil while it is being changed.
    package var mirror: UInt64?

    package init(source: String, applied: Position? = nil, pending: Position? = nil, mirror: UInt64? = nil) {
        self.source = source
        self.applied = applied
        self.pending = pending
        self.mirror = mirror
    }

    /// The marker's path for the database at `databasePath`.
    package static func path(for databasePath: String) -> String { databasePath + "-replica" }

    /// The primary commit the replica holds when its newest local commit is `local`, or nil
    /// when the record does not say (a commit nobody recorded: the follower re-syncs).
    package func primaryTransaction(atLocal local: UInt64) -> UInt64? {
        if let pending, pending.local == local { return pending.primary }
        if let applied, applied.local == local { return applied.primary }
        return nil
    }

    /// The marker of the database at `databasePath`, nil when it has none.
    package static func read(databasePath: String) throws(MapStoreError) -> ReplicaMarker? {
        let path = path(for: databasePath)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw MapStoreError.io(errno: errno, operation: "open", path: path)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 16 {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw MapStoreError.io(errno: errno, operation: "read", path: path) }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        return try decode(String(decoding: bytes, as: UTF8.self), path: path)
    }

    static func decode(_ text: String, path: String) throws(MapStoreError) -> ReplicaMarker {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.first == Substring(header) else {
            throw MapStoreError.corrupted(page: 0, reason: "\(path) is not a MapStore replica marker")
        }
        var marker = ReplicaMarker(source: "")
        func numbers(_ line: Substring, _ count: Int) throws(MapStoreError) -> [UInt64] {
            let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
            guard fields.count == count else { throw MapStoreError.corrupted(page: 0, reason: "\(path): malformed line '\(line)'") }
            return fields
        }
        for line in lines.dropFirst() {
            if line.hasPrefix("source ") {
                marker.source = String(line.dropFirst(7))
            } else if line.hasPrefix("applied ") {
                let fields = try numbers(line, 2)
                marker.applied = Position(primary: fields[0], local: fields[1])
            } else if line.hasPrefix("pending ") {
                let fields = try numbers(line, 2)
                marker.pending = Position(primary: fields[0], local: fields[1])
            } else if line.hasPrefix("mirror ") {
                marker.mirror = try numbers(line, 1)[0]
            }
        }
        guard !marker.source.isEmpty else { throw MapStoreError.corrupted(page: 0, reason: "\(path) names no source") }
        return marker
    }

    var encoded: String {
        var text = "\(Self.header)\nsource \(source)\n"
        if let applied { text += "applied \(applied.primary) \(applied.local)\n" }
        if let pending { text += "pending \(pending.primary) \(pending.local)\n" }
        if let mirror { text += "mirror \(mirror)\n" }
        return text
    }

    /// Replaces the marker of the database at `databasePath` with this one, durably.
    package func write(databasePath: String) throws(MapStoreError) {
        let output = try OutputFile(path: Self.path(for: databasePath), permissions: 0o644)
        try output.write(Array(encoded.utf8))
        try output.commit()
    }

    /// Removes the marker of the database at `databasePath` (the database is then an
    /// ordinary one again).
    package static func remove(databasePath: String) throws(MapStoreError) {
        let path = path(for: databasePath)
        if unlink(path) != 0, errno != ENOENT { throw MapStoreError.io(errno: errno, operation: "unlink", path: path) }
    }
}
