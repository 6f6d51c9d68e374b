import ArgumentParser
import MapStore

#if canImport(Glibc)
import Glibc
#endif

/// The `mapstore` command: one subcommand per group, each in its own file.
struct MapStoreCommand: ParsableCommand {
    /// The release this build is: what `mapstore --version` prints after "mapstore ".
    /// The one place it is written (docs/cli.md says so); bump it with each release.
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "mapstore",
        abstract: "An mmap-backed, transactional key-value store, and a model of the virtual memory under it.",
        version: "mapstore \(version)",
        subcommands: [
            PutCommand.self,
            GetCommand.self,
            DelCommand.self,
            ScanCommand.self,
            StatCommand.self,
            CheckCommand.self,
            CompactCommand.self,
            SnapshotCommand.self,
            TableCommand.self,
            BackupCommand.self,
            RestoreCommand.self,
            ReplicateCommand.self,
            FollowCommand.self,
            DumpCommand.self,
            LoadCommand.self,
            ReadersCommand.self,
            DemoCommand.self,
            VMCommand.self,
        ]
    )
}

/// Exit codes are part of the CLI contract (docs/cli.md).
enum ExitStatus {
    static let success: Int32 = 0
    static let notFound: Int32 = 1
    static let usage: Int32 = 2
    static let failure: Int32 = 3
}

/// A command ended with a status and an optional one-line message for stderr.
struct CommandExit: Error {
    var status: Int32
    var message: String?
}

/// The process entry point: maps every outcome to the exit codes of docs/cli.md.
@main
enum Entry {
    /// Parses the command line, runs the command and exits with the contract's status.
    static func main() {
        // A closed pipe (`mapstore scan db | head`) must be a write error (exit 3), not SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let status: Int32
        do {
            try refuseArgumentsThatAreNotUTF8()
            try refuseUnknownCommand(Array(CommandLine.arguments.dropFirst()))
            var command = try MapStoreCommand.parseAsRoot()
            try command.run()
            status = ExitStatus.success
        } catch let exit as CommandExit {
            if let message = exit.message { printError(message) }
            status = exit.status
        } catch let error as MapStoreError {
            printError("mapstore: \(error)")
            status = ExitStatus.failure
        } catch {
            let code = MapStoreCommand.exitCode(for: error).rawValue
            let message = MapStoreCommand.fullMessage(for: error)
            if code == 0 {
                // Help and --version: written like any output, so a failed write exits 3.
                var out = Output()
                do {
                    if !message.isEmpty { try out.write(message + "\n") }
                    try out.flush()
                    status = ExitStatus.success
                } catch let exit as CommandExit {
                    if let message = exit.message { printError(message) }
                    status = exit.status
                } catch {
                    status = ExitStatus.failure
                }
            } else {
                // One line, as the contract asks: the parser's message without its usage block.
                let line = MapStoreCommand.message(for: error).split(separator: "\n").first.map(String.init) ?? ""
                printError("mapstore: \(line.isEmpty ? "invalid usage" : line) (see 'mapstore help')")
                // swift-argument-parser reports usage errors as EX_USAGE (64); the contract says 2.
                status = code == 64 || code == 1 ? ExitStatus.usage : ExitStatus.failure
            }
        }
        exit(status)
    }

    /// Exits 2 when an argument's bytes are not valid UTF-8 (docs/cli.md).
    ///
    /// swift-argument-parser hands commands `String`s, in which such bytes would become
    /// U+FFFD: two distinct keys would be stored as one, a path would name another file. So
    /// every argument is checked as the raw bytes the process was given, before parsing,
    /// and nothing is opened or created. Binary keys and values are spelled with `--hex`.
    static func refuseArgumentsThatAreNotUTF8() throws {
        for index in 1..<Int(CommandLine.argc) {
            guard let argument = CommandLine.unsafeArgv[index], String(validatingCString: argument) == nil else { continue }
            let bytes = Array(UnsafeBufferPointer(start: argument, count: strlen(argument))).map { UInt8(bitPattern: $0) }
            throw CommandExit(status: ExitStatus.usage,
                              message: "mapstore: argument \(index) \(ByteSpelling.quote(bytes)) is not valid UTF-8; use --hex for binary keys and values (paths and names must be UTF-8)")
        }
    }

    /// Exits 2 with "unknown command 'X'" when a word where a command belongs names none.
    ///
    /// swift-argument-parser would report it as "unexpected argument", which does not say
    /// what is wrong. Only the first word at each level is looked at: once an option comes,
    /// the parser takes over (`mapstore --generate-completion-script bash` has no command).
    static func refuseUnknownCommand(_ arguments: [String]) throws {
        var command: any ParsableCommand.Type = MapStoreCommand.self
        var path = ""
        for word in arguments {
            let subcommands = command.configuration.subcommands
            guard !subcommands.isEmpty, !word.hasPrefix("-"), word != "help" else { return }
            guard let next = subcommands.first(where: { $0._commandName == word || $0.configuration.aliases.contains(word) }) else {
                throw CommandExit(status: ExitStatus.usage,
                                  message: "mapstore: unknown command '\(word)' (see 'mapstore help\(path)')")
            }
            path += " " + next._commandName
            command = next
        }
    }

    /// Writes `message` and a newline to stderr.
    static func printError(_ message: String) {
        writeToStderr(message.hasSuffix("\n") ? message : message + "\n")
    }

    /// Writes `text` to stderr as it is, unbuffered (messages and the progress bar).
    static func writeToStderr(_ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}
