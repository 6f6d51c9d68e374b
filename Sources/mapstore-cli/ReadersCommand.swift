import ArgumentParser
import MapStore

/// `mapstore readers DB [--clear-stale] [--json]`: the reader table, like `mdb_stat -r`.
struct ReadersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readers",
        abstract: "List the read transactions open on a database in every process (--clear-stale frees the slots of dead processes)."
    )

    @OptionGroup var dbArgument: ExistingDatabase
    var db: String { dbArgument.db }

    @Flag(help: "Free the slots of processes that no longer exist before listing.")
    var clearStale = false

    @Flag(help: "One JSON object per slot: slot, pid, thread, transactionID (null while not reading), stale.")
    var json = false

    /// Prints one line per claimed slot: `slot pid thread txn state`.
    func run() throws {
        let database = try naming(db: db) { try DatabaseOpener.forReading(db) }
        var cleared = 0
        if clearStale { cleared = database.clearStaleReaders() }
        var out = Output()
        let slots = database.readers()
        if json {
            for slot in slots {
                try out.write(JSON.object([
                    ("slot", "\(slot.index)"), ("pid", "\(slot.pid)"), ("thread", "\(slot.thread)"),
                    ("transactionID", slot.transactionID.map { "\($0)" } ?? "null"),
                    ("stale", slot.isStale ? "true" : "false"),
                ]) + "\n")
            }
        } else {
            try out.write("slot\tpid\tthread\ttxn\tstate\n")
            for slot in slots {
                let txn = slot.transactionID.map { "\($0)" } ?? "-"
                try out.write("\(slot.index)\t\(slot.pid)\t\(slot.thread)\t\(txn)\t\(slot.isStale ? "stale" : "live")\n")
            }
            if clearStale { try out.write("cleared \(cleared) stale slot\(cleared == 1 ? "" : "s")\n") }
        }
        try out.flush()
    }
}
