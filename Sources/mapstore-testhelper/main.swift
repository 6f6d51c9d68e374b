// Child processes for MapStore's multi-process tests. Each mode does one job on a database
// and reports on stdout; the tests start several at once and kill some with SIGKILL.
//
//   bank-init DB ACCOUNTS BALANCE      accounts "acct-0000"... each holding BALANCE
//   bank-writer DB ACCOUNTS TRANSFERS SEED   random transfers; prints "transfers N"
//   bank-reader DB ACCOUNTS SCANS TOTAL [UNTIL]  sums every balance in one read transaction per
//                                            scan, SCANS scans and then on until file UNTIL exists;
//                                            prints "violations V scans S", then "snapshots N"
//                                            (how many different commits the scans read)
//   hold-read DB                       opens a read transaction, prints "ready TXN", waits for ever
//   hold-write DB KEY                  opens a write transaction, puts KEY, prints "ready", waits for ever
//   commit-loop DB START [random]      commits key "n-<i>" for i = START... and prints "ack i" after each;
//                                      with "random", a key of 16 random hex digits instead (fillrandom)
//   put DB KEY VALUE                   one commit (with the helper's .noMetaSync: its meta is left unsynced)
//   commit-n DB N KEY                  N commits, the i-th (from 1) putting KEY = "i"; prints "done TXN" (the last id)
//   watch-commits DB TXN               observes commits (db.commits()), prints "ready TXN" (the newest commit) once
//                                      subscribed, then "seen TXN" for the first event at or past TXN, and exits;
//                                      its watch never wakes by itself, so only a commit's wake ends the wait
//                                      (it gives up, exit 2, after 120 s)
import Foundation
import MapStore
import MapStoreVM

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(2)
}

func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Runs `body` in a task and blocks this (main, non-async) thread until it returns.
func waitForAsync<R: Sendable>(_ body: @escaping @Sendable () async -> R) -> R {
    let done = DispatchSemaphore(value: 0)
    let result = Box<R>()
    Task.detached {
        result.value = await body()
        done.signal()
    }
    done.wait()
    return result.value!
}

final class Box<R>: @unchecked Sendable {
    var value: R?
}

func account(_ i: Int) -> String { "acct-" + String(repeating: "0", count: max(0, 4 - String(i).count)) + String(i) }

func balance(_ bytes: [UInt8]?) -> Int {
    guard let bytes, let value = Int(String(decoding: bytes, as: UTF8.self)) else { fail("unreadable balance") }
    return value
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else { fail("usage: mapstore-testhelper MODE DB ...") }
let mode = arguments[1], path = arguments[2]
func number(_ index: Int) -> Int {
    guard arguments.count > index, let value = Int(arguments[index]) else { fail("argument \(index) must be a number") }
    return value
}

var options = Options(mappingMode: .readOnly, durability: .noMetaSync)
if ProcessInfo.processInfo.environment["MAPSTORE_TEST_WRITEMAP"] == "1" { options.mappingMode = .writeMap }
if let name = ProcessInfo.processInfo.environment["MAPSTORE_TEST_DURABILITY"] {
    guard let durability = Durability(rawValue: name) else { fail("MAPSTORE_TEST_DURABILITY: no durability \(name)") }
    options.durability = durability
}

do {
    let db = try Database(path: path, options: options)
    switch mode {
    case "bank-init":
        let accounts = number(3), initial = number(4)
        try db.write { txn in for i in 0..<accounts { try txn.put(account(i), String(initial)) } }
    case "bank-writer":
        let accounts = number(3), transfers = number(4)
        var rng = SplitMix64(seed: UInt64(number(5)))  // deterministic: a failing run can be replayed
        for _ in 0..<transfers {
            try db.write { txn in
                let from = Int.random(in: 0..<accounts, using: &rng), to = Int.random(in: 0..<accounts, using: &rng)
                let a = balance(try txn.get(account(from)))
                let amount = Int.random(in: 0...min(a, 50), using: &rng)
                try txn.put(account(from), String(a - amount))
                let b = balance(try txn.get(account(to)))
                try txn.put(account(to), String(b + amount))
            }
        }
        say("transfers \(transfers)")
    case "bank-reader":
        let accounts = number(3), scans = number(4), total = number(5)
        var violations = 0
        var snapshots = Set<UInt64>()
        let until = arguments.count > 6 ? arguments[6] : nil
        var scanned = 0
        while scanned < scans || until.map({ access($0, F_OK) != 0 }) == true {
            scanned += 1
            let sum = try db.read { txn in
                snapshots.insert(txn.transactionID)
                var sum = 0
                var scan = txn.scan()
                while let (_, value) = try scan.next() { sum += balance(value) }
                // Point reads of the same snapshot agree with the scan.
                var again = 0
                for i in 0..<accounts { again += balance(try txn.get(account(i))) }
                return sum == again ? sum : -1
            }
            if sum != total { violations += 1 }
        }
        say("violations \(violations) scans \(scanned)")
        say("snapshots \(snapshots.count)")
    case "hold-read":
        try db.read { txn in
            say("ready \(txn.transactionID)")
            while true { sleep(60) }
        }
    case "hold-write":
        try db.write { txn in
            try txn.put(arguments.count > 3 ? arguments[3] : "held", "uncommitted")
            say("ready")
            while true { sleep(60) }
        }
    case "commit-loop":
        var i = number(3)
        let random = arguments.count > 4 && arguments[4] == "random"
        var rng = SplitMix64(seed: UInt64(i) + 1)
        while true {
            let key = random ? String(UInt64.random(in: 0...UInt64.max, using: &rng), radix: 16) : "n-\(i)"
            try db.write { txn in try txn.put(key, String(repeating: "v", count: 50 + i % 300)) }
            say("ack \(i)")
            i += 1
        }
    case "commit-n":
        guard arguments.count == 5 else { fail("usage: mapstore-testhelper commit-n DB N KEY") }
        var last: UInt64 = 0
        for i in 1...max(1, number(3)) {
            last = try db.write { txn in
                try txn.put(arguments[4], String(i))
                return txn.committingTransactionID
            }
        }
        say("done \(last)")
    case "watch-commits":
        let target = UInt64(number(3))
        CommitWatch.idleWake = .seconds(3600)
        DispatchQueue.global().asyncAfter(deadline: .now() + 120) { fail("no commit \(target) seen in 120 s") }
        let events = db.commits()
        say("ready \(try db.read { $0.transactionID })")
        let seen = waitForAsync { () -> UInt64? in
            for await event in events where event.transactionID >= target { return event.transactionID }
            return nil
        }
        guard let seen else { fail("the commit sequence ended before commit \(target)") }
        say("seen \(seen)")
    case "put":
        guard arguments.count == 5 else { fail("usage: mapstore-testhelper put DB KEY VALUE") }
        try db.write { txn in try txn.put(arguments[3], arguments[4]) }
    default:
        fail("unknown mode \(mode)")
    }
} catch {
    fail("mapstore-testhelper \(mode): \(error)")
}
