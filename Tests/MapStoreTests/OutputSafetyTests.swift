import Foundation
import MapStoreTestSupport
import Testing
@testable import MapStore

/// The commands that write a file the user named (backup, compact, dump -o, restore) never
/// lose, damage or leak what the user had: a damaged source is refused, a failure leaves the
/// path as it was, devices and FIFOs are written in place and never removed, `-` is a pipe,
/// new files and renames survive a power cut under their names, copies are no more readable
/// than their source, and a database another process has open is not replaced.
///
/// The CLI runs as a real subprocess on real files and real special files.
@Suite(.serialized) struct OutputSafetyTests {
    static func bytes(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { [UInt8]($0) } }

    static func mode(_ path: String) -> UInt32 {
        var info = stat()
        return stat(path, &info) == 0 ? UInt32(info.st_mode & 0o777) : 0
    }

    /// A database of 400 entries (a few dozen pages), created through the CLI.
    static func makeDatabase(_ path: String) throws {
        var text = ""
        for i in 0..<400 { text += "key\(i)\nvalue-\(i)-\(String(repeating: "v", count: 80))\n" }
        #expect(try CLI.run(["load", path, "-T"], stdin: utf8(text)).status == 0)
    }

    /// Damages the cells of the main tree's root (the end of a page holds its cells), so
    /// `check` fails there; returns its page number.
    static func damage(_ path: String) throws -> UInt64 {
        let (root, pageSize) = try {
            let db = try Database(path: path, options: .testing())
            return (try db.read { $0.base.main.root }, db.pageSize)
        }()
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: UInt64(Int(root) * pageSize + pageSize - 16))
        handle.write(Data([UInt8](repeating: 0xA5, count: 8)))
        try handle.close()
        #expect(try CLI.run(["check", path]).status == 3)
        return root
    }

    /// Finding 1: a backup of a damaged database is refused and the previous good backup stays.
    @Test func aDamagedDatabaseIsNeverBackedUp() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("shop.mapstore"), out = dir.file("shop.backup")
        try Self.makeDatabase(db)
        #expect(try CLI.run(["backup", db, out]).status == 0)
        let good = try #require(Self.bytes(out))
        let page = try Self.damage(db)
        for arguments in [["backup", db, out], ["backup", "--gzip", db, out], ["backup", "--compact", db, out], ["compact", db, out]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 3, "\(arguments)")
            #expect(result.err.contains("page \(page)"), "\(arguments): \(result.err)")
            #expect(Self.bytes(out) == good, "\(arguments) left the previous backup as it was")
        }
        #expect(try CLI.run(["restore", out, dir.file("again.mapstore")]).status == 0, "the good backup still restores")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["again.mapstore", "again.mapstore-lock", "shop.backup", "shop.mapstore", "shop.mapstore-lock"],
                "no temporary file is left behind")
    }

    /// Finding 3: a failed dump or backup leaves the file that was there; a character device,
    /// a FIFO and a symlink to /proc/self/fd/1 are written in place and never removed.
    @Test func aFailedWriteLeavesThePathAsItWas() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("shop.mapstore")
        try Self.makeDatabase(db)
        let dump = dir.file("shop.dump")
        #expect(try CLI.run(["dump", db, "-o", dump]).status == 0)
        let goodDump = try #require(Self.bytes(dump))
        _ = try Self.damage(db)
        #expect(try CLI.run(["dump", db, "-o", dump]).status == 3)
        #expect(Self.bytes(dump) == goodDump, "the previous dump is intact")

        let sound = dir.file("sound.mapstore")
        try Self.makeDatabase(sound)
        // /dev/full fails every write with ENOSPC; the node stays. As root, a node of our own.
        var full = "/dev/full"
        if getuid() == 0 {
            full = dir.file("full")
            #expect(mknod(full, S_IFCHR | 0o666, dev_t(1 << 8 | 7)) == 0, "major 1, minor 7: a /dev/full")
        }
        for arguments in [["dump", sound, "-o", full], ["backup", sound, full], ["backup", "--gzip", sound, full]] {
            let result = try CLI.run(arguments)
            #expect(result.status == 3, "\(arguments)")
            #expect(result.err.contains("disk full") || result.err.contains("No space"), "\(arguments): \(result.err)")
            var info = stat()
            #expect(stat(full, &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR, "\(arguments) left the device node")
        }

        // A FIFO: written in place (a reader gets the whole backup), never removed.
        let fifo = dir.file("pipe")
        #expect(mkfifo(fifo, 0o600) == 0)
        let received = dir.file("received")
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/bin/sh")
        reader.arguments = ["-c", "cat '\(fifo)' > '\(received)'"]
        try reader.run()
        #expect(try CLI.run(["backup", sound, fifo]).status == 0)
        reader.waitUntilExit()
        var info = stat()
        #expect(stat(fifo, &info) == 0 && (info.st_mode & S_IFMT) == S_IFIFO, "the FIFO is still a FIFO")
        #expect(try CLI.run(["restore", received, dir.file("from-fifo.mapstore")]).status == 0)

        // A symlink to /proc/self/fd/1 with stdout a pipe: the bytes go down the pipe.
        let link = dir.file("stdout-link")
        #expect(symlink("/proc/self/fd/1", link) == 0)
        let piped = try CLI.run(["backup", sound, link])
        #expect(piped.status == 0, "\(piped.err)")
        #expect(piped.stdout == Self.bytes(dir.file("received")), "the backup went to stdout through the link")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == "/proc/self/fd/1", "the link is untouched")

        // A symlink to a regular file: the target is replaced, the link stays a link.
        let target = dir.file("target.backup"), alias = dir.file("alias.backup")
        #expect(FileManager.default.createFile(atPath: target, contents: Data("old".utf8)))
        #expect(symlink(target, alias) == 0)
        #expect(try CLI.run(["backup", sound, alias]).status == 0)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: alias)) == target)
        #expect(Self.bytes(target) == Self.bytes(received))
    }

    /// Every command that prints, with stdout on a full disk: exit 3 and a line naming stdout,
    /// never a silent 0 (print's buffered writes dropped their errors).
    @Test func everyCommandThatPrintsFailsOnAFullStdout() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("shop.mapstore")
        try Self.makeDatabase(db)
        #expect(try CLI.run(["snapshot", "create", db, "s1"]).status == 0)
        #expect(try CLI.run(["put", "--table", "orders", db, "o1", "x"]).status == 0)
        let trace = dir.file("t.trace")
        #expect(FileManager.default.createFile(atPath: trace, contents: Data("spawn A\nmmap A 0x7f0000000000 0x10000 rw private anon\nw A 0x7f0000000010 7\n".utf8)))
        let commands: [[String]] = [
            ["get", db, "key1"], ["scan", db], ["stat", db], ["check", db], ["snapshot", "list", db], ["table", "list", db],
            ["vm", "translate", "0x7f0000001234"], ["vm", "translate", "--json", "0x1234"], ["vm", "translate", "--physical", "0x1234"],
            ["vm", "replay", trace], ["vm", "replay", "--json", trace], ["vm", "replay", "--stats-only", trace],
            ["--version"], ["help"],
        ]
        for arguments in commands {
            let quoted = arguments.map { "'\($0)'" }.joined(separator: " ")
            let shell = Process()
            shell.executableURL = URL(fileURLWithPath: "/bin/sh")
            shell.arguments = ["-c", "exec '\(CLI.executable)' \(quoted) > /dev/full 2> '\(dir.file("err"))'"]
            try shell.run()
            shell.waitUntilExit()
            let err = String(decoding: Self.bytes(dir.file("err")) ?? [], as: UTF8.self)
            #expect(shell.terminationStatus == 3, "\(arguments): exit \(shell.terminationStatus), \(err)")
            #expect(err.contains("stdout"), "\(arguments): \(err)")
        }
    }

    /// Finding 7: `backup DB -` writes the backup to stdout (its summary to stderr) and
    /// `restore - DB` reads one from stdin, plain and gzip.
    @Test(arguments: [false, true])
    func backupsGoThroughPipes(gzip: Bool) throws {
        let dir = TemporaryDirectory()
        let db = dir.file("shop.mapstore"), copy = dir.file("copy.mapstore")
        try Self.makeDatabase(db)
        let script = "'\(CLI.executable)' backup \(gzip ? "--gzip " : "")'\(db)' - | '\(CLI.executable)' restore - '\(copy)'"
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "set -e; " + script]
        let errors = Pipe()
        shell.standardError = errors
        try shell.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0, "\(stderr)")
        #expect(stderr.contains("-: txn 1"), "the summary went to stderr: \(stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("-")), "no file named -")
        #expect(try CLI.run(["check", copy]).status == 0)
        #expect(try CLI.run(["get", copy, "key399"]).out.hasPrefix("value-399-"))
        // Streamed straight to stdout: exactly the bytes the summary (on stderr) counts; a
        // plain backup is whole pages, a gzip one a gzip stream.
        let streamed = try CLI.run(["backup"] + (gzip ? ["--gzip"] : []) + [db, "-"])
        #expect(streamed.status == 0)
        #expect(streamed.err.hasPrefix("-: txn 1, ") && streamed.err.hasSuffix(", \(streamed.stdout.count) bytes\n"), "\(streamed.err)")
        if gzip {
            #expect(streamed.stdout.starts(with: [0x1f, 0x8b]))
        } else {
            #expect(streamed.stdout.count > 0 && streamed.stdout.count % Int(getpagesize()) == 0)
        }
    }

    /// Finding 9: what a command writes is no more readable than the database it came from.
    @Test func copiesKeepTheSourcesPermissionBits() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("secret.mapstore")
        try Self.makeDatabase(db)
        #expect(chmod(db, 0o600) == 0)
        let outputs = [("backup", dir.file("b")), ("compact", dir.file("c")), ("dump", dir.file("d"))]
        for (command, path) in outputs {
            let arguments = command == "dump" ? ["dump", db, "-o", path] : [command, db, path]
            #expect(try CLI.run(arguments).status == 0)
            #expect(Self.mode(path) == 0o600, "\(command) wrote mode \(String(Self.mode(path), radix: 8))")
        }
        #expect(try CLI.run(["backup", "--gzip", db, dir.file("g")]).status == 0)
        #expect(Self.mode(dir.file("g")) == 0o600)
        #expect(try CLI.run(["restore", dir.file("b"), dir.file("restored.mapstore")]).status == 0)
        #expect(Self.mode(dir.file("restored.mapstore")) == 0o600, "a restore keeps the backup's bits")
        // Replacing a file never widens what it allowed.
        let narrow = dir.file("narrow")
        #expect(FileManager.default.createFile(atPath: narrow, contents: Data("x".utf8), attributes: [.posixPermissions: 0o400]))
        #expect(chmod(db, 0o644) == 0)
        #expect(try CLI.run(["backup", db, narrow]).status == 0)
        #expect(Self.mode(narrow) == 0o400)
    }

    /// Finding 10: `restore --force` does not replace a database another process has open.
    @Test func aDatabaseInUseIsNotReplaced() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("live.mapstore"), backup = dir.file("old.backup")
        try Self.makeDatabase(db)
        #expect(try CLI.run(["backup", db, backup]).status == 0)
        #expect(try CLI.run(["put", db, "newer", "1"]).status == 0)
        let before = try #require(Self.bytes(db))
        let reader = try TestHelper.start(["hold-read", db])
        #expect(reader.readLine()?.hasPrefix("ready") == true)
        let refused = try CLI.run(["restore", "--force", backup, db])
        #expect(refused.status == 3)
        #expect(refused.err.contains("in use"), "\(refused.err)")
        #expect(Self.bytes(db) == before, "the open database is untouched")
        // In this process too.
        do {
            let open = try Database(path: db, options: .testing())
            #expect(throws: MapStoreError.self) { try Database.restoreBackup(from: backup, to: db, overwrite: true) }
            _ = open
        }
        reader.kill()
        #expect(try CLI.run(["restore", "--force", backup, db]).status == 0, "once nobody has it open")
        #expect(try CLI.run(["get", db, "newer"]).status == 1)
    }

    /// The other half of finding 10: a process that opened the data file just before a restore
    /// renamed a new one into place finds out when it registers in the lock file (the restore
    /// holds the lock file's initialisation lock over its check and its rename), instead of
    /// going on with a file no path names.
    @Test func anOpenThatRacedARestoreIsTold() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("raced.mapstore"), other = dir.file("other.mapstore")
        try Self.makeDatabase(db)
        try Self.makeDatabase(other)
        let opened = try Syscalls.open(db, create: false, writable: true)
        defer { try? opened.close() }
        #expect(rename(other, db) == 0)
        let lock = try Syscalls.open(db + "-lock", create: true, writable: true)
        defer { try? lock.close() }
        #expect(throws: MapStoreError.self) {
            _ = try ReaderTable(file: lock, path: db + "-lock", slots: 8, dataFile: (opened, db))
        }
        // Opening by path gets the new file.
        let reopened = try Database(path: db, options: .testing())
        #expect(try reopened.check() == [])
    }

    /// Finding 8: a new database's directory entry is made durable, and so is every rename
    /// into place (backup, compact, dump -o, restore): strace shows an fsync of the directory.
    @Test(.enabled(if: straceExecutable != nil, "needs strace"))
    func newNamesAreSyncedIntoTheirDirectory() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("fresh.mapstore")
        func directorySyncs(_ arguments: [String]) throws -> Int {
            let log = dir.file("strace.log")
            let process = Process()
            process.executableURL = URL(fileURLWithPath: straceExecutable!)
            process.environment = underStrace
            process.arguments = ["-f", "-y", "-o", log, "-e", "trace=fsync", CLI.executable] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(arguments)")
            let realDirectory = URL(fileURLWithPath: dir.path).resolvingSymlinksInPath().path
            return String(decoding: Self.bytes(log) ?? [], as: UTF8.self).split(separator: "\n")
                .filter { $0.contains("fsync(") && ($0.contains("<\(realDirectory)>") || $0.contains("<\(dir.path)>")) }.count
        }
        #expect(try directorySyncs(["put", db, "k", "v"]) >= 1, "creating the database syncs its directory")
        #expect(try directorySyncs(["put", db, "k", "w"]) == 0, "a commit to an existing file does not")
        #expect(try directorySyncs(["backup", db, dir.file("b")]) >= 1)
        #expect(try directorySyncs(["compact", db, dir.file("c")]) >= 1)
        #expect(try directorySyncs(["dump", db, "-o", dir.file("d")]) >= 1)
        #expect(try directorySyncs(["restore", dir.file("b"), dir.file("r.mapstore")]) >= 1)
    }
}
