import Foundation
import Hummingbird

/// One entry of a scan, as JSON.
struct Entry: ResponseEncodable {
    let key: String
    /// The value as UTF-8 text (bytes that are not valid UTF-8 become U+FFFD).
    let value: String
}

/// The body of `GET /stats`.
struct Stats: ResponseEncodable {
    let backend: String
    let figures: [String: Int]
}

/// The routes: `GET/PUT/DELETE /kv/{key}`, `GET /kv?prefix=&limit=`, `POST /snapshots/{name}`,
/// `GET /stats`. Errors are JSON: `{"error": {"message": "..."}}` with the HTTP status.
public func buildRouter(backend: some KVBackend, maxValueBytes: Int = 1 << 20) -> Router<BasicRequestContext> {
    let router = Router()
    router.get("/kv/{key}") { _, context -> Response in
        let key = try context.parameters.require("key")
        guard let value = try await backend.get(key) else {
            throw HTTPError(.notFound, message: "no key \(key)")
        }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"],
                        body: .init(byteBuffer: ByteBuffer(bytes: value)))
    }
    router.put("/kv/{key}") { request, context -> HTTPResponse.Status in
        let key = try context.parameters.require("key")
        let body = try await request.body.collect(upTo: maxValueBytes)
        try await backend.put(key, Array(buffer: body))
        return .noContent
    }
    router.delete("/kv/{key}") { _, context -> HTTPResponse.Status in
        let key = try context.parameters.require("key")
        guard try await backend.delete(key) else { throw HTTPError(.notFound, message: "no key \(key)") }
        return .noContent
    }
    router.get("/kv") { request, _ -> [Entry] in
        let prefix = request.uri.queryParameters.get("prefix") ?? ""
        let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 100
        guard limit > 0, limit <= 10_000 else { throw HTTPError(.badRequest, message: "limit must be 1...10000") }
        return try await backend.scan(prefix: prefix, limit: limit).map {
            Entry(key: $0.key, value: String(decoding: $0.value, as: UTF8.self))
        }
    }
    router.post("/snapshots/{name}") { _, context -> HTTPResponse.Status in
        let name = try context.parameters.require("name")
        switch try await backend.createSnapshot(name) {
        case nil: throw HTTPError(.notImplemented, message: "the \(backend.name) backend has no snapshots")
        case false?: throw HTTPError(.conflict, message: "snapshot \(name) exists")
        case true?: return .created
        }
    }
    router.get("/stats") { _, _ -> Stats in
        Stats(backend: backend.name, figures: try await backend.stats())
    }
    return router
}

/// The application: the router on `host:port`. `runService()` handles SIGTERM and SIGINT
/// with a graceful shutdown (swift-service-lifecycle), after which the caller drops the
/// backend and so closes the database.
public func buildApplication(backend: some KVBackend, host: String = "127.0.0.1", port: Int = 8080) -> some ApplicationProtocol {
    Application(router: buildRouter(backend: backend), configuration: .init(address: .hostname(host, port: port)))
}
