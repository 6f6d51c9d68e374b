import Crypto

/// The keys an S3 request is signed with.
public struct S3Credentials: Sendable, Equatable {
    /// The access key id (`AWS_ACCESS_KEY_ID`), sent in the clear in every request.
    public var accessKeyID: String
    /// The secret access key (`AWS_SECRET_ACCESS_KEY`): only ever used as an HMAC key.
    public var secretAccessKey: String
    /// A session token of temporary credentials (`AWS_SESSION_TOKEN`), sent as
    /// `x-amz-security-token` and signed with the other headers.
    public var sessionToken: String?

    /// Credentials from their parts.
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// AWS Signature Version 4 over a request's method, path, query, headers and payload hash:
/// the `Authorization` header S3 (and every AWS service) checks.
///
/// The steps (AWS's "Signature Version 4 signing process"): a canonical request (method,
/// URI-encoded path, sorted query, the signed headers lowercased and sorted, the payload's
/// SHA-256), a string to sign naming the time and the scope (date, region, service), a key
/// derived from the secret by four HMAC-SHA-256 steps over the scope, and the HMAC of the string
/// to sign under that key. The tests check it against AWS's published examples.
public struct SignatureV4: Sendable {
    /// The keys.
    public var credentials: S3Credentials
    /// The region of the scope (`us-east-1` for most S3-compatible stores).
    public var region: String
    /// The service of the scope: `s3`.
    public var service: String

    /// A signer for `service` in `region`.
    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// What signing produced: the header to send, and the steps before it (for tests and for
    /// a "signature does not match" report).
    public struct Signed: Sendable {
        /// The canonical request.
        public var canonicalRequest: String
        /// The string to sign.
        public var stringToSign: String
        /// The hex HMAC-SHA-256 signature.
        public var signature: String
        /// The `Authorization` header's value.
        public var authorization: String
    }

    /// Signs a request. `path` is the URI path as sent (each segment already URI-encoded, as
    /// ``uriEncode(_:keepingSlash:)`` does); `headers` must include `host` and `x-amz-date`
    /// (`amzDate`, `YYYYMMDDTHHMMSSZ`) and every other header to be signed; `payloadHash` is
    /// the hex SHA-256 of the body (or `UNSIGNED-PAYLOAD`).
    public func sign(method: String, path: String, query: [(name: String, value: String)], headers: [(name: String, value: String)],
                     payloadHash: String, amzDate: String) -> Signed {
        let canonicalQuery = Self.canonicalQuery(query)
        let canonicalHeaders = headers
            .map { (name: $0.name.lowercased(), value: Self.trimmed($0.value)) }
            .sorted { $0.name < $1.name }
        let signedHeaders = canonicalHeaders.map(\.name).joined(separator: ";")
        let canonicalRequest = [
            method,
            path.isEmpty ? "/" : path,
            canonicalQuery,
            canonicalHeaders.map { "\($0.name):\($0.value)\n" }.joined(),
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")
        let date = String(amzDate.prefix(8))
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))].joined(separator: "\n")
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signed(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature, authorization: authorization)
    }

    /// The query as the canonical request (and the URL) carries it: names and values
    /// URI-encoded, sorted by name then value, joined with `&`.
    public static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        var pairs: [(name: String, value: String)] = query.map { pair in
            (uriEncode(pair.name, keepingSlash: false), uriEncode(pair.value, keepingSlash: false))
        }
        pairs.sort { (a: (name: String, value: String), b: (name: String, value: String)) -> Bool in
            a.name == b.name ? a.value < b.value : a.name < b.name
        }
        return pairs.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
    }

    /// The hex SHA-256 of `bytes`: a payload hash.
    public static func payloadHash(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    /// RFC 3986 percent-encoding as SigV4 wants it: every byte but `A-Z a-z 0-9 - . _ ~` as
    /// `%XX` (upper-case hex), and `/` kept when `keepingSlash` (an S3 object key in a path).
    public static func uriEncode(_ text: String, keepingSlash: Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepingSlash:
                out.append("/")
            default:
                let digits = Array("0123456789ABCDEF".utf8)
                out.append("%")
                out.unicodeScalars.append(Unicode.Scalar(digits[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(digits[Int(byte & 15)]))
            }
        }
        return out
    }

    /// A header value as canonical headers carry it: no spaces at either end, inner runs of
    /// spaces as one.
    static func trimmed(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    static func hex<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
