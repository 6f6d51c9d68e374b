import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// Where an S3 client sends its requests, and how it signs them.
public struct S3Configuration: Sendable {
    /// The keys.
    public var credentials: S3Credentials
    /// The region requests are signed for (`AWS_REGION`, default `us-east-1`).
    public var region: String
    /// A custom endpoint (`AWS_ENDPOINT_URL` or `--endpoint`), such as
    /// `http://127.0.0.1:8333` for a local SeaweedFS: requests go there with path-style URLs
    /// (`ENDPOINT/BUCKET/KEY`). Nil: AWS S3 itself, `https://BUCKET.s3.REGION.amazonaws.com/KEY`.
    public var endpoint: String?
    /// Attempts per request: a 5xx answer or a connection error is tried again after a
    /// backoff (100 ms, doubling), up to this many attempts in all.
    public var attempts: Int
    /// How long one attempt may take, plus a second per megabyte of its body. (A store that
    /// refuses connections is not an error at once: the HTTP client keeps trying to connect
    /// until this deadline, then the attempt counts as failed.)
    public var timeoutSeconds: Int

    /// A configuration from its parts.
    public init(credentials: S3Credentials, region: String = "us-east-1", endpoint: String? = nil, attempts: Int = 5, timeoutSeconds: Int = 30) {
        self.credentials = credentials
        self.region = region
        self.endpoint = endpoint
        self.attempts = attempts
        self.timeoutSeconds = timeoutSeconds
    }

    /// The configuration the AWS tools read from the environment: `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (default `us-east-1`) and
    /// `AWS_ENDPOINT_URL`; `endpoint`, when given, overrides the last. Throws
    /// ``S3Error/missingCredentials(_:)`` naming the variable that is not set.
    public static func fromEnvironment(endpoint: String? = nil) throws(S3Error) -> S3Configuration {
        func variable(_ name: String) -> String? {
            guard let value = getenv(name) else { return nil }
            let text = String(cString: value)
            return text.isEmpty ? nil : text
        }
        guard let key = variable("AWS_ACCESS_KEY_ID") else { throw .missingCredentials("AWS_ACCESS_KEY_ID") }
        guard let secret = variable("AWS_SECRET_ACCESS_KEY") else { throw .missingCredentials("AWS_SECRET_ACCESS_KEY") }
        return S3Configuration(
            credentials: S3Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: variable("AWS_SESSION_TOKEN")),
            region: variable("AWS_REGION") ?? "us-east-1",
            endpoint: endpoint ?? variable("AWS_ENDPOINT_URL"))
    }
}

/// What went wrong with an S3 request: always naming the bucket and key, and the HTTP
/// status and S3 error code when the store answered.
public enum S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// The store answered with a status that is not success (after the retries a 5xx gets).
    /// `code` is S3's error code from the body (`NoSuchKey`, `SignatureDoesNotMatch`, ...).
    case status(operation: String, bucket: String, key: String, status: Int, code: String?, message: String?)
    /// The request never got an answer (connection refused, reset, timed out), after retries.
    case connection(operation: String, bucket: String, key: String, reason: String)
    /// A credential variable is not set.
    case missingCredentials(String)
    /// An `s3://` URL or endpoint that does not parse.
    case badLocation(String)

    /// S3's error code (`NoSuchKey`, `NoSuchBucket`, ...), when the store answered with one.
    public var code: String? {
        guard case let .status(_, _, _, _, code, _) = self else { return nil }
        return code
    }

    /// Whether the failure may pass by itself (no answer, or a 5xx after the retries: the store
    /// is down, restarting or overloaded), so a long-running caller tries again later; a 4xx
    /// (refused keys, a missing bucket) or a bad argument will not.
    public var isTransient: Bool {
        switch self {
        case .connection: true
        case let .status(_, _, _, status, _, _): status >= 500
        case .missingCredentials, .badLocation: false
        }
    }

    /// Whether the store refused the keys: a wrong secret, an unknown access key, no permission.
    public var isAccessDenied: Bool {
        guard case let .status(_, _, _, status, code, _) = self else { return false }
        return status == 403 || code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId" || code == "AccessDenied"
    }

    /// One line naming the operation, the object and what the store said.
    public var description: String {
        switch self {
        case let .status(operation, bucket, key, status, code, message):
            let what = [code, message].compactMap { $0 }.joined(separator: ": ")
            return "\(operation) s3://\(bucket)/\(key): HTTP \(status)\(what.isEmpty ? "" : " (\(what))")"
        case let .connection(operation, bucket, key, reason):
            return "\(operation) s3://\(bucket)/\(key): no answer from the object store (\(reason))"
        case let .missingCredentials(name):
            return "\(name) is not set (the object store's credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        case let .badLocation(text):
            return text
        }
    }
}

/// An object a listing returned.
public struct S3Object: Sendable, Equatable {
    /// Its key.
    public var key: String
    /// Its size in bytes.
    public var size: Int
    /// When it was stored, in seconds since 1970 (UTC), from the listing's `LastModified`;
    /// nil when the store gave none that parses.
    public var lastModified: Int?

    /// An object as a listing names it.
    public init(key: String, size: Int, lastModified: Int? = nil) {
        self.key = key
        self.size = size
        self.lastModified = lastModified
    }

    /// Seconds since 1970 for an ISO 8601 UTC time as S3 writes it (`2026-12-03T04:21:54.000Z`,
    /// fractions optional), nil for anything else.
    static func seconds(iso8601 text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            var value: Int32 = 0
            for index in range {
                guard bytes[index] >= 48, bytes[index] <= 57 else { return nil }
                value = value * 10 + Int32(bytes[index] - 48)
            }
            return value
        }
        let separators: [(Int, Character)] = [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")]
        guard separators.allSatisfy({ bytes[$0.0] == $0.1.asciiValue! }),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        guard bytes.count == 20 || (bytes[19] == UInt8(ascii: ".") && number(20..<(bytes.count - 1)) != nil) else { return nil }
        var time = tm()
        time.tm_year = year - 1900
        time.tm_mon = month - 1
        time.tm_mday = day
        time.tm_hour = hour
        time.tm_min = minute
        time.tm_sec = second
        return Int(timegm(&time))
    }
}

/// A small S3 client: the five calls replication needs (put, get, head, list, delete, and
/// creating a bucket), signed with ``SignatureV4``, over async-http-client.
///
/// A 5xx answer or a connection error is tried again with backoff
/// (``S3Configuration/attempts``); a 4xx is not. Errors are ``S3Error``s naming the bucket,
/// the key and the status.
public struct S3Client: Sendable {
    /// Where requests go and how they are signed.
    public let configuration: S3Configuration
    private let http: HTTPClient
    private let logger: Logger?

    /// A client for `configuration` over `http`, by default one HTTP client for the process
    /// whose pool fails a request at once when it cannot connect (``defaultHTTP``).
    public init(configuration: S3Configuration, http: HTTPClient? = nil, logger: Logger? = nil) {
        self.configuration = configuration
        self.http = http ?? Self.defaultHTTP
        self.logger = logger
    }

    /// The process's HTTP client for S3 requests: async-http-client's shared configuration,
    /// except that a connection that cannot be made (the store is down or restarting) fails its
    /// request at once, so ``S3Configuration/attempts`` and the backoff here decide how long to
    /// keep trying. (Left to the pool, the request would wait out its whole timeout, 30 s, per
    /// attempt.) Never shut down: it lives as long as the process.
    static let defaultHTTP: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// Stores `bytes` as `key`.
    public func put(bucket: String, key: String, bytes: [UInt8]) async throws(S3Error) {
        _ = try await send("PUT", bucket: bucket, key: key, body: bytes)
    }

    /// The bytes of `key`, or nil when there is no such object.
    public func get(bucket: String, key: String) async throws(S3Error) -> [UInt8]? {
        let response = try await send("GET", bucket: bucket, key: key, allowing: [404])
        return response.status == 404 ? nil : response.body
    }

    /// Whether `key` exists.
    public func exists(bucket: String, key: String) async throws(S3Error) -> Bool {
        try await send("HEAD", bucket: bucket, key: key, allowing: [404]).status != 404
    }

    /// Removes `key` (S3 answers success whether or not it existed).
    public func delete(bucket: String, key: String) async throws(S3Error) {
        _ = try await send("DELETE", bucket: bucket, key: key)
    }

    /// Creates `bucket`; one that exists already and is ours is not an error.
    public func createBucket(_ bucket: String) async throws(S3Error) {
        let response = try await send("PUT", bucket: bucket, key: "", allowing: [409])
        if response.status == 409, response.code != "BucketAlreadyOwnedByYou" {
            throw .status(operation: "create bucket", bucket: bucket, key: "", status: 409, code: response.code, message: response.message)
        }
    }

    /// Every object whose key starts with `prefix`, in key order (ListObjectsV2, page by page).
    public func list(bucket: String, prefix: String) async throws(S3Error) -> [S3Object] {
        var objects: [S3Object] = []
        var token: String?
        repeat {
            var query: [(name: String, value: String)] = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let response = try await send("GET", bucket: bucket, key: "", query: query)
            let listing = ListingParser(String(decoding: response.body, as: UTF8.self))
            objects += listing.objects
            token = listing.truncated ? listing.nextToken : nil
        } while token != nil
        return objects
    }

    // MARK: Requests

    struct Response {
        var status: Int
        var body: [UInt8]
        var code: String?
        var message: String?
    }

    /// One signed request, tried again on a 5xx or a connection error. A status in `allowing`
    /// is returned, not thrown.
    private func send(_ method: String, bucket: String, key: String, query: [(name: String, value: String)] = [],
                      body: [UInt8] = [], allowing: Set<Int> = []) async throws(S3Error) -> Response {
        let operation = Self.operationName(method, key: key, query: query)
        var lastError: S3Error?
        for attempt in 0..<max(1, configuration.attempts) {
            if attempt > 0 {
                let delay = UInt64(100_000_000) << UInt64(min(attempt - 1, 6))
                try? await Task.sleep(nanoseconds: delay)
            }
            do {
                let response = try await attemptOnce(method, bucket: bucket, key: key, query: query, body: body)
                if (200..<300).contains(response.status) || allowing.contains(response.status) { return response }
                let error = S3Error.status(operation: operation, bucket: bucket, key: key, status: response.status, code: response.code, message: response.message)
                guard response.status >= 500 else { throw error }
                lastError = error
            } catch let error as S3Error {
                throw error
            } catch {
                lastError = .connection(operation: operation, bucket: bucket, key: key, reason: "\(error)")
            }
            logger?.debug("s3 request retried", metadata: ["operation": "\(operation)", "bucket": "\(bucket)", "key": "\(key)", "attempt": "\(attempt + 1)"])
        }
        throw lastError!
    }

    private func attemptOnce(_ method: String, bucket: String, key: String, query: [(name: String, value: String)],
                             body: [UInt8]) async throws -> Response {
        let target = try target(bucket: bucket, key: key)
        let amzDate = Self.amzDate()
        let payloadHash = SignatureV4.payloadHash(body)
        var headers: [(name: String, value: String)] = [("host", target.host), ("x-amz-date", amzDate), ("x-amz-content-sha256", payloadHash)]
        if let token = configuration.credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
        let signer = SignatureV4(credentials: configuration.credentials, region: configuration.region)
        let signed = signer.sign(method: method, path: target.path, query: query, headers: headers, payloadHash: payloadHash, amzDate: amzDate)
        let queryString = SignatureV4.canonicalQuery(query)
        var request = HTTPClientRequest(url: target.base + target.path + (queryString.isEmpty ? "" : "?" + queryString))
        request.method = HTTPMethod(rawValue: method)
        for header in headers where header.name != "host" { request.headers.add(name: header.name, value: header.value) }
        request.headers.add(name: "authorization", value: signed.authorization)
        if !body.isEmpty || method == "PUT" {
            request.body = .bytes(ByteBuffer(bytes: body))
            request.headers.add(name: "content-length", value: "\(body.count)")
        }
        let response = try await http.execute(request, timeout: .seconds(Int64(configuration.timeoutSeconds + body.count / 1_000_000)))
        var buffer = try await response.body.collect(upTo: 1 << 30)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        let status = Int(response.status.code)
        var result = Response(status: status, body: bytes)
        if status >= 300 {
            let text = String(decoding: bytes, as: UTF8.self)
            result.code = ListingParser.element("Code", in: text)
            result.message = ListingParser.element("Message", in: text)
        }
        return result
    }

    /// The URL parts of an object: path-style under a custom endpoint, virtual-hosted on AWS.
    private func target(bucket: String, key: String) throws(S3Error) -> (base: String, host: String, path: String) {
        let encodedKey = SignatureV4.uriEncode(key, keepingSlash: true)
        if let endpoint = configuration.endpoint {
            var base = endpoint
            while base.hasSuffix("/") { base.removeLast() }
            guard let schemeEnd = base.firstRange(of: "://") else { throw .badLocation("endpoint \(endpoint): expected http://HOST[:PORT] or https://HOST[:PORT]") }
            let host = String(base[schemeEnd.upperBound...])
            guard !host.isEmpty, !host.contains("/") else { throw .badLocation("endpoint \(endpoint): expected http://HOST[:PORT] or https://HOST[:PORT]") }
            return (base, host, "/\(SignatureV4.uriEncode(bucket, keepingSlash: false))" + (key.isEmpty ? "" : "/\(encodedKey)"))
        }
        let host = "\(bucket).s3.\(configuration.region).amazonaws.com"
        return ("https://\(host)", host, "/\(encodedKey)")
    }

    static func operationName(_ method: String, key: String, query: [(name: String, value: String)]) -> String {
        switch method {
        case "PUT": key.isEmpty ? "create bucket" : "put"
        case "GET": query.isEmpty ? "get" : "list"
        case "HEAD": "head"
        case "DELETE": "delete"
        default: method
        }
    }

    /// Now as SigV4 writes it: `YYYYMMDDTHHMMSSZ`, UTC.
    static func amzDate() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }
}

/// The few elements of S3's XML answers the client reads (a listing's keys and sizes, an
/// error's code and message), found by their tags: no XML library needed.
struct ListingParser {
    var objects: [S3Object] = []
    var truncated = false
    var nextToken: String?

    init(_ text: String) {
        var rest = Substring(text)
        while let start = rest.firstRange(of: "<Contents>") {
            let after = rest[start.upperBound...]
            guard let end = after.firstRange(of: "</Contents>") else { break }
            let entry = String(after[..<end.lowerBound])
            if let key = Self.element("Key", in: entry) {
                objects.append(S3Object(key: key, size: Int(Self.element("Size", in: entry) ?? "") ?? 0,
                                        lastModified: Self.element("LastModified", in: entry).flatMap(S3Object.seconds(iso8601:))))
            }
            rest = after[end.upperBound...]
        }
        truncated = Self.element("IsTruncated", in: text) == "true"
        nextToken = Self.element("NextContinuationToken", in: text)
    }

    /// The text of the first `<name>...</name>` in `text`, with XML's five entities decoded.
    static func element(_ name: String, in text: String) -> String? {
        guard let start = text.firstRange(of: "<\(name)>") else { return nil }
        let after = text[start.upperBound...]
        guard let end = after.firstRange(of: "</\(name)>") else { return nil }
        return String(after[..<end.lowerBound])
            .replacing("&lt;", with: "<").replacing("&gt;", with: ">").replacing("&quot;", with: "\"")
            .replacing("&apos;", with: "'").replacing("&amp;", with: "&")
    }
}
