import ArgumentParser
import MapStore

#if canImport(Glibc)
import Glibc
#endif

/// The `mapstore` command: one subcommand per group, each in its own file.
struct MapStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mapstore",
        abstract: "An mmap-backed, transactional key-value store, and a model of the virtual memory under it.",
        subcommands: [
            DemoCommand.self,
            VMCommand.self,
        ]
    )
}

/// Exit codes are part of the CLI contract (DESIGN.md section 6).
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

@main
enum Entry {
    static func main() {
        let status: Int32
        do {
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
                if !message.isEmpty { print(message) }
                status = ExitStatus.success
            } else {
                if !message.isEmpty { printError(message) }
                // swift-argument-parser reports usage errors as EX_USAGE (64); the contract says 2.
                status = code == 64 || code == 1 ? ExitStatus.usage : ExitStatus.failure
            }
        }
        exit(status)
    }

    static func printError(_ message: String) {
        var line = message
        if !line.hasSuffix("\n") { line += "\n" }
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
