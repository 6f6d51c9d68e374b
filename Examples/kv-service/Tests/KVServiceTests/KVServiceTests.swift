import Foundation
import Hummingbird
import HummingbirdTesting
import KVService
import Testing

/// The service over real HTTP on an ephemeral port, on both backends.
@Suite struct KVServiceTests {
    static func scratch(_ name: String) -> String {
        let directory = NSTemporaryDirectory() + "kv-service-tests-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/" + name
    }

    static func exercise(_ backend: some KVBackend) async throws {
        let app = Application(router: buildRouter(backend: backend), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            try await client.execute(uri: "/kv/apple", method: .put, body: ByteBuffer(string: "red")) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/kv/apricot", method: .put, body: ByteBuffer(string: "orange")) { _ in }
            try await client.execute(uri: "/kv/banana", method: .put, body: ByteBuffer(string: "yellow")) { _ in }
            try await client.execute(uri: "/kv/apple", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == "red")
            }
            try await client.execute(uri: "/kv/pear", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("no key pear"))
            }
            try await client.execute(uri: "/kv?prefix=ap", method: .get) { response in
                #expect(response.status == .ok)
                let entries = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: String]]
                #expect(entries == [["key": "apple", "value": "red"], ["key": "apricot", "value": "orange"]])
            }
            try await client.execute(uri: "/kv/banana", method: .delete) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/kv/banana", method: .delete) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/stats", method: .get) { response in
                let stats = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(stats?["backend"] as? String == backend.name)
                #expect((stats?["figures"] as? [String: Int])?["entries"] == 2)
            }
            try await client.execute(uri: "/snapshots/before", method: .post) { response in
                #expect(response.status == (backend.name == "mapstore" ? .created : .notImplemented))
            }
        }
    }

    @Test func mapStoreBackend() async throws {
        try await Self.exercise(MapStoreBackend(path: Self.scratch("kv.mapstore")))
    }

    @Test func sqliteBackend() async throws {
        try await Self.exercise(SQLiteBackend(path: Self.scratch("kv.sqlite")))
    }

    /// `--synchronous full`: every connection of the pool syncs at each commit (PRAGMA
    /// synchronous reads 2 = FULL; GRDB's default in WAL mode is 1 = NORMAL).
    @Test(arguments: [(SQLiteBackend.Synchronous.normal, 1), (.full, 2)])
    func sqliteSynchronousSetting(_ setting: SQLiteBackend.Synchronous, expected: Int) async throws {
        let backend = try SQLiteBackend(path: Self.scratch("kv-\(setting.rawValue).sqlite"), synchronous: setting)
        try await Self.exercise(backend)
        #expect(try await backend.pool.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == expected)
        #expect(try await backend.pool.write { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == expected)
    }
}
