// kv-service [--backend mapstore|sqlite] [--durability full|noMetaSync|lazy|none] [--group-commit on|off] [--synchronous normal|full] [--path FILE] [--host H] [--port N]
import Foundation
import KVService
import MapStore

var arguments = CommandLine.arguments.dropFirst()
var settings = ["--backend": "mapstore", "--durability": "full", "--group-commit": "off", "--synchronous": "normal", "--path": "", "--host": "127.0.0.1", "--port": "8080"]
while let flag = arguments.popFirst() {
    guard settings[flag] != nil, let value = arguments.popFirst() else {
        FileHandle.standardError.write(Data("usage: kv-service [--backend mapstore|sqlite] [--durability full|noMetaSync|lazy|none] [--group-commit on|off] [--synchronous normal|full] [--path FILE] [--host H] [--port N]\n".utf8))
        exit(2)
    }
    settings[flag] = value
}
let backendName = settings["--backend"]!
let path = settings["--path"]!.isEmpty ? (backendName == "sqlite" ? "kv.sqlite" : "kv.mapstore") : settings["--path"]!
guard let port = Int(settings["--port"]!), let durability = Durability(rawValue: settings["--durability"]!),
      ["on", "off"].contains(settings["--group-commit"]!),
      let synchronous = SQLiteBackend.Synchronous(rawValue: settings["--synchronous"]!.uppercased()) else { exit(2) }
let groupCommit = settings["--group-commit"] == "on"

do {
    switch backendName {
    case "mapstore":
        try await buildApplication(backend: MapStoreBackend(path: path, durability: durability, groupCommit: groupCommit), host: settings["--host"]!, port: port).runService()
    case "sqlite":
        try await buildApplication(backend: SQLiteBackend(path: path, synchronous: synchronous), host: settings["--host"]!, port: port).runService()
    default:
        FileHandle.standardError.write(Data("kv-service: unknown backend \(backendName)\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("kv-service: \(error)\n".utf8))
    exit(3)
}
