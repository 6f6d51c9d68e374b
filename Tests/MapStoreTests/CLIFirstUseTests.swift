import Foundation
import MapStoreTestSupport
import Testing

/// What a new user meets first, found when the CLI was tried as one would (issue 18): each
/// section below is one thing such a user ran into. The built executable, on real files.
@Suite struct CLIFirstUseTests {
    let directory = TemporaryDirectory()

    func db(_ name: String = "test.mapstore") -> String { directory.file(name) }

    /// Loads `count` entries `k0...` with one-byte values in one commit.
    func fill(_ count: Int) throws {
        let text = (0..<count).map { "k\($0)\nv\n" }.joined()
        #expect(try CLI.run(["load", db(), "-T"], stdin: utf8(text)).status == 0)
    }

    // MARK: --version and unknown commands

    @Test func versionPrintsOneLineAndExits0() throws {
        let version = try CLI.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stderr.isEmpty)
        #expect(version.out.wholeMatch(of: /mapstore \d+\.\d+\.\d+\n/) != nil, "\(version.out)")
    }

    @Test(arguments: [["frob"], ["frob", "DB"], ["snapshot", "frob", "DB"], ["table", "frob", "DB"], ["vm", "frob"]])
    func anUnknownCommandExits2NamingIt(arguments: [String]) throws {
        try CLI.run(["put", db(), "k", "v"])
        let result = try CLI.run(arguments.map { $0 == "DB" ? db() : $0 })
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
        #expect(result.err.hasPrefix("mapstore: unknown command 'frob' (see 'mapstore help"), "\(result.err)")
        #expect(result.err.split(separator: "\n").count == 1)
    }

    @Test func optionsAndHelpAreNotTakenForUnknownCommands() throws {
        #expect(try CLI.run(["help", "get"]).status == 0)
        #expect(try CLI.run(["table", "--help"]).out.contains("drop"))
        #expect(try CLI.run(["--generate-completion-script", "bash"]).status == 0)
        let unknownOption = try CLI.run(["--frob"])
        #expect(unknownOption.status == 2 && !unknownOption.err.contains("unknown command"))
    }

    // MARK: shell completion

    @Test(arguments: ["bash", "zsh", "fish"])
    func completionScriptsNameEveryCommand(shell: String) throws {
        let script = try CLI.run(["--generate-completion-script", shell])
        #expect(script.status == 0 && script.stderr.isEmpty)
        // Option names without their dashes: fish spells `--limit` as `-l 'limit'`.
        for word in ["put", "get", "scan", "snapshot", "table", "drop", "limit", "version"] {
            #expect(script.out.contains(word), "\(shell) script lacks \(word)")
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/bin/bash")))
    func theBashCompletionScriptCompletesCommandsOptionsAndPaths() throws {
        let script = directory.file("mapstore.bash")
        try Data(try CLI.run(["--generate-completion-script", "bash"]).stdout).write(to: URL(fileURLWithPath: script))
        try fill(1)
        /// What bash offers for the command line `line` (the cursor at its end).
        func complete(_ line: String) throws -> [String] {
            let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            let quoted = words.map { "'\($0)'" }.joined(separator: " ")
            let program = """
                source '\(script)'
                COMP_WORDS=(\(quoted)); COMP_CWORD=\(words.count - 1); COMP_LINE='\(line)'; COMP_POINT=${#COMP_LINE}
                _mapstore mapstore '\(words.last!)' '\(words[words.count - 2])'
                printf '%s\\n' "${COMPREPLY[@]}"
                """
            let result = try CLI.run(program: "/bin/bash", ["-c", program], in: directory.path)
            #expect(result.status == 0, "\(result.err)")
            return result.lines
        }
        #expect(try complete("mapstore ta") == ["table"])
        #expect(try complete("mapstore table d") == ["drop"])
        #expect(try complete("mapstore get test.mapstore k --ta") == ["--table"])
        #expect(try complete("mapstore get test.mapst").contains("test.mapstore"))
    }

    // MARK: missing and mistaken databases

    @Test func aDirectoryGivenAsDBSaysItIsADirectoryForEveryCommand() throws {
        let folder = directory.file("folder")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        try CLI.run(["put", db(), "k", "v"])
        let backup = db("backup")
        #expect(try CLI.run(["backup", db(), backup]).status == 0)
        let commands: [[String]] = [
            ["get", "DIR", "k"], ["put", "DIR", "k", "v"], ["del", "DIR", "k"], ["scan", "DIR"], ["stat", "DIR"],
            ["stat", "--table", "t", "DIR"], ["check", "DIR"], ["check", "--json", "DIR"], ["dump", "DIR"], ["load", "DIR"],
            ["compact", "DIR", db("out")], ["backup", "DIR", db("out")], ["readers", "DIR"],
            ["snapshot", "create", "DIR", "s"], ["snapshot", "list", "DIR"], ["snapshot", "restore", "DIR", "s"],
            ["snapshot", "delete", "DIR", "s"], ["table", "list", "DIR"], ["table", "drop", "DIR", "t"],
            ["restore", backup, "DIR"], ["restore", backup, "DIR", "--force"], ["vm", "compare", "DIR", "--workload", "readrandom"],
        ]
        for command in commands {
            let result = try CLI.run(command.map { $0 == "DIR" ? folder : $0 }, stdin: [])
            #expect(result.status == 3, "\(command)")
            #expect(result.stdout.isEmpty, "\(command)")
            #expect(result.err == "mapstore: \(folder) is a directory, not a database file\n", "\(command): \(result.err)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: folder + "-lock"))
        #expect(!FileManager.default.fileExists(atPath: db("out")))
    }

    // MARK: messages that say what is wrong

    @Test func aDuplicateSnapshotCreateSaysTheSnapshotExists() throws {
        try CLI.run(["put", db(), "k", "v"])
        #expect(try CLI.run(["snapshot", "create", db(), "before"]).status == 0)
        let again = try CLI.run(["snapshot", "create", db(), "before"])
        #expect(again.status == 3)
        #expect(again.stdout.isEmpty)
        #expect(again.err == "mapstore: snapshot \"before\" already exists in \(db())\n")
        #expect(try CLI.run(["snapshot", "list", db()]).lines.count == 1)
    }

    @Test func compactOrBackupOntoTheDatabaseItselfSaysOUTIsTheDatabase() throws {
        try CLI.run(["put", db(), "k", "v"])
        let alias = db("alias")
        try FileManager.default.createSymbolicLink(atPath: alias, withDestinationPath: db())
        for (command, out) in [("compact", db()), ("compact", alias), ("backup", db())] {
            let result = try CLI.run([command, db(), out])
            #expect(result.status == 3)
            #expect(result.stdout.isEmpty)
            #expect(result.err == "mapstore: OUT \(out) is the database \(db()) itself; write the copy to another path\n")
        }
        let lock = try CLI.run(["compact", db(), db() + "-lock"])
        #expect(lock.status == 3 && lock.err.contains("is the lock file of \(db())"))
        #expect(try CLI.run(["get", db(), "k"]).out == "v\n")
        #expect(try CLI.run(["check", db()]).status == 0)
    }

    @Test(arguments: [["--limit", "-1"], ["--limit=-1"], ["--reverse", "--limit", "-1"]])
    func aNegativeLimitSaysItMustBe0OrMore(options: [String]) throws {
        try CLI.run(["put", db(), "k", "v"])
        let scan = try CLI.run(["scan", db()] + options)
        #expect(scan.status == 2)
        #expect(scan.stdout.isEmpty)
        #expect(scan.err.hasPrefix("mapstore: --limit must be 0 or more, not -1"), "\(scan.err)")
        #expect(try CLI.run(["scan", db(), "--limit", "0"]).out.isEmpty)
        #expect(try CLI.run(["scan", db(), "--limit", "x"]).status == 2)
    }

    @Test func aKeyThatStartsWithADashGoesAfterDoubleDash() throws {
        #expect(try CLI.run(["put", db(), "--", "-key", "-value"]).status == 0)
        let get = try CLI.run(["get", db(), "--", "-key"])
        #expect(get.status == 0 && get.out == "-value\n")
        #expect(try CLI.run(["get", "--json", db(), "--", "-key"]).out == "{\"key\": \"-key\", \"value\": \"-value\"}\n")
        #expect(try CLI.run(["scan", db()]).lines == ["-key\t-value"])
        #expect(try CLI.run(["put", db(), "--table", "t", "--", "-k", "v"]).status == 0)
        #expect(try CLI.run(["get", db(), "--table", "t", "--", "-k"]).out == "v\n")
        // Without `--` it is read as an option: a usage error, and the help says why.
        #expect(try CLI.run(["get", db(), "-key"]).status == 2)
        for command in ["get", "put", "del"] {
            #expect(try CLI.run(["help", command]).out.contains("goes after '--'"), "\(command)")
        }
        #expect(try CLI.run(["del", db(), "--", "-key"]).status == 0)
        #expect(try CLI.run(["get", db(), "--", "-key"]).status == 1)
    }

    // MARK: progress bars

    @Test func pipedStderrGetsNoProgressBar() throws {
        try fill(5000)
        let gzip = db("backup.gz"), plain = db("backup")
        let runs: [[String]] = [
            ["check", db()], ["backup", db(), plain], ["backup", "--gzip", db(), gzip], ["compact", db(), db("small")],
            ["restore", gzip, db("r1")], ["restore", plain, db("r2")], ["dump", db(), "-o", db("dump")],
        ]
        for arguments in runs {
            let result = try CLI.run(arguments)
            #expect(result.status == 0, "\(arguments): \(result.err)")
            // Nothing at all on stderr: no bar, no carriage return, no erase sequence.
            #expect(result.stderr.isEmpty, "\(arguments): \(result.err.debugDescription)")
        }
    }

    @Test(.enabled(if: CLI.terminalsAvailable))
    func checkAndRestoreDrawTheBarOnATerminal() throws {
        try fill(5000)
        let gzip = db("backup.gz"), plain = db("backup")
        #expect(try CLI.run(["backup", "--gzip", db(), gzip]).status == 0)
        #expect(try CLI.run(["backup", db(), plain]).status == 0)
        for (arguments, label) in [(["check", db()], "checking \(db())"), (["restore", gzip, db("r1")], "restoring \(gzip)"),
                                   (["restore", plain, db("r2")], "restoring \(plain)")] {
            let run = try CLI.runOnTerminal(arguments, stdoutOnTerminal: false)
            #expect(run.status == 0, "\(arguments): \(run.screen)")
            #expect(run.screen.contains("\r\(label) ["), "\(arguments): \(run.screen.debugDescription)")
            #expect(run.screen.contains("] 100%"), "\(arguments): \(run.screen.debugDescription)")
            // Erased at the end, so the terminal is left as it was.
            #expect(run.screen.hasSuffix("\r\u{1B}[2K"), "\(arguments): \(run.screen.debugDescription)")
        }
    }

    @Test(.enabled(if: CLI.terminalsAvailable))
    func dumpDrawsNoBarAmongItsDataOnTheSameTerminal() throws {
        try fill(5000)
        let onTerminal = try CLI.runOnTerminal(["dump", "--print", db()], stdoutOnTerminal: true)
        #expect(onTerminal.status == 0)
        #expect(onTerminal.screen.contains(" k4999\r\n v\r\n") && onTerminal.screen.hasSuffix("DATA=END\r\n"))
        #expect(!onTerminal.screen.contains("dumping") && !onTerminal.screen.contains("%"))
        // stdout elsewhere (a pipe, a file): the bar is drawn on the terminal, the data stays clean.
        let piped = try CLI.runOnTerminal(["dump", "--print", db()], stdoutOnTerminal: false)
        #expect(piped.status == 0)
        #expect(piped.screen.contains("\rdumping \(db()) ["))
        #expect(dumpDataLines(piped.stdout) == dumpDataLines(try CLI.run(["dump", "--print", db()]).stdout))
    }
}
